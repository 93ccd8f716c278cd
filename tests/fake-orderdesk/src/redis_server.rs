//! A real `redis-server` on a free loopback port, for tests of the Redis state backend:
//! [`RedisServer::start`] installs Debian's package once when the binary is missing (under
//! a file lock, so concurrent test processes install it once), starts a server that
//! persists nothing, waits until it answers `PING`, and kills it when dropped.
//!
//! ```no_run
//! let redis = fake_orderdesk::redis_server::RedisServer::start();
//! println!("{}", redis.url()); // redis://127.0.0.1:PORT
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BINARY: &str = "redis-server";
/// How long a fresh server may take to answer `PING`.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// Starts tried before giving up: another process may take the free port first.
const ATTEMPTS: usize = 5;

/// A running `redis-server` bound to `127.0.0.1`; dropping it kills the server.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free port of `127.0.0.1`, installing `redis-server` first if it
    /// is not on `PATH`.
    ///
    /// # Panics
    ///
    /// When it cannot be installed, or does not answer `PING` in time (the message carries
    /// the server's log).
    pub fn start() -> RedisServer {
        let binary = installed();
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            match launch(binary) {
                Ok(server) => return server,
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "redis-server did not start after {ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    /// The server's URL, `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Start one server on a port that was free a moment ago; the error says why it failed.
fn launch(binary: &Path) -> Result<RedisServer, String> {
    let port = free_port();
    let log = std::env::temp_dir().join(format!(
        "fake-orderdesk-redis-{}-{port}.log",
        std::process::id()
    ));
    let child = Command::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(std::env::temp_dir())
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", binary.display()))?;
    // Owned from here on, so an early return kills it.
    let mut server = RedisServer { child, port, log };
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if ping(port) {
            return Ok(server);
        }
        let exited = server.child.try_wait().map_err(|e| e.to_string())?;
        if exited.is_some() || Instant::now() > deadline {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            let what = match exited {
                Some(status) => format!("exited with {status}"),
                None => format!("gave no PONG within {READY_WITHIN:?}"),
            };
            return Err(format!(
                "redis-server on port {port} {what}; its log:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a server on `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// The `redis-server` binary, installed with apt-get if it is not on `PATH` yet.
fn installed() -> &'static Path {
    static BINARY_PATH: OnceLock<PathBuf> = OnceLock::new();
    BINARY_PATH.get_or_init(|| {
        if let Some(found) = on_path(BINARY) {
            return found;
        }
        // One installer at a time across test processes; the others wait, then find it.
        let lock_path = std::env::temp_dir().join("fake-orderdesk-redis-install.lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", lock_path.display()));
        lock.lock()
            .unwrap_or_else(|e| panic!("locking {}: {e}", lock_path.display()));
        if let Some(found) = on_path(BINARY) {
            return found;
        }
        let out = Command::new("sh")
            .args(["-c", "apt-get update && apt-get install -y redis-server"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running apt-get to install redis-server: {e}"));
        assert!(
            out.status.success(),
            "`apt-get install -y redis-server` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        on_path(BINARY).expect("apt-get installed redis-server, but it is not on PATH")
    })
}

/// The first executable file called `name` in a `PATH` directory.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send one inline command, read the first `lines` lines of its reply.
    fn command(port: u16, line: &str, lines: usize) -> Vec<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let mut reply = Vec::new();
        let mut byte = [0u8];
        while reply.windows(2).filter(|w| w == b"\r\n").count() < lines {
            stream.read_exact(&mut byte).unwrap();
            reply.push(byte[0]);
        }
        let text = String::from_utf8(reply).unwrap();
        text.split_terminator("\r\n").map(String::from).collect()
    }

    #[test]
    fn starts_isolated_servers_that_persist_nothing_and_stop_on_drop() {
        let a = RedisServer::start();
        let b = RedisServer::start();
        assert_ne!(a.port(), b.port());
        assert_eq!(a.url(), format!("redis://127.0.0.1:{}", a.port()));
        assert_eq!(command(a.port(), "SET k from-a", 1), ["+OK"]);
        assert_eq!(command(a.port(), "GET k", 2), ["$6", "from-a"]);
        assert_eq!(
            command(b.port(), "GET k", 1),
            ["$-1"],
            "b is a separate server"
        );
        assert_eq!(
            command(a.port(), "CONFIG GET save", 5),
            ["*2", "$4", "save", "$0", ""],
            "no snapshots"
        );
        assert_eq!(
            command(a.port(), "CONFIG GET appendonly", 5),
            ["*2", "$10", "appendonly", "$2", "no"],
            "no append-only file"
        );
        let port = a.port();
        drop(a);
        assert!(!ping(port), "dropping the handle stops the server");
        assert!(ping(b.port()), "and only that server");
    }
}
