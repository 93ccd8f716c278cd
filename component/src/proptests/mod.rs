//! Property tests (proptest, stable toolchain) of the rules the component promises: merge
//! and JSON Patch semantics, and webhook signatures. The tools' argument handling has its
//! own in `tools::prop_tests`. Case counts stay modest so `cargo test` stays fast.

mod merge;
mod patch;
mod webhooks;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};

/// `cases` cases, and no regression files written into the source tree.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Object keys from a small alphabet (so a patch and a record often share keys), plus
/// some arbitrary ones (including `/` and `~`, which JSON Pointers must escape).
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-d]", 1 => ".{0,6}"]
}

/// Any JSON value, nested up to `depth` levels.
pub fn json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Any JSON object, nested up to `depth` levels.
pub fn object(depth: u32) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), json(depth), 0..6).prop_map(|m| m.into_iter().collect())
}
