//! The try-a-tool form, generated from a tool's input schema: required fields first, enums
//! as selects, numbers as numbers, booleans as a yes/no choice, free JSON where the schema
//! says object or array (or anything this does not know); and the way back, from the posted
//! form to the JSON arguments the tool gets.

use serde_json::{Map, Value};

/// How a field is entered.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Text,
    Integer,
    Number,
    Bool,
    Choice(Vec<String>),
    /// A JSON value typed by hand.
    Json,
    /// The store to act on: a select of the tenant's stores.
    Store,
}

/// One field of the form.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub input: Input,
    pub required: bool,
    pub description: Option<String>,
}

/// The form field's HTML name for an argument (so it never clashes with `csrf`).
pub fn field_name(arg: &str) -> String {
    format!("arg.{arg}")
}

/// The fields of `schema` (a JSON Schema object), required ones first, each group in the
/// schema's order.
pub fn fields(schema: &Map<String, Value>) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(Value::Object(props)) = schema.get("properties") else {
        return Vec::new();
    };
    let mut out: Vec<Field> = props
        .iter()
        .map(|(name, prop)| {
            let prop = resolve(schema, prop);
            Field {
                name: name.clone(),
                input: if name == "store" {
                    Input::Store
                } else {
                    input_of(schema, prop)
                },
                required: required.contains(&name.as_str()),
                description: prop
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }
        })
        .collect();
    out.sort_by_key(|f| !f.required);
    out
}

/// A `$ref` into the schema's own `$defs` / `definitions`, followed once.
fn resolve<'a>(root: &'a Map<String, Value>, prop: &'a Value) -> &'a Value {
    let Some(r) = prop.get("$ref").and_then(Value::as_str) else {
        return prop;
    };
    let name = r.rsplit('/').next().unwrap_or_default();
    ["$defs", "definitions"]
        .iter()
        .find_map(|k| root.get(*k).and_then(|d| d.get(name)))
        .unwrap_or(prop)
}

fn input_of(root: &Map<String, Value>, prop: &Value) -> Input {
    if let Some(Value::Array(choices)) = prop.get("enum") {
        let words: Vec<String> = choices
            .iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        if words.len() == choices.len() {
            return Input::Choice(words);
        }
    }
    // `anyOf: [X, null]` (an optional field) is X.
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = prop.get(key) {
            let real: Vec<&Value> = options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [one] = real.as_slice() {
                return input_of(root, resolve(root, one));
            }
            // An id taken as a string or a number (`anyOf: [string, integer]`): typed as
            // text, sent as a string (the tools take both).
            let kinds: Vec<Input> = real
                .iter()
                .map(|o| input_of(root, resolve(root, o)))
                .collect();
            if kinds.contains(&Input::Text)
                && kinds
                    .iter()
                    .all(|k| matches!(k, Input::Text | Input::Integer | Input::Number))
            {
                return Input::Text;
            }
            return Input::Json;
        }
    }
    let types: Vec<&str> = match prop.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        ["string"] => Input::Text,
        ["integer"] => Input::Integer,
        ["number"] => Input::Number,
        ["boolean"] => Input::Bool,
        // An id taken as a string or a number: typed as text, sent as a string.
        [a, b]
            if [*a, *b].contains(&"string")
                && [*a, *b]
                    .iter()
                    .all(|t| matches!(*t, "string" | "integer" | "number")) =>
        {
            Input::Text
        }
        _ => Input::Json,
    }
}

/// The arguments a posted form stands for: empty fields are left out; a field that does
/// not parse as its kind is an error naming it.
pub fn arguments(
    fields: &[Field],
    posted: &[(String, String)],
) -> Result<Map<String, Value>, String> {
    let mut args = Map::new();
    for field in fields {
        let Some((_, raw)) = posted.iter().find(|(k, _)| *k == field_name(&field.name)) else {
            continue;
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let value = match &field.input {
            Input::Text | Input::Store => Value::String(raw.to_string()),
            Input::Choice(words) => {
                if !words.iter().any(|w| w == raw) {
                    return Err(format!("{}: choose one of the listed values", field.name));
                }
                Value::String(raw.to_string())
            }
            Input::Integer => raw
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("{}: a whole number is needed", field.name))?,
            Input::Number => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{}: a number is needed", field.name))?,
            Input::Bool => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(format!("{}: choose yes or no", field.name)),
            },
            Input::Json => serde_json::from_str(raw)
                .map_err(|e| format!("{}: not valid JSON ({e})", field.name))?,
        };
        args.insert(field.name.clone(), value);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "description": "How many"},
                "order_id": {"type": ["string", "integer"]},
                "folder": {"type": "string", "enum": ["open", "closed"]},
                "dry_run": {"type": "boolean"},
                "price": {"type": "number"},
                "patch": {"type": "array"},
                "address": {"$ref": "#/$defs/Address"},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "store": {"type": ["string", "integer"]},
                "item_id": {"anyOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"type": "integer"}]},
                "either": {"anyOf": [{"type": "object"}, {"type": "string"}]}
            },
            "required": ["order_id", "patch"],
            "$defs": {"Address": {"type": "object"}}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn fields_follow_the_schema_required_first() {
        let f = fields(&schema());
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(&names[..2], ["order_id", "patch"], "{names:?}");
        let kind = |n: &str| f.iter().find(|f| f.name == n).unwrap().input.clone();
        assert_eq!(kind("limit"), Input::Integer);
        assert_eq!(kind("order_id"), Input::Text);
        assert_eq!(
            kind("folder"),
            Input::Choice(vec!["open".into(), "closed".into()])
        );
        assert_eq!(kind("dry_run"), Input::Bool);
        assert_eq!(kind("price"), Input::Number);
        assert_eq!(kind("patch"), Input::Json);
        assert_eq!(kind("address"), Input::Json);
        assert_eq!(kind("note"), Input::Text);
        assert_eq!(kind("store"), Input::Store);
        assert_eq!(kind("item_id"), Input::Text);
        assert_eq!(kind("either"), Input::Json);
    }

    #[test]
    fn a_posted_form_becomes_typed_arguments() {
        let f = fields(&schema());
        let post = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (field_name(k), v.to_string()))
                .collect();
            arguments(&f, &pairs)
        };
        let args = post(&[
            ("order_id", "1001"),
            ("limit", "5"),
            ("price", "2.5"),
            ("dry_run", "true"),
            ("patch", r#"[{"op":"add","path":"/a","value":1}]"#),
            ("folder", "open"),
            ("note", ""),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(args),
            json!({"order_id": "1001", "limit": 5, "price": 2.5, "dry_run": true,
                   "patch": [{"op":"add","path":"/a","value":1}], "folder": "open"})
        );
        assert!(post(&[("limit", "five")]).unwrap_err().starts_with("limit"));
        assert!(
            post(&[("patch", "[oops")])
                .unwrap_err()
                .starts_with("patch")
        );
        assert!(
            post(&[("folder", "<script>")])
                .unwrap_err()
                .starts_with("folder")
        );
        // Fields the schema does not name are ignored.
        let args = arguments(
            &f,
            &[("arg.evil".into(), "1".into()), ("csrf".into(), "x".into())],
        )
        .unwrap();
        assert!(args.is_empty());
    }
}
