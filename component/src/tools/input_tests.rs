//! Input errors are input errors: text that cannot travel in a URL or header, or is longer
//! than its schema says, is `INVALID_ARGUMENT` naming the field, before any request.

use serde_json::{Value, json};

use super::{CallError, Caller, call, catalog};
use crate::error::{ErrorCode, ToolError};
use crate::services::tenants;
use crate::testing::ScriptedHost;

fn caller(credential: Option<&str>) -> Caller {
    Caller {
        credential: credential.map(str::to_string),
        request_id: "r".into(),
        ..Caller::default()
    }
}

fn refusal(host: &ScriptedHost, caller: &Caller, tool: &str, args: &Value) -> ToolError {
    match call(host, caller, tool, &args.to_string()) {
        Err(CallError::Failed(e)) => e,
        other => panic!("{tool} {args}: expected a tool error, got {other:?}"),
    }
}

/// `INVALID_ARGUMENT` naming `field`, not retryable, and nothing sent upstream.
fn assert_refused(host: &ScriptedHost, caller: &Caller, tool: &str, args: Value, field: &str) {
    let e = refusal(host, caller, tool, &args);
    let shown: String = args.to_string().chars().take(120).collect();
    assert_eq!(e.code, ErrorCode::InvalidArgument, "{tool} {shown}: {e}");
    assert_eq!(e.details["field"], field, "{tool} {shown}: {e}");
    assert!(!e.retryable, "{tool} {shown}");
    assert!(host.requests.borrow().is_empty(), "{tool} {shown}: sent");
}

#[test]
fn an_api_key_that_would_split_headers_is_refused_before_any_request() {
    let host = ScriptedHost::configured();
    let (_, key) = tenants::create(&host, "Acme").unwrap();
    for api_key in ["abc\r\nX-Injected: 1", "abc\ndef", "ab\0c", "a\u{7f}b"] {
        let args = json!({"store_id": "7", "api_key": api_key, "name": "Main"});
        assert_refused(
            &host,
            &caller(Some(&key)),
            "stores_register",
            args,
            "api_key",
        );
    }
    for (field, value) in [("name", "Ma\nin"), ("label", "EU\r\nX: 1")] {
        let mut args = json!({"store_id": "7", "api_key": "k", "name": "Main"});
        args[field] = json!(value);
        assert_refused(&host, &caller(Some(&key)), "stores_register", args, field);
    }
}

#[test]
fn a_megabyte_filter_is_refused_before_any_request() {
    let host = ScriptedHost::configured();
    let huge = "a".repeat(1 << 20);
    assert_refused(
        &host,
        &caller(None),
        "orders_list",
        json!({"email": format!("{huge}@x.com")}),
        "email",
    );
    assert_refused(
        &host,
        &caller(None),
        "orders_list",
        json!({"source_id": huge}),
        "source_id",
    );
    // At the limit, the filter goes out.
    host.answer(200, &[], r#"{"status":"success","orders":[]}"#);
    let email = format!("{}@x.com", "a".repeat(254 - 6));
    call(
        &host,
        &caller(None),
        "orders_list",
        &json!({ "email": email }).to_string(),
    )
    .unwrap();
    assert_eq!(host.requests.borrow().len(), 1);
}

/// Valid values for the required arguments of every tool, so each check below fails on
/// the field under test alone.
pub(super) fn required_value(field: &str) -> Value {
    match field {
        "order_id" | "product_id" => json!("5"),
        "item_id" => json!("1"),
        "store_id" | "store" => json!("7"),
        "api_key" => json!("key"),
        "name" => json!("Main"),
        "note" => json!("hi"),
        "master_key" => json!("odmk_x"),
        "changes" => json!({"a": 1}),
        "operations" => json!([{"op": "add", "path": "/a", "value": 1}]),
        "order" => json!({"order_items": [{"name": "x"}], "shipping": {"first_name": "A"}}),
        "product" => json!({"name": "n", "code": "c"}),
        "items" => json!([{"name": "x"}]),
        "item" => json!({"name": "x"}),
        "order_ids" => json!(["5"]),
        "products" => json!([{"id": "1"}]),
        other => panic!("no test value for the required argument {other:?}"),
    }
}

/// Text fields where line breaks and tabs are fine.
const PROSE: &[&str] = &["note"];

#[test]
fn every_text_argument_has_a_schema_limit_the_code_enforces_and_no_control_characters() {
    let mut checked = 0;
    for tool in catalog() {
        let schema = tool.input_schema();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        for (field, property) in properties {
            let is_text = match &property["type"] {
                Value::String(t) => t == "string",
                Value::Array(types) => types.contains(&json!("string")),
                _ => false,
            };
            if !is_text {
                continue;
            }
            let max = property["maxLength"]
                .as_u64()
                .unwrap_or_else(|| panic!("{} {field}: text without a maxLength", tool.name))
                as usize;
            let mut bad = vec!["a".repeat(max + 1), "a\0b".to_string()];
            if !PROSE.contains(&field.as_str()) {
                bad.extend(["a\r\nb".to_string(), "a\tb".to_string()]);
            }
            for value in bad {
                let mut args = json!({});
                for r in required.iter().filter(|r| **r != field) {
                    args[*r] = required_value(r);
                }
                args[field] = json!(value);
                let host = ScriptedHost::configured();
                assert_refused(&host, &caller(None), tool.name, args, field);
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "only {checked} checks ran");
}

#[test]
fn folder_names_and_store_refs_carry_no_control_characters() {
    let host = ScriptedHost::configured();
    let cases = [
        (
            "sync_configure",
            json!({"folders": ["Ne\nw"]}),
            "folders[0]",
        ),
        (
            "sync_configure",
            json!({"cancelled_folders": ["x".repeat(101)]}),
            "cancelled_folders[0]",
        ),
        ("mirror_orders_query", json!({"folder": "Ne\rw"}), "folder"),
        (
            "orders_get",
            json!({"order_id": "5", "store": "7\n8"}),
            "store",
        ),
        ("store_info", json!({"store": "a\0b"}), "store"),
    ];
    for (tool, args, field) in cases {
        assert_refused(&host, &caller(None), tool, args, field);
    }
}

#[test]
fn values_inside_records_that_travel_in_queries_are_checked_too() {
    let host = ScriptedHost::configured();
    let order = json!({
        "order_items": [{"name": "x"}],
        "shipping": {"first_name": "A"},
        "source_id": "S-1\r\nX: 1"
    });
    assert_refused(
        &host,
        &caller(None),
        "orders_create",
        json!({ "order": order }),
        "order.source_id",
    );
    assert_refused(
        &host,
        &caller(None),
        "products_create",
        json!({"product": {"name": "n", "code": "c\u{0}"}}),
        "product.code",
    );
}

#[test]
fn notes_may_break_lines_but_hold_no_other_control_characters() {
    let host = ScriptedHost::configured();
    assert_refused(
        &host,
        &caller(None),
        "orders_add_note",
        json!({"order_id": "5", "note": "a\u{0}b"}),
        "note",
    );
    host.answer(201, &[], r#"{"status":"success","history":{}}"#);
    call(
        &host,
        &caller(None),
        "orders_add_note",
        &json!({"order_id": "5", "note": "line one\r\nline two\tend"}).to_string(),
    )
    .unwrap();
}

#[test]
fn configured_credentials_with_control_characters_are_a_configuration_error() {
    for (setting, value) in [("api_key", "k\r\nX-Injected: 1"), ("store_id", "7\u{0}")] {
        let mut host = ScriptedHost::configured();
        host.config.insert(setting.into(), value.into());
        let e = refusal(
            &host,
            &caller(None),
            "orders_get",
            &json!({"order_id": "5"}),
        );
        assert_eq!(e.code, ErrorCode::NotConfigured, "{setting}");
        assert!(!e.retryable);
        assert_eq!(e.details["setting"], setting);
        assert!(!e.message.contains("Injected"), "the value is never shown");
        assert!(host.requests.borrow().is_empty());
    }
}
