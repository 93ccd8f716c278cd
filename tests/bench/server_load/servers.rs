//! The release binary as the bench starts it: `serve` on a loopback port or `stdio` on pipes,
//! single-store, memory state, no tool budget, an upstream bucket nothing drains and order
//! reads cached for an hour (so every measured call is a hit, even past the 15 s default),
//! the default log filter unless told otherwise, stderr drained so logging never blocks.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::support::{BIN, FakeOrderDesk};

/// The binary under test: this build's, or `ORDERDESK_BENCH_BIN` (another build, for an
/// A/B comparison on the same machine and load generator).
pub fn binary() -> std::path::PathBuf {
    std::env::var_os("ORDERDESK_BENCH_BIN").map_or_else(|| BIN.into(), Into::into)
}

/// `cache`: the precompile cache directory (an empty one makes a cold start).
fn command(fake: &FakeOrderDesk, transport: &str, cache: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ORDERDESK_STORE_ID", fake.store_id())
        .env("ORDERDESK_API_KEY", fake.api_key())
        .arg(transport)
        .args(["--api-url", &fake.base_url(), "--state", "memory"])
        .arg("--precompile-cache")
        .arg(cache)
        .args(["--tool-calls-per-minute", "0"])
        .args([
            "--upstream-burst",
            "100000",
            "--upstream-per-second",
            "100000",
        ])
        .args(["--cache-ttl-orders", "3600"])
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Keep the last lines of `stream` (for failure messages) and never let it fill up.
fn drain(stream: impl AsyncRead + Unpin + Send + 'static, tail: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(stream).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut tail = tail.lock().unwrap();
            if tail.len() == 40 {
                tail.remove(0);
            }
            tail.push(line);
        }
    });
}

/// `orderdesk-mcp serve --listen 127.0.0.1:0`, with `extra` arguments.
pub struct HttpServer {
    child: Child,
    pub pid: u32,
    /// `127.0.0.1:PORT`
    pub addr: String,
    tail: Arc<Mutex<Vec<String>>>,
}

pub async fn serve(fake: &FakeOrderDesk, cache: &Path, extra: &[&str]) -> HttpServer {
    let mut cmd = command(fake, "serve", cache);
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut child = cmd.spawn().expect("spawning orderdesk-mcp serve");
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("orderdesk-mcp listening on http://") {
                return Some(url.trim_end_matches("/mcp").to_string());
            }
            seen.push(line);
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("serve did not start; stderr:\n{}", seen.join("\n")));
    let tail = Arc::new(Mutex::new(seen));
    drain(lines.into_inner(), tail.clone());
    HttpServer {
        child,
        pid,
        addr,
        tail,
    }
}

impl HttpServer {
    pub fn stderr_tail(&self) -> String {
        self.tail.lock().unwrap().join("\n")
    }

    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `orderdesk-mcp stdio`, spoken to line by line (newline-delimited JSON-RPC).
pub struct StdioServer {
    child: Child,
    pub pid: u32,
    pub stdin: ChildStdin,
    pub stdout: Lines<BufReader<ChildStdout>>,
    tail: Arc<Mutex<Vec<String>>>,
}

pub fn stdio(fake: &FakeOrderDesk, cache: &Path) -> StdioServer {
    let mut cmd = command(fake, "stdio", cache);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning orderdesk-mcp stdio");
    let tail = Arc::new(Mutex::new(Vec::new()));
    drain(child.stderr.take().unwrap(), tail.clone());
    StdioServer {
        pid: child.id().unwrap(),
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
        child,
        tail,
    }
}

impl StdioServer {
    pub fn stderr_tail(&self) -> String {
        self.tail.lock().unwrap().join("\n")
    }

    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
