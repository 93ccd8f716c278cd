//! OrderDesk's success envelopes: records sit under a key (`order`, `orders`,
//! `inventory_item`, …) beside `status` and paging counts.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{ErrorCode, ToolError};

/// One record (a JSON object) kept as the text OrderDesk sent: a read served from the
/// cache goes out without being built into a `Value` and serialized again.
#[derive(Debug, Clone)]
pub struct RawRecord(Box<RawValue>);

impl RawRecord {
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The record parsed (for callers that look inside it).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(self.0.get()).expect("checked to be an object")
    }
}

impl Serialize for RawRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Described exactly as a parsed record (`Map<String, Value>`) is, so the output schema
/// does not change with the representation.
impl JsonSchema for RawRecord {
    fn inline_schema() -> bool {
        <Map<String, Value> as JsonSchema>::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        <Map<String, Value> as JsonSchema>::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <Map<String, Value> as JsonSchema>::json_schema(generator)
    }
}

/// The top-level members of an answer, their values left as text.
type Members<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

fn members<'a>(body: &'a RawValue, bad: impl Fn() -> ToolError) -> Result<Members<'a>, ToolError> {
    serde_json::from_str(body.get()).map_err(|_| bad())
}

fn is_object(v: &RawValue) -> bool {
    v.get().starts_with('{')
}

/// `body[key]` as an object, from the answer's text: one scan, nothing built but the
/// top-level keys.
pub fn object_raw(body: &RawValue, key: &str) -> Result<RawRecord, ToolError> {
    let bad = || {
        ToolError::new(
            ErrorCode::OdApiBadResponse,
            format!("OrderDesk's answer has no {key} object"),
        )
    };
    match members(body, bad)?.get(key) {
        Some(record) if is_object(record) => Ok(RawRecord((*record).to_owned())),
        _ => Err(bad()),
    }
}

/// A page of records from the answer's text: `body[key]` as [`objects`] reads it, and
/// `total_records` as [`total_records`] does.
pub fn page_raw(body: &RawValue, key: &str) -> Result<(Vec<RawRecord>, Option<u64>), ToolError> {
    let bad = || {
        ToolError::new(
            ErrorCode::OdApiBadResponse,
            format!("OrderDesk's {key} is not a list"),
        )
    };
    let members = members(body, bad)?;
    let records = match members.get(key) {
        None => Vec::new(),
        Some(list) => match list.get().as_bytes().first() {
            Some(b'n') => Vec::new(),
            Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(list.get()).map_err(|_| bad())?,
            // PHP serializes an empty list as an object sometimes; take its values.
            Some(b'{') => serde_json::from_str::<Members>(list.get())
                .map_err(|_| bad())?
                .into_values()
                .collect(),
            _ => return Err(bad()),
        },
    };
    let total = members.get("total_records").and_then(|v| {
        let v: Value = serde_json::from_str(v.get()).ok()?;
        v.as_u64().or_else(|| v.as_str()?.parse().ok())
    });
    let records = records
        .into_iter()
        .filter(|r| is_object(r))
        .map(|r| RawRecord(r.to_owned()))
        .collect();
    Ok((records, total))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn a_raw_record_is_the_member_verbatim() {
        let body = raw(
            r#"{"status":"success","order":{"id":"5","b":[1, 2],"a":{"x":"\u00e9"}},"execution_time":"0.1"}"#,
        );
        let record = object_raw(&body, "order").unwrap();
        assert_eq!(record.get(), r#"{"id":"5","b":[1, 2],"a":{"x":"\u00e9"}}"#);
        let parsed: Value = serde_json::from_str(body.get()).unwrap();
        assert_eq!(record.to_map(), object(&parsed, "order").unwrap());
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            record.get(),
            "serialized as it came"
        );
    }

    #[test]
    fn a_missing_or_non_object_member_is_a_bad_response() {
        for body in [
            r#"{"status":"success"}"#,
            r#"{"order":[1]}"#,
            r#"{"order":"x"}"#,
            r#"{"order":null}"#,
            r#"[{"order":{}}]"#,
        ] {
            let e = object_raw(&raw(body), "order").unwrap_err();
            assert_eq!(e.code, ErrorCode::OdApiBadResponse, "{body}");
        }
    }

    #[test]
    fn a_raw_page_reads_what_the_parsed_readers_read() {
        for body in [
            r#"{"status":"success","orders":[{"id":"1"},{"id":"2","x":[1]}],"total_records":"12"}"#,
            r#"{"orders":[{"id":"1"},7,"s",null,{"id":"3"}],"total_records":3}"#,
            r#"{"orders":{"1":{"id":"b"},"0":{"id":"a"},"10":{"id":"c"}}}"#,
            r#"{"orders":null,"total_records":"n/a"}"#,
            r#"{"status":"success"}"#,
            r#"{"orders":[]}"#,
        ] {
            let (records, total) = page_raw(&raw(body), "orders").unwrap();
            let parsed: Value = serde_json::from_str(body).unwrap();
            let maps: Vec<Map<String, Value>> = records.iter().map(RawRecord::to_map).collect();
            assert_eq!(maps, objects(&parsed, "orders").unwrap(), "{body}");
            assert_eq!(total, total_records(&parsed), "{body}");
        }
        for body in [r#"{"orders":"x"}"#, r#"{"orders":5}"#, "[]"] {
            assert!(page_raw(&raw(body), "orders").is_err(), "{body}");
        }
    }

    #[test]
    fn a_raw_record_is_described_as_a_parsed_one() {
        assert_eq!(
            schemars::schema_for!(RawRecord),
            schemars::schema_for!(Map<String, Value>)
        );
    }
}
