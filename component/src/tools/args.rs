//! Argument parsing and validation shared by every tool.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ErrorCode, ToolError};

/// Rules the schema cannot express (or that we want to state in our own words).
pub trait Validate {
    fn validate(&self) -> Result<(), ToolError> {
        Ok(())
    }
}

/// The raw arguments: an empty string or `null` means "no arguments".
pub fn raw_json(text: &str) -> Result<Value, ToolError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Null) => Ok(Value::Object(Map::new())),
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(ToolError::new(
            ErrorCode::InvalidArgument,
            format!("arguments must be a JSON object, got {}", kind(&other)),
        )),
        Err(e) => Err(ToolError::new(
            ErrorCode::InvalidArgument,
            format!("arguments are not valid JSON: {e}"),
        )),
    }
}

/// Deserialize into the tool's argument type; serde's message names the field at fault.
pub fn parse<A: DeserializeOwned>(raw: Value) -> Result<A, ToolError> {
    serde_json::from_value(raw).map_err(|e| {
        ToolError::new(
            ErrorCode::InvalidArgument,
            format!("invalid arguments: {e}"),
        )
        .with_details(serde_json::json!({ "reason": e.to_string() }))
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// OrderDesk record ids travel in URL paths: allow only what ids look like.
pub fn check_id(field: &str, id: &str) -> Result<(), ToolError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid_argument(
            field,
            "must be 1-64 letters, digits, '-' or '_'",
        ))
    }
}

/// OrderDesk date filters: `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn check_date(field: &str, value: &str) -> Result<(), ToolError> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let (date, time) = match value.split_once(' ') {
        Some((d, t)) => (d, Some(t)),
        None => (value, None),
    };
    let date_ok = {
        let p: Vec<&str> = date.split('-').collect();
        p.len() == 3
            && digits(p[0], 4)
            && digits(p[1], 2)
            && digits(p[2], 2)
            && (1..=12).contains(&p[1].parse::<u32>().unwrap_or(0))
            && (1..=31).contains(&p[2].parse::<u32>().unwrap_or(0))
    };
    let time_ok = time.is_none_or(|t| {
        let p: Vec<&str> = t.split(':').collect();
        p.len() == 3
            && p.iter().all(|x| digits(x, 2))
            && p[0].parse::<u32>().unwrap_or(99) < 24
            && p[1].parse::<u32>().unwrap_or(99) < 60
            && p[2].parse::<u32>().unwrap_or(99) < 60
    });
    if date_ok && time_ok {
        Ok(())
    } else {
        Err(ToolError::invalid_argument(
            field,
            format!("{value:?} is not YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"),
        ))
    }
}

/// Page size for list tools.
pub fn check_limit(limit: u32) -> Result<(), ToolError> {
    if (1..=100).contains(&limit) {
        Ok(())
    } else {
        Err(ToolError::invalid_argument(
            "limit",
            format!("must be 1-100, got {limit}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_null_arguments_mean_none() {
        assert_eq!(raw_json("").unwrap(), serde_json::json!({}));
        assert_eq!(raw_json("null").unwrap(), serde_json::json!({}));
    }

    #[test]
    fn non_objects_are_refused() {
        assert_eq!(
            raw_json("[1]").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            raw_json("{oops").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn ids_cannot_escape_the_path() {
        assert!(check_id("order_id", "12345").is_ok());
        assert!(check_id("order_id", "../store").is_err());
        assert!(check_id("order_id", "1?x=2").is_err());
        assert!(check_id("order_id", "").is_err());
    }

    #[test]
    fn dates() {
        assert!(check_date("d", "2026-01-31").is_ok());
        assert!(check_date("d", "2026-01-31 23:59:59").is_ok());
        assert!(check_date("d", "2026-13-01").is_err());
        assert!(check_date("d", "2026-01-31T10:00:00").is_err());
        assert!(check_date("d", "yesterday").is_err());
    }
}
