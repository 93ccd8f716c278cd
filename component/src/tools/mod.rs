//! The tool catalog and dispatcher: names, descriptions, schemas derived from Rust types,
//! annotations, argument validation, and the call entry point. One file per tool group.

/// A [`Tool`] that runs the handler `$run`, whose argument and result types give both
/// schemas. It is a constant, not a constructor call, so a call finds its tool without
/// building the catalog (every call runs in a fresh instance).
macro_rules! tool {
    ($name:expr, $title:expr, $description:expr, $annotations:expr, $run:path $(,)?) => {
        $crate::tools::Tool {
            name: $name,
            title: $title,
            description: $description,
            annotations: $annotations,
            input_schema: $crate::tools::input_schema_of($run),
            output_schema: $crate::tools::output_schema_of($run),
            run: |ctx, raw| $crate::tools::run_typed(ctx, raw, $run),
        }
    };
}

#[cfg(test)]
mod admission_tests;
mod args;
mod ctx;
#[cfg(test)]
mod input_tests;
mod mirror;
mod ops;
mod order_items;
mod orders;
mod orders_write;
#[cfg(test)]
mod outage_tests;
mod page;
mod products;
mod products_write;
#[cfg(test)]
mod prop_tests;
mod shipments;
mod store;
mod stores;
mod sync;
mod tenant;
#[cfg(test)]
mod tests;
mod webhooks;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ErrorCode, ToolError};
use crate::host::Host;
use crate::services::access::{self, Admitted};
use crate::services::traces::{self, CallKind};
use crate::services::{Journal, journal};

pub use args::{Validate, check_id, parse, raw_json};
pub use ctx::{Bind, Ctx};

/// Who is calling (mirrors `orderdesk:mcp/types.caller`).
#[derive(Clone, Default)]
pub struct Caller {
    /// The tenant master key the connection presents, if any.
    pub credential: Option<String>,
    /// The store id this connection picked with `stores_use`.
    pub default_store: Option<String>,
    pub request_id: String,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .field("default_store", &self.default_store)
            .field("request_id", &self.request_id)
            .finish()
    }
}

/// MCP behaviour hints (mirrors `tool-annotations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Annotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

impl Annotations {
    /// A read of OrderDesk data: changes nothing, safe to repeat.
    pub const READ: Annotations = Annotations {
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: true,
    };
    /// A change that adds or edits, never destroys.
    pub const WRITE: Annotations = Annotations {
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    };
    /// A change that can be repeated with no further effect (e.g. set a field).
    pub const IDEMPOTENT_WRITE: Annotations = Annotations {
        idempotent: true,
        ..Annotations::WRITE
    };
    /// Deletes or moves: data is lost or rules run.
    pub const DESTRUCTIVE: Annotations = Annotations {
        destructive: true,
        ..Annotations::WRITE
    };
    /// Local to this server (its state), not OrderDesk.
    pub const LOCAL: Annotations = Annotations {
        read_only: false,
        destructive: false,
        idempotent: true,
        open_world: false,
    };
    /// A local read: nothing changes, OrderDesk is not called.
    pub const LOCAL_READ: Annotations = Annotations {
        read_only: true,
        ..Annotations::LOCAL
    };
}

/// Runs a tool on its raw arguments; answers the structured result as JSON text.
type Handler = fn(&Ctx, Value) -> Result<String, ToolError>;

/// One tool of the catalog (made with `tool!`).
#[derive(Clone)]
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub annotations: Annotations,
    // Schemas are generated only when the catalog is listed, not on every call.
    input_schema: fn() -> Value,
    output_schema: fn() -> Value,
    run: Handler,
}

impl Tool {
    /// JSON Schema of the arguments.
    pub fn input_schema(&self) -> Value {
        (self.input_schema)()
    }

    /// JSON Schema of the structured result.
    pub fn output_schema(&self) -> Value {
        (self.output_schema)()
    }
}

/// The argument schema of a handler taking `A`.
const fn input_schema_of<A: JsonSchema, O>(
    _run: fn(&Ctx, A) -> Result<O, ToolError>,
) -> fn() -> Value {
    schema_of::<A>
}

/// The result schema of a handler answering `O`.
const fn output_schema_of<A, O: JsonSchema>(
    _run: fn(&Ctx, A) -> Result<O, ToolError>,
) -> fn() -> Value {
    schema_of::<O>
}

/// Parse and check the arguments, run the handler, and write its result as JSON text
/// (built once, straight from the result type: no intermediate `Value`).
fn run_typed<A, O>(
    ctx: &Ctx,
    raw: Value,
    run: fn(&Ctx, A) -> Result<O, ToolError>,
) -> Result<String, ToolError>
where
    A: DeserializeOwned + Validate,
    O: Serialize,
{
    let parsed: A = args::parse(raw)?;
    parsed.validate()?;
    let out = run(ctx, parsed)?;
    serde_json::to_string(&out)
        .map_err(|e| ToolError::new(ErrorCode::Internal, format!("result not serializable: {e}")))
}

fn schema_of<T: JsonSchema>() -> Value {
    portable(schemars::schema_for!(T).to_value())
}

/// Drop the root `$schema` and `title` (the Rust type name): some MCP clients and LLM APIs
/// reject a `$schema` they do not know, and the type name means nothing to a model.
fn portable(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        map.remove("title");
    }
    schema
}

/// The tool groups, in the order `tools/list` shows them.
const GROUPS: [&[Tool]; 13] = [
    tenant::TOOLS,
    stores::TOOLS,
    store::TOOLS,
    orders::TOOLS,
    orders_write::TOOLS,
    order_items::TOOLS,
    shipments::TOOLS,
    products::TOOLS,
    products_write::TOOLS,
    sync::TOOLS,
    mirror::TOOLS,
    webhooks::TOOLS,
    ops::TOOLS,
];

/// Every tool, in the order `tools/list` shows them.
pub fn catalog() -> Vec<Tool> {
    GROUPS
        .iter()
        .flat_map(|group| group.iter().cloned())
        .collect()
}

/// The tool listed as `name`: a look through the constant groups, nothing is built.
pub fn find(name: &str) -> Option<&'static Tool> {
    GROUPS
        .iter()
        .flat_map(|group| group.iter())
        .find(|t| t.name == name)
}

/// A successful call (mirrors `orderdesk:mcp/types.tool-output`).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The structured result, as JSON text.
    pub text: String,
    /// Connection state for the host to keep and present on this connection's later calls.
    pub bind: Bind,
}

impl Output {
    /// The structured result parsed (tests and embedders that want a `Value`).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.text).expect("a tool result is JSON")
    }
}

/// Why a call produced no result (mirrors `orderdesk:mcp/types.call-error`).
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    UnknownTool(String),
    Failed(ToolError),
}

/// The listed name for `name`: itself, or the underscore form of a dotted alias
/// (`orders.get` → `orders_get`).
pub fn canonical_name(name: &str) -> String {
    name.replace('.', "_")
}

/// The longest tool name an error echoes back (names can be megabytes long).
const ECHOED_NAME_CHARS: usize = 64;

/// Run the tool `name` with `arguments_json` (a JSON object, or empty for none).
///
/// Every call is charged to its caller's tool-call budget before anything else can fail
/// it, unknown tools and unreadable arguments included (at the cost of a read), so junk
/// calls are never free.
pub fn call(
    host: &dyn Host,
    caller: &Caller,
    name: &str,
    arguments_json: &str,
) -> Result<Output, CallError> {
    let canonical = canonical_name(name);
    let tool = find(&canonical);
    if let Some(tool) = tool {
        traces::begin(host, CallKind::Tool, tool.name, &caller.request_id);
    }
    let raw = args::raw_json(arguments_json);
    let cost = match (tool, &raw) {
        (Some(tool), Ok(_)) if !tool.annotations.read_only => 2,
        _ => 1,
    };
    // A bad credential fails every call but the one that binds a new one.
    let credential = caller
        .credential
        .as_deref()
        .filter(|_| tool.is_none_or(|t| t.name != "tenant_use_master_key"));
    // A call whose credential fails is not traced: it names no tenant.
    let Admitted {
        settings,
        principal,
    } = access::admit(host, credential, cost).map_err(|e| {
        traces::discard();
        CallError::Failed(e)
    })?;
    let tool =
        tool.ok_or_else(|| CallError::UnknownTool(name.chars().take(ECHOED_NAME_CHARS).collect()))?;
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            traces::finish(host, &settings, &[principal.tenant_id()], None, Err(&e));
            return Err(CallError::Failed(e));
        }
    };
    let arguments = (settings.trace_keep > 0).then(|| raw.clone());
    let journal = Journal::new(host, tool.name, &caller.request_id);
    let ctx = Ctx::new(host, caller, &settings, principal, &journal);
    let result = (tool.run)(&ctx, raw).map_err(|e| outage_during_write(e, journal.writing()));
    if !tool.annotations.read_only {
        journal.finish(ctx.tenant(), &result.as_ref().map(drop));
    }
    traces::finish(
        host,
        &settings,
        &[ctx.tenant()],
        arguments.as_ref(),
        result.as_ref().map(drop),
    );
    let text = result.map_err(CallError::Failed)?;
    Ok(Output {
        text,
        bind: ctx.into_bind(),
    })
}

/// A state-store failure (`STATE_UNAVAILABLE`) is retryable only while nothing went to
/// OrderDesk: once the call has begun a write, sending it again could repeat that write.
fn outage_during_write(e: ToolError, writing: bool) -> ToolError {
    if e.code == ErrorCode::StateUnavailable && writing {
        e.not_retryable()
            .with_detail("write_outcome", serde_json::json!("unknown"))
    } else {
        e
    }
}

/// Settle a call that trapped or ran out of time (`call-abandoned`): a write it had begun
/// gets its cache dropped and its audit entry marked `WRITE_OUTCOME_UNKNOWN`.
pub fn abandoned(host: &dyn Host, request_id: &str, reason: &str) {
    journal::settle_abandoned(host, request_id, reason);
}

#[cfg(test)]
mod find_tests {
    use super::*;

    /// A call looks its tool up without building the catalog: it finds every listed tool by
    /// its listed name, and nothing else.
    #[test]
    fn find_sees_exactly_the_catalog() {
        for tool in catalog() {
            assert_eq!(find(tool.name).map(|t| t.name), Some(tool.name));
        }
        assert!(find("nope").is_none());
        assert!(find("orders.get").is_none(), "takes the canonical name");
    }
}
