//! The tool catalog and dispatcher: names, descriptions, schemas derived from Rust types,
//! annotations, argument validation, and the call entry point. One file per tool group.

mod args;
mod orders;
mod products;
mod store;
#[cfg(test)]
mod tests;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{Client, Credentials};
use crate::config::Settings;
use crate::error::{ErrorCode, ToolError};
use crate::host::Host;

pub use args::Validate;

/// Who is calling (mirrors `orderdesk:mcp/types.caller`).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub tenant: Option<String>,
    pub session: Option<String>,
    pub request_id: String,
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
}

type Handler = Box<dyn Fn(&Ctx, Value) -> Result<Value, ToolError>>;

/// One tool of the catalog.
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub annotations: Annotations,
    pub input_schema: Value,
    pub output_schema: Value,
    run: Handler,
}

impl Tool {
    /// A tool whose arguments are `A` and result `O`; both schemas come from the types.
    pub fn new<A, O>(
        name: &'static str,
        title: &'static str,
        description: &'static str,
        annotations: Annotations,
        run: fn(&Ctx, A) -> Result<O, ToolError>,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Validate + 'static,
        O: Serialize + JsonSchema + 'static,
    {
        Self {
            name,
            title,
            description,
            annotations,
            input_schema: portable(schemars::schema_for!(A).to_value()),
            output_schema: portable(schemars::schema_for!(O).to_value()),
            run: Box::new(move |ctx, raw| {
                let parsed: A = args::parse(raw)?;
                parsed.validate()?;
                let out = run(ctx, parsed)?;
                serde_json::to_value(out).map_err(|e| {
                    ToolError::new(ErrorCode::Internal, format!("result not serializable: {e}"))
                })
            }),
        }
    }
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

/// Every tool, in the order `tools/list` shows them.
pub fn catalog() -> Vec<Tool> {
    let mut tools = store::tools();
    tools.extend(orders::tools());
    tools.extend(products::tools());
    tools
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

/// Run the tool `name` with `arguments_json` (a JSON object, or empty for none).
pub fn call(
    host: &dyn Host,
    caller: &Caller,
    name: &str,
    arguments_json: &str,
) -> Result<Value, CallError> {
    let wanted = canonical_name(name);
    let tools = catalog();
    let tool = tools
        .iter()
        .find(|t| t.name == wanted)
        .ok_or_else(|| CallError::UnknownTool(name.to_string()))?;
    let raw = args::raw_json(arguments_json).map_err(CallError::Failed)?;
    let settings = Settings::load(host).map_err(CallError::Failed)?;
    let ctx = Ctx {
        host,
        caller,
        settings,
    };
    (tool.run)(&ctx, raw).map_err(CallError::Failed)
}

/// What a tool handler may use.
pub struct Ctx<'a> {
    pub host: &'a dyn Host,
    pub caller: &'a Caller,
    pub settings: Settings,
}

/// The tenant name used in cache keys when the caller has none (single-store mode).
pub const SINGLE_STORE_TENANT: &str = "_";

impl Ctx<'_> {
    pub fn tenant(&self) -> &str {
        self.caller.tenant.as_deref().unwrap_or(SINGLE_STORE_TENANT)
    }

    /// The credentials of the store this call acts on.
    pub fn credentials(&self) -> Result<Credentials, ToolError> {
        match (&self.settings.store_id, &self.settings.api_key) {
            (Some(store_id), Some(api_key)) => Ok(Credentials {
                store_id: store_id.clone(),
                api_key: api_key.clone(),
            }),
            _ => Err(ToolError::new(
                ErrorCode::NotConfigured,
                "no OrderDesk store is configured: start the server with --store-id and \
                 --api-key (or ORDERDESK_STORE_ID and ORDERDESK_API_KEY)",
            )),
        }
    }

    pub fn client<'c>(&'c self, creds: &'c Credentials) -> Client<'c> {
        Client::new(
            self.host,
            &self.settings.api_url,
            creds,
            self.settings.retry,
        )
    }
}
