//! The real binary as `orderdesk-mcp serve` on a loopback port, and clients for it: rmcp's
//! streamable HTTP client in either era, and raw HTTP for what clients never send.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt as _};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{BIN, Launch, call_tool, shared_precompile_cache};

/// A running `serve` process.
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `http://127.0.0.1:PORT` of `--metrics-listen`, when given.
    pub metrics_base: Option<String>,
    stderr: Arc<Mutex<String>>,
}

/// Start `orderdesk-mcp serve` with `launch`'s settings on a free loopback port.
pub async fn serve(launch: &Launch) -> HttpServer {
    serve_with_env(launch, &[]).await
}

pub async fn serve_with_env(launch: &Launch, env: &[(&str, &str)]) -> HttpServer {
    spawn_serve(Command::new(BIN), launch, env).await
}

/// `serve` started by a shell that first sets its open-file limit (soft and hard) to
/// `nofile`, as `ulimit -n` does on a small machine.
pub async fn serve_with_nofile(launch: &Launch, nofile: u64) -> HttpServer {
    serve_under_ulimit(launch, &format!("-n {nofile}")).await
}

/// `serve` started by a shell that first runs `ulimit {limit}` (e.g. `-Sn 256`: the soft
/// open-file limit only).
pub async fn serve_under_ulimit(launch: &Launch, limit: &str) -> HttpServer {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit {limit} && exec \"$0\" \"$@\""))
        .arg(BIN);
    spawn_serve(cmd, launch, &[]).await
}

async fn spawn_serve(mut cmd: Command, launch: &Launch, env: &[(&str, &str)]) -> HttpServer {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ORDERDESK_MCP_LOG", "info,component=debug")
        .env("ORDERDESK_RETRY_BASE_MS", "40")
        .envs(env.iter().copied())
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--api-url")
        .arg(&launch.api_url)
        .arg("--state")
        .arg(&launch.state)
        .arg("--precompile-cache")
        .arg(shared_precompile_cache());
    if let Some(id) = &launch.store_id {
        cmd.env("ORDERDESK_STORE_ID", id);
    }
    if let Some(key) = &launch.api_key {
        cmd.env("ORDERDESK_API_KEY", key);
    }
    cmd.args(&launch.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawning orderdesk-mcp serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let captured = Arc::new(Mutex::new(String::new()));
    let mut base = None;
    let mut metrics_base = None;
    let started = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            captured.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(rest) = line.strip_prefix("orderdesk-mcp metrics on ") {
                metrics_base = Some(rest.trim_end_matches("/metrics").to_string());
            }
            if let Some(rest) = line.strip_prefix("orderdesk-mcp listening on ") {
                base = Some(rest.trim_end_matches("/mcp").to_string());
                return;
            }
        }
    })
    .await;
    let Some(base) = base else {
        panic!(
            "serve did not start ({started:?}); stderr:\n{}",
            captured.lock().unwrap()
        );
    };
    let sink = captured.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    HttpServer {
        child,
        base,
        metrics_base,
        stderr: captured,
    }
}

impl HttpServer {
    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// A session-era client (`initialize` with `version`), sending `bearer` if given.
    pub async fn session_client(
        &self,
        bearer: Option<&str>,
        version: ProtocolVersion,
    ) -> RunningService<RoleClient, ClientConfig> {
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("e2e-http", "1"),
        )
        .with_protocol_version(version);
        info.serve(self.transport(bearer))
            .await
            .unwrap_or_else(|e| panic!("initialize failed: {e}\n{}", self.stderr()))
    }

    /// A client of the stateless revision (`server/discover`, 2026-07-28).
    pub async fn stateless_client(&self, bearer: Option<&str>) -> RunningService<RoleClient, ()> {
        ().serve_with_lifecycle(
            self.transport(bearer),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap_or_else(|e| panic!("server/discover failed: {e}\n{}", self.stderr()))
    }

    pub fn transport(
        &self,
        bearer: Option<&str>,
    ) -> StreamableHttpClientTransport<reqwest::Client> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.mcp_url());
        if let Some(key) = bearer {
            config = config.auth_header(key);
        }
        StreamableHttpClientTransport::from_config(config)
    }

    /// The exit status if the process has ended (it is not waited for).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("checking on serve")
    }

    /// Send SIGKILL (no shutdown, no clean-up: as a crash or the OOM killer would) and wait
    /// until the process is gone; its exit status. The captured stderr stays readable.
    pub async fn kill(&mut self) -> std::process::ExitStatus {
        self.child.start_kill().expect("sending SIGKILL");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("serve exits after SIGKILL")
            .unwrap()
    }

    /// Send SIGTERM and wait for the exit status.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.pid();
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("serve exits after SIGTERM")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.stderr())
    }
}

/// A raw JSON-RPC POST to `/mcp`, for what well-behaved clients never send.
pub async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.body(body).send().await.expect("POST /mcp")
}

/// The JSON-RPC message of a response, whether sent as JSON or as one SSE event.
pub async fn message_of(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.unwrap();
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|d| !d.is_empty())
        .unwrap_or(text.trim());
    serde_json::from_str(data).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {text}"))
}

/// `initialize` params for raw requests.
pub fn initialize(version: &str) -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": "raw", "version": "1" }
        }
    })
}

/// `tools/call` that must get an answer (a result, successful or not).
pub async fn call<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    name: &str,
    args: serde_json::Value,
) -> rmcp::model::CallToolResult {
    call_tool(client, name, args)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `tools/call` that must succeed; its structured content.
pub async fn ok<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    name: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    let result = call(client, name, args).await;
    assert_ne!(result.is_error, Some(true), "{name}: {result:?}");
    result.structured_content.unwrap()
}

/// The `error` object of a failed call's text content.
pub fn error_of(result: &rmcp::model::CallToolResult) -> serde_json::Value {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let text = result.content[0].as_text().expect("text content");
    serde_json::from_str::<serde_json::Value>(&text.text).unwrap()["error"].clone()
}
