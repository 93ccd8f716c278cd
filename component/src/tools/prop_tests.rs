//! Property tests of every tool's argument handling: whatever arrives (any JSON, huge
//! strings, deep nesting, numbers for strings, extra fields), a call answers with a result
//! or a tool error from a small set, and never panics; ids shaped as the schema says are
//! never refused for their form.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use super::input_tests::required_value;
use super::{CallError, Caller, Output, call, catalog};
use crate::client::MAX_URL_BYTES;
use crate::error::{ErrorCode, ToolError};
use crate::proptests::{config, json};
use crate::testing::{ScriptedHost, response};

/// Single-store mode (store 7) against an OrderDesk that knows no record: every request
/// nobody scripted gets a 404.
fn host() -> ScriptedHost {
    let mut host = ScriptedHost::configured();
    host.fallback = Some(response(
        404,
        &[],
        r#"{"status":"error","message":"Not found"}"#,
    ));
    host
}

fn caller() -> Caller {
    Caller {
        request_id: "r".into(),
        ..Caller::default()
    }
}

/// Every argument name some tool takes.
fn known_fields() -> Vec<String> {
    let names: BTreeSet<String> = catalog()
        .iter()
        .flat_map(|t| {
            t.input_schema()["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    names.into_iter().collect()
}

/// What a call may fail with whatever its arguments: the caller's input, what the input
/// names that does not exist (a store, a record OrderDesk answers 404 for, OrderDesk's
/// own refusal of a request it did not like), or a tool that needs a tenant.
const EXPECTED: &[ErrorCode] = &[
    ErrorCode::InvalidArgument,
    ErrorCode::InvalidMutation,
    ErrorCode::StoreNotFound,
    ErrorCode::OrderNotFound,
    ErrorCode::ProductNotFound,
    ErrorCode::OdApiError,
    ErrorCode::AuthRequired,
];

/// Call `tool` on a fresh host: it answers a result or an expected error (returned), and
/// nothing it sent carried a header value that splits headers or an over-long URL.
fn checked_call(tool: &str, args: &str) -> Result<Option<ToolError>, TestCaseError> {
    let host = host();
    let result = call(&host, &caller(), tool, args);
    answer_ok(tool, &result)?;
    for request in host.requests.borrow().iter() {
        prop_assert!(
            request.url.len() <= MAX_URL_BYTES,
            "{tool}: a {}-byte URL went out",
            request.url.len()
        );
        for (name, value) in &request.headers {
            prop_assert!(
                !value.contains(['\r', '\n', '\0']),
                "{tool}: header {name} went out broken"
            );
        }
    }
    Ok(result.err().map(|e| match e {
        CallError::Failed(e) => e,
        CallError::UnknownTool(_) => unreachable!("answer_ok refuses it"),
    }))
}

fn answer_ok(tool: &str, result: &Result<Output, CallError>) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => Ok(()),
        Err(CallError::Failed(e)) => {
            prop_assert!(EXPECTED.contains(&e.code), "{tool}: {e}");
            prop_assert!(!e.retryable, "{tool}: {e}");
            Ok(())
        }
        Err(CallError::UnknownTool(name)) => {
            Err(TestCaseError::fail(format!("{tool}: unknown {name}")))
        }
    }
}

fn huge_string() -> impl Strategy<Value = Value> {
    (0usize..300_000, ".{0,2}")
        .prop_map(|(n, c)| Value::String(c.repeat(n.min(100_000)) + &"x".repeat(n)))
}

/// Arrays nested past serde_json's recursion limit.
fn deep() -> impl Strategy<Value = Value> {
    (100usize..300).prop_map(|n| (0..n).fold(Value::Null, |v, _| Value::Array(vec![v])))
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => json(3),
        1 => huge_string(),
        1 => deep(),
        1 => prop_oneof![Just(json!(-1)), Just(json!(u64::MAX)), Just(json!(1.5e300)), Just(json!(i64::MIN))],
    ]
}

fn arguments() -> impl Strategy<Value = Map<String, Value>> {
    let field = prop_oneof![4 => prop::sample::select(known_fields()), 1 => ".{0,10}"];
    prop::collection::btree_map(field, value(), 0..6).prop_map(|m| m.into_iter().collect())
}

/// The id forms a schema allows, by the string pattern it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdForm {
    /// `Id`: letters, digits, `-`, `_`, or a non-negative integer.
    Text,
    /// `NumericId`: digits, or a non-negative integer.
    Digits,
}

/// The id form of a property schema (following `anyOf`, `$ref` and array `items`).
fn id_form(schema: &Value, defs: &Value) -> Option<(IdForm, bool)> {
    if let Some(name) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        return id_form(&defs[name], defs);
    }
    match schema["pattern"].as_str() {
        Some("^[A-Za-z0-9_-]+$") => return Some((IdForm::Text, false)),
        Some("^[0-9]{1,19}$") => return Some((IdForm::Digits, false)),
        _ => {}
    }
    if schema["type"] == "array" {
        return id_form(&schema["items"], defs).map(|(form, _)| (form, true));
    }
    schema["anyOf"]
        .as_array()?
        .iter()
        .find_map(|s| id_form(s, defs))
}

/// An id as the schema allows it: a string of its form, or an integer.
fn id_value(form: IdForm) -> impl Strategy<Value = Value> {
    let text = match form {
        IdForm::Text => "[A-Za-z0-9_-]{1,64}",
        IdForm::Digits => "[0-9]{1,19}",
    };
    prop_oneof![
        text.prop_map(Value::String),
        any::<u64>().prop_map(Value::from)
    ]
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn ids_in_either_form_the_schema_allows_are_never_refused_for_their_form(
        texts in prop::collection::vec(id_value(IdForm::Text), 4),
        digits in prop::collection::vec(id_value(IdForm::Digits), 4),
    ) {
        for tool in catalog() {
            let schema = tool.input_schema();
            let mut args = json!({});
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                args[name] = required_value(name);
            }
            // Every id the tool takes, required or not, in the forms generated.
            let mut id_fields = Vec::new();
            let properties = schema["properties"].as_object().cloned().unwrap_or_default();
            for (i, (name, property)) in properties.iter().enumerate() {
                let Some((form, many)) = id_form(property, &schema["$defs"]) else {
                    continue;
                };
                let pool = if form == IdForm::Text { &texts } else { &digits };
                let id = pool[i % pool.len()].clone();
                args[name] = if many { json!([id, pool[(i + 1) % pool.len()]]) } else { id };
                id_fields.push(name.clone());
            }
            if let Some(e) = checked_call(tool.name, &args.to_string())?
                && e.code == ErrorCode::InvalidArgument
            {
                let field = e.details["field"].as_str().unwrap_or("");
                prop_assert!(
                    !id_fields.iter().any(|f| field.starts_with(f.as_str())),
                    "{}: {} refused for its form: {}", tool.name, args, e
                );
            }
        }
    }

    #[test]
    fn any_arguments_to_any_tool_get_a_result_or_an_expected_error(args in arguments()) {
        let text = Value::Object(args).to_string();
        for tool in catalog() {
            checked_call(tool.name, &text)?;
        }
    }

    #[test]
    fn any_argument_text_gets_a_result_or_an_expected_error(
        text in prop_oneof![".{0,40}", json(2).prop_map(|v| v.to_string()), deep().prop_map(|v| v.to_string())],
    ) {
        for tool in catalog() {
            checked_call(tool.name, &text)?;
        }
    }

    #[test]
    fn any_text_in_any_argument_is_refused_or_sent_intact(
        text in prop_oneof![
            ".{0,20}",
            ".{0,5}[\\r\\n\\x00\\t\\x7f].{0,5}",
            (8_000usize..20_000).prop_map(|n| "é".repeat(n / 2)),
        ],
        pick in any::<Index>(),
    ) {
        for tool in catalog() {
            let schema = tool.input_schema();
            let mut args = json!({});
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                args[name] = required_value(name);
            }
            let properties: Vec<&String> = schema["properties"].as_object().map(|p| p.keys().collect()).unwrap_or_default();
            if properties.is_empty() {
                continue;
            }
            let field = properties[pick.index(properties.len())];
            args[field] = json!(text);
            checked_call(tool.name, &args.to_string())?;
        }
    }
}
