//! The adapter crates (`adapters/*`, wasm32 components outside the workspace) keep unit
//! tests of their own; `cargo test --workspace` reaches them only through this file, which
//! runs each crate's tests natively.

use std::path::Path;
use std::process::Command;

#[test]
fn every_adapter_crate_passes_its_own_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut crates: Vec<_> = std::fs::read_dir(root.join("adapters"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    assert!(crates.len() >= 3, "adapters found: {crates:?}");
    for dir in crates {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root)
            .args(["test", "--quiet", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(root.join("target/adapters-native"));
        // This binary's cargo environment is for the host build.
        for var in [
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}: cargo test failed\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
