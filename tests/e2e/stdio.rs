//! End to end over stdio: the real binary and component against the fake OrderDesk.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{FakeConfig, Launch, fake, fake_unlimited, fake_with, spawn};

const ORDER_ROUTE: &str = "GET /orders/{id}";
const READ_TOOLS: [&str; 7] = [
    "store_test",
    "store_info",
    "orders_get",
    "orders_list",
    "products_get",
    "products_list",
    "shipments_list",
];
const WRITE_TOOLS: [&str; 17] = [
    "orders_create",
    "orders_update",
    "orders_mutate",
    "orders_delete",
    "orders_move",
    "orders_add_note",
    "order_items_add",
    "order_items_update",
    "order_items_delete",
    "shipments_add",
    "products_create",
    "products_update",
    "products_delete",
    "products_batch_update",
    "stores_register",
    "sync_configure",
    "sync_trigger",
];
const LOCAL_TOOLS: [&str; 12] = [
    "tenant_use_master_key",
    "stores_list",
    "stores_use",
    "stores_resolve",
    "stores_delete",
    "cache_invalidate",
    "audit_list",
    "sync_status",
    "sync_stats",
    "sync_reset_stats",
    "mirror_orders_query",
    "webhooks_list",
];
const DESTRUCTIVE: [&str; 5] = [
    "orders_delete",
    "orders_move",
    "order_items_delete",
    "products_delete",
    "stores_delete",
];

#[tokio::test]
async fn initialize_and_list_tools() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    let info = server.client.peer_info().expect("initialize result");
    assert_eq!(info.server_info.as_ref().unwrap().name, "orderdesk-mcp");
    assert!(info.capabilities.tools.is_some());

    let tools = server.client.list_all_tools().await.unwrap();
    let names: BTreeSet<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    let expected: BTreeSet<&str> = READ_TOOLS
        .into_iter()
        .chain(WRITE_TOOLS)
        .chain(LOCAL_TOOLS)
        .collect();
    assert_eq!(names, expected);
    for tool in &tools {
        let name = tool.name.as_ref();
        assert!(
            !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name} breaks ^[a-z0-9_]{{1,64}}$"
        );
        assert!(
            tool.description.as_ref().is_some_and(|d| d.len() > 40),
            "{name} needs a real description"
        );
        for schema in [Some(&tool.input_schema), tool.output_schema.as_ref()] {
            let schema = Value::Object(schema.expect("both schemas").as_ref().clone());
            assert_eq!(schema["type"], "object", "{name}: {schema}");
            jsonschema::validator_for(&schema)
                .unwrap_or_else(|e| panic!("{name}: invalid schema: {e}"));
        }
        let a = tool.annotations.as_ref().expect("annotations");
        if READ_TOOLS.contains(&name) {
            assert_eq!(a.read_only_hint, Some(true), "{name}");
        }
        if WRITE_TOOLS.contains(&name) {
            assert_eq!(a.read_only_hint, Some(false), "{name}");
        }
        let talks_to_orderdesk = !LOCAL_TOOLS.contains(&name);
        assert_eq!(a.open_world_hint, Some(talks_to_orderdesk), "{name}");
        assert_eq!(
            a.destructive_hint,
            Some(DESTRUCTIVE.contains(&name)),
            "{name}"
        );
    }
    server.stop().await;
}

/// Validate a tool's structured result against the outputSchema it advertises.
async fn assert_matches_output_schema(server: &support::Server, tool: &str, value: &Value) {
    let tools = server.client.list_all_tools().await.unwrap();
    let t = tools.iter().find(|t| t.name == tool).unwrap();
    let schema = Value::Object(t.output_schema.as_ref().unwrap().as_ref().clone());
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{tool} result breaks its outputSchema: {errors:?}"
    );
}

#[tokio::test]
async fn orders_get_twice_within_ttl_is_one_upstream_get() {
    let fake = fake().await;
    let id = fake.order_ids()[0].to_string();
    let server = spawn(Launch::against(&fake)).await;

    let first = server.ok("orders_get", json!({ "order_id": id })).await;
    assert_eq!(first["cache"], "miss");
    assert_eq!(first["order"]["id"], id);
    assert_matches_output_schema(&server, "orders_get", &first).await;

    let second = server.ok("orders_get", json!({ "order_id": id })).await;
    assert_eq!(second["cache"], "hit");
    assert_eq!(second["order"], first["order"]);
    // The dotted alias reaches the same tool (and the same cache entry).
    let alias = server.ok("orders.get", json!({ "order_id": id })).await;
    assert_eq!(alias["cache"], "hit");
    assert_eq!(fake.stats().count(ORDER_ROUTE), 1);
    server.stop().await;
}

#[tokio::test]
async fn orders_list_pages_to_the_end() {
    let fake = fake_with(FakeConfig {
        orders: 130,
        ..FakeConfig::default()
    })
    .await;
    let server = spawn(Launch::against(&fake)).await;
    let mut seen = Vec::new();
    let mut offset = 0;
    let mut pages = 0;
    loop {
        let page = server
            .ok("orders_list", json!({ "limit": 40, "offset": offset }))
            .await;
        if pages == 0 {
            assert_matches_output_schema(&server, "orders_list", &page).await;
        }
        pages += 1;
        assert_eq!(page["total_count"], 130);
        assert_eq!(page["limit"], 40);
        assert_eq!(page["offset"], offset);
        let orders = page["orders"].as_array().unwrap();
        seen.extend(orders.iter().map(|o| o["id"].as_str().unwrap().to_string()));
        if page["has_more"] == true {
            offset = page["next_offset"].as_u64().unwrap();
            assert_eq!(offset as usize, seen.len());
        } else {
            assert!(page["next_offset"].is_null());
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 4);
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), 130, "every order exactly once");
    let expected: BTreeSet<String> = fake.order_ids().iter().map(u64::to_string).collect();
    assert_eq!(unique, expected);
    server.stop().await;
}

#[tokio::test]
async fn orders_list_filters_reach_orderdesk() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    let all = server.ok("orders_list", json!({ "limit": 100 })).await;
    let sample = &all["orders"][3];
    let email = sample["email"].as_str().unwrap();
    let by_email = server.ok("orders_list", json!({ "email": email })).await;
    let orders = by_email["orders"].as_array().unwrap();
    assert!(!orders.is_empty());
    assert!(orders.iter().all(|o| o["email"] == email));

    let folder = sample["folder_id"].as_u64().unwrap();
    let in_folder = server
        .ok("orders_list", json!({ "folder_id": folder, "limit": 100 }))
        .await;
    assert!(
        in_folder["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["folder_id"] == folder)
    );
    assert!(in_folder["total_count"].as_u64().unwrap() < 200);

    let asc = server
        .ok(
            "orders_list",
            json!({ "order_by": "id", "order": "asc", "limit": 3 }),
        )
        .await;
    let ids: Vec<&str> = asc["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["100001", "100002", "100003"]);
    server.stop().await;
}

#[tokio::test]
async fn store_and_products_read_tools() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    let test = server.ok("store_test", json!({})).await;
    assert_eq!(test["ok"], true);
    assert_eq!(test["store_id"], fake.store_id());

    let info = server.ok("store_info", json!({})).await;
    let folders: Vec<(u64, &str)> = info["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_u64().unwrap(), f["name"].as_str().unwrap()))
        .collect();
    assert_eq!(folders[0], (1, "New"));
    assert!(info["store"].get("folders").is_none());
    assert_matches_output_schema(&server, "store_info", &info).await;

    let pid = fake.product_ids()[2].to_string();
    let product = server
        .ok("products_get", json!({ "product_id": pid }))
        .await;
    assert_eq!(product["product"]["id"], pid);
    let code = product["product"]["code"].as_str().unwrap().to_string();
    let by_code = server.ok("products_list", json!({ "code": code })).await;
    assert_eq!(by_code["products"].as_array().unwrap().len(), 1);
    assert_eq!(by_code["total_count"], 1);
    let missing = server
        .err("products_get", json!({ "product_id": "1" }))
        .await;
    assert_eq!(missing["code"], "PRODUCT_NOT_FOUND");
    server.stop().await;
}

#[tokio::test]
async fn missing_order_is_order_not_found() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    let error = server.err("orders_get", json!({ "order_id": "42" })).await;
    assert_eq!(error["code"], "ORDER_NOT_FOUND");
    assert_eq!(error["retryable"], false);
    assert_eq!(error["details"]["order_id"], "42");
    server.stop().await;
}

#[tokio::test]
async fn wrong_api_key_is_od_api_401_and_never_echoed() {
    let fake = fake().await;
    let launch = Launch::against(&fake)
        .api_key("wrong-key-7f3a9")
        .arg("--log")
        .arg("trace");
    let server = spawn(launch).await;
    let error = server.err("orders_list", json!({})).await;
    assert_eq!(error["code"], "OD_API_401");
    assert!(!error.to_string().contains("wrong-key-7f3a9"));
    let error = server.err("store_test", json!({})).await;
    assert_eq!(error["code"], "OD_API_401");
    assert_eq!(fake.stats().status_401, 2, "401 is not retried");
    let logs = server.stderr();
    server.stop().await;
    assert!(logs.contains("OD_API_401"), "the calls were logged: {logs}");
    for key in ["wrong-key-7f3a9", fake.api_key()] {
        assert!(!logs.contains(key), "{key} reached the logs");
    }
}

#[tokio::test]
async fn rate_limited_then_success_waits_as_told() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    fake.faults().fail_next_429(1, 1);
    let started = Instant::now();
    let result = server
        .ok("orders_get", json!({ "order_id": "100001" }))
        .await;
    assert_eq!(result["order"]["id"], "100001");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "X-Retry-After: 1 must be honoured, retried after {:?}",
        started.elapsed()
    );
    let stats = fake.stats();
    assert_eq!(stats.status_429, 1);
    assert_eq!(stats.count(ORDER_ROUTE), 2);
    server.stop().await;
}

#[tokio::test]
async fn rate_limit_wait_longer_than_allowed_is_od_api_429() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    fake.faults().fail_next_429(1, 120);
    let error = server
        .err("orders_get", json!({ "order_id": "100001" }))
        .await;
    assert_eq!(error["code"], "OD_API_429");
    assert_eq!(error["retryable"], true);
    assert_eq!(error["details"]["retry_after_ms"], 120_000);
    assert_eq!(
        fake.stats().count(ORDER_ROUTE),
        1,
        "no retry past the wait limit"
    );
    server.stop().await;
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    fake.faults().fail_next_5xx(2, 503);
    let result = server
        .ok("orders_get", json!({ "order_id": "100002" }))
        .await;
    assert_eq!(result["order"]["id"], "100002");
    let stats = fake.stats();
    assert_eq!(stats.status_5xx, 2);
    assert_eq!(stats.count(ORDER_ROUTE), 3);
    server.stop().await;
}

#[tokio::test]
async fn server_errors_forever_fail_after_three_tries() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    fake.faults().fail_next_5xx(100, 500);
    let error = server.err("orders_list", json!({})).await;
    assert_eq!(error["code"], "OD_API_5XX");
    assert_eq!(error["retryable"], true);
    assert_eq!(error["details"]["tries"], 3);
    assert_eq!(fake.stats().count("GET /orders"), 3);
    // Nothing failed was cached: once OrderDesk recovers, the same call works.
    fake.faults().clear();
    let page = server.ok("orders_list", json!({})).await;
    assert_eq!(page["cache"], "miss");
    server.stop().await;
}

#[tokio::test]
async fn dropped_connections_are_retried_then_reported() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    fake.faults().drop_next(1);
    let result = server
        .ok("orders_get", json!({ "order_id": "100003" }))
        .await;
    assert_eq!(result["order"]["id"], "100003");

    fake.faults().drop_next(100);
    let error = server
        .err("orders_get", json!({ "order_id": "100004" }))
        .await;
    assert_eq!(error["code"], "UPSTREAM_UNREACHABLE");
    assert_eq!(error["details"]["tries"], 3);
    server.stop().await;
}

#[tokio::test]
async fn restart_on_the_same_sqlite_file_keeps_the_cache() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());

    let first = spawn(Launch::against(&fake).state(&state)).await;
    let a = first
        .ok("orders_get", json!({ "order_id": "100005" }))
        .await;
    assert_eq!(a["cache"], "miss");
    first.stop().await;

    let second = spawn(Launch::against(&fake).state(&state)).await;
    let b = second
        .ok("orders_get", json!({ "order_id": "100005" }))
        .await;
    assert_eq!(b["cache"], "hit");
    assert_eq!(a["order"], b["order"]);
    assert_eq!(fake.stats().count(ORDER_ROUTE), 1);
    second.stop().await;
}

#[tokio::test]
async fn invalid_arguments_are_precise_tool_errors() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    let cases = [
        ("orders_list", json!({ "limit": 0 }), "limit"),
        ("orders_list", json!({ "limit": 101 }), "limit"),
        ("orders_list", json!({ "limt": 5 }), "limt"),
        ("orders_list", json!({ "offset": -1 }), "-1"),
        (
            "orders_list",
            json!({ "search_start_date": "last week" }),
            "search_start_date",
        ),
        ("orders_list", json!({ "order_by": "color" }), "color"),
        ("orders_get", json!({}), "order_id"),
        ("orders_get", json!({ "order_id": "../store" }), "order_id"),
        ("orders_get", json!({ "order_id": -5 }), "negative"),
        ("orders_get", json!({ "order_id": 5.5 }), "order_id"),
        ("orders_get", json!({ "order_id": true }), "order_id"),
    ];
    for (tool, args, mention) in cases {
        let error = server.err(tool, args.clone()).await;
        assert_eq!(error["code"], "INVALID_ARGUMENT", "{tool} {args}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(mention),
            "{tool} {args}: {message:?} should mention {mention}"
        );
    }
    assert_eq!(fake.stats().total, 0, "invalid calls never reach OrderDesk");
    server.stop().await;
}

#[tokio::test]
async fn unknown_tool_is_a_json_rpc_invalid_params_error() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake)).await;
    let err = server
        .try_call("orders_teleport", json!({}))
        .await
        .unwrap_err();
    match err {
        rmcp::service::ServiceError::McpError(e) => {
            assert_eq!(e.code.0, -32602);
            assert!(e.message.contains("orders_teleport"));
        }
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
    // The connection is still good.
    server.ok("store_test", json!({})).await;
    server.stop().await;
}

#[tokio::test]
async fn without_credentials_tools_say_how_to_configure() {
    let fake = fake().await;
    let mut launch = Launch::against(&fake);
    launch.store_id = None;
    launch.api_key = None;
    let server = spawn(launch).await;
    let error = server.err("orders_list", json!({})).await;
    assert_eq!(error["code"], "STORE_NOT_FOUND");
    assert!(error["message"].as_str().unwrap().contains("--store-id"));
    server.stop().await;
}

#[tokio::test]
async fn logs_never_contain_the_api_key() {
    let fake = fake().await;
    let server = spawn(Launch::against(&fake).arg("--log").arg("trace")).await;
    server
        .ok("orders_get", json!({ "order_id": "100001" }))
        .await;
    server.err("orders_get", json!({ "order_id": "1" })).await;
    let logs = server.stderr();
    assert!(logs.contains("tool call"), "logs were captured");
    assert!(
        !logs.contains(fake.api_key()),
        "the API key leaked into the logs"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_rpc_does_not_stop_the_server() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let fake = fake().await;
    let mut child = tokio::process::Command::new(support::BIN)
        .env_clear()
        .args(["stdio", "--state", "memory", "--api-url", &fake.base_url()])
        .arg("--precompile-cache")
        .arg(support::shared_precompile_cache())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let garbage = [
        "this is not json",
        "{\"jsonrpc\":\"2.0\",\"id\":",
        "[1,2,3]",
        "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"no/such/method\"}",
    ];
    for line in garbage {
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}});
    stdin
        .write_all(format!("{init}\n").as_bytes())
        .await
        .unwrap();
    let mut answered_init = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Ok(Some(line))) = tokio::time::timeout_at(deadline, lines.next_line()).await {
        let msg: Value = serde_json::from_str(&line).expect("stdout carries only JSON-RPC");
        if msg["id"] == 1 {
            assert_eq!(msg["result"]["serverInfo"]["name"], "orderdesk-mcp");
            answered_init = true;
            break;
        }
    }
    assert!(
        answered_init,
        "the server answered initialize after malformed input"
    );
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n")
        .await
        .unwrap();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let msg: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(msg["id"], 2);
    assert!(msg.get("result").is_some(), "ping answered: {msg}");
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit when the client hangs up");
}

#[tokio::test]
async fn huge_and_deeply_nested_arguments_are_handled_and_the_server_keeps_serving() {
    let fake = fake_unlimited().await;
    let server = spawn(Launch::against(&fake)).await;
    let nest = |depth: usize| {
        let mut v = json!("leaf");
        for _ in 0..depth {
            v = json!({ "n": v });
        }
        v
    };
    // Deep but within JSON parsers' limits: stored and read back intact.
    let deep = nest(100);
    server
        .ok(
            "orders_update",
            json!({ "order_id": 100001, "changes": { "order_metadata": { "deep": deep } } }),
        )
        .await;
    let read = server.ok("orders_get", json!({ "order_id": 100001 })).await;
    assert_eq!(read["order"]["order_metadata"]["deep"], deep);
    // Beyond the parser's depth limit the message cannot be read at all (rmcp drops it
    // without an answer); the server lives on.
    let too_deep = server.try_call(
        "orders_update",
        json!({ "order_id": 100001, "changes": { "order_metadata": nest(300) } }),
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(2), too_deep)
            .await
            .is_err(),
        "an unreadable message gets no answer"
    );
    // Too big for the sandbox: refused before it reaches the component.
    let huge = "x".repeat(2 << 20);
    let error = server
        .err(
            "orders_add_note",
            json!({ "order_id": 100001, "note": huge }),
        )
        .await;
    assert_eq!(error["code"], "INVALID_ARGUMENT", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("bytes"),
        "{error}"
    );
    assert_eq!(fake.stats().count("POST /orders/{id}/order-history"), 0);
    let order = server.ok("orders_get", json!({ "order_id": 100002 })).await;
    assert_eq!(order["order"]["id"], "100002");
    server.stop().await;
}
