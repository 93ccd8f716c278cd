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
    call(host, &caller, tool, &args.to_string()).map(|o| o.value)
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
    host.config.insert("cache_ttl_orders_s".into(), "0".into());
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
            .all(|(bucket, key)| *bucket != "cache" || key == "__random")
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
