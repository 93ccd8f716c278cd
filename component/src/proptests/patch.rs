//! `merge::apply_patch` (what `orders_mutate` applies): any operation list either applies
//! or fails as `INVALID_MUTATION` naming the operation at fault, and never panics.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use super::{config, json, object};
use crate::error::ErrorCode;
use crate::merge::apply_patch;

fn op_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test"])
            .prop_map(str::to_string),
        1 => ".{0,6}",
    ]
}

/// JSON Pointers into the small key space records use, odd ones included.
fn pointer() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        6 => prop::collection::vec(prop_oneof!["[a-d]", "[0-3]", Just("-".to_string()), "~[0-2]", ".{0,3}"], 1..4)
            .prop_map(|parts| parts.iter().map(|p| format!("/{p}")).collect()),
        1 => ".{0,6}",
    ]
}

/// Well-formed operations, operations with missing or odd members, and plain junk.
fn operation() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (op_name(), pointer(), json(2))
            .prop_map(|(op, path, value)| json!({"op": op, "path": path, "value": value})),
        2 => (op_name(), pointer(), pointer())
            .prop_map(|(op, path, from)| json!({"op": op, "path": path, "from": from})),
        1 => (op_name(), pointer()).prop_map(|(op, path)| json!({"op": op, "path": path})),
        1 => json(2),
    ]
}

/// Every object and array in `doc` with its JSON Pointer.
fn containers(doc: &Value, at: String, out: &mut Vec<(String, Value)>) {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match doc {
        Value::Object(map) => {
            out.push((at.clone(), doc.clone()));
            for (k, v) in map {
                containers(v, format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(items) => {
            out.push((at.clone(), doc.clone()));
            for (i, v) in items.iter().enumerate() {
                containers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_operation_list_applies_or_names_the_failing_operation(
        base in object(3),
        operations in prop::collection::vec(operation(), 0..6),
    ) {
        match apply_patch(&base, &operations) {
            Ok(_) => {}
            Err(e) => {
                prop_assert_eq!(e.code, ErrorCode::InvalidMutation, "{}", e);
                let index = e.details["operation"].as_u64();
                prop_assert!(
                    index.is_some_and(|i| (i as usize) < operations.len()),
                    "no operation index in {}", e.details
                );
            }
        }
    }

    #[test]
    fn add_then_remove_at_the_same_path_restores_the_record(
        base in object(3),
        pick in any::<Index>(),
        slot in any::<Index>(),
        value in json(2),
    ) {
        let mut spots = Vec::new();
        containers(&Value::Object(base.clone()), String::new(), &mut spots);
        let (at, container) = &spots[pick.index(spots.len())];
        let path = match container {
            // A key the object does not have yet.
            Value::Object(map) => {
                let fresh = (0..).map(|n| format!("new{n}")).find(|k| !map.contains_key(k));
                format!("{at}/{}", fresh.expect("some key is free"))
            }
            Value::Array(items) => format!("{at}/{}", slot.index(items.len() + 1)),
            _ => unreachable!("only containers are collected"),
        };
        let ops = [
            json!({"op": "add", "path": path, "value": value}),
            json!({"op": "remove", "path": path}),
        ];
        let restored: Map<String, Value> = apply_patch(&base, &ops).unwrap();
        prop_assert_eq!(restored, base);
    }
}
