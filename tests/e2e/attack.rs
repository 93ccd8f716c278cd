//! The attack suite: what one tenant, or a stranger who can reach the port, could make
//! `serve` hold or spend, tried against the real binary at a small, bounded size. Each test
//! is one finding of "Hold under load and attack" (metric labels, silent connections,
//! sessions, bad bearers, bursts and deadlines, session owners, webhook headers, input
//! errors, operational endpoints). Thresholds are ratios or generous bounds, never tight
//! timings.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use serde_json::json;
use support::http::{self, HttpServer, call, error_of, initialize, message_of, post};
use support::{FakeOrderDesk, Launch, Match, Respond, Rule, create_tenant, fake, fake_unlimited};

/// Two tenants on one SQLite state, each with a store of its own on the fake.
struct TwoTenants {
    _dir: tempfile::TempDir,
    state: String,
    a: (String, String),
    b: (String, String),
}

const STORE_A: (&str, &str) = ("30001", "key-a-5e6f7a");
const STORE_B: (&str, &str) = ("30002", "key-b-8b9c0d");

fn two_tenants(fake: &FakeOrderDesk) -> TwoTenants {
    fake.add_store(STORE_A.0, STORE_A.1, 60, 5);
    fake.add_store(STORE_B.0, STORE_B.1, 60, 5);
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let a = create_tenant(&state, "Agency A");
    let b = create_tenant(&state, "Agency B");
    TwoTenants {
        _dir: dir,
        state,
        a,
        b,
    }
}

async fn register(server: &HttpServer, key: &str, store: (&str, &str)) {
    let client = server.stateless_client(Some(key)).await;
    let registered = call(
        &client,
        "stores_register",
        json!({ "store_id": store.0, "api_key": store.1, "name": format!("shop {}", store.0) }),
    )
    .await;
    assert_ne!(registered.is_error, Some(true), "{registered:?}");
}

/// `/proc/PID/status` VmRSS in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

fn session_headers(session: &str) -> [(&str, &str); 2] {
    [
        ("mcp-session-id", session),
        ("mcp-protocol-version", "2025-11-25"),
    ]
}

/// Open a session with raw requests (initialize, then initialized); its id.
async fn open_session(url: &str, bearer: &str) -> String {
    let auth = format!("Bearer {bearer}");
    let opened = post(
        url,
        &[("authorization", auth.as_str())],
        initialize("2025-11-25").to_string(),
    )
    .await;
    assert_eq!(opened.status(), 200, "{:?}", opened.headers());
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = message_of(opened).await;
    let mut headers = session_headers(&session).to_vec();
    headers.push(("authorization", auth.as_str()));
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    assert_eq!(
        post(url, &headers, initialized.to_string()).await.status(),
        202
    );
    session
}

/// Finding 1: a tool name is client input. It must not become a metric label, must not
/// be logged whole, and unknown-tool calls spend the caller's tool-call budget.
#[tokio::test]
async fn unknown_tool_names_are_one_metric_series_short_in_logs_and_rate_limited() {
    let fake = fake_unlimited().await;
    let server = http::serve(
        &Launch::against(&fake)
            .arg("--tool-calls-per-minute")
            .arg("1")
            .arg("--tool-call-burst")
            .arg("10"),
    )
    .await;
    let client = server
        .session_client(None, ProtocolVersion::V_2025_11_25)
        .await;
    let before_log = server.stderr().len();
    let mut unknown = 0;
    let mut limited = 0;
    for i in 0..20 {
        let name = format!("zz{i}{}", "q".repeat(200_000));
        match client
            .call_tool(CallToolRequestParams::new(name.clone()))
            .await
        {
            Err(_) => unknown += 1,
            Ok(result) => {
                assert_eq!(error_of(&result)["code"], "RATE_LIMITED", "{result:?}");
                limited += 1;
            }
        }
    }
    assert!(
        limited >= 5,
        "unknown-tool calls must spend the tenant's budget: {unknown} unknown, {limited} limited"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.len() < 64 * 1024,
        "/metrics grew with client input: {} bytes",
        metrics.len()
    );
    assert!(!metrics.contains("qqqq"), "a client string became a label");
    assert!(
        metrics.contains(r#"tool="unknown""#),
        "unknown tools share one series:\n{metrics}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = server.stderr().len() - before_log;
    assert!(
        logged < 20 * 4096,
        "20 calls with 200 KB names wrote {logged} bytes of log"
    );
}

/// Finding 1, arguments side: an arguments object too large for the sandbox is refused
/// unread, never run as a call without arguments, and still spends the caller's budget.
#[tokio::test]
async fn oversized_arguments_are_refused_unrun_and_charged() {
    let fake = fake_unlimited().await;
    let server = http::serve(
        &Launch::against(&fake)
            .arg("--tool-calls-per-minute")
            .arg("1")
            .arg("--tool-call-burst")
            .arg("3"),
    )
    .await;
    let client = server.stateless_client(None).await;
    fake.reset_stats();
    let padding = "p".repeat(1_200_000);
    let mut codes = Vec::new();
    for _ in 0..4 {
        let result = call(&client, "orders_list", json!({ "email": padding })).await;
        let error = error_of(&result);
        if error["code"] == "INVALID_ARGUMENT" {
            assert!(
                error["message"].as_str().unwrap().contains("bytes"),
                "{error}"
            );
        }
        codes.push(error["code"].as_str().unwrap().to_string());
    }
    assert_eq!(
        codes,
        [
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "RATE_LIMITED"
        ]
    );
    assert_eq!(fake.stats().total, 0, "an oversized call reached OrderDesk");

    // Arguments that are not an object at all: still a tool call of this caller's (a
    // result: with the budget spent, RATE_LIMITED), never "method not found"; other
    // methods with params of the wrong shape are -32602.
    let url = server.mcp_url();
    let opened = post(&url, &[], initialize("2025-11-25").to_string()).await;
    let id = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let headers = session_headers(&id);
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": "orders_list", "arguments": "x" } });
    let answer = message_of(post(&url, &headers, body.to_string()).await).await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("RATE_LIMITED"), "{text}");
    let body = json!({ "jsonrpc": "2.0", "id": 8, "method": "logging/setLevel",
        "params": { "level": 42 } });
    let answer = message_of(post(&url, &headers, body.to_string()).await).await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert_eq!(fake.stats().total, 0);
}

/// Finding 1, cost side: once a tenant is told to wait, its further calls inside the wait
/// are answered without a sandbox instance or a log line each, however fast it calls.
#[tokio::test]
async fn a_runaway_tenant_is_refused_without_an_instance_or_a_log_line_each() {
    let fake = fake_unlimited().await;
    let server = http::serve(
        &Launch::against(&fake)
            .arg("--tool-calls-per-minute")
            .arg("1")
            .arg("--tool-call-burst")
            .arg("3"),
    )
    .await;
    let client = server.stateless_client(None).await;
    let id = fake.order_ids()[0];
    let mut limited = 0;
    for _ in 0..200 {
        let result = call(&client, "orders_get", json!({ "order_id": id })).await;
        if result.is_error == Some(true) {
            let error = error_of(&result);
            assert_eq!(error["code"], "RATE_LIMITED", "{error}");
            assert!(error["details"]["retry_after_ms"].as_u64().unwrap() > 0);
            limited += 1;
        }
    }
    assert_eq!(limited, 197, "3 calls fit the burst");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = server
        .stderr()
        .lines()
        .filter(|l| l.contains("tool call") && l.contains("RATE_LIMITED"))
        .count();
    assert!(
        logged <= 2,
        "{logged} refused calls reached the sandbox (each logs a line)"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            r#"orderdesk_tool_calls_total{tool="orders_get",outcome="RATE_LIMITED"} 197"#
        ),
        "{metrics}"
    );
}

/// Finding 2: connections that never say anything, or stop in the HTTP/2 preface, are cut
/// after the client timeout; a flood of them from one address neither runs the server out
/// of file descriptors nor locks anyone else out.
#[tokio::test]
async fn silent_connections_are_cut_and_cannot_lock_others_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = fake_unlimited().await;
    let launch = Launch::against(&fake)
        .arg("--client-timeout-secs")
        .arg("2")
        .arg("--max-connections-per-ip")
        .arg("32");
    // A small machine: 256 open files, soft and hard, as `ulimit -n 256` leaves it.
    let server = http::serve_with_nofile(&launch, 256).await;
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();

    let mut attackers = Vec::new();
    for i in 0..300 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let Ok(mut stream) = socket.connect(addr).await else {
            continue;
        };
        let _ = match i % 3 {
            0 => Ok(()),
            1 => stream.write_all(b"PRI * HTTP/2.0\r\n").await,
            _ => stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await,
        };
        attackers.push(stream);
    }
    let opened = Instant::now();

    // Someone else, meanwhile, is served at once.
    let init = initialize("2025-11-25").to_string();
    let served = tokio::time::timeout(
        Duration::from_secs(5),
        post(&server.mcp_url(), &[], init.clone()),
    )
    .await
    .expect("initialize timed out while silent sockets were open");
    assert_eq!(served.status(), 200);

    // Every silent socket is closed by the server within the timeout (plus slack).
    let mut still_open = 0;
    for mut stream in attackers {
        let left = Duration::from_secs(8).saturating_sub(opened.elapsed());
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(left, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // e.g. a refusal or an HTTP/2 GOAWAY, then EOF
                }
            }
        })
        .await;
        if closed.is_err() {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "silent connections outlived the timeout");
    let log = server.stderr();
    let accept_errors = log.matches("accept").count();
    assert!(
        accept_errors < 20,
        "{accept_errors} accept lines in the log"
    );
    assert_eq!(
        post(&server.mcp_url(), &[], init).await.status(),
        200,
        "still serving"
    );
}

/// Finding 2, the limit itself: a soft open-file limit below the hard one is raised at
/// start, so the process has every descriptor it is allowed.
#[tokio::test]
async fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let fake = fake_unlimited().await;
    let server = http::serve_under_ulimit(&Launch::against(&fake), "-Sn 64").await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("{limits}"));
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{line}");
    assert_ne!(numbers[0], "64", "the soft limit stayed low: {line}");
    assert_eq!(numbers[0], numbers[1], "soft is not the hard limit: {line}");
}

/// Finding 3: sessions are capped per tenant (the tenant's oldest idle session makes room)
/// and overall (a clear refusal), and one tenant's sessions never crowd out another's.
#[tokio::test]
async fn sessions_are_capped_per_tenant_and_overall() {
    let fake = fake().await;
    let t = two_tenants(&fake);
    let c = create_tenant(&t.state, "Agency C");
    let server = http::serve(
        &Launch::for_tenants(&fake, &t.state)
            .arg("--max-sessions-per-tenant")
            .arg("5")
            .arg("--max-sessions")
            .arg("12"),
    )
    .await;
    let url = server.mcp_url();
    let mut a_sessions = Vec::new();
    for _ in 0..8 {
        a_sessions.push(open_session(&url, &t.a.1).await);
    }
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }).to_string();
    let auth_a = format!("Bearer {}", t.a.1);
    let mut alive = Vec::new();
    for session in &a_sessions {
        let mut headers = session_headers(session).to_vec();
        headers.push(("authorization", auth_a.as_str()));
        alive.push(post(&url, &headers, list.clone()).await.status() == 200);
    }
    assert_eq!(
        alive,
        [false, false, false, true, true, true, true, true],
        "the tenant keeps its 5 newest sessions"
    );
    for _ in 0..5 {
        open_session(&url, &t.b.1).await;
    }
    // 10 open: two more fit, then the server is full and says so.
    open_session(&url, &c.1).await;
    open_session(&url, &c.1).await;
    let auth_c = format!("Bearer {}", c.1);
    let refused = post(
        &url,
        &[("authorization", auth_c.as_str())],
        initialize("2025-11-25").to_string(),
    )
    .await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let metrics = server.metrics().await;
    assert!(metrics.contains("orderdesk_mcp_sessions 12"), "{metrics}");
}

/// In single-store mode there is one tenant, the operator's: its sessions are bounded by
/// the server's cap alone (the bench's 64 session clients once evicted each other).
#[tokio::test]
async fn single_store_sessions_are_bounded_by_the_server_cap_alone() {
    let fake = fake_unlimited().await;
    let server = http::serve(
        &Launch::against(&fake)
            .arg("--max-sessions-per-tenant")
            .arg("3")
            .arg("--max-sessions")
            .arg("6"),
    )
    .await;
    let url = server.mcp_url();
    let init = initialize("2025-11-25").to_string();
    let mut sessions = Vec::new();
    for _ in 0..6 {
        let opened = post(&url, &[], init.clone()).await;
        assert_eq!(opened.status(), 200);
        sessions.push(
            opened.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }).to_string();
    for session in &sessions {
        let answer = post(&url, &session_headers(session), list.clone()).await;
        assert_eq!(
            answer.status(),
            200,
            "a session of the one tenant was evicted"
        );
    }
    assert_eq!(
        post(&url, &[], init).await.status(),
        503,
        "the server cap holds"
    );
}

/// Finding 4: a bearer that names a real tenant with a wrong secret costs one fast hash,
/// on instances of its own: other tenants' calls go on as before.
#[tokio::test]
async fn bad_bearers_naming_a_tenant_do_not_slow_other_tenants() {
    let fake = fake_unlimited().await;
    let t = two_tenants(&fake);
    let server = http::serve(
        &Launch::for_tenants(&fake, &t.state)
            .arg("--max-instances")
            .arg("8"),
    )
    .await;
    register(&server, &t.b.1, STORE_B).await;
    let b = server.stateless_client(Some(&t.b.1)).await;
    let mut quiet = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        call(&b, "stores_list", json!({})).await;
        quiet.push(started.elapsed());
    }
    quiet.sort();
    let baseline = quiet[2];

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for _ in 0..64 {
        let (url, id, stop, refused) = (
            server.mcp_url(),
            t.a.0.clone(),
            stop.clone(),
            refused.clone(),
        );
        attackers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let random: String = (0..64).map(|_| format!("{:x}", rand_nibble())).collect();
                let bearer = format!("Bearer odmk_{id}_{random}");
                let answer = client
                    .post(&url)
                    .header("authorization", bearer)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(initialize("2025-11-25").to_string())
                    .send()
                    .await;
                // 401, or 429 once this address has failed too often.
                if let Ok(answer) = answer
                    && matches!(answer.status().as_u16(), 401 | 429)
                {
                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut loaded = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        call(&b, "stores_list", json!({})).await;
        loaded.push(started.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for a in attackers {
        a.await.unwrap();
    }
    loaded.sort();
    let worst = *loaded.last().unwrap();
    assert!(
        refused.load(std::sync::atomic::Ordering::Relaxed) > 64,
        "the attack did not run"
    );
    assert!(
        worst < Duration::from_secs(1).max(baseline * 50),
        "tenant B's stores_list took up to {worst:?} under bad bearers (quiet median {baseline:?})"
    );
}

fn rand_nibble() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    (h.finish() & 0xf) as u8
}

/// Finding 5: a burst from one tenant on one of its stores (within its own tool-call
/// budget) must not delay a call on another store, another tenant's or its own, beyond the
/// time to run it.
#[tokio::test]
async fn one_tenants_burst_does_not_stall_another_tenant() {
    let fake = fake().await; // OrderDesk's bucket: 20, refilling at 3/s, per store
    let t = two_tenants(&fake);
    let server = http::serve(
        &Launch::for_tenants(&fake, &t.state)
            .arg("--max-instances")
            .arg("8"),
    )
    .await;
    // Tenant A has a second store: a burst on one of its stores must not stall the other.
    const STORE_A2: (&str, &str) = ("30003", "key-a2-1c2d3e");
    fake.add_store(STORE_A2.0, STORE_A2.1, 10, 1);
    register(&server, &t.a.1, STORE_A).await;
    register(&server, &t.a.1, STORE_A2).await;
    register(&server, &t.b.1, STORE_B).await;
    let a = Arc::new(server.stateless_client(Some(&t.a.1)).await);
    let b = server.stateless_client(Some(&t.b.1)).await;
    let ids_a = fake.order_ids_in(STORE_A.0);
    let ids_a2 = fake.order_ids_in(STORE_A2.0);
    let ids_b = fake.order_ids_in(STORE_B.0);

    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut burst = Vec::new();
    for &id in &ids_a[..45] {
        let (a, done) = (a.clone(), done.clone());
        burst.push(tokio::spawn(async move {
            let args = json!({ "order_id": id, "store": STORE_A.0 });
            let _ = support::call_tool(&a, "orders_get", args).await;
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut worst = Duration::ZERO;
    for id in ids_b.iter().take(3) {
        let started = Instant::now();
        let got = call(&b, "orders_get", json!({ "order_id": id })).await;
        assert_ne!(got.is_error, Some(true), "{got:?}");
        worst = worst.max(started.elapsed());
    }
    // (Another connection of A's: one client's own requests may queue behind each other.)
    let a_again = server.stateless_client(Some(&t.a.1)).await;
    let mut worst_a2 = Duration::ZERO;
    for id in ids_a2.iter().take(3) {
        let started = Instant::now();
        let args = json!({ "order_id": id, "store": STORE_A2.0 });
        let got = call(&a_again, "orders_get", args).await;
        assert_ne!(got.is_error, Some(true), "{got:?}");
        worst_a2 = worst_a2.max(started.elapsed());
    }
    let a_done = done.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        a_done < 40,
        "tenant A's burst was over before B was measured ({a_done} of 45 done)"
    );
    assert!(
        worst < Duration::from_millis(1500),
        "tenant B's orders_get took {worst:?} during tenant A's burst"
    );
    assert!(
        worst_a2 < Duration::from_millis(1500),
        "tenant A's orders_get on its other store took {worst_a2:?} during the burst"
    );
    for task in burst {
        task.await.unwrap();
    }
}

/// Finding 5, second half: the call deadline holds end to end (time queued for an instance
/// counts), and a call that cannot start in time is told when to come back.
#[tokio::test]
async fn the_deadline_holds_end_to_end_and_queued_calls_get_busy() {
    let fake = fake_unlimited().await;
    fake.faults().set_latency(Duration::from_secs(60)); // an upstream that never answers
    let server = http::serve(
        &Launch::against(&fake)
            .unthrottled()
            .upstream_timeout_ms(120_000)
            .arg("--call-timeout-secs")
            .arg("4")
            .arg("--max-instances")
            .arg("8"),
    )
    .await;
    let client = Arc::new(server.stateless_client(None).await);
    let started = Instant::now();
    let mut calls = Vec::new();
    for id in fake.order_ids().into_iter().take(16) {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            let result = call(&client, "orders_get", json!({ "order_id": id })).await;
            (error_of(&result), Instant::now())
        }));
    }
    let mut busy = 0;
    let mut deadline = 0;
    let mut last = started;
    for c in calls {
        let (error, at) = c.await.unwrap();
        last = last.max(at);
        match error["code"].as_str().unwrap() {
            "BUSY" => {
                busy += 1;
                assert!(
                    error["details"]["retry_after_ms"].as_u64().unwrap() > 0,
                    "{error}"
                );
                assert_eq!(error["retryable"], true, "{error}");
            }
            "DEADLINE_EXCEEDED" => deadline += 1,
            other => panic!("unexpected {other}: {error}"),
        }
    }
    let took = last - started;
    assert!(
        took < Duration::from_millis(6500),
        "16 calls with a 4 s deadline took {took:?} to answer"
    );
    assert_eq!(busy + deadline, 16);
    assert!(busy >= 4, "{busy} BUSY, {deadline} DEADLINE_EXCEEDED");

    // Writes cut off by the deadline answer on time too: settling them (audit entry,
    // cached reads) happens afterwards, on instances of its own. Reads now answer; the
    // PUTs never do.
    fake.faults().set_latency(Duration::ZERO);
    fake.faults().schedule(
        Rule::on(
            Match::Route("PUT /orders/{id}".into()),
            Respond::Slow(Duration::from_secs(60)),
        )
        .times(8),
    );
    let started = Instant::now();
    let mut writes = Vec::new();
    for id in fake.order_ids().into_iter().skip(20).take(8) {
        let client = client.clone();
        writes.push(tokio::spawn(async move {
            let changes = json!({ "order_id": id, "changes": { "email": "x@example.com" } });
            error_of(&call(&client, "orders_update", changes).await)
        }));
    }
    for w in writes {
        let error = w.await.unwrap();
        assert_eq!(error["code"], "DEADLINE_EXCEEDED", "{error}");
        assert_eq!(error["details"]["write_outcome"], "unknown", "{error}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(6500), "8 writes took {took:?}");
    let settled = support::sync::eventually(Duration::from_secs(20), "writes settled", || {
        let client = client.clone();
        async move {
            let audit = call(&client, "audit_list", json!({ "limit": 50 })).await;
            let entries = audit.structured_content?["entries"].as_array()?.clone();
            let unknown = entries
                .iter()
                .filter(|e| e["tool"] == "orders_update" && e["outcome"] == "WRITE_OUTCOME_UNKNOWN")
                .count();
            (unknown == 8).then_some(unknown)
        }
    })
    .await;
    assert_eq!(settled, 8);
}

/// Finding 6: every method on a session checks that the bearer owns it: JSON-RPC
/// requests of any method, the GET stream and DELETE.
#[tokio::test]
async fn every_session_method_checks_its_owner() {
    let fake = fake().await;
    let t = two_tenants(&fake);
    let server = http::serve(&Launch::for_tenants(&fake, &t.state)).await;
    let url = server.mcp_url();
    let session = open_session(&url, &t.a.1).await;
    let auth_a = format!("Bearer {}", t.a.1);
    let auth_b = format!("Bearer {}", t.b.1);
    let mut as_b = session_headers(&session).to_vec();
    as_b.push(("authorization", auth_b.as_str()));
    for (id, method, params) in [
        (10, "logging/setLevel", json!({ "level": "debug" })),
        (11, "tools/list", json!({})),
        (12, "ping", json!({})),
        (
            13,
            "tools/call",
            json!({ "name": "stores_list", "arguments": {} }),
        ),
    ] {
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let answer = post(&url, &as_b, body.to_string()).await;
        assert_eq!(
            answer.status(),
            404,
            "{method} with another tenant's bearer"
        );
    }
    let client = reqwest::Client::new();
    let get = client
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("authorization", &auth_b)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 404, "GET stream with another tenant's bearer");
    let delete = client
        .delete(&url)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("authorization", &auth_b)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404, "DELETE with another tenant's bearer");
    let unknown = client
        .delete(&url)
        .header("mcp-session-id", "no-such-session")
        .header("mcp-protocol-version", "2025-11-25")
        .header("authorization", &auth_b)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404, "an unknown session answers the same");

    // The owner's session is untouched: alive, and with no log level set by B.
    let mut as_a = session_headers(&session).to_vec();
    as_a.push(("authorization", auth_a.as_str()));
    let call = json!({ "jsonrpc": "2.0", "id": 20, "method": "tools/call",
        "params": { "name": "stores_list", "arguments": {} } });
    let answer = post(&url, &as_a, call.to_string()).await;
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(
        !text.contains("notifications/message"),
        "tenant B changed tenant A's log level: {text}"
    );
    assert!(text.contains("\"stores\""), "{text}");
}

/// Finding 7: the webhook route does not log a client's header whole.
#[tokio::test]
async fn webhook_headers_are_never_logged_whole() {
    let fake = fake().await;
    let t = two_tenants(&fake);
    let server = http::serve(&Launch::for_tenants(&fake, &t.state)).await;
    let before = server.stderr().len();
    let store = "7".repeat(30_000);
    let answer = reqwest::Client::new()
        .post(format!("{}/webhooks/orderdesk", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-order-desk-store-id", &store)
        .header("x-order-desk-hash", "f".repeat(64))
        .body("order=%7B%22id%22%3A1%7D")
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_client_error(), "{}", answer.status());
    // Headers past 64 KiB are refused by the HTTP layer before any route sees them.
    let huge = reqwest::Client::new()
        .post(format!("{}/webhooks/orderdesk", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-order-desk-store-id", "7".repeat(100_000))
        .body("order=%7B%22id%22%3A1%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 431);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = server.stderr()[before..].to_string();
    assert!(
        logged.len() < 4096 && !logged.contains(&"7".repeat(200)),
        "{} bytes logged for two deliveries",
        logged.len()
    );
}

/// Finding 7, at large: whatever library logs a client's string (rmcp names a rejected
/// `Origin` or a failed request's JSON-RPC id), no log event grows with it.
#[tokio::test]
async fn client_strings_never_make_a_log_event_grow() {
    let fake = fake_unlimited().await;
    let server = http::serve(&Launch::against(&fake)).await;
    let url = server.mcp_url();
    let before = server.stderr().len();
    let origin = format!("http://{}.example", "o".repeat(40_000));
    let refused = post(
        &url,
        &[("origin", origin.as_str())],
        initialize("2025-11-25").to_string(),
    )
    .await;
    assert_eq!(refused.status(), 403);
    let session = server
        .session_client(None, ProtocolVersion::V_2025_11_25)
        .await;
    drop(session);
    let opened = post(&url, &[], initialize("2025-11-25").to_string()).await;
    let id = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let headers = session_headers(&id);
    let huge_id = "i".repeat(200_000);
    for method in ["no/such/method", "tools/call"] {
        let body = json!({ "jsonrpc": "2.0", "id": huge_id, "method": method,
            "params": { "name": "nope" } });
        let _ = post(&url, &headers, body.to_string()).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged = server.stderr()[before..].to_string();
    let longest = logged.lines().map(str::len).max().unwrap_or(0);
    assert!(longest <= 16 * 1024 + 1, "a log line of {longest} bytes");
    assert!(
        !logged.contains(&"o".repeat(20_000)),
        "the Origin was logged whole"
    );
    assert!(
        !logged.contains(&"i".repeat(20_000)),
        "the id was logged whole"
    );
}

/// Finding 8: a value that can never form a valid request is INVALID_ARGUMENT, at once,
/// with nothing sent upstream; not an outage reported after three tries.
#[tokio::test]
async fn input_errors_are_input_errors_and_nothing_is_sent() {
    let fake = fake_unlimited().await;
    let t = two_tenants(&fake);
    let server = http::serve(&Launch::for_tenants(&fake, &t.state)).await;
    let a = server.stateless_client(Some(&t.a.1)).await;
    fake.reset_stats();
    for key in ["key\r\nX-Injected: 1", "key\0nul", "key\nline"] {
        let result = call(
            &a,
            "stores_register",
            json!({ "store_id": STORE_A.0, "api_key": key, "name": "shop" }),
        )
        .await;
        let error = error_of(&result);
        assert_eq!(error["code"], "INVALID_ARGUMENT", "{error}");
        assert_eq!(error["retryable"], false, "{error}");
    }
    register(&server, &t.a.1, STORE_A).await;
    fake.reset_stats();
    let result = call(
        &a,
        "orders_list",
        json!({ "email": format!("{}@example.com", "x".repeat(100_000)) }),
    )
    .await;
    let error = error_of(&result);
    assert_eq!(error["code"], "INVALID_ARGUMENT", "{error}");
    assert_eq!(error["retryable"], false, "{error}");
    assert_eq!(fake.stats().total, 0, "requests were sent upstream");
}

/// Finding 9: `/metrics`, `/health` and `/ready` answer only the allowed `Host` names (a
/// DNS-rebinding page cannot read them), `/metrics` can require a bearer or move to its
/// own listener, and the webhook route stays open to OrderDesk.
#[tokio::test]
async fn operational_endpoints_check_the_host_and_metrics_can_be_locked() {
    let fake = fake_unlimited().await;
    let server = http::serve(
        &Launch::against(&fake)
            .arg("--metrics-token")
            .arg("m-secret-7"),
    )
    .await;
    let client = reqwest::Client::new();
    let get = |path: &str, host: &str, bearer: Option<&str>| {
        let mut request = client
            .get(format!("{}{path}", server.base))
            .header("host", host);
        if let Some(b) = bearer {
            request = request.header("authorization", format!("Bearer {b}"));
        }
        request.send()
    };
    for path in ["/health", "/ready", "/metrics"] {
        let answer = get(path, "evil.example", Some("m-secret-7")).await.unwrap();
        assert_eq!(answer.status(), 403, "{path} answered a foreign Host");
    }
    assert_eq!(
        get("/health", "127.0.0.1", None).await.unwrap().status(),
        200
    );
    assert_eq!(
        get("/metrics", "127.0.0.1", None).await.unwrap().status(),
        401
    );
    assert_eq!(
        get("/metrics", "127.0.0.1", Some("wrong"))
            .await
            .unwrap()
            .status(),
        401
    );
    let metrics = get("/metrics", "127.0.0.1", Some("m-secret-7"))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("orderdesk_"));
    assert!(
        !server.stderr().contains("m-secret-7"),
        "the token was logged"
    );
    let webhook = client
        .post(format!("{}/webhooks/orderdesk", server.base))
        .header("host", "evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-order-desk-store-id", fake.store_id())
        .body("order=%7B%7D")
        .send()
        .await
        .unwrap();
    assert_ne!(webhook.status(), 403, "OrderDesk cannot send a known Host");

    let split = http::serve(
        &Launch::against(&fake)
            .arg("--metrics-listen")
            .arg("127.0.0.1:0"),
    )
    .await;
    let own = split
        .metrics_base
        .clone()
        .expect("the metrics listener is announced");
    assert_eq!(
        reqwest::get(format!("{}/metrics", split.base))
            .await
            .unwrap()
            .status(),
        404,
        "metrics moved off the MCP listener"
    );
    let moved = reqwest::get(format!("{own}/metrics")).await.unwrap();
    assert_eq!(moved.status(), 200);
    assert!(moved.text().await.unwrap().contains("orderdesk_"));
}

/// What a flood of sessions leaves behind once they are gone: the memory comes back.
#[tokio::test]
async fn memory_comes_back_after_sessions_end() {
    let fake = fake_unlimited().await;
    let server = http::serve(
        &Launch::against(&fake)
            .arg("--max-sessions-per-tenant")
            .arg("5000")
            .arg("--max-sessions")
            .arg("5000"),
    )
    .await;
    let url = server.mcp_url();
    let init = initialize("2025-11-25").to_string();
    let _ = post(&url, &[], init.clone()).await;
    let start = rss(server.pid());
    let mut sessions = Vec::new();
    for _ in 0..2000 {
        let opened = post(&url, &[], init.clone()).await;
        sessions.push(
            opened.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let peak = rss(server.pid());
    let client = reqwest::Client::new();
    for session in &sessions {
        client
            .delete(&url)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .send()
            .await
            .unwrap();
    }
    // Ended sessions are swept, and their memory given back, every 15 s.
    let mut end = rss(server.pid());
    let settled = Instant::now();
    while end >= start + (peak - start) / 2 && settled.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        end = rss(server.pid());
    }
    eprintln!(
        "RSS: start {} MB, 2000 sessions {} MB, after they ended {} MB",
        start >> 20,
        peak >> 20,
        end >> 20
    );
    assert!(
        end < start + (peak - start).max(1) / 2 + (8 << 20),
        "memory stayed: start {start}, peak {peak}, end {end}"
    );
}
