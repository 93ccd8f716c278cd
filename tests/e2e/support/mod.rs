//! Shared end-to-end harness: the real `orderdesk-mcp` binary, spawned over stdio and
//! driven by rmcp's client, against the in-process fake OrderDesk.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod http;
pub mod procfs;
pub mod python;
pub mod soak;
pub mod sync;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

#[allow(unused_imports)] // each test binary uses a different part of the harness
pub use fake_orderdesk::{Edit, FakeConfig, FakeOrderDesk, Match, Respond, Rule};

pub const BIN: &str = env!("CARGO_BIN_EXE_orderdesk-mcp");

/// Compiled-component cache shared by the tests, so only the first spawn compiles.
pub fn shared_precompile_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("precompile-cache")
}

/// How to start the server under test.
#[derive(Clone, Debug)]
pub struct Launch {
    pub api_url: String,
    pub store_id: Option<String>,
    pub api_key: Option<String>,
    pub state: String,
    pub args: Vec<String>,
}

impl Launch {
    /// Credentials and URL of `fake`, in-memory state.
    pub fn against(fake: &FakeOrderDesk) -> Self {
        Self {
            api_url: fake.base_url(),
            store_id: Some(fake.store_id().to_string()),
            api_key: Some(fake.api_key().to_string()),
            state: "memory".into(),
            args: Vec::new(),
        }
    }

    /// No store configured (the server serves tenants), state in `state`.
    pub fn for_tenants(fake: &FakeOrderDesk, state: &str) -> Self {
        Self {
            store_id: None,
            api_key: None,
            ..Self::against(fake).state(state)
        }
    }

    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = state.into();
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// No tool budget and an upstream bucket larger than any test needs: for tests that
    /// measure our own handling, not OrderDesk pacing.
    pub fn unthrottled(self) -> Self {
        self.arg("--upstream-burst")
            .arg("100000")
            .arg("--upstream-per-second")
            .arg("100000")
            .arg("--tool-calls-per-minute")
            .arg("0")
    }

    /// Give up on an OrderDesk answer after `ms` (slow-answer tests).
    pub fn upstream_timeout_ms(self, ms: u64) -> Self {
        self.arg("--upstream-timeout-ms").arg(ms.to_string())
    }
}

/// A running server and an initialized MCP client session with it.
pub struct Server {
    pub client: RunningService<RoleClient, ()>,
    stderr: Arc<Mutex<String>>,
}

/// `tools/call` of `name` with the JSON object `args`, on any rmcp client (stdio or HTTP).
pub async fn call_tool<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    name: &str,
    args: Value,
) -> Result<CallToolResult, ServiceError> {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
        .await
}

pub async fn spawn(launch: Launch) -> Server {
    let mut cmd = Command::new(BIN);
    // A clean environment: nothing from the developer's shell leaks into the test.
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ORDERDESK_MCP_LOG", "info,component=debug")
        .env("ORDERDESK_RETRY_BASE_MS", "40")
        .arg("stdio")
        .arg("--api-url")
        .arg(&launch.api_url)
        .arg("--state")
        .arg(&launch.state);
    if !launch
        .args
        .iter()
        .any(|a| a.starts_with("--precompile-cache") || a == "--no-precompile-cache")
    {
        cmd.arg("--precompile-cache").arg(shared_precompile_cache());
    }
    if let Some(id) = &launch.store_id {
        cmd.env("ORDERDESK_STORE_ID", id);
    }
    if let Some(key) = &launch.api_key {
        cmd.env("ORDERDESK_API_KEY", key);
    }
    cmd.args(&launch.args);
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning orderdesk-mcp");
    let captured = Arc::new(Mutex::new(String::new()));
    if let Some(mut stderr) = stderr {
        let sink = captured.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let client = match ().serve(transport).await {
        Ok(client) => client,
        Err(e) => panic!(
            "initialize failed: {e}\nstderr:\n{}",
            captured.lock().unwrap()
        ),
    };
    Server {
        client,
        stderr: captured,
    }
}

impl Server {
    /// Call a tool; protocol errors panic (use `try_call` to see them).
    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        match self.try_call(name, args).await {
            Ok(r) => r,
            Err(e) => panic!("tools/call {name} failed: {e}\nstderr:\n{}", self.stderr()),
        }
    }

    pub async fn try_call(&self, name: &str, args: Value) -> Result<CallToolResult, ServiceError> {
        call_tool(&self.client, name, args).await
    }

    /// Call and expect success; returns the structured content.
    pub async fn ok(&self, name: &str, args: Value) -> Value {
        let r = self.call(name, args).await;
        assert_ne!(
            r.is_error,
            Some(true),
            "{name} failed: {:?}\nstderr:\n{}",
            r.content.first().and_then(|c| c.as_text()).map(|t| &t.text),
            self.stderr()
        );
        r.structured_content.expect("structuredContent")
    }

    /// Call and expect a tool error; returns `error` of the JSON the text content carries,
    /// after checking there is no structured content (clients validate that against the
    /// success-only outputSchema).
    pub async fn err(&self, name: &str, args: Value) -> Value {
        let r = self.call(name, args).await;
        let text = r.content[0].as_text().expect("text content").text.clone();
        assert_eq!(r.is_error, Some(true), "{name} should fail: {text}");
        assert!(
            r.structured_content.is_none(),
            "{name}: an error result carries structured content"
        );
        let body: Value = serde_json::from_str(&text).expect("the error text is JSON");
        let error = body["error"].clone();
        assert!(
            error["code"].as_str().is_some_and(|s| !s.is_empty()),
            "{text}"
        );
        assert!(error["request_id"].as_str().is_some_and(|s| !s.is_empty()));
        error
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub async fn stop(self) {
        let _ = self.client.cancel().await;
    }
}

/// Run `orderdesk-mcp tenant …` on `state`.
pub fn try_tenant_cli(state: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .arg("tenant")
        .args(args)
        .args(["--state", state])
        .arg("--precompile-cache")
        .arg(shared_precompile_cache())
        .output()
        .unwrap()
}

/// Run `orderdesk-mcp tenant …` on `state`, expecting success; returns what it printed.
pub fn tenant_cli(state: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = try_tenant_cli(state, args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// `orderdesk-mcp tenant create`; returns (tenant id, master key).
pub fn create_tenant(state: &str, name: &str) -> (String, String) {
    let text = tenant_cli(state, &["create", "--name", name], &[]);
    let id = text
        .split("id=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let key = text
        .split("keep it safe): ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    assert!(key.starts_with("odmk_"));
    (id, key)
}

pub async fn fake() -> FakeOrderDesk {
    FakeOrderDesk::start(FakeConfig::default())
        .await
        .expect("starting the fake")
}

/// A fake without OrderDesk's rate limit, for tests about our own handling.
pub async fn fake_unlimited() -> FakeOrderDesk {
    fake_with(FakeConfig {
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await
}

pub async fn fake_with(config: FakeConfig) -> FakeOrderDesk {
    FakeOrderDesk::start(config)
        .await
        .expect("starting the fake")
}

/// The repository root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The commands `tests/clients/package.json` installs that the tests run: the MCP Inspector
/// CLI and the official conformance suite.
const NPM_COMMANDS: &[&str] = &["mcp-inspector", "conformance"];

/// `tests/clients/node_modules/.bin`, with the npm packages of `tests/clients` installed
/// from its `package-lock.json` on first use (or when a command is missing), once, under a
/// file lock so parallel test binaries do not race. `npm install` (which keeps to the lock
/// file), not `npm ci`: one of the Inspector's optional dependencies is not on the registry,
/// and `npm ci` refuses a lock file that cannot list it.
pub fn npm_clients() -> PathBuf {
    let dir = repo_root().join("tests/clients");
    let bin = dir.join("node_modules/.bin");
    let lock = std::fs::File::create(dir.join(".install.lock")).unwrap();
    lock.lock().unwrap();
    if NPM_COMMANDS.iter().any(|c| !bin.join(c).exists()) {
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js) is needed to install the outside clients for the tests");
        assert!(status.success(), "npm install in tests/clients failed");
    }
    lock.unlock().unwrap();
    bin
}

/// The MCP Inspector CLI (`@modelcontextprotocol/inspector`, the TypeScript SDK's client).
pub fn inspector() -> PathBuf {
    npm_clients().join("mcp-inspector")
}

/// What one run of an outside client printed.
pub struct Printed {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Printed {
    /// The JSON the client printed on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Run the Inspector CLI against the real binary over stdio: `orderdesk-mcp stdio` with
/// `launch`'s settings as env vars, then `args` (`--method tools/call …`).
pub async fn run_inspector(launch: &Launch, args: &[&str]) -> Printed {
    let bin = tokio::task::spawn_blocking(inspector).await.unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--cli");
    let mut env = vec![
        ("ORDERDESK_API_URL".to_string(), launch.api_url.clone()),
        ("ORDERDESK_MCP_STATE".to_string(), launch.state.clone()),
        ("ORDERDESK_MCP_LOG".to_string(), "warn".to_string()),
        (
            "ORDERDESK_MCP_PRECOMPILE_CACHE".to_string(),
            shared_precompile_cache().display().to_string(),
        ),
    ];
    if let Some(id) = &launch.store_id {
        env.push(("ORDERDESK_STORE_ID".into(), id.clone()));
    }
    if let Some(key) = &launch.api_key {
        env.push(("ORDERDESK_API_KEY".into(), key.clone()));
    }
    for (k, v) in &env {
        cmd.arg("-e").arg(format!("{k}={v}"));
    }
    cmd.arg(BIN).arg("stdio").args(&launch.args).args(args);
    let out = cmd
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .output()
        .await
        .expect("running the MCP Inspector CLI");
    Printed {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
