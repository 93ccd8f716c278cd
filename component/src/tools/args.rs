//! Argument parsing and validation shared by every tool, the id types that accept ids
//! as agents send them (a string or an integer), and [`Text`], free text with a length
//! limit its schema states.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorCode, ToolError};

/// A record id as agents send it: a string (`"100123"`) or a non-negative integer
/// (`100123`). OrderDesk ids are digits, but they travel as text in paths, so both forms
/// mean the same id; [`Validate`] implementations check it with [`check_id`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Id(pub String);

impl Id {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an id as a string or a non-negative integer")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
        Ok(Id(v.trim().to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
        Ok(Id(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
        u64::try_from(v)
            .map(|v| Id(v.to_string()))
            .map_err(|_| E::custom(format!("an id cannot be negative, got {v}")))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

impl JsonSchema for Id {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$" },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}

/// A store as tools name it: its OrderDesk id (a string or an integer) or its registered
/// name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StoreRef(pub String);

impl StoreRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for StoreRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Id(text) = Id::deserialize(d)?;
        if text.is_empty() || text.chars().count() > NAME_MAX || text.chars().any(char::is_control)
        {
            return Err(de::Error::custom(
                "a store is named by 1-100 characters, none of them control characters",
            ));
        }
        Ok(StoreRef(text))
    }
}

impl JsonSchema for StoreRef {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "StoreRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Store id or registered name (after tenant_use_master_key); \
                default: this connection's default store.",
            "anyOf": [
                { "type": "string", "minLength": 1, "maxLength": 100 },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}

/// A numeric id (e.g. a folder id) as a number or a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NumericId(pub u64);

impl<'de> Deserialize<'de> for NumericId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = Id::deserialize(d)?;
        id.0.parse()
            .map(NumericId)
            .map_err(|_| de::Error::custom(format!("expected a whole number, got {:?}", id.0)))
    }
}

impl JsonSchema for NumericId {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "NumericId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^[0-9]{1,19}$" }
            ]
        })
    }
}

/// The longest e-mail address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// The longest name: stores, labels, folders, sources, customers.
pub const NAME_MAX: usize = 100;
/// The longest product code (SKU) or product name, and the mirror's search text.
pub const CODE_MAX: usize = 200;
/// The longest note.
pub const NOTE_MAX: usize = 1800;

/// Why `value` is not acceptable text of at most `max` characters, if it is not. Prose
/// may break lines and hold tabs; other text (bound for URLs, headers and keys) may hold
/// no control character at all.
fn text_problem(value: &str, max: usize, prose: bool) -> Option<String> {
    let n = value.chars().count();
    if n > max {
        return Some(format!("must be at most {max} characters, got {n}"));
    }
    let allowed = |c: char| prose && matches!(c, '\n' | '\r' | '\t');
    value
        .chars()
        .any(|c| c.is_control() && !allowed(c))
        .then(|| {
            if prose {
                "must not contain control characters other than line breaks and tabs".into()
            } else {
                "must not contain control characters (CR, LF, NUL, TAB, DEL, …)".into()
            }
        })
}

/// Single-line text bound for a URL, a header or a key: at most `max` characters, no
/// control characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), ToolError> {
    match text_problem(value, max, false) {
        Some(reason) => Err(ToolError::invalid_argument(field, reason)),
        None => Ok(()),
    }
}

/// Prose (a note): at most `max` characters; line breaks and tabs are fine, other
/// control characters are not.
pub fn check_prose(field: &str, value: &str, max: usize) -> Result<(), ToolError> {
    match text_problem(value, max, true) {
        Some(reason) => Err(ToolError::invalid_argument(field, reason)),
        None => Ok(()),
    }
}

/// Single-line free text of at most `MAX` characters with no control characters (see
/// [`check_text`]); surrounding whitespace is dropped. The schema states the same limit,
/// so schema and code cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize>(pub String);

impl<const MAX: usize> Text<MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let text = raw.trim();
        match text_problem(text, MAX, false) {
            Some(reason) => Err(de::Error::custom(reason)),
            None => Ok(Text(text.to_string())),
        }
    }
}

impl<const MAX: usize> JsonSchema for Text<MAX> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Text{MAX}").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "maxLength": MAX })
    }
}

/// A folder by id (a number, or a string of digits) or by exact name (any case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderRef {
    Id(NumericId),
    Name(String),
}

impl<'de> Deserialize<'de> for FolderRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Id(text) = Id::deserialize(d)?;
        if let Ok(id) = text.parse() {
            return Ok(FolderRef::Id(NumericId(id)));
        }
        if text.is_empty() {
            return Err(de::Error::custom("a folder name cannot be empty"));
        }
        match text_problem(&text, NAME_MAX, false) {
            Some(reason) => Err(de::Error::custom(format!("a folder name {reason}"))),
            None => Ok(FolderRef::Name(text)),
        }
    }
}

impl JsonSchema for FolderRef {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "FolderRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "minLength": 1, "maxLength": NAME_MAX }
            ]
        })
    }
}

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

/// Deserialize into the tool's argument type; the message names the field at fault
/// (`order_id: invalid type …`, `changes.shipping: …`).
pub fn parse<A: DeserializeOwned>(raw: Value) -> Result<A, ToolError> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let reason = e.into_inner().to_string();
        let message = if path == "." {
            format!("invalid arguments: {reason}")
        } else {
            format!("invalid arguments: {path}: {reason}")
        };
        ToolError::new(ErrorCode::InvalidArgument, message)
            .with_details(serde_json::json!({ "field": path, "reason": reason }))
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
    fn ids_come_as_strings_or_integers() {
        let id: Id = serde_json::from_value(serde_json::json!(100100005)).unwrap();
        assert_eq!(id.as_str(), "100100005");
        let id: Id = serde_json::from_value(serde_json::json!(" 42 ")).unwrap();
        assert_eq!(id.as_str(), "42");
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(true),
        ] {
            assert!(serde_json::from_value::<Id>(bad.clone()).is_err(), "{bad}");
        }
        let folder: NumericId = serde_json::from_value(serde_json::json!("3")).unwrap();
        assert_eq!(folder.0, 3);
        assert!(serde_json::from_value::<NumericId>(serde_json::json!("three")).is_err());
    }

    #[test]
    fn text_is_bounded_and_single_line() {
        let text: Text<5> = serde_json::from_value(serde_json::json!("  abcde \n")).unwrap();
        assert_eq!(text.as_str(), "abcde", "surrounding whitespace dropped");
        for bad in ["abcdef", "a\r\nb", "a\0", "a\tb", "a\u{7f}", "a\u{85}b"] {
            assert!(
                serde_json::from_value::<Text<5>>(serde_json::json!(bad)).is_err(),
                "{bad:?}"
            );
        }
        // Limits count characters, not bytes.
        assert!(serde_json::from_value::<Text<5>>(serde_json::json!("ééééé")).is_ok());
        assert!(check_text("f", "a\nb", 10).is_err());
        assert!(check_prose("f", "a\r\nb\tc", 10).is_ok());
        let e = check_prose("f", "a\0b", 10).unwrap_err();
        assert_eq!(e.details["field"], "f");
        assert!(!e.retryable);
    }

    #[test]
    fn folders_are_ids_or_names() {
        let folder = |v: serde_json::Value| serde_json::from_value::<FolderRef>(v);
        assert_eq!(
            folder(serde_json::json!(4)).unwrap(),
            FolderRef::Id(NumericId(4))
        );
        assert_eq!(
            folder(serde_json::json!(" 4 ")).unwrap(),
            FolderRef::Id(NumericId(4))
        );
        assert_eq!(
            folder(serde_json::json!(" New ")).unwrap(),
            FolderRef::Name("New".into())
        );
        for bad in [
            serde_json::json!(""),
            serde_json::json!("Ne\nw"),
            serde_json::json!("x".repeat(101)),
            serde_json::json!(-1),
            serde_json::json!(true),
        ] {
            assert!(folder(bad.clone()).is_err(), "{bad}");
        }
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
