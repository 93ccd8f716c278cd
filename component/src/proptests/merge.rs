//! `merge::merge` is JSON Merge Patch (RFC 7386), as `merge.rs` documents it.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{config, object};
use crate::merge::merge;

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn merging_an_empty_patch_changes_nothing(base in object(3)) {
        prop_assert_eq!(merge(&base, &Map::new()), base);
    }

    #[test]
    fn applying_a_patch_twice_equals_applying_it_once(base in object(3), patch in object(3)) {
        let once = merge(&base, &patch);
        prop_assert_eq!(merge(&once, &patch), once);
    }

    #[test]
    fn every_field_follows_the_merge_rules(base in object(3), patch in object(3)) {
        let merged = merge(&base, &patch);
        for (key, value) in &base {
            if !patch.contains_key(key) {
                prop_assert_eq!(merged.get(key), Some(value), "omitted fields are kept");
            }
        }
        for (key, change) in &patch {
            match change {
                Value::Null => prop_assert!(!merged.contains_key(key), "null removes {key}"),
                Value::Object(nested) => {
                    // Objects merge field by field (into nothing if the field was no object).
                    let inner = base.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
                    prop_assert_eq!(&merged[key], &Value::Object(merge(&inner, nested)));
                }
                // Arrays replace whole; so do scalars.
                other => prop_assert_eq!(&merged[key], other),
            }
        }
        for key in merged.keys() {
            prop_assert!(base.contains_key(key) || patch.contains_key(key), "no invented {key}");
        }
    }
}
