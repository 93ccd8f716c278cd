//! How calls are admitted: every call, unknown tools and unreadable arguments included, is
//! charged to its caller's tool-call budget before it can fail.

use super::{CallError, Caller, call};
use crate::error::ErrorCode;
use crate::services::tenants;
use crate::testing::ScriptedHost;

const ORDER: &str = r#"{"status":"success","order":{"id":"5"}}"#;

/// A single-store host whose callers may make `burst` calls, then one a second.
fn limited(burst: u64) -> ScriptedHost {
    let mut host = ScriptedHost::configured();
    host.config
        .insert("tool_calls_per_minute".into(), "60".into());
    host.config
        .insert("tool_call_burst".into(), burst.to_string());
    host
}

fn caller(credential: Option<&str>) -> Caller {
    Caller {
        credential: credential.map(str::to_string),
        request_id: "r".into(),
        ..Caller::default()
    }
}

fn failure(result: Result<super::Output, CallError>) -> crate::error::ToolError {
    match result {
        Err(CallError::Failed(e)) => e,
        other => panic!("expected a tool error, got {other:?}"),
    }
}

#[test]
fn unknown_tools_are_charged_and_the_call_past_the_burst_is_rate_limited() {
    let host = limited(3);
    for _ in 0..3 {
        let result = call(&host, &caller(None), "orders_teleport", "{}");
        assert!(
            matches!(result, Err(CallError::UnknownTool(_))),
            "{result:?}"
        );
    }
    let e = failure(call(&host, &caller(None), "orders_teleport", "{}"));
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(e.details["retry_after_ms"], 1_000);
}

#[test]
fn junk_calls_spend_the_budget_a_real_call_then_misses() {
    let host = limited(3);
    let junk = [
        ("orders_teleport", "{}"),
        ("orders_get", "[1]"),
        ("orders_get", "{oops"),
    ];
    for (name, args) in junk {
        assert!(call(&host, &caller(None), name, args).is_err());
    }
    let e = failure(call(
        &host,
        &caller(None),
        "orders_get",
        r#"{"order_id": "5"}"#,
    ));
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(host.requests.borrow().is_empty(), "nothing went upstream");
    // The budget refills at one call a second.
    host.now.set(host.now.get() + 1_000);
    host.answer(200, &[], ORDER);
    call(&host, &caller(None), "orders_get", r#"{"order_id": "5"}"#).unwrap();
}

#[test]
fn bad_json_is_still_refused_as_such_while_the_budget_lasts() {
    let host = limited(10);
    let e = failure(call(&host, &caller(None), "orders_get", "{oops"));
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    let e = failure(call(&host, &caller(None), "orders_get", "[1]"));
    assert_eq!(e.code, ErrorCode::InvalidArgument);
}

#[test]
fn a_tenant_pays_for_its_own_unknown_tool_calls() {
    let host = limited(2);
    let (_, key) = tenants::create(&host, "Acme").unwrap();
    for _ in 0..2 {
        let result = call(&host, &caller(Some(&key)), "nope", "{}");
        assert!(matches!(result, Err(CallError::UnknownTool(_))));
    }
    let e = failure(call(&host, &caller(Some(&key)), "nope", "{}"));
    assert_eq!(e.code, ErrorCode::RateLimited);
    // The single-store budget is another one.
    let result = call(&host, &caller(None), "nope", "{}");
    assert!(matches!(result, Err(CallError::UnknownTool(_))));
    // A credential that does not verify fails an unknown tool as it fails any other.
    let e = failure(call(&host, &caller(Some("odmk_bad")), "nope", "{}"));
    assert_eq!(e.code, ErrorCode::AuthRequired);
}

#[test]
fn the_echoed_name_of_an_unknown_tool_is_cut_to_64_characters() {
    let host = ScriptedHost::configured();
    for (name, echoed) in [
        ("x".repeat(1 << 20), "x".repeat(64)),
        ("é".repeat(1_000), "é".repeat(64)),
        ("orders.teleport".to_string(), "orders.teleport".to_string()),
    ] {
        match call(&host, &caller(None), &name, "{}") {
            Err(CallError::UnknownTool(got)) => {
                assert!(got.chars().count() <= 64);
                assert_eq!(got, echoed);
            }
            other => panic!("{other:?}"),
        }
    }
}
