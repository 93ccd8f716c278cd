//! Tool-level unit tests over the scripted host: what goes on the wire, retries, caching.

use serde_json::{Value, json};

use super::{CallError, Caller, call, catalog};
use crate::host::{Method, NetError};
use crate::testing::ScriptedHost;

const ORDER: &str = r#"{"status":"success","order":{"id":"5","email":"a@b.c"}}"#;

fn run(host: &ScriptedHost, tool: &str, args: Value) -> Result<Value, CallError> {
    let caller = Caller {
        request_id: "r1".into(),
        ..Caller::default()
    };
    call(host, &caller, tool, &args.to_string()).map(|o| o.value())
}

fn code(result: Result<Value, CallError>) -> String {
    match result {
        Err(CallError::Failed(e)) => e.code.as_str().to_string(),
        other => panic!("expected a tool error, got {other:?}"),
    }
}

#[test]
fn get_sends_auth_headers_and_no_content_type() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    let requests = host.requests.borrow();
    let req = &requests[0];
    assert_eq!(req.method, Method::Get);
    assert_eq!(req.url, "http://od.test/api/v2/orders/5");
    assert!(req.body.is_none());
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("ORDERDESK-STORE-ID"), Some("7"));
    assert_eq!(header("ORDERDESK-API-KEY"), Some("k"));
    assert!(
        req.headers
            .iter()
            .all(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
    );
}

#[test]
fn writes_declare_their_length_and_type_and_reads_declare_neither() {
    let host = ScriptedHost::configured();
    host.answer(201, &[], r#"{"status":"success","history":{}}"#);
    run(
        &host,
        "orders_add_note",
        json!({"order_id": "5", "note": "héllo"}),
    )
    .unwrap();
    let req = host.requests.borrow()[0].clone();
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = req.body.clone().unwrap();
    assert_eq!(header("Content-Length"), Some(body.len().to_string()));
    assert_eq!(header("Content-Type").as_deref(), Some("application/json"));
    assert!(header("Transfer-Encoding").is_none());

    host.answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": "6"})).unwrap();
    let get = host.requests.borrow()[1].clone();
    assert!(get.body.is_none());
    for name in ["content-length", "content-type"] {
        assert!(
            get.headers
                .iter()
                .all(|(k, _)| !k.eq_ignore_ascii_case(name)),
            "{name}"
        );
    }
}

#[test]
fn list_query_is_url_encoded() {
    let host = ScriptedHost::configured();
    host.answer(
        200,
        &[],
        r#"{"status":"success","total_records":0,"orders":[]}"#,
    );
    let out = run(
        &host,
        "orders_list",
        json!({"email": "a+b@c.d", "search_start_date": "2026-01-01 10:00:00"}),
    )
    .unwrap();
    assert_eq!(out["has_more"], false);
    let url = host.requests.borrow()[0].url.clone();
    assert!(url.contains("email=a%2Bb%40c.d"), "{url}");
    assert!(
        url.contains("search_start_date=2026-01-01+10%3A00%3A00"),
        "{url}"
    );
    assert!(
        url.contains("limit=50") && url.contains("offset=0"),
        "{url}"
    );
}

#[test]
fn cache_hit_within_ttl_and_miss_after_expiry() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER).answer(200, &[], ORDER);
    assert_eq!(
        run(&host, "orders_get", json!({"order_id": "5"})).unwrap()["cache"],
        "miss"
    );
    host.now.set(host.now.get() + 14_999);
    assert_eq!(
        run(&host, "orders_get", json!({"order_id": "5"})).unwrap()["cache"],
        "hit"
    );
    host.now.set(host.now.get() + 2);
    assert_eq!(
        run(&host, "orders_get", json!({"order_id": "5"})).unwrap()["cache"],
        "miss"
    );
    assert_eq!(host.requests.borrow().len(), 2);
}

#[test]
fn ttl_is_configurable_and_zero_disables_caching() {
    let mut host = ScriptedHost::configured();
    host.config.insert("cache_ttl_orders".into(), "0".into());
    host.answer(200, &[], ORDER).answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    assert_eq!(
        run(&host, "orders_get", json!({"order_id": "5"})).unwrap()["cache"],
        "miss"
    );
    assert!(
        host.kv
            .borrow()
            .keys()
            .all(|(bucket, _)| !bucket.starts_with("cache"))
    );
}

#[test]
fn rate_limit_waits_the_advertised_time() {
    let host = ScriptedHost::configured();
    host.answer(
        429,
        &[("X-Retry-After", "2")],
        r#"{"status":"error","message":"slow down"}"#,
    )
    .answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    assert_eq!(*host.sleeps.borrow(), vec![2_000]);
}

#[test]
fn five_hundreds_back_off_and_give_up_after_three_tries() {
    let host = ScriptedHost::configured();
    for _ in 0..3 {
        host.answer(502, &[], "bad gateway");
    }
    assert_eq!(
        code(run(&host, "orders_get", json!({"order_id": "5"}))),
        "OD_API_5XX"
    );
    assert_eq!(host.requests.borrow().len(), 3);
    let sleeps = host.sleeps.borrow();
    assert_eq!(sleeps.len(), 2);
    assert!(sleeps[1] > sleeps[0], "exponential: {sleeps:?}");
}

#[test]
fn network_errors_are_retried_and_denial_is_not() {
    let host = ScriptedHost::configured();
    host.fail(NetError::Timeout).answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();

    let host = ScriptedHost::configured();
    host.fail(NetError::Denied);
    assert_eq!(
        code(run(&host, "orders_get", json!({"order_id": "5"}))),
        "HTTP_REQUEST_DENIED"
    );
    assert_eq!(host.requests.borrow().len(), 1);
}

#[test]
fn upstream_errors_map_to_stable_codes() {
    for (status, body, expected) in [
        (
            401,
            r#"{"status":"error","message":"Invalid API Key"}"#,
            "OD_API_401",
        ),
        (403, "", "OD_API_401"),
        (
            404,
            r#"{"status":"error","message":"Order not found"}"#,
            "ORDER_NOT_FOUND",
        ),
        (400, r#"{"status":"error","message":"bad"}"#, "OD_API_ERROR"),
        (200, "<html>oops</html>", "OD_API_BAD_RESPONSE"),
        (
            200,
            r#"{"status":"error","message":"weird"}"#,
            "OD_API_ERROR",
        ),
    ] {
        let host = ScriptedHost::configured();
        host.answer(status, &[], body);
        assert_eq!(
            code(run(&host, "orders_get", json!({"order_id": "5"}))),
            expected,
            "{status} {body}"
        );
    }
}

#[test]
fn errors_never_carry_the_api_key() {
    let mut host = ScriptedHost::configured();
    host.config.insert("api_key".into(), "sekret-123".into());
    host.answer(401, &[], r#"{"status":"error","message":"Invalid"}"#);
    let Err(CallError::Failed(e)) = run(&host, "orders_get", json!({"order_id": "5"})) else {
        panic!("expected failure")
    };
    assert!(!format!("{e:?}").contains("sekret-123"));
    assert!(host.logs.borrow().iter().all(|l| !l.contains("sekret-123")));
}

#[test]
fn dotted_aliases_resolve_and_unknown_names_do_not() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER);
    assert!(run(&host, "orders.get", json!({"order_id": "5"})).is_ok());
    assert!(matches!(
        run(&host, "orders.teleport", json!({})),
        Err(CallError::UnknownTool(_))
    ));
}

#[test]
fn catalog_is_well_formed() {
    let tools = catalog();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), tools.len(), "unique names");
    for t in &tools {
        assert!(
            t.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
        assert_eq!(t.input_schema()["type"], "object", "{}", t.name);
        assert_eq!(t.output_schema()["type"], "object", "{}", t.name);
        assert!(t.input_schema().get("$schema").is_none());
    }
}

const EMPTY_LIST: &str = r#"{"status":"success","total_records":0,"orders":[]}"#;

fn new_order(source_id: Value) -> Value {
    let mut order = json!({
        "shipping": {"first_name": "Kari"},
        "order_items": [{"name": "Tea", "price": 1, "quantity": 1}]
    });
    if !source_id.is_null() {
        order["source_id"] = source_id;
    }
    order
}

fn created(source_id: Value) -> String {
    json!({"status": "success", "order": {"id": "9", "source_id": source_id}}).to_string()
}

fn listed(source_id: Value) -> String {
    json!({"status": "success", "total_records": 1, "orders": [{"id": "9", "source_id": source_id}]})
        .to_string()
}

fn error_of(result: Result<Value, CallError>) -> crate::error::ToolError {
    match result {
        Err(CallError::Failed(e)) => e,
        other => panic!("expected a tool error, got {other:?}"),
    }
}

#[test]
fn a_numeric_source_id_is_kept_as_given_and_makes_one_order() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], EMPTY_LIST)
        .answer(201, &[], &created(json!(777123)));
    let out = run(
        &host,
        "orders_create",
        json!({"order": new_order(json!(777123))}),
    )
    .unwrap();
    assert_eq!(out["source_id"], "777123");
    assert_eq!(out["already_existed"], false);
    let requests = host.requests.borrow().clone();
    assert!(
        requests[0].url.contains("source_id=777123"),
        "{}",
        requests[0].url
    );
    let posted: Value = serde_json::from_slice(requests[1].body.as_ref().unwrap()).unwrap();
    assert_eq!(
        posted["source_id"], 777123,
        "kept as the number it was given"
    );

    // The same call again finds the order: no second POST.
    host.answer(200, &[], &listed(json!(777123)));
    let again = run(
        &host,
        "orders_create",
        json!({"order": new_order(json!(777123))}),
    )
    .unwrap();
    assert_eq!(again["already_existed"], true);
    assert_eq!(
        host.sent().iter().filter(|r| r.starts_with("POST")).count(),
        1
    );
}

#[test]
fn a_lookup_that_matches_loosely_is_not_taken_for_the_order() {
    let host = ScriptedHost::configured();
    // OrderDesk's search may match more loosely than equality: only an exact match counts.
    host.answer(200, &[], &listed(json!("A-1-extra")))
        .answer(201, &[], &created(json!("A-1")));
    let out = run(
        &host,
        "orders_create",
        json!({"order": new_order(json!("A-1"))}),
    )
    .unwrap();
    assert_eq!(out["already_existed"], false);
}

#[test]
fn a_lost_create_answer_is_recovered_by_source_id() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], EMPTY_LIST)
        .fail(NetError::Timeout)
        .answer(200, &[], &listed(json!("S-1")));
    let out = run(
        &host,
        "orders_create",
        json!({"order": new_order(json!("S-1"))}),
    )
    .unwrap();
    assert_eq!(out["recovered"], true);
    assert_eq!(
        host.sent().iter().filter(|r| r.starts_with("POST")).count(),
        1
    );
}

#[test]
fn an_unknown_create_outcome_returns_the_generated_source_id_to_retry_with() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], EMPTY_LIST)
        .answer(502, &[], "")
        .answer(200, &[], EMPTY_LIST)
        .answer(200, &[], EMPTY_LIST);
    let e = error_of(run(
        &host,
        "orders_create",
        json!({"order": new_order(Value::Null)}),
    ));
    assert_eq!(e.code.as_str(), "WRITE_OUTCOME_UNKNOWN");
    assert!(
        !e.retryable,
        "a write that may have happened is never retryable"
    );
    let source_id = e.details["source_id"].as_str().unwrap().to_string();
    assert!(source_id.starts_with("odmcp-"));
    assert_eq!(e.details["cause"], "OD_API_5XX");

    // The agent retries with that source_id: OrderDesk had created it after all.
    host.answer(200, &[], &listed(json!(source_id)));
    let out = run(
        &host,
        "orders_create",
        json!({"order": new_order(json!(source_id))}),
    )
    .unwrap();
    assert_eq!(out["already_existed"], true);
    assert_eq!(
        host.sent().iter().filter(|r| r.starts_with("POST")).count(),
        1
    );
}

#[test]
fn every_create_error_names_the_source_id() {
    let host = ScriptedHost::configured();
    host.answer(400, &[], r#"{"status":"error","message":"bad order"}"#);
    let e = error_of(run(
        &host,
        "orders_create",
        json!({"order": new_order(Value::Null)}),
    ));
    assert_eq!(e.code.as_str(), "OD_API_ERROR");
    assert!(
        e.details["source_id"]
            .as_str()
            .unwrap()
            .starts_with("odmcp-")
    );
}

#[test]
fn a_429_on_a_create_was_not_applied_and_is_sent_again() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], EMPTY_LIST)
        .answer(429, &[("X-Retry-After", "1")], "{}")
        .answer(201, &[], &created(json!("S-2")));
    let out = run(
        &host,
        "orders_create",
        json!({"order": new_order(json!("S-2"))}),
    )
    .unwrap();
    assert_eq!(out["recovered"], false);
    assert_eq!(
        host.sent().iter().filter(|r| r.starts_with("POST")).count(),
        2
    );
}

#[test]
fn creates_of_one_source_id_wait_for_each_other() {
    let host = ScriptedHost::configured();
    let now = host.now.get();
    host.locks
        .borrow_mut()
        .insert("create/7/S-3".into(), ("another call".into(), now + 3_000));
    host.answer(200, &[], &listed(json!("S-3")));
    let out = run(
        &host,
        "orders_create",
        json!({"order": new_order(json!("S-3"))}),
    )
    .unwrap();
    assert_eq!(
        out["already_existed"], true,
        "the other call's order is found"
    );
    assert!(
        host.now.get() >= now + 3_000,
        "the lookup waited for the lock"
    );
}

#[test]
fn bad_source_ids_are_refused() {
    let host = ScriptedHost::configured();
    for bad in [
        json!(1.5),
        json!(-3),
        json!(true),
        json!(""),
        json!({"a": 1}),
    ] {
        let e = error_of(run(
            &host,
            "orders_create",
            json!({"order": new_order(bad.clone())}),
        ));
        assert_eq!(e.code.as_str(), "INVALID_ARGUMENT", "{bad}");
    }
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn ids_may_be_numbers_everywhere() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": 5})).unwrap();
    assert_eq!(host.sent(), ["GET /orders/5"]);
    let e = error_of(run(&host, "orders_get", json!({"order_id": -5})));
    assert_eq!(e.code.as_str(), "INVALID_ARGUMENT");
    assert!(e.message.contains("negative"), "{}", e.message);
    let e = error_of(run(&host, "orders_get", json!({"order_id": 5, "store": 8})));
    assert_eq!(
        e.code.as_str(),
        "STORE_NOT_FOUND",
        "store 8 is not the configured 7"
    );
}

#[test]
fn a_delete_whose_answer_is_lost_asks_again_and_a_404_then_means_done() {
    let host = ScriptedHost::configured();
    host.answer(502, &[], "").answer(
        404,
        &[],
        r#"{"status":"error","message":"Order not found"}"#,
    );
    let out = run(&host, "orders_delete", json!({"order_id": "5"})).unwrap();
    assert_eq!(out["deleted"], true);
    let host = ScriptedHost::configured();
    host.answer(
        404,
        &[],
        r#"{"status":"error","message":"Order not found"}"#,
    );
    let e = error_of(run(&host, "orders_delete", json!({"order_id": "5"})));
    assert_eq!(e.code.as_str(), "ORDER_NOT_FOUND");
}

#[test]
fn a_note_whose_answer_is_lost_is_not_added_twice() {
    let host = ScriptedHost::configured();
    host.fail(NetError::Connection("reset".into()));
    let e = error_of(run(
        &host,
        "orders_add_note",
        json!({"order_id": 5, "note": "hi"}),
    ));
    assert_eq!(e.code.as_str(), "WRITE_OUTCOME_UNKNOWN");
    assert!(!e.retryable);
    assert_eq!(host.requests.borrow().len(), 1);
}

#[test]
fn writes_are_audited_with_their_outcome_and_invalidate_the_cache() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER); // cached read
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    host.answer(201, &[], r#"{"status":"success","history":{}}"#);
    run(
        &host,
        "orders_add_note",
        json!({"order_id": "5", "note": "hi"}),
    )
    .unwrap();
    host.answer(200, &[], ORDER);
    let after = run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    assert_eq!(
        after["cache"], "miss",
        "the note invalidated the order's cache"
    );
    let audit = run(&host, "audit_list", json!({})).unwrap();
    let entry = &audit["entries"][0];
    assert_eq!(entry["tool"], "orders_add_note");
    assert_eq!(entry["outcome"], "ok");
    assert_eq!(entry["target"], "5");
    assert_eq!(entry["store"], "7");
}

#[test]
fn an_abandoned_write_call_is_settled() {
    use crate::services::Journal;
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    // A write began, then its instance died before finishing.
    let journal = Journal::new(&host, "orders_update", "dead-1");
    journal
        .begin("_", "7", crate::host::Family::Orders, "5")
        .unwrap();
    drop(journal);
    super::abandoned(&host, "dead-1", "deadline exceeded");
    host.answer(200, &[], ORDER);
    let after = run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    assert_eq!(after["cache"], "miss");
    let audit = run(&host, "audit_list", json!({})).unwrap();
    assert_eq!(audit["entries"][0]["outcome"], "WRITE_OUTCOME_UNKNOWN");
}

/// What a cache hit costs the host: the round trips of a repeated `orders_get`, listed so a
/// change that adds one shows up here.
#[test]
fn a_cache_hit_costs_few_host_round_trips() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    host.trace.borrow_mut().clear();
    let hit = run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    assert_eq!(hit["cache"], "hit");
    let trace = host.trace.borrow().clone();
    println!("{trace:#?}");
    // Six to answer (settings, the tenant's tool budget, the generation, the entry), and
    // two to keep the call's trace: the slot counter and the one write of the trace.
    assert!(trace.len() <= 8, "{} host calls: {trace:#?}", trace.len());
    assert_eq!(
        trace[trace.len() - 2..],
        ["increment state/trace-seq/_", "set state/trace/_/1"],
        "the trace is kept with its last two round trips"
    );
    // With tracing off the hit costs what it did before traces existed.
    let mut host = ScriptedHost::configured();
    host.config.insert("trace_keep".into(), "0".into());
    host.answer(200, &[], ORDER);
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    host.trace.borrow_mut().clear();
    run(&host, "orders_get", json!({"order_id": "5"})).unwrap();
    let untraced = host.trace.borrow().len();
    assert!(untraced <= 6, "{untraced} host calls with tracing off");
}

/// What a conflict-free `orders_update` costs: two upstream requests (the read and the
/// PUT, nothing between them) and the state round trips listed, so a change that adds one
/// shows up here.
#[test]
fn an_update_costs_two_upstream_requests_and_few_host_round_trips() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER);
    host.answer(
        200,
        &[],
        r#"{"status":"success","order":{"id":"5","email":"new@b.c"}}"#,
    );
    let out = run(
        &host,
        "orders_update",
        json!({"order_id": "5", "changes": {"email": "new@b.c"}}),
    )
    .unwrap();
    assert_eq!(out["order"]["email"], "new@b.c", "{out}");
    let requests = host.requests.borrow();
    let methods: Vec<Method> = requests.iter().map(|r| r.method).collect();
    assert_eq!(methods, [Method::Get, Method::Put]);
    let trace = host.trace.borrow().clone();
    println!("{} host round trips: {trace:#?}", trace.len());
    // 16 for the update itself (settings, tool budget, lock, audit and intent, the
    // upstream bucket, the invalidation, the settled audit entry), plus 2 to keep the
    // call's trace (the slot counter, then the trace in one write); the steps themselves
    // are buffered in memory and cost no round trip.
    assert!(trace.len() <= 18, "{} host calls: {trace:#?}", trace.len());
    assert_eq!(
        trace[trace.len() - 2..],
        ["increment state/trace-seq/_", "set state/trace/_/0"],
        "the trace's two round trips come last, after the answer is settled"
    );
}

/// Doc comments become schema descriptions: rustdoc links (`[`Type::method`]`) mean nothing
/// to a model and must not leak into them.
#[test]
fn schema_descriptions_carry_no_rustdoc_links() {
    for tool in catalog() {
        for schema in [tool.input_schema(), tool.output_schema()] {
            let text = schema.to_string();
            assert!(
                !text.contains("[`") && !text.contains("`]"),
                "{}: {text}",
                tool.name
            );
        }
    }
}

/// The tools reference (`docs/tools.md`) and the README's summary table name every tool of
/// the catalog in their tables.
#[test]
fn the_docs_list_every_tool() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["../docs/tools.md", "../README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        // Every `code` span in a table row.
        let named: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| l.starts_with('|'))
            .flat_map(|l| l.split('`').skip(1).step_by(2))
            .collect();
        for tool in catalog() {
            assert!(
                named.contains(tool.name),
                "{doc} does not list {}",
                tool.name
            );
        }
    }
}
