//! Full-record update rules. OrderDesk's PUT replaces the whole record, so an update is
//! fetch → merge → PUT. `changes` merge per RFC 7386 (JSON Merge Patch): fields in
//! `changes` override, arrays replace whole, `null` removes, omitted fields are kept, and
//! nested objects (e.g. `shipping`) merge field by field. `operations` apply per RFC 6902.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, ToolError};

/// Apply merge rules to a copy of `base`.
pub fn merge(base: &Map<String, Value>, changes: &Map<String, Value>) -> Map<String, Value> {
    let mut doc = Value::Object(base.clone());
    json_patch::merge(&mut doc, &Value::Object(changes.clone()));
    match doc {
        Value::Object(map) => map,
        _ => unreachable!("merging an object into an object yields an object"),
    }
}

/// Apply RFC 6902 operations to a copy of `base`, all or none. Every failure is
/// `INVALID_MUTATION` whose details name the operation at fault (`operation`, its index).
pub fn apply_patch(
    base: &Map<String, Value>,
    operations: &[Value],
) -> Result<Map<String, Value>, ToolError> {
    // One by one, so a malformed operation is named by its index.
    let patch = operations
        .iter()
        .enumerate()
        .map(|(i, op)| {
            serde_json::from_value::<json_patch::PatchOperation>(op.clone())
                .map_err(|e| invalid_operation(i, "", &format!("not a JSON Patch operation: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut doc = Value::Object(base.clone());
    // A copy, dropped on failure: the crate's undo pass (`patch`) is not needed.
    json_patch::patch_unsafe(&mut doc, &patch)
        .map_err(|e| invalid_operation(e.operation, e.path.as_str(), &e.kind.to_string()))?;
    match doc {
        Value::Object(map) => Ok(map),
        _ => {
            // Only an operation on the root ("") can replace the record; the last one did.
            let last = patch.iter().rposition(|op| op.path().as_str().is_empty());
            Err(invalid_operation(
                last.unwrap_or(0),
                "",
                "the patch replaced the record with a non-object",
            ))
        }
    }
}

fn invalid_operation(index: usize, path: &str, reason: &str) -> ToolError {
    ToolError::new(
        ErrorCode::InvalidMutation,
        format!("operation {index} failed: {reason}"),
    )
    .with_details(json!({ "operation": index, "path": path, "reason": reason }))
}

/// The JSON Pointer paths a patch writes to (`path`, and `from` for move).
pub fn patch_targets(operations: &[Value]) -> Vec<String> {
    operations
        .iter()
        .flat_map(|op| {
            let writes_from = op.get("op").and_then(Value::as_str) == Some("move");
            let from = writes_from
                .then(|| op.get("from").and_then(Value::as_str))
                .flatten();
            op.get("path")
                .and_then(Value::as_str)
                .into_iter()
                .chain(from)
        })
        .map(str::to_string)
        .collect()
}

/// A fingerprint of a whole record, to notice any change between two reads (OrderDesk's
/// `date_updated` has one-second resolution, so it alone can miss a fast edit).
pub fn fingerprint(record: &Map<String, Value>) -> String {
    // serde_json maps are sorted (no preserve_order), so equal records hash equally.
    hex::encode(Sha256::digest(
        Value::Object(record.clone()).to_string().as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn merge_rules_table() {
        let base = obj(json!({
            "email": "old@x.com",
            "order_items": [{"id": "1"}, {"id": "2"}],
            "shipping": {"first_name": "Ann", "city": "Oslo"},
            "order_notes": "keep me",
            "tag": "remove me"
        }));
        let cases = [
            // top-level field overrides
            (json!({"email": "new@x.com"}), "/email", json!("new@x.com")),
            // arrays replace whole
            (
                json!({"order_items": [{"id": "3"}]}),
                "/order_items",
                json!([{"id": "3"}]),
            ),
            // nested objects merge by field
            (
                json!({"shipping": {"city": "Bergen"}}),
                "/shipping",
                json!({"first_name": "Ann", "city": "Bergen"}),
            ),
            // null inside a nested object removes that field only
            (
                json!({"shipping": {"city": null}}),
                "/shipping",
                json!({"first_name": "Ann"}),
            ),
            // omitted fields are preserved
            (
                json!({"email": "z@x.com"}),
                "/order_notes",
                json!("keep me"),
            ),
            // new fields are added
            (
                json!({"order_metadata": {"a": 1}}),
                "/order_metadata",
                json!({"a": 1}),
            ),
        ];
        for (changes, pointer, expected) in cases {
            let merged = Value::Object(merge(&base, &obj(changes.clone())));
            assert_eq!(merged.pointer(pointer), Some(&expected), "{changes}");
        }
        // null at the top level removes the field
        let merged = merge(&base, &obj(json!({"tag": null})));
        assert!(!merged.contains_key("tag"));
        // and nothing else changed
        assert_eq!(merged.len(), base.len() - 1);
    }

    #[test]
    fn patch_operations() {
        let base = obj(
            json!({"email": "a@x", "order_items": [{"id": "1", "quantity": 1}], "meta": {"n": 1}}),
        );
        let ops = [
            json!({"op": "replace", "path": "/email", "value": "b@x"}),
            json!({"op": "add", "path": "/order_items/-", "value": {"id": "2"}}),
            json!({"op": "remove", "path": "/meta/n"}),
            json!({"op": "test", "path": "/order_items/0/quantity", "value": 1}),
            json!({"op": "copy", "from": "/email", "path": "/backup_email"}),
            json!({"op": "move", "from": "/backup_email", "path": "/alt_email"}),
        ];
        let out = Value::Object(apply_patch(&base, &ops).unwrap());
        assert_eq!(out["email"], "b@x");
        assert_eq!(out["order_items"][1]["id"], "2");
        assert_eq!(out["meta"], json!({}));
        assert_eq!(out["alt_email"], "b@x");
        assert!(out.get("backup_email").is_none());
    }

    #[test]
    fn failing_patch_names_the_operation() {
        let base = obj(json!({"email": "a@x"}));
        let ops = [
            json!({"op": "replace", "path": "/email", "value": "b@x"}),
            json!({"op": "test", "path": "/email", "value": "nope"}),
        ];
        let err = apply_patch(&base, &ops).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidMutation);
        assert_eq!(err.details["operation"], 1);
        let err = apply_patch(&base, &[json!({"op": "remove", "path": "/missing"})]).unwrap_err();
        assert_eq!(err.details["operation"], 0);
        let err = apply_patch(&base, &[json!({"op": "frobnicate", "path": "/email"})]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidMutation);
        let err =
            apply_patch(&base, &[json!({"op": "replace", "path": "", "value": 1})]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidMutation);
    }

    #[test]
    fn a_malformed_or_record_replacing_operation_is_named_by_its_index() {
        let base = obj(json!({"email": "a@x"}));
        let ok = json!({"op": "add", "path": "/n", "value": 1});
        for bad in [
            json!({"op": "frobnicate", "path": "/email"}),
            json!({"op": "add", "path": "/x"}),
            json!("not an object"),
        ] {
            let err = apply_patch(&base, &[ok.clone(), ok.clone(), bad.clone()]).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidMutation, "{bad}");
            assert_eq!(err.details["operation"], 2, "{bad}");
        }
        let ops = [ok, json!({"op": "replace", "path": "", "value": [1]})];
        assert_eq!(
            apply_patch(&base, &ops).unwrap_err().details["operation"],
            1
        );
    }

    #[test]
    fn targets_and_fingerprints() {
        let ops = [
            json!({"op": "move", "from": "/folder_id", "path": "/x"}),
            json!({"op": "add", "path": "/y", "value": 1}),
        ];
        assert_eq!(patch_targets(&ops), vec!["/x", "/folder_id", "/y"]);
        let a = obj(json!({"a": 1, "b": 2}));
        let b = obj(json!({"b": 2, "a": 1}));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&obj(json!({"a": 1, "b": 3}))));
    }
}
