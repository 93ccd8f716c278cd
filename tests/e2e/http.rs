//! `orderdesk-mcp serve` end to end: the real binary on a loopback port, driven by rmcp's
//! streamable HTTP client in both eras of MCP (sessions: 2025-06-18 and 2025-11-25;
//! stateless: 2026-07-28) and by raw requests for what clients never send: bearers,
//! tenants, Origin, protocol versions, body caps, health, readiness, metrics, SIGTERM.

use crate::support;

use std::time::Duration;

use rmcp::model::{CallToolResult, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::{RoleClient, Service};
use serde_json::{Value, json};
use support::http::{self, HttpServer, call, error_of, initialize, message_of, post};
use support::{
    FakeOrderDesk, Launch, Match, Respond, Rule, create_tenant, fake, fake_unlimited, tenant_cli,
};

/// Tools list, a call, and an error result, the same in every era.
async fn exercise<S: Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    fake: &FakeOrderDesk,
) {
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "orders_get"), "{tools:?}");
    let id = fake.order_ids()[0];
    let got = call(client, "orders_get", json!({ "order_id": id })).await;
    assert_ne!(got.is_error, Some(true), "{got:?}");
    let order = &got.structured_content.as_ref().unwrap()["order"];
    assert_eq!(
        order["id"].as_str().map(str::to_string),
        Some(id.to_string())
    );
    assert_eq!(order["email"], fake.order(id).unwrap()["email"]);
    let missing = call(client, "orders_get", json!({ "order_id": "999999999" })).await;
    assert_eq!(error_of(&missing)["code"], "ORDER_NOT_FOUND");
}

#[tokio::test]
async fn session_era_clients_list_call_and_fail_in_both_versions() {
    let fake = fake_unlimited().await;
    let server = http::serve(&Launch::against(&fake)).await;
    for version in [ProtocolVersion::V_2025_06_18, ProtocolVersion::V_2025_11_25] {
        let client = server.session_client(None, version.clone()).await;
        assert_eq!(client.peer_info().unwrap().protocol_version, version);
        exercise(&client, &fake).await;
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn stateless_clients_discover_then_call_with_no_session() {
    let fake = fake_unlimited().await;
    let server = http::serve(&Launch::against(&fake)).await;
    let client = server.stateless_client(None).await;
    assert_eq!(
        client.peer_info().unwrap().protocol_version,
        ProtocolVersion::V_2026_07_28
    );
    exercise(&client, &fake).await;

    // Raw: no session id is handed out, and the headers must agree with the body.
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "raw", "version": "1" }
    });
    let list = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": { "_meta": meta }
    });
    let ok = post(
        &server.mcp_url(),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ],
        list.to_string(),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("mcp-session-id").is_none());
    assert!(message_of(ok).await["result"]["tools"].is_array());
    let mismatched = post(
        &server.mcp_url(),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
        ],
        list.to_string(),
    )
    .await;
    assert_eq!(
        mismatched.status(),
        400,
        "Mcp-Method disagrees with the body"
    );
    let get = json!({
        "jsonrpc": "2.0", "id": 8, "method": "tools/call",
        "params": { "name": "orders_get", "arguments": { "order_id": fake.order_ids()[0] },
                    "_meta": meta }
    });
    let named = |name: &'static str| {
        let (url, body) = (server.mcp_url(), get.to_string());
        async move {
            post(
                &url,
                &[
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", name),
                ],
                body,
            )
            .await
        }
    };
    let right = named("orders_get").await;
    assert_eq!(right.status(), 200);
    assert_eq!(
        message_of(right).await["result"]["structuredContent"]["order"]["id"],
        fake.order_ids()[0].to_string()
    );
    assert_eq!(
        named("orders_list").await.status(),
        400,
        "Mcp-Name disagrees"
    );
}

/// A plain stateless `tools/call` is served without rmcp (`host/src/stateless.rs`); the
/// same request with a progress token still goes through rmcp. Both must answer alike:
/// status, content type and the JSON-RPC message, for results, tool errors and protocol
/// errors, ids as numbers and as strings.
#[tokio::test]
async fn stateless_calls_answer_the_same_on_both_paths() {
    let fake = fake_unlimited().await;
    let server = http::serve(&Launch::against(&fake)).await;
    let order = fake.order_ids()[0].to_string();
    let cases = [
        (json!(1), "orders_get", json!({ "order_id": order })),
        (json!("s-2"), "orders_get", json!({ "order_id": order })),
        (json!(3), "orders_get", json!({ "order_id": "999999999" })),
        (json!(4), "orders_get", json!({ "order_id": {} })),
        (json!(5), "orders_list", json!({ "limit": 2 })),
        (json!(6), "no_such_tool", json!({})),
    ];
    // Warm the cache, so both paths see the same hit.
    for (_, name, args) in &cases {
        let _ = stateless_post(&server, json!(0), name, Some(args), false).await;
    }
    for (id, name, args) in &cases {
        let fast = stateless_post(&server, id.clone(), name, Some(args), false).await;
        let rmcp = stateless_post(&server, id.clone(), name, Some(args), true).await;
        assert!(
            fast == rmcp,
            "{name} {args}: the paths disagree:\n{}\n{}",
            clip(&format!("{fast:?}")),
            clip(&format!("{rmcp:?}"))
        );
        assert_eq!(fast.0, 200, "{name} {args}");
        assert_eq!(fast.2["id"], *id);
    }
    // No `arguments` at all (after a call that fills the cache for them).
    let _ = stateless_post(&server, json!(0), "orders_list", None, false).await;
    let without = stateless_post(&server, json!(7), "orders_list", None, false).await;
    let rmcp = stateless_post(&server, json!(7), "orders_list", None, true).await;
    assert!(without == rmcp, "no arguments: the paths disagree");
    assert!(without.2["result"]["structuredContent"]["orders"].is_array());
}

fn clip(text: &str) -> &str {
    &text[..text.floor_char_boundary(600)]
}

/// A plain stateless call (served past rmcp) is cancelled when its client goes away, as
/// rmcp's path does: an update whose read is slow, abandoned by its client during the read,
/// sends no PUT afterwards, and the order stays as it was.
#[tokio::test]
async fn a_stateless_call_whose_client_goes_away_is_cancelled() {
    let fake = fake_unlimited().await;
    let id = fake.order_ids()[0];
    let email_before = fake.order(id).unwrap()["email"].clone();
    fake.faults().schedule(
        Rule::on(
            Match::Route("GET /orders/{id}".into()),
            Respond::Slow(Duration::from_millis(1500)),
        )
        .times(1),
    );
    let server = http::serve(&Launch::against(&fake)).await;
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "orders_update", "_meta": meta,
                    "arguments": { "order_id": id, "changes": { "email": "gone@example.com" } } }
    });
    let abandoned = reqwest::Client::new()
        .post(server.mcp_url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "orders_update")
        .timeout(Duration::from_millis(500))
        .body(body.to_string())
        .send()
        .await;
    assert!(abandoned.is_err(), "the client gave up before the answer");
    // The slow read ends at 1.5 s; an update still running would PUT right after it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stats = fake.stats();
    assert_eq!(
        stats.by_route.get("GET /orders/{id}"),
        Some(&1),
        "{stats:?}"
    );
    assert_eq!(stats.by_route.get("PUT /orders/{id}"), None, "{stats:?}");
    assert_eq!(fake.order(id).unwrap()["email"], email_before);
}

/// One raw 2026-07-28 `tools/call`: the status, the content type and the message, with the
/// request id inside an error body (a fresh uuid each time) blanked.
async fn stateless_post(
    server: &HttpServer,
    id: Value,
    name: &str,
    args: Option<&Value>,
    progress: bool,
) -> (u16, String, Value) {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "raw", "version": "1" }
    });
    if progress {
        meta["progressToken"] = json!("p");
    }
    let mut params = json!({ "name": name, "_meta": meta });
    if let Some(args) = args {
        params["arguments"] = args.clone();
    }
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params });
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", name),
    ];
    let response = post(&server.mcp_url(), &headers, body.to_string()).await;
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut message = message_of(response).await;
    if let Some(text) = message["result"]["content"][0]["text"].as_str()
        && message["result"]["isError"] == true
    {
        let mut error: Value = serde_json::from_str(text).unwrap();
        error["error"]["request_id"] = json!("-");
        message["result"]["content"][0]["text"] = json!(error.to_string());
    }
    (status, kind, message)
}

#[tokio::test]
async fn origins_versions_sizes_and_sessions_are_checked() {
    let fake = fake().await;
    let server = http::serve(&Launch::against(&fake).arg("--max-body-bytes").arg("4096")).await;
    let url = server.mcp_url();
    let init = initialize("2025-11-25").to_string();

    let foreign = post(&url, &[("origin", "https://evil.example")], init.clone()).await;
    assert_eq!(foreign.status(), 403);
    let local = post(&url, &[("origin", "http://localhost:6274")], init.clone()).await;
    assert_eq!(
        local.status(),
        200,
        "a loopback origin is allowed by default"
    );

    let big = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "padding": "x".repeat(10_000) } });
    assert_eq!(post(&url, &[], big.to_string()).await.status(), 413);

    // A session: its id is required after initialize, and DELETE ends it.
    let opened = post(&url, &[], init.clone()).await;
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = message_of(opened).await;
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    assert_eq!(
        post(&url, &headers, initialized.to_string()).await.status(),
        202
    );
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }).to_string();
    let bad_version = post(
        &url,
        &[
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "1999-01-01"),
        ],
        list.clone(),
    )
    .await;
    assert_eq!(bad_version.status(), 400);
    let listed = post(&url, &headers, list.clone()).await;
    assert_eq!(listed.status(), 200);
    assert!(message_of(listed).await["result"]["tools"].is_array());
    let deleted = reqwest::Client::new()
        .delete(&url)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(post(&url, &headers, list).await.status(), 404);

    // Garbage gets a JSON-RPC parse error, and the server goes on serving.
    let garbage = post(&url, &[], "{not json").await;
    assert_eq!(garbage.status(), 400);
    assert_eq!(post(&url, &[], init).await.status(), 200);
}

#[tokio::test]
async fn tenants_need_their_bearer_and_share_nothing() {
    let fake = fake().await;
    fake.add_store("30001", "key-a-5e6f7a", 20, 5);
    fake.add_store("30002", "key-b-8b9c0d", 20, 5);
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let (id_a, key_a) = create_tenant(&state, "Agency A");
    let (_, key_b) = create_tenant(&state, "Agency B");
    let server = http::serve(&Launch::for_tenants(&fake, &state)).await;
    let url = server.mcp_url();
    let init = initialize("2025-11-25").to_string();

    let missing = post(&url, &[], init.clone()).await;
    assert_eq!(missing.status(), 401);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let mut wrong = key_a.clone();
    wrong.replace_range(wrong.len() - 4.., "0000");
    let bad = format!("Bearer {wrong}");
    let refused = post(&url, &[("authorization", bad.as_str())], init.clone()).await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    let a = server
        .session_client(Some(&key_a), ProtocolVersion::V_2025_11_25)
        .await;
    let b = server.stateless_client(Some(&key_b)).await;
    let registered = call(
        &a,
        "stores_register",
        json!({ "store_id": "30001", "api_key": "key-a-5e6f7a", "name": "A shop" }),
    )
    .await;
    assert_ne!(registered.is_error, Some(true), "{registered:?}");
    let registered = call(
        &b,
        "stores_register",
        json!({ "store_id": 30002, "api_key": "key-b-8b9c0d", "name": "B shop" }),
    )
    .await;
    assert_ne!(registered.is_error, Some(true), "{registered:?}");
    let stores = |r: CallToolResult| -> Vec<String> {
        let listed = r
            .structured_content
            .clone()
            .unwrap_or_else(|| panic!("{r:?}"));
        listed["stores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s["store_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{s}"))
                    .to_string()
            })
            .collect()
    };
    assert_eq!(stores(call(&a, "stores_list", json!({})).await), ["30001"]);
    assert_eq!(stores(call(&b, "stores_list", json!({})).await), ["30002"]);
    let order = fake.order_ids_in("30002")[0];
    let other = call(
        &a,
        "orders_get",
        json!({ "store": "30002", "order_id": order }),
    )
    .await;
    assert_eq!(error_of(&other)["code"], "STORE_NOT_FOUND", "{other:?}");
    let own = call(&b, "orders_get", json!({ "order_id": order })).await;
    assert_ne!(own.is_error, Some(true), "{own:?}");
    let email = fake.order_in("30002", order).unwrap()["email"]
        .as_str()
        .unwrap()
        .to_string();
    let found = call(
        &b,
        "orders_list",
        json!({ "email": email, "customer_last_name": "Zyx" }),
    )
    .await;
    assert_ne!(found.is_error, Some(true), "{found:?}");

    // One tenant's session cannot be used with another tenant's key.
    let opened = post(
        &url,
        &[("authorization", format!("Bearer {key_a}").as_str())],
        init,
    )
    .await;
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }).to_string();
    let hijack = post(
        &url,
        &[
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-11-25"),
            ("authorization", format!("Bearer {key_b}").as_str()),
        ],
        list,
    )
    .await;
    // Another tenant's session is answered as if it did not exist.
    assert_eq!(hijack.status(), 404);
    let answer = message_of(hijack).await;
    assert_eq!(answer["error"]["message"], "Session not found", "{answer}");

    // The key check ran once per key; later requests were answered from memory.
    let metrics = server.metrics().await;
    let count = |label: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("orderdesk_http_auth_total{{result=\"{label}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |n| n.parse().unwrap())
    };
    assert_eq!(count("ok"), 2, "{metrics}");
    assert!(count("cached") >= 8, "{metrics}");

    let logs = server.stderr();
    let listed = tenant_cli(&state, &["list"], &[]);
    assert!(listed.contains(&id_a));
    for secret in [&key_a, &key_b, "key-a-5e6f7a", "key-b-8b9c0d"] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
    assert!(!logs.contains(&email), "a customer email reached the log");
    assert!(!logs.contains("Zyx"), "a customer name reached the log");
    assert!(
        logs.contains(r#""tenant":""#),
        "tool call lines name the tenant: {logs}"
    );
}

#[tokio::test]
async fn health_ready_and_metrics_tell_what_the_server_does() {
    let fake = fake_unlimited().await;
    let server = http::serve(&Launch::against(&fake)).await;
    let get = |path: &str| reqwest::get(format!("{}{path}", server.base));
    assert_eq!(get("/health").await.unwrap().status(), 200);
    let ready = get("/ready").await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");

    let client = server.stateless_client(None).await;
    let id = fake.order_ids()[0];
    for _ in 0..3 {
        call(&client, "orders_get", json!({ "order_id": id })).await;
    }
    call(&client, "orders_get", json!({ "order_id": "999999999" })).await;
    let metrics = get("/metrics").await.unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics")
    );
    let text = metrics.text().await.unwrap();
    for expected in [
        r#"orderdesk_tool_calls_total{tool="orders_get",outcome="ok"} 3"#,
        r#"orderdesk_tool_calls_total{tool="orders_get",outcome="ORDER_NOT_FOUND"} 1"#,
        r#"orderdesk_cache_lookups_total{family="orders",result="hit"} 2"#,
        r#"orderdesk_upstream_requests_total{method="GET",route="/orders/{id}",status="200"} 1"#,
        r#"orderdesk_upstream_requests_total{method="GET",route="/orders/{id}",status="404"} 1"#,
        "orderdesk_tool_call_duration_seconds_count{tool=\"orders_get\"} 4",
        "orderdesk_instances_max 32",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
}

#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish_then_exits_zero() {
    let fake = fake_unlimited().await;
    let id = fake.order_ids()[0];
    fake.faults().schedule(Rule::on(
        Match::Route("GET /orders/{id}".into()),
        Respond::Slow(Duration::from_millis(1500)),
    ));
    let server = http::serve(&Launch::against(&fake)).await;
    let base = server.base.clone();
    let client = server.stateless_client(None).await;
    let in_flight =
        tokio::spawn(async move { call(&client, "orders_get", json!({ "order_id": id })).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, logs) = server.terminate().await;
    let result = in_flight.await.unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(
        result.structured_content.unwrap()["order"]["id"],
        id.to_string()
    );
    assert!(status.success(), "{status:?}\n{logs}");
    assert!(logs.contains("SIGTERM"), "{logs}");
    assert!(
        reqwest::get(format!("{base}/health")).await.is_err(),
        "still listening"
    );
}

#[tokio::test]
async fn single_store_mode_off_loopback_needs_an_auth_token() {
    let fake = fake().await;
    let out = tokio::process::Command::new(support::BIN)
        .env_clear()
        .env("ORDERDESK_STORE_ID", fake.store_id())
        .env("ORDERDESK_API_KEY", fake.api_key())
        .args(["serve", "--listen", "0.0.0.0:0", "--state", "memory"])
        .args(["--api-url", &fake.base_url()])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--auth-token"), "{stderr}");

    let server = http::serve(
        &Launch::against(&fake)
            .arg("--auth-token")
            .arg("team-token-123"),
    )
    .await;
    let init = initialize("2025-11-25").to_string();
    assert_eq!(
        post(&server.mcp_url(), &[], init.clone()).await.status(),
        401
    );
    let wrong = post(
        &server.mcp_url(),
        &[("authorization", "Bearer team-token-124")],
        init.clone(),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let client = server
        .session_client(Some("team-token-123"), ProtocolVersion::V_2025_06_18)
        .await;
    exercise(&client, &fake).await;
    let _: &HttpServer = &server;
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_others_still_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = fake().await;
    let server = http::serve(&Launch::against(&fake).arg("--client-timeout-secs").arg("1")).await;
    let addr = server.base.trim_start_matches("http://").to_string();

    // Headers that never finish.
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // A body that stops halfway.
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Accept: application/json, text/event-stream\r\nContent-Length: 400\r\n\r\n{\"jsonrpc\":",
    )
    .await
    .unwrap();

    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "a client stalled in its headers was not cut off"
    );
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), half.read(&mut answer))
        .await
        .expect("a client stalled in its body was not cut off")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    let init = initialize("2025-11-25").to_string();
    assert_eq!(post(&server.mcp_url(), &[], init).await.status(), 200);
}

/// A session-era client that keeps the log notifications it receives.
#[derive(Clone, Default)]
struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<Value>>>);

#[allow(deprecated)] // logging is gone from 2026-07-28 (SEP-2577), still in 2025-11-25
impl rmcp::ClientHandler for LogSink {
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params.data);
    }
}

#[tokio::test]
#[allow(deprecated)] // logging is gone from 2026-07-28 (SEP-2577), still in 2025-11-25
async fn a_session_that_sets_a_log_level_hears_each_tool_outcome() {
    use rmcp::ServiceExt as _;
    let fake = fake_unlimited().await;
    let server = http::serve(&Launch::against(&fake)).await;
    let sink = LogSink::default();
    let client = sink.clone().serve(server.transport(None)).await.unwrap();
    let id = fake.order_ids()[0];
    call(&client, "orders_get", json!({ "order_id": id })).await;
    assert!(
        sink.0.lock().unwrap().is_empty(),
        "nothing before logging/setLevel"
    );
    client
        .set_level(rmcp::model::SetLevelRequestParams::new(
            rmcp::model::LoggingLevel::Info,
        ))
        .await
        .unwrap();
    call(&client, "orders_get", json!({ "order_id": id })).await;
    call(&client, "orders_get", json!({ "order_id": "999999999" })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = sink.0.lock().unwrap().clone();
    let outcomes: Vec<&str> = logs
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok", "ORDER_NOT_FOUND"], "{logs:?}");
    assert!(logs.iter().all(|l| l["tool"] == "orders_get"));
    assert!(
        !format!("{logs:?}").contains("@"),
        "no customer data in log notifications"
    );
}

#[tokio::test]
async fn webhooks_pass_no_bearer_origin_or_host_check_and_leave_no_trace_in_the_logs() {
    let fake = fake().await;
    let state = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", state.path().join("state.db").display());
    let server = http::serve(&Launch::for_tenants(&fake, &db)).await;
    let url = format!("{}/webhooks/orderdesk", server.base);
    let marker = "Qwx-marker-body";
    let hash = "f".repeat(64);
    let send = |body: String, store: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://evil.example")
            .header("host", "evil.example")
            .header("x-order-desk-hash", &hash)
            .body(body);
        if let Some(store) = store {
            request = request.header("x-order-desk-store-id", store);
        }
        request.send()
    };
    // The MCP route refuses those very headers; the webhook route lets them through to
    // its own checks.
    let mcp = post(
        &server.mcp_url(),
        &[("origin", "https://evil.example")],
        initialize("2025-11-25").to_string(),
    )
    .await;
    assert!(
        [401, 403].contains(&mcp.status().as_u16()),
        "{}",
        mcp.status()
    );
    let missing_field = send(format!("note={marker}"), Some("10001")).await.unwrap();
    assert_eq!(missing_field.status(), 400);
    assert!(missing_field.headers().contains_key("x-request-id"));
    let body: Value = missing_field.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert!(
        body["message"].as_str().unwrap().contains("order"),
        "{body}"
    );
    let no_store = send(format!("order={marker}"), None).await.unwrap();
    assert_eq!(no_store.status(), 400);

    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"orderdesk_webhooks_total{outcome="invalid"} 2"#),
        "{metrics}"
    );
    let (status, logs) = server.terminate().await;
    assert!(status.success(), "{logs}");
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(r#""message":"webhook""#))
        .collect();
    assert_eq!(lines.len(), 2, "one line per delivery:\n{logs}");
    assert!(lines[0].contains(r#""store_id":"10001""#), "{}", lines[0]);
    assert!(lines[0].contains(r#""status":400"#), "{}", lines[0]);
    assert!(!logs.contains(marker), "a webhook body reached the log");
    assert!(!logs.contains(&hash), "a webhook signature reached the log");
    // The unattended secret file is made beside the state, private to its owner.
    let key = std::fs::metadata(state.path().join("state.db.unattended-key")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
}
