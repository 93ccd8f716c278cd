//! The facade's model: the tool catalog's JSON Schemas mapped onto WIT types.

use serde_json::{Map, Value};

/// A WIT type of a parameter, with how its value becomes JSON again.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Str,
    Bool,
    U32,
    U64,
    S64,
    F64,
    /// A free-form JSON value (object, array of anything), passed as JSON text.
    Json,
    /// Index into [`Facade::enums`].
    Enum(usize),
    List(Box<Ty>),
    Option(Box<Ty>),
}

/// A string enum of the schemas, shared by every function that uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumDef {
    pub wit_name: String,
    pub doc: Option<String>,
    /// The JSON strings, in schema order; WIT cases are their kebab-case forms.
    pub values: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Param {
    /// The tool's argument name (`order_id`).
    pub json_name: String,
    /// The WIT parameter name (`order-id`).
    pub wit_name: String,
    pub ty: Ty,
    pub doc: Option<String>,
    pub default: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Func {
    /// The catalog name (`orders_get`).
    pub tool: String,
    /// The WIT function name (`orders-get`).
    pub wit_name: String,
    pub title: String,
    pub description: String,
    pub params: Vec<Param>,
    /// Top-level fields of the result object, from the output schema.
    pub result_fields: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Facade {
    pub funcs: Vec<Func>,
    pub enums: Vec<EnumDef>,
}

/// Tools the facade does not offer: they need a tenant (`caller.credential`), and the
/// facade never presents one; it acts on the store configured through `wasi:config`.
pub const HIDDEN: &[&str] = &[
    "tenant_use_master_key",
    "stores_register",
    "stores_list",
    "stores_use",
    "stores_resolve",
    "stores_delete",
];

/// Arguments the facade drops: `store` picks among a tenant's stores; with the configured
/// single store it can only repeat that store's id.
pub const DROPPED_ARGS: &[&str] = &["store"];

/// One tool as the generator needs it (kept apart from the component's `Tool` so tests
/// can feed schemas of their own).
pub struct ToolSpec {
    pub name: String,
    pub title: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Value,
}

/// The facade of the component's catalog.
pub fn from_catalog() -> Facade {
    let specs: Vec<ToolSpec> = orderdesk_component::tools::catalog()
        .iter()
        .map(|t| ToolSpec {
            name: t.name.to_string(),
            title: t.title.to_string(),
            description: t.description.to_string(),
            input_schema: t.input_schema(),
            output_schema: t.output_schema(),
        })
        .collect();
    for hidden in HIDDEN {
        assert!(
            specs.iter().any(|s| s.name == *hidden),
            "hidden tool {hidden} is not in the catalog any more: update model::HIDDEN"
        );
    }
    build(
        specs
            .into_iter()
            .filter(|s| !HIDDEN.contains(&s.name.as_str())),
    )
}

pub fn build(specs: impl IntoIterator<Item = ToolSpec>) -> Facade {
    let mut facade = Facade::default();
    for spec in specs {
        let func = func(&mut facade.enums, spec);
        facade.funcs.push(func);
    }
    facade
}

fn func(enums: &mut Vec<EnumDef>, spec: ToolSpec) -> Func {
    let wit_name = kebab(&spec.name);
    let schema = &spec.input_schema;
    let defs = schema.get("$defs").and_then(Value::as_object);
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // Required arguments first, in the schema's order; then the optional ones by name.
    let mut names: Vec<&str> = required.clone();
    let mut optional: Vec<&str> = props
        .keys()
        .map(String::as_str)
        .filter(|k| !required.contains(k))
        .collect();
    optional.sort_unstable();
    names.extend(optional);
    let mut mapper = Mapper {
        defs,
        enums,
        func: &wit_name,
    };
    let params = names
        .into_iter()
        .filter(|name| !DROPPED_ARGS.contains(name))
        .map(|name| {
            let prop = &props[name];
            let (ty, nullable) = mapper.ty(prop, name);
            let ty = if nullable || !required.contains(&name) {
                Ty::Option(Box::new(ty))
            } else {
                ty
            };
            Param {
                json_name: name.to_string(),
                wit_name: kebab(name),
                ty,
                doc: doc_of(prop, defs),
                default: prop.get("default").cloned(),
            }
        })
        .collect();
    let result_fields = spec
        .output_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            let required: Vec<&str> = spec.output_schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut fields: Vec<String> = required.iter().map(|s| s.to_string()).collect();
            let mut rest: Vec<String> = p
                .keys()
                .filter(|k| !required.contains(&k.as_str()))
                .cloned()
                .collect();
            rest.sort();
            fields.extend(rest);
            fields
        })
        .unwrap_or_default();
    Func {
        tool: spec.name,
        wit_name,
        title: spec.title,
        description: spec.description,
        params,
        result_fields,
    }
}

struct Mapper<'a> {
    defs: Option<&'a Map<String, Value>>,
    enums: &'a mut Vec<EnumDef>,
    func: &'a str,
}

impl Mapper<'_> {
    /// The WIT type of `schema`, and whether it also allows `null`.
    fn ty(&mut self, schema: &Value, hint: &str) -> (Ty, bool) {
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            let name = target.rsplit('/').next().unwrap_or(hint);
            let def = self
                .defs
                .and_then(|d| d.get(name))
                .unwrap_or_else(|| panic!("{}: unresolved $ref {target}", self.func));
            return self.named(def, name);
        }
        self.named(schema, hint)
    }

    fn named(&mut self, schema: &Value, name: &str) -> (Ty, bool) {
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let values: Vec<String> = values
                .iter()
                .map(|v| {
                    v.as_str()
                        .unwrap_or_else(|| panic!("{}: non-string enum {name}", self.func))
                        .to_string()
                })
                .collect();
            let doc = schema
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            return (Ty::Enum(self.enum_index(name, doc, values)), false);
        }
        if let Some(alts) = schema.get("anyOf").and_then(Value::as_array) {
            return self.any_of(alts, name);
        }
        let (types, nullable) = match schema.get("type") {
            Some(Value::String(t)) => (vec![t.as_str()], false),
            Some(Value::Array(ts)) => {
                let ts: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
                let nullable = ts.contains(&"null");
                (ts.into_iter().filter(|t| *t != "null").collect(), nullable)
            }
            // `true`, `{}`: anything at all.
            _ => return (Ty::Json, false),
        };
        let ty = match types.as_slice() {
            ["string"] => Ty::Str,
            ["boolean"] => Ty::Bool,
            ["integer"] => integer(schema),
            ["number"] => Ty::F64,
            ["array"] => {
                let items = schema.get("items").unwrap_or(&Value::Bool(true));
                let (item, item_null) = self.ty(items, name);
                Ty::List(Box::new(nullable_ty(item, item_null)))
            }
            _ => Ty::Json,
        };
        (ty, nullable)
    }

    fn any_of(&mut self, alts: &[Value], name: &str) -> (Ty, bool) {
        let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
        let nullable = alts.iter().any(is_null);
        let alts: Vec<&Value> = alts.iter().filter(|v| !is_null(v)).collect();
        if let [one] = alts.as_slice() {
            let (ty, inner_null) = self.ty(one, name);
            return (ty, nullable || inner_null);
        }
        // "One or several": the list form carries both.
        if let Some(list) = alts
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some("array"))
        {
            let (ty, _) = self.ty(list, name);
            return (ty, nullable);
        }
        // An id as a string or a number (or a folder by id or name): text covers them all.
        let ty = if alts.iter().all(|a| self.scalar(a)) {
            Ty::Str
        } else {
            Ty::Json
        };
        (ty, nullable)
    }

    /// Whether `schema` is a string or number, or a choice among those.
    fn scalar(&self, schema: &Value) -> bool {
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            let name = target.rsplit('/').next().unwrap_or_default();
            return self
                .defs
                .and_then(|d| d.get(name))
                .is_some_and(|d| self.scalar(d));
        }
        if let Some(alts) = schema.get("anyOf").and_then(Value::as_array) {
            return alts.iter().all(|a| self.scalar(a));
        }
        matches!(
            schema.get("type").and_then(Value::as_str),
            Some("string" | "integer" | "number")
        ) && schema.get("enum").is_none()
    }

    fn enum_index(&mut self, name: &str, doc: Option<String>, values: Vec<String>) -> usize {
        let wit_name = kebab(&upper_camel_to_snake(name));
        if let Some(i) = self
            .enums
            .iter()
            .position(|e| e.wit_name == wit_name && e.values == values)
        {
            return i;
        }
        let wit_name = if self.enums.iter().any(|e| e.wit_name == wit_name) {
            format!("{}-{wit_name}", self.func)
        } else {
            wit_name
        };
        self.enums.push(EnumDef {
            wit_name,
            doc,
            values,
        });
        self.enums.len() - 1
    }
}

fn nullable_ty(ty: Ty, nullable: bool) -> Ty {
    if nullable {
        Ty::Option(Box::new(ty))
    } else {
        ty
    }
}

fn integer(schema: &Value) -> Ty {
    match schema.get("format").and_then(Value::as_str) {
        Some("uint32" | "uint16" | "uint8") => Ty::U32,
        Some("uint64" | "uint") => Ty::U64,
        _ if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| m >= 0.0) =>
        {
            Ty::U64
        }
        _ => Ty::S64,
    }
}

/// The description of a property, or of the definition it refers to.
fn doc_of(prop: &Value, defs: Option<&Map<String, Value>>) -> Option<String> {
    if let Some(d) = prop.get("description").and_then(Value::as_str) {
        return Some(d.to_string());
    }
    let alts = prop.get("anyOf").and_then(Value::as_array)?;
    alts.iter().find_map(|a| {
        a.get("description")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                let target = a.get("$ref")?.as_str()?.rsplit('/').next()?;
                defs?
                    .get(target)?
                    .get("description")?
                    .as_str()
                    .map(str::to_string)
            })
    })
}

/// `order_id` → `order-id`.
pub fn kebab(snake: &str) -> String {
    let out = snake.replace('_', "-").to_ascii_lowercase();
    assert!(
        out.split('-')
            .all(|s| s.starts_with(|c: char| c.is_ascii_lowercase())),
        "{snake:?} has no WIT name: every word must start with a letter"
    );
    out
}

/// `OrderBy` → `order_by`; names already in snake case stay as they are.
fn upper_camel_to_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `order-id` → `OrderId` (wit-bindgen's Rust name of a WIT type or case).
pub fn upper_camel(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(input: Value) -> Facade {
        build([ToolSpec {
            name: "things_find".into(),
            title: "Find things".into(),
            description: "Find things.".into(),
            input_schema: input,
            output_schema: json!({"type": "object", "properties": {"b": {}, "a": {}},
                "required": ["b"]}),
        }])
    }

    #[test]
    fn schema_types_map_onto_wit_types() {
        let f = one(json!({
            "$defs": {
                "SortBy": {"enum": ["date_added", "id"], "type": "string"},
                "Ids": {"anyOf": [
                    {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                    {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}
                ]}
            },
            "properties": {
                "id": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
                "limit": {"type": "integer", "format": "uint32", "default": 50},
                "delta": {"type": "integer"},
                "dry_run": {"type": "boolean"},
                "body": {"type": "object", "additionalProperties": true},
                "ops": {"type": "array", "items": true},
                "sort_by": {"anyOf": [{"$ref": "#/$defs/SortBy"}, {"type": "null"}]},
                "ids": {"anyOf": [{"$ref": "#/$defs/Ids"}, {"type": "null"}]},
                "note": {"type": ["string", "null"]},
                "store": {"type": "string"}
            },
            "required": ["id", "body", "delta"]
        }));
        let func = &f.funcs[0];
        let got: Vec<(&str, &Ty)> = func
            .params
            .iter()
            .map(|p| (p.wit_name.as_str(), &p.ty))
            .collect();
        let opt = |t: Ty| Ty::Option(Box::new(t));
        assert_eq!(
            got,
            [
                ("id", &Ty::Str),
                ("body", &Ty::Json),
                ("delta", &Ty::S64),
                ("dry-run", &opt(Ty::Bool)),
                ("ids", &opt(Ty::List(Box::new(Ty::Str)))),
                ("limit", &opt(Ty::U32)),
                ("note", &opt(Ty::Str)),
                ("ops", &opt(Ty::List(Box::new(Ty::Json)))),
                ("sort-by", &opt(Ty::Enum(0))),
            ]
        );
        assert_eq!(f.enums[0].wit_name, "sort-by");
        assert_eq!(f.enums[0].values, ["date_added", "id"]);
        assert_eq!(func.result_fields, ["b", "a"]);
    }

    #[test]
    fn enums_of_one_name_but_other_values_get_the_function_name() {
        let spec = |name: &str, values: Value| ToolSpec {
            name: name.into(),
            title: String::new(),
            description: String::new(),
            input_schema: json!({
                "$defs": {"Order": {"enum": values, "type": "string"}},
                "properties": {"o": {"$ref": "#/$defs/Order"}},
            }),
            output_schema: json!({}),
        };
        let f = build([
            spec("a_list", json!(["asc", "desc"])),
            spec("b_list", json!(["asc", "desc"])),
            spec("c_list", json!(["up", "down"])),
        ]);
        let names: Vec<&str> = f.enums.iter().map(|e| e.wit_name.as_str()).collect();
        assert_eq!(names, ["order", "c-list-order"]);
    }

    #[test]
    fn the_catalog_maps_without_surprises() {
        let f = from_catalog();
        assert!(f.funcs.iter().any(|f| f.wit_name == "orders-get"));
        for func in &f.funcs {
            assert!(!HIDDEN.contains(&func.tool.as_str()));
            assert!(func.params.iter().all(|p| p.json_name != "store"));
        }
    }
}
