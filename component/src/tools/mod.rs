//! The tool catalog and dispatcher: names, descriptions, schemas derived from Rust types,
//! annotations, argument validation, and the call entry point. One file per tool group.

mod args;
mod items;
mod ops;
mod orders;
mod orders_write;
mod products;
mod products_write;
mod store;
mod tenant;
#[cfg(test)]
mod tests;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use std::cell::RefCell;

use crate::audit::{self, AuditEntry};
use crate::cache::Cache;
use crate::client::{Client, Credentials};
use crate::config::Settings;
use crate::error::{ErrorCode, ToolError};
use crate::host::Host;
use crate::ratelimit;
use crate::tenancy::{self, Tenant};

pub use args::Validate;

/// Who is calling (mirrors `orderdesk:mcp/types.caller`).
#[derive(Clone, Default)]
pub struct Caller {
    /// The tenant master key the connection presents, if any.
    pub credential: Option<String>,
    pub session: Option<String>,
    pub request_id: String,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .field("session", &self.session)
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
}

type Handler = Box<dyn Fn(&Ctx, Value) -> Result<Value, ToolError>>;

/// One tool of the catalog.
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
            input_schema: schema_of::<A>,
            output_schema: schema_of::<O>,
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

    /// JSON Schema of the arguments.
    pub fn input_schema(&self) -> Value {
        (self.input_schema)()
    }

    /// JSON Schema of the structured result.
    pub fn output_schema(&self) -> Value {
        (self.output_schema)()
    }
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

/// Every tool, in the order `tools/list` shows them.
pub fn catalog() -> Vec<Tool> {
    let mut tools = tenant::tools();
    tools.extend(store::tools());
    tools.extend(orders::tools());
    tools.extend(orders_write::tools());
    tools.extend(items::tools());
    tools.extend(products::tools());
    tools.extend(products_write::tools());
    tools.extend(ops::tools());
    tools
}

/// A successful call (mirrors `orderdesk:mcp/types.tool-output`).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub value: Value,
    /// For the host to present as the connection's credential from now on.
    pub bind_credential: Option<String>,
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
) -> Result<Output, CallError> {
    let wanted = canonical_name(name);
    let tools = catalog();
    let tool = tools
        .iter()
        .find(|t| t.name == wanted)
        .ok_or_else(|| CallError::UnknownTool(name.to_string()))?;
    let raw = args::raw_json(arguments_json).map_err(CallError::Failed)?;
    let settings = Settings::load(host).map_err(CallError::Failed)?;
    // A bad credential fails every call but the one that binds a new one.
    let principal = match &caller.credential {
        Some(key) if tool.name != "tenant_use_master_key" => {
            Principal::Tenant(tenancy::authenticate(host, key).map_err(CallError::Failed)?)
        }
        _ => Principal::SingleStore,
    };
    let ctx = Ctx {
        host,
        caller,
        settings,
        principal,
        audit: RefCell::new(AuditNote::default()),
        bind: RefCell::new(None),
    };
    let cost = if tool.annotations.read_only { 1 } else { 2 };
    ratelimit::admit_tool_call(
        host,
        ctx.tenant(),
        cost,
        ctx.settings.tool_calls_per_minute,
        ctx.settings.tool_call_burst,
    )
    .map_err(CallError::Failed)?;
    let result = (tool.run)(&ctx, raw);
    if !tool.annotations.read_only {
        ctx.record_audit(tool.name, &result);
    }
    let value = result.map_err(CallError::Failed)?;
    Ok(Output {
        value,
        bind_credential: ctx.bind.into_inner(),
    })
}

/// Who the call acts for.
pub enum Principal {
    /// No master key: the store configured through `wasi:config`.
    SingleStore,
    Tenant(Tenant),
}

/// What a mutation touched, for the audit trail.
#[derive(Default)]
struct AuditNote {
    store: Option<String>,
    target: Option<String>,
}

/// The store a call acts on.
pub struct StoreCtx {
    pub creds: Credentials,
    /// Tenant part of cache keys: the tenant id, or `_` in single-store mode.
    pub tenant: String,
}

/// What a tool handler may use.
pub struct Ctx<'a> {
    pub host: &'a dyn Host,
    pub caller: &'a Caller,
    pub settings: Settings,
    pub principal: Principal,
    audit: RefCell<AuditNote>,
    bind: RefCell<Option<String>>,
}

/// The tenant name used in cache keys, limits and audit when there is no tenant.
pub const SINGLE_STORE_TENANT: &str = "_";

const NO_STORE_HINT: &str = "no store given and no default store: pass `store` (id or name), \
call stores_use to pick a default, or register one with stores_register (after \
tenant_use_master_key). In single-store mode, start the server with --store-id and --api-key";

impl Ctx<'_> {
    pub fn tenant(&self) -> &str {
        match &self.principal {
            Principal::Tenant(t) => &t.id,
            Principal::SingleStore => SINGLE_STORE_TENANT,
        }
    }

    /// The bound tenant, or `AUTH_REQUIRED`.
    pub fn require_tenant(&self) -> Result<&Tenant, ToolError> {
        match &self.principal {
            Principal::Tenant(t) => Ok(t),
            Principal::SingleStore => Err(ToolError::new(
                ErrorCode::AuthRequired,
                "this tool needs a tenant: call tenant_use_master_key first (or send the \
                 master key as a bearer token over HTTP)",
            )),
        }
    }

    /// Resolve the store a call acts on: `wanted` (id or name), else the default.
    pub fn store(&self, wanted: Option<&str>) -> Result<StoreCtx, ToolError> {
        let creds = match &self.principal {
            Principal::SingleStore => {
                let configured = match (&self.settings.store_id, &self.settings.api_key) {
                    (Some(id), Some(key)) => Credentials {
                        store_id: id.clone(),
                        api_key: key.clone(),
                    },
                    _ => return Err(ToolError::new(ErrorCode::StoreNotFound, NO_STORE_HINT)),
                };
                if let Some(w) = wanted.filter(|w| *w != configured.store_id) {
                    return Err(ToolError::new(
                        ErrorCode::StoreNotFound,
                        format!(
                            "store {w:?} is not available: this server is configured for store {}",
                            configured.store_id
                        ),
                    ));
                }
                configured
            }
            Principal::Tenant(tenant) => {
                let id = match wanted {
                    Some(w) => w.to_string(),
                    None => tenant
                        .default_store(self.host, self.caller.session.as_deref())?
                        .ok_or_else(|| ToolError::new(ErrorCode::StoreNotFound, NO_STORE_HINT))?,
                };
                let record = tenant.resolve(self.host, &id)?;
                tenant.credentials(&record)?
            }
        };
        self.audit.borrow_mut().store = Some(creds.store_id.clone());
        Ok(StoreCtx {
            creds,
            tenant: self.tenant().to_string(),
        })
    }

    pub fn client<'c>(&'c self, creds: &'c Credentials) -> Client<'c> {
        Client::new(
            self.host,
            &self.settings.api_url,
            creds,
            self.settings.retry,
            self.settings.upstream,
        )
    }

    pub fn cache<'c>(&'c self, store: &'c StoreCtx) -> Cache<'c> {
        Cache::new(
            self.host,
            &store.tenant,
            &store.creds.store_id,
            self.settings.ttls,
        )
    }

    /// Name what a mutation acted on, for the audit trail.
    pub fn audit_target(&self, store: Option<&str>, target: impl Into<String>) {
        let mut note = self.audit.borrow_mut();
        if let Some(s) = store {
            note.store = Some(s.to_string());
        }
        note.target = Some(target.into());
    }

    /// Ask the host to present `credential` on this connection's later calls.
    pub fn bind_credential(&self, credential: String) {
        *self.bind.borrow_mut() = Some(credential);
    }

    fn record_audit(&self, tool: &str, result: &Result<Value, ToolError>) {
        let note = self.audit.borrow();
        audit::record(
            self.host,
            AuditEntry {
                seq: 0,
                at_ms: self.host.now_ms(),
                tenant: self.tenant().to_string(),
                store: note.store.clone(),
                tool: tool.to_string(),
                target: note.target.clone(),
                outcome: match result {
                    Ok(_) => "ok".into(),
                    Err(e) => e.code.as_str().into(),
                },
                request_id: self.caller.request_id.clone(),
            },
        );
    }
}
