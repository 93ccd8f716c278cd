//! The official Python MCP SDK (`mcp` on PyPI) as an outside client: each major version in
//! its own venv under `target/`, installed from PyPI by pip on first use from the pinned
//! `tests/clients/requirements-mcp<major>.txt`, once, under a file lock; then
//! `tests/clients/mcp_http_client.py` run with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::{Printed, repo_root};

/// A major version of the Python SDK, and the era of MCP it speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// `mcp` 1.x: initialize and `Mcp-Session-Id` (2025-11-25 at newest).
    V1,
    /// `mcp` 2.x: `server/discover`, then stateless 2026-07-28 requests.
    V2,
}

impl Sdk {
    pub const ALL: [Sdk; 2] = [Sdk::V1, Sdk::V2];

    fn requirements(self) -> PathBuf {
        let major = match self {
            Sdk::V1 => 1,
            Sdk::V2 => 2,
        };
        repo_root().join(format!("tests/clients/requirements-mcp{major}.txt"))
    }

    /// The protocol version this SDK settles on with our server.
    pub fn protocol_version(self) -> &'static str {
        match self {
            Sdk::V1 => "2025-11-25",
            Sdk::V2 => "2026-07-28",
        }
    }
}

/// The venv's Python with `sdk` installed: `target/py-mcp-<version>/bin/python`.
pub fn venv(sdk: Sdk) -> PathBuf {
    let requirements_file = sdk.requirements();
    let requirements = std::fs::read_to_string(&requirements_file).unwrap();
    let version = requirements
        .lines()
        .find_map(|l| l.trim().strip_prefix("mcp=="))
        .unwrap_or_else(|| panic!("{} pins no mcp==VERSION", requirements_file.display()));
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let dir = target.join(format!("py-mcp-{version}"));
    let python = dir.join("bin/python");
    // What was installed, so a changed pin reinstalls.
    let stamp = dir.join(".requirements");
    let lock = std::fs::File::create(target.join(format!("py-mcp-{version}.lock"))).unwrap();
    lock.lock().unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(requirements.as_str()) {
        let _ = std::fs::remove_dir_all(&dir);
        run(
            std::process::Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&dir),
            "python3 -m venv (Python 3.10 or newer is needed for the Python SDK tests)",
        );
        run(
            std::process::Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--no-input"])
                .arg("--disable-pip-version-check")
                .arg("-r")
                .arg(&requirements_file),
            "pip install of the Python MCP SDK",
        );
        std::fs::write(&stamp, &requirements).unwrap();
    }
    lock.unlock().unwrap();
    python
}

fn run(command: &mut std::process::Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

/// Run `tests/clients/mcp_http_client.py URL ARGS…` with `sdk`; a run that takes more than
/// a minute is a hang, and fails the test.
pub async fn run_client(sdk: Sdk, url: &str, args: &[&str]) -> Printed {
    let python = tokio::task::spawn_blocking(move || venv(sdk))
        .await
        .unwrap();
    let script = repo_root().join("tests/clients/mcp_http_client.py");
    let run = Command::new(python)
        .arg(script)
        .arg(url)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("the Python SDK ({sdk:?}) hung: {args:?}"))
        .expect("running the Python MCP client");
    Printed {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
