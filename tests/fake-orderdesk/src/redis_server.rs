//! A real `redis-server` on a free loopback port, for tests of the Redis state backend:
//! [`RedisServer::start`] installs Debian's package once when the binary is missing (under
//! a file lock, so concurrent test processes install it once), starts a server that
//! persists nothing, waits until it answers `PING`, and kills it when dropped.
//! [`RedisServer::start_durable`] starts one that keeps its data in an append-only file
//! instead, so a test can [`stop`](RedisServer::stop) it (SIGKILL, as a crash or an
//! operator would) and [`restart`](RedisServer::restart) it on the same port with every
//! acknowledged write still there.
//!
//! ```no_run
//! let redis = fake_orderdesk::redis_server::RedisServer::start();
//! println!("{}", redis.url()); // redis://127.0.0.1:PORT
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
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
    /// `None` while stopped.
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    /// The data directory of a durable server (removed on drop); `None`: nothing persists.
    durable: Option<PathBuf>,
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
        Self::start_with(false)
    }

    /// Like [`RedisServer::start`], but the server keeps its data in an append-only file,
    /// written and fsynced before each write is acknowledged, in a private directory of its
    /// own: [`RedisServer::stop`] then [`RedisServer::restart`] lose nothing acknowledged.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_durable() -> RedisServer {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> RedisServer {
        let binary = installed();
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            let port = crate::debian::free_port();
            let dir = durable.then(|| data_dir(port));
            match launch(binary, port, dir.as_deref()) {
                Ok((child, log)) => {
                    return RedisServer {
                        child: Some(child),
                        port,
                        log,
                        durable: dir,
                    };
                }
                Err(why) => {
                    if let Some(dir) = dir {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                    failures.push(why);
                }
            }
        }
        panic!(
            "redis-server did not start after {ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    /// Kills the server with SIGKILL (no shutdown, no final save) and waits until it is
    /// gone: clients then meet a refused connection. Does nothing when already stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (and, for a durable server, the same data,
    /// replayed from its append-only file), waiting until it answers `PING`. Does nothing
    /// when it is running.
    ///
    /// # Panics
    ///
    /// When it does not answer in time, e.g. because another process took the port while
    /// it was stopped (the message carries the server's log).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            return;
        }
        let binary = installed();
        let mut failures = Vec::new();
        // The port may be briefly unavailable right after the kill; try a few times.
        for _ in 0..ATTEMPTS {
            match launch(binary, self.port, self.durable.as_deref()) {
                Ok((child, _)) => {
                    self.child = Some(child);
                    return;
                }
                Err(why) => failures.push(why),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "redis-server did not restart on port {}:\n{}",
            self.port,
            failures.join("\n---\n")
        );
    }

    /// Whether the server process runs (it was not stopped, or was restarted).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
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
        self.stop();
        let _ = std::fs::remove_file(&self.log);
        if let Some(dir) = &self.durable {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fresh private data directory for a durable server on `port`.
fn data_dir(port: u16) -> PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!(
        "fake-orderdesk-redis-{}-{port}.data",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// A child process killed when dropped, unless released.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Start one server on `port` (free a moment ago), persisting into `durable` if given,
/// and wait for its `PING`; the server and its log file, or why it failed.
fn launch(binary: &Path, port: u16, durable: Option<&Path>) -> Result<(Child, PathBuf), String> {
    let log = std::env::temp_dir().join(format!(
        "fake-orderdesk-redis-{}-{port}.log",
        std::process::id()
    ));
    let mut command = Command::new(binary);
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--daemonize", "no"]);
    match durable {
        None => command
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir()),
        Some(dir) => command
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(dir),
    };
    let child = command
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", binary.display()))?;
    // Owned from here on, so an early return kills it.
    let mut guard = Guard(Some(child));
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let child = guard.0.as_mut().expect("still owned");
        // A PONG counts only while this child runs (not another process on the port).
        let pong = ping(port);
        let exited = child.try_wait().map_err(|e| e.to_string())?;
        if pong && exited.is_none() {
            return Ok((guard.0.take().expect("still owned"), log));
        }
        if exited.is_some() || Instant::now() > deadline {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
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

/// The `redis-server` binary, installed with apt-get if it is not on `PATH` yet.
fn installed() -> &'static Path {
    static BINARY_PATH: OnceLock<PathBuf> = OnceLock::new();
    BINARY_PATH.get_or_init(|| {
        crate::debian::install_once("redis", &["redis-server"], || on_path(BINARY).is_some());
        on_path(BINARY).expect("redis-server is installed")
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

    #[test]
    fn a_durable_server_stops_and_restarts_on_its_port_with_its_data() {
        let mut server = RedisServer::start_durable();
        let port = server.port();
        assert_eq!(command(port, "SET k kept", 1), ["+OK"]);
        assert_eq!(
            command(port, "CONFIG GET appendfsync", 5),
            ["*2", "$11", "appendfsync", "$6", "always"],
        );
        server.stop();
        assert!(!server.is_running());
        assert!(!ping(port), "a stopped server refuses connections");
        server.stop();
        server.restart();
        assert!(server.is_running());
        assert_eq!(server.port(), port);
        assert_eq!(
            command(port, "GET k", 2),
            ["$4", "kept"],
            "the data came back"
        );
        server.restart();
        assert_eq!(
            command(port, "GET k", 2),
            ["$4", "kept"],
            "restart while running: a no-op"
        );
        let dir = server.durable.clone().unwrap();
        drop(server);
        assert!(!ping(port));
        assert!(!dir.exists(), "the data directory goes with the handle");
    }
}
