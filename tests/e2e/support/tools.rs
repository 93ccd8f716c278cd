//! The outside WebAssembly tools and the compositions built with them: `scripts/tools.sh`
//! installs the pinned wasmtime CLI and `wac` into `target/tools/` (once, under a file
//! lock), `scripts/compose.sh` composes each `compose/*.wac` into `target/compose/`. Both
//! are blocking: call them from `tokio::task::spawn_blocking` in async tests.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::repo_root;

/// Paths of the installed tools.
#[derive(Clone, Debug)]
pub struct Tools {
    pub wasmtime: PathBuf,
    pub wac: PathBuf,
}

/// The pinned wasmtime CLI and `wac`, installed on first use.
pub fn wasm_tools() -> Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            run("scripts/tools.sh");
            let bin = repo_root().join("target/tools/bin");
            Tools {
                wasmtime: bin.join("wasmtime"),
                wac: bin.join("wac"),
            }
        })
        .clone()
}

/// The folder of the composed components (`orderdesk-server.wasm`, …), built now if stale.
pub fn composed() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        run("scripts/compose.sh");
        repo_root().join("target/compose")
    })
    .clone()
}

fn run(script: &str) {
    let status = Command::new("bash")
        .arg(repo_root().join(script))
        .status()
        .unwrap_or_else(|e| panic!("{script}: cannot start bash: {e}"));
    assert!(status.success(), "{script} failed: {status}");
}
