//! OrderDesk's success envelopes: records sit under a key (`order`, `orders`,
//! `inventory_item`, …) beside `status` and paging counts.

use serde_json::{Map, Value};

use crate::error::{ErrorCode, ToolError};

/// `body[key]` as an object, or a bad-response error.
pub fn object(body: &Value, key: &str) -> Result<Map<String, Value>, ToolError> {
    match body.get(key) {
        Some(Value::Object(map)) => Ok(map.clone()),
        _ => Err(ToolError::new(
            ErrorCode::OdApiBadResponse,
            format!("OrderDesk's answer has no {key} object"),
        )),
    }
}

/// `body[key]` as a list of objects (a missing key is an empty list).
pub fn objects(body: &Value, key: &str) -> Result<Vec<Map<String, Value>>, ToolError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|v| v.as_object().cloned())
            .collect()),
        // PHP serializes an empty list as an object sometimes; take its values.
        Some(Value::Object(map)) => Ok(map
            .values()
            .filter_map(|v| v.as_object().cloned())
            .collect()),
        Some(_) => Err(ToolError::new(
            ErrorCode::OdApiBadResponse,
            format!("OrderDesk's {key} is not a list"),
        )),
    }
}

/// `total_records`, which OrderDesk sends as a number or a numeric string.
pub fn total_records(body: &Value) -> Option<u64> {
    let v = body.get("total_records")?;
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}
