//! What the test servers of this crate (`redis_server`, `browser`) share: a free loopback
//! port, and installing Debian packages once across concurrent test processes.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};

/// A port nobody listens on right now on `127.0.0.1`.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Make `present()` true by installing `packages` with apt-get, unless it already is. One
/// installer at a time across test processes (a file lock named after `what`); the others
/// wait, then find it installed.
///
/// # Panics
///
/// When apt-get fails, or `present()` is still false after it.
pub(crate) fn install_once(what: &str, packages: &[&str], present: impl Fn() -> bool) {
    if present() {
        return;
    }
    let lock_path = std::env::temp_dir().join(format!("fake-orderdesk-{what}-install.lock"));
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("locking {}: {e}", lock_path.display()));
    if present() {
        return;
    }
    let install = format!(
        "apt-get update && apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    );
    let out = Command::new("sh")
        .args(["-c", &install])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running apt-get to install {what}: {e}"));
    assert!(
        out.status.success(),
        "`{install}` failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        present(),
        "apt-get installed {packages:?}, but {what} is still missing"
    );
}
