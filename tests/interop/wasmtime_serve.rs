//! The composed MCP server (`compose/orderdesk-server.wac`: adapters/mcp-http over
//! orderdesk.wasm over adapters/lock-local) under a runtime this project did not write:
//! `wasmtime serve -Scli -Sconfig -Skeyvalue` from the pinned wasmtime CLI
//! (`scripts/tools.sh`), configured for the fake OrderDesk's single store through
//! `-Sconfig-var`, driven by rmcp's streamable HTTP client and by raw JSON-RPC for the error
//! paths. wasmtime's key-value opens only the bucket `""` and keeps it in memory per handle,
//! so every bucket setting is `""`, and nothing survives a request: each `orders_get` is a
//! cache miss that reaches the fake.

use crate::support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::ServiceExt as _;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use support::tools::{composed, wasm_tools};
use support::{FakeOrderDesk, fake_unlimited};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `wasmtime serve` on a free loopback port.
struct Serve {
    _child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// The exact command a user runs (see the README), with `fake`'s store.
    async fn start(fake: &FakeOrderDesk, extra: &[(&str, &str)]) -> Serve {
        let wasm = tokio::task::spawn_blocking(composed)
            .await
            .unwrap()
            .join("orderdesk-server.wasm");
        let tools = tokio::task::spawn_blocking(wasm_tools).await.unwrap();
        let mut vars = vec![
            ("api_url", fake.base_url()),
            ("store_id", fake.store_id().to_string()),
            ("api_key", fake.api_key().to_string()),
            ("state_bucket", String::new()),
            ("cache_bucket_orders", String::new()),
            ("cache_bucket_products", String::new()),
            ("cache_bucket_store", String::new()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let mut command = Command::new(&tools.wasmtime);
        command.args([
            "serve",
            "-Scli",
            "-Sconfig",
            "-Skeyvalue",
            "--addr",
            "127.0.0.1:0",
        ]);
        for (key, value) in &vars {
            command.arg(format!("-Sconfig-var={key}={value}"));
        }
        // wasmtime keeps compiled code in its cache (`$XDG_CACHE_HOME/wasmtime`): under
        // target/, like every other tool the tests use, so only the first start compiles.
        let cache = support::repo_root().join("target/tools/cache");
        let mut child = command
            .arg(&wasm)
            .env("XDG_CACHE_HOME", cache)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting wasmtime serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        // Compiling the 1.7 MB composition takes a few seconds on these machines.
        let url = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                stderr.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(base) = line.strip_prefix("Serving HTTP on ") {
                    return format!("{}mcp", base.trim());
                }
            }
            panic!("wasmtime serve exited:\n{}", stderr.lock().unwrap());
        })
        .await
        .expect("wasmtime serve did not start listening within 120 s");
        let sink = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Serve {
            _child: child,
            url,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A raw POST of `body` with `headers` (JSON content type unless overridden).
    async fn post(&self, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> Answer {
        let mut request = reqwest::Client::new()
            .post(&self.url)
            .header("accept", "application/json, text/event-stream");
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        Answer::of(request.body(body).send().await.expect("POST /mcp")).await
    }

    async fn rpc(&self, message: Value) -> Answer {
        self.post(&[], message.to_string()).await
    }
}

/// An HTTP answer: status, content type and body (as JSON when it is some).
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    json: Value,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            json,
        }
    }

    /// The JSON-RPC error code, if the answer is an error.
    fn code(&self) -> Option<i64> {
        self.json["error"]["code"].as_i64()
    }
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    request(
        id,
        "tools/call",
        json!({ "name": tool, "arguments": arguments }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composed_server_answers_an_mcp_client_under_wasmtime_serve() {
    let fake = fake_unlimited().await;
    let serve = Serve::start(&fake, &[]).await;

    // rmcp's client: initialize (it asks for 2025-11-25), the initialized notification (202),
    // and its GET for a server stream (405: this server has none), then tools.
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("e2e-wasmtime-serve", "1"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_11_25);
    let client = info
        .serve(StreamableHttpClientTransport::from_uri(serve.url.clone()))
        .await
        .unwrap_or_else(|e| panic!("initialize failed: {e}\n{}", serve.stderr()));
    let server_info = client.peer_info().expect("initialize result");
    assert_eq!(server_info.protocol_version, ProtocolVersion::V_2025_11_25);
    assert_eq!(
        server_info.server_info.as_ref().unwrap().name,
        "orderdesk-mcp"
    );
    assert!(server_info.capabilities.tools.is_some());

    let listed = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
    for tool in ["orders_get", "orders_list", "orders_update", "store_info"] {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
    let orders_get = listed.iter().find(|t| t.name == "orders_get").unwrap();
    assert!(orders_get.annotations.as_ref().unwrap().read_only_hint == Some(true));
    let output_schema = Value::Object(orders_get.output_schema.as_ref().unwrap().as_ref().clone());

    // orders_get: the fake's order, matching the tool's outputSchema.
    let id = fake.order_ids()[3];
    let got = support::call_tool(&client, "orders_get", json!({ "order_id": id.to_string() }))
        .await
        .unwrap();
    assert_ne!(got.is_error, Some(true), "{got:?}\n{}", serve.stderr());
    let order = got.structured_content.clone().unwrap();
    assert_eq!(order["order"]["id"], id.to_string());
    assert_eq!(order["order"]["email"], fake.order(id).unwrap()["email"]);
    let validator = jsonschema::validator_for(&output_schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&order)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "orders_get breaks its outputSchema: {errors:?}"
    );
    // The text content carries the same JSON, for clients that read only text.
    let text = got.content[0].as_text().expect("text content");
    assert_eq!(serde_json::from_str::<Value>(&text.text).unwrap(), order);

    // orders_list: a page of the fake's orders.
    let page = support::call_tool(&client, "orders_list", json!({ "limit": 5 }))
        .await
        .unwrap();
    assert_ne!(page.is_error, Some(true), "{page:?}");
    let page = page.structured_content.unwrap();
    let orders = page["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 5, "{page}");
    let known: Vec<String> = fake.order_ids().iter().map(u64::to_string).collect();
    assert!(
        orders
            .iter()
            .all(|o| known.contains(&o["id"].as_str().unwrap().to_string()))
    );

    // An order the store does not have: an isError result with the component's error JSON.
    let missing = support::call_tool(&client, "orders_get", json!({ "order_id": "999999999" }))
        .await
        .unwrap();
    assert_eq!(missing.is_error, Some(true), "{missing:?}");
    assert!(missing.structured_content.is_none());
    let text = missing.content[0].as_text().expect("text content");
    let error = &serde_json::from_str::<Value>(&text.text).unwrap()["error"];
    assert_eq!(error["code"], "ORDER_NOT_FOUND", "{error}");
    assert_eq!(error["retryable"], false);
    assert!(!error["request_id"].as_str().unwrap().is_empty());

    // Bad arguments reach the component, which refuses them as a tool error.
    let bad = support::call_tool(&client, "orders_get", json!({ "order_id": 12, "x": 1 }))
        .await
        .unwrap();
    assert_eq!(bad.is_error, Some(true), "{bad:?}");
    let text = bad.content[0].as_text().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text.text).unwrap()["error"]["code"],
        "INVALID_ARGUMENT"
    );
    client.cancel().await.unwrap();

    // The component's logs reach wasmtime's stderr as JSON lines (no wasi:logging needed).
    let stderr = serve.stderr();
    let logged: Vec<Value> = stderr
        .lines()
        .filter_map(|l| l.split_once(" :: ").map(|(_, json)| json))
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect();
    assert!(
        logged
            .iter()
            .any(|l| l["context"].is_string() && l["level"].is_string()),
        "no JSON log line from the component on stderr:\n{stderr}"
    );
    assert!(!stderr.contains(fake.api_key()), "the API key was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composed_server_answers_protocol_errors_per_the_spec() {
    let fake = fake_unlimited().await;
    let serve = Serve::start(&fake, &[("allowed_origins", "https://app.example")]).await;

    // Version negotiation: the version asked for when known, else the newest.
    for (asked, answered) in [
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2026-07-28", "2026-07-28"),
        ("2024-11-05", "2026-07-28"),
    ] {
        let init = serve
            .rpc(request(
                1,
                "initialize",
                json!({
                    "protocolVersion": asked,
                    "capabilities": {},
                    "clientInfo": { "name": "raw", "version": "1" }
                }),
            ))
            .await;
        assert_eq!(init.status, 200, "{init:?}");
        assert!(
            init.content_type.starts_with("application/json"),
            "{init:?}"
        );
        assert_eq!(init.json["id"], 1);
        assert_eq!(init.json["result"]["protocolVersion"], answered, "{init:?}");
    }
    let ping = serve.rpc(request(7, "ping", json!({}))).await;
    assert_eq!((ping.status, &ping.json["result"]), (200, &json!({})));

    // Unknown tool: JSON-RPC invalid params, not a tool result.
    let unknown = serve.rpc(call(2, "orders_teleport", json!({}))).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (200, Some(-32602)),
        "{unknown:?}"
    );
    assert_eq!(unknown.json["id"], 2);
    // tools/call without a name, or with arguments that are not an object.
    let nameless = serve.rpc(request(3, "tools/call", json!({}))).await;
    assert_eq!(nameless.code(), Some(-32602), "{nameless:?}");
    let listy = serve.rpc(call(4, "orders_get", json!([1]))).await;
    assert_eq!(listy.code(), Some(-32602), "{listy:?}");
    // Unknown method.
    let method = serve.rpc(request(5, "resources/list", json!({}))).await;
    assert_eq!(
        (method.status, method.code()),
        (200, Some(-32601)),
        "{method:?}"
    );

    // Messages the transport cannot accept: an HTTP error and a JSON-RPC error without id.
    let parse = serve.post(&[], "{not json").await;
    assert_eq!(
        (parse.status, parse.code()),
        (400, Some(-32700)),
        "{parse:?}"
    );
    assert_eq!(parse.json["id"], Value::Null);
    let batch = serve
        .rpc(json!([
            request(1, "ping", json!({})),
            request(2, "ping", json!({}))
        ]))
        .await;
    assert_eq!(
        (batch.status, batch.code()),
        (400, Some(-32600)),
        "{batch:?}"
    );
    let no_version = serve.rpc(json!({ "id": 1, "method": "ping" })).await;
    assert_eq!((no_version.status, no_version.code()), (400, Some(-32600)));
    let bad_id = serve
        .rpc(json!({ "jsonrpc": "2.0", "id": {"a": 1}, "method": "ping" }))
        .await;
    assert_eq!((bad_id.status, bad_id.code()), (400, Some(-32600)));
    let wrong_type = serve
        .post(
            &[("content-type", "text/plain")],
            request(1, "ping", json!({})).to_string(),
        )
        .await;
    assert_eq!(wrong_type.status, 415, "{wrong_type:?}");
    let header = serve
        .post(
            &[("mcp-protocol-version", "1999-01-01")],
            request(1, "ping", json!({})).to_string(),
        )
        .await;
    assert_eq!(header.status, 400, "{header:?}");

    // Notifications and responses: 202, no body.
    let note = serve
        .rpc(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;
    assert_eq!((note.status, &note.json), (202, &Value::Null));
    let cancelled = serve
        .rpc(json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": { "requestId": 9 }
        }))
        .await;
    assert_eq!(cancelled.status, 202);

    // GET (a server stream) and DELETE (a session) do not exist here.
    let http = reqwest::Client::new();
    let get = http
        .get(&serve.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let delete = http.delete(&serve.url).send().await.unwrap();
    assert_eq!(delete.status().as_u16(), 405);
    let elsewhere = http
        .post(serve.url.replace("/mcp", "/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status().as_u16(), 404);

    // Browser origins: the configured allow-list only.
    let ping = request(1, "ping", json!({})).to_string();
    let foreign = serve
        .post(&[("origin", "http://evil.example")], ping.clone())
        .await;
    assert_eq!(foreign.status, 403, "{foreign:?}");
    let listed = serve
        .post(&[("origin", "https://app.example")], ping.clone())
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composed_server_takes_an_auth_token_from_wasi_config() {
    let fake = fake_unlimited().await;
    let serve = Serve::start(&fake, &[("auth_token", "serve-token-5d1")]).await;
    let ping = request(1, "ping", json!({})).to_string();
    let none = serve.post(&[], ping.clone()).await;
    assert_eq!(none.status, 401, "{none:?}");
    let wrong = serve
        .post(&[("authorization", "Bearer serve-token-5d2")], ping.clone())
        .await;
    assert_eq!(wrong.status, 401);
    let id = fake.order_ids()[0];
    let right = serve
        .post(
            &[("authorization", "Bearer serve-token-5d1")],
            call(2, "orders_get", json!({ "order_id": id.to_string() })).to_string(),
        )
        .await;
    assert_eq!(right.status, 200);
    assert_eq!(
        right.json["result"]["structuredContent"]["order"]["id"],
        id.to_string(),
        "{right:?}"
    );
}

/// `orders_get` round trips through `wasmtime serve`, each a fresh instance (wasmtime's
/// default for WASI 0.2 components) and so a cache miss: the figure includes the request
/// to the fake OrderDesk on loopback. No cache hit can be measured here: wasmtime's
/// key-value store is copied per `open`, so not even a reused instance sees the last
/// request's cache entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_get_latency_under_wasmtime_serve() {
    let fake = fake_unlimited().await;
    let serve = Serve::start(&fake, &[]).await;
    let id = fake.order_ids()[0].to_string();
    let body = call(1, "orders_get", json!({ "order_id": id })).to_string();
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    for i in 0..23 {
        let started = Instant::now();
        let response = http
            .post(&serve.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let answer = Answer::of(response).await;
        let elapsed = started.elapsed();
        let result = &answer.json["result"];
        assert_eq!(result["isError"], false, "{answer:?}\n{}", serve.stderr());
        assert_eq!(result["structuredContent"]["cache"], "miss");
        if i >= 3 {
            times.push(elapsed);
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "wasmtime serve orders_get (cache miss, fresh instance): median {:.2} ms, min {:.2} ms, max {:.2} ms over {}",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );
    assert!(median < Duration::from_secs(2), "median {median:?}");
}

/// A client of the 2026-07-28 revision probes with `server/discover`; this stateless JSON
/// server answers it -32601 (it has no discovery yet), and the client falls back to
/// `initialize`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovering_client_falls_back_to_initialize() {
    let fake = fake_unlimited().await;
    let serve = Serve::start(&fake, &[]).await;
    let client = ()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(serve.url.clone()),
            ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("no lifecycle: {e}\n{}", serve.stderr()));
    let id = fake.order_ids()[1];
    let got = support::call_tool(&client, "orders_get", json!({ "order_id": id.to_string() }))
        .await
        .unwrap();
    assert_ne!(got.is_error, Some(true), "{got:?}");
    assert_eq!(
        got.structured_content.unwrap()["order"]["id"],
        id.to_string()
    );
    client.cancel().await.unwrap();
}

/// A write takes the order's record lock: here adapters/lock-local's, composed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_goes_through_the_composed_lock() {
    let fake = fake_unlimited().await;
    let serve = Serve::start(&fake, &[]).await;
    let id = fake.order_ids()[2];
    let changes = json!({ "email": "composed@example.com" });
    let updated = serve
        .rpc(call(
            1,
            "orders_update",
            json!({ "order_id": id.to_string(), "changes": changes }),
        ))
        .await;
    let result = &updated.json["result"];
    assert_eq!(result["isError"], false, "{updated:?}\n{}", serve.stderr());
    assert_eq!(
        result["structuredContent"]["order"]["email"],
        "composed@example.com"
    );
    assert_eq!(fake.order(id).unwrap()["email"], "composed@example.com");
}
