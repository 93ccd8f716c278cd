//! Builds the OrderDesk component (and the test-only misbehaving guest) for
//! `wasm32-wasip2` and hands their paths to the host crate, which embeds the component.
//!
//! The nested cargo uses its own target dir, so it never waits on the outer build's lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let target_dir = root.join("target").join("wasm");
    for watched in ["component/src", "component/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    for watched in [
        "tests/guests/misbehave/src",
        "tests/guests/misbehave/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=ORDERDESK_SKIP_TARGET_INSTALL");

    ensure_target_installed();

    let component = build(
        &root,
        &root.join("Cargo.toml"),
        "orderdesk-component",
        &target_dir,
    )
    .join("orderdesk_component.wasm");
    println!(
        "cargo:rustc-env=ORDERDESK_COMPONENT_WASM={}",
        component.display()
    );

    let guests = target_dir.join("guests");
    let misbehave = build(
        &root,
        &root.join("tests/guests/misbehave/Cargo.toml"),
        "misbehave",
        &guests,
    )
    .join("misbehave.wasm");
    println!(
        "cargo:rustc-env=ORDERDESK_MISBEHAVE_WASM={}",
        misbehave.display()
    );
}

/// `cargo build --profile component --target wasm32-wasip2`; returns the artifact dir.
fn build(root: &Path, manifest: &Path, package: &str, target_dir: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            "component",
            "--target",
            TARGET,
            "-p",
            package,
        ])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's flags and wrappers (clippy, coverage) are for the host target.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build {package}: {e}"));
    assert!(status.success(), "building {package} for {TARGET} failed");
    target_dir.join(TARGET).join("component")
}

/// `rust-toolchain.toml` lists the target, but rustup adds listed targets only when it
/// installs the toolchain; a toolchain that was already there may lack it.
fn ensure_target_installed() {
    if env::var_os("ORDERDESK_SKIP_TARGET_INSTALL").is_some() {
        return;
    }
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return; // No rustup: the toolchain is managed some other way.
    };
    let installed = String::from_utf8_lossy(&out.stdout);
    if installed.lines().any(|l| l.trim() == TARGET) {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "could not install the {TARGET} target; run `rustup target add {TARGET}`"
    );
}
