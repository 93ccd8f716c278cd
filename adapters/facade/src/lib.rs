//! The typed facade: one exported function per OrderDesk tool, for loaders (e.g. wassette)
//! that present each WIT export as a tool with typed parameters and its doc comment as the
//! description. Each function builds the tool's JSON arguments and calls the imported
//! `orderdesk:mcp/tools.call-tool` with no caller credential, so the component acts on the
//! store configured through `wasi:config`.
//!
//! `wit/facade.wit` and `src/generated.rs` are written by `cargo run -p facade-gen` from the
//! component's catalog; this file holds the hand-written helpers they use. Built for
//! `wasm32-wasip2` and composed over `orderdesk.wasm` by `compose/orderdesk-typed.wac`.

/// wit-bindgen's bindings of world `facade`, whose functions take one argument per tool
/// parameter, however many the tool has.
#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "orderdesk:facade/facade",
        generate_all,
    });
}

mod generated;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use serde_json::{Map, Value};

use bindings::ToolError;
use bindings::orderdesk::mcp::tools::{CallError, Caller, call_tool};

struct Facade;

bindings::export!(Facade with_types_in bindings);

/// A tool's arguments as they are collected, one parameter at a time.
#[derive(Default)]
struct Args(Map<String, Value>);

impl Args {
    fn set(&mut self, name: &str, value: Result<Value, ToolError>) -> Result<(), ToolError> {
        self.0.insert(name.to_string(), value?);
        Ok(())
    }
}

/// Run `tool` in the component; its result is the JSON object MCP returns as
/// `structuredContent`.
fn call(tool: &str, args: Args) -> Result<String, ToolError> {
    let caller = Caller {
        credential: None,
        default_store: None,
        request_id: request_id(),
    };
    match call_tool(&caller, tool, &Value::Object(args.0).to_string()) {
        Ok(output) => Ok(output.structured),
        Err(CallError::Failed(e)) => Err(ToolError {
            code: e.code,
            message: e.message,
            details: e.details,
            retryable: e.retryable,
        }),
        // Only a facade generated from another catalog than the component's gets here.
        Err(CallError::UnknownTool(name)) => Err(ToolError {
            code: "UNKNOWN_TOOL".into(),
            message: format!("the component has no tool {name}: regenerate the facade"),
            details: None,
            retryable: false,
        }),
    }
}

/// A free-form parameter: JSON text, parsed so the tool receives the value itself.
fn json(name: &str, text: &str) -> Result<Value, ToolError> {
    serde_json::from_str(text).map_err(|e| ToolError {
        code: "INVALID_ARGUMENT".into(),
        message: format!("{name} is not valid JSON: {e}"),
        details: Some(serde_json::json!({ "field": name, "reason": "not JSON" }).to_string()),
        retryable: false,
    })
}

fn list<T>(
    items: Vec<T>,
    each: impl Fn(T) -> Result<Value, ToolError>,
) -> Result<Value, ToolError> {
    items
        .into_iter()
        .map(each)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A fresh id per call (std's hasher keys come from `wasi:random`).
fn request_id() -> String {
    format!("facade-{:016x}", RandomState::new().build_hasher().finish())
}
