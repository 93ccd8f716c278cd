//! Tenant binding and the store registry: `tenant_use_master_key`, `stores_register`,
//! `stores_list`, `stores_use`, `stores_resolve`, `stores_delete`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::check_id;
use super::{Annotations, Ctx, Tool, Validate};
use crate::client::{Client, Credentials};
use crate::config::Secret;
use crate::error::{ErrorCode, ToolError};
use crate::tenancy::{self, StoreRecord};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "tenant_use_master_key",
            "Sign in as a tenant",
            "Bind this connection to a tenant with its master key (from `orderdesk-mcp tenant \
             create`). Afterwards the stores_* tools manage that tenant's OrderDesk stores and \
             every store tool acts on them. Over HTTP, send the key as a bearer token instead.",
            Annotations {
                read_only: true,
                open_world: false,
                ..Annotations::LOCAL
            },
            use_master_key,
        ),
        Tool::new(
            "stores_register",
            "Register an OrderDesk store",
            "Add an OrderDesk store (store id + API key from OrderDesk's Store Settings → API) \
             to the signed-in tenant. The credentials are checked against OrderDesk first; the \
             API key is stored encrypted and never shown again. Registering an existing store \
             id replaces its key and name.",
            Annotations {
                idempotent: true,
                ..Annotations::WRITE
            },
            register,
        ),
        Tool::new(
            "stores_list",
            "List registered stores",
            "The signed-in tenant's registered stores (id, name, label) and which one is the \
             default. Never returns API keys.",
            Annotations {
                read_only: true,
                ..Annotations::LOCAL
            },
            list,
        ),
        Tool::new(
            "stores_use",
            "Choose the default store",
            "Make a registered store (by id or name) the default for this session, so store \
             tools can omit `store`.",
            Annotations::LOCAL,
            use_store,
        ),
        Tool::new(
            "stores_resolve",
            "Find a registered store",
            "Look a registered store up by id or name (names match case-insensitively).",
            Annotations {
                read_only: true,
                ..Annotations::LOCAL
            },
            resolve,
        ),
        Tool::new(
            "stores_delete",
            "Forget a registered store",
            "Remove a store and its encrypted API key from the signed-in tenant. Nothing in \
             OrderDesk changes.",
            Annotations {
                destructive: true,
                ..Annotations::LOCAL
            },
            delete,
        ),
    ]
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MasterKeyArgs {
    /// The tenant master key (`odmk_…`).
    pub master_key: String,
}

impl Validate for MasterKeyArgs {}

#[derive(Serialize, JsonSchema)]
pub struct BoundOut {
    pub tenant_id: String,
    pub tenant_name: String,
    /// Registered stores.
    pub stores: usize,
}

fn use_master_key(ctx: &Ctx, args: MasterKeyArgs) -> Result<BoundOut, ToolError> {
    let tenant = tenancy::authenticate(ctx.host, args.master_key.trim())?;
    let record = tenancy::get_tenant(ctx.host, &tenant.id)?;
    let stores = tenant.stores(ctx.host)?.len();
    ctx.bind_credential(args.master_key.trim().to_string());
    Ok(BoundOut {
        tenant_id: tenant.id,
        tenant_name: record.name,
        stores,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterArgs {
    /// OrderDesk store id.
    pub store_id: String,
    /// OrderDesk API key of that store.
    pub api_key: String,
    /// A name to refer to the store by.
    pub name: String,
    /// Optional free-form label (e.g. "EU warehouse").
    pub label: Option<String>,
}

impl Validate for RegisterArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("store_id", &self.store_id)?;
        if self.api_key.trim().is_empty() || self.api_key.len() > 200 {
            return Err(ToolError::invalid_argument(
                "api_key",
                "must be 1-200 characters",
            ));
        }
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return Err(ToolError::invalid_argument(
                "name",
                "must be 1-100 characters",
            ));
        }
        Ok(())
    }
}

/// A registered store as tools show it (no key material).
#[derive(Serialize, JsonSchema)]
pub struct StoreOut {
    pub store_id: String,
    pub name: String,
    pub label: Option<String>,
    /// Whether this is the default store of the session.
    pub default: bool,
}

fn view(r: &StoreRecord, default: Option<&str>) -> StoreOut {
    StoreOut {
        store_id: r.store_id.clone(),
        name: r.name.clone(),
        label: r.label.clone(),
        default: default == Some(r.store_id.as_str()),
    }
}

fn register(ctx: &Ctx, args: RegisterArgs) -> Result<StoreOut, ToolError> {
    let tenant = ctx.require_tenant()?;
    ctx.audit_target(Some(&args.store_id), args.store_id.clone());
    let creds = Credentials {
        store_id: args.store_id.clone(),
        api_key: Secret(args.api_key.trim().to_string()),
    };
    // Never save credentials OrderDesk refuses.
    Client::new(
        ctx.host,
        &ctx.settings.api_url,
        &creds,
        ctx.settings.retry,
        ctx.settings.upstream,
    )
    .get("/test", &[])
    .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    let record = tenant.save_store(
        ctx.host,
        &args.store_id,
        &creds.api_key.0,
        args.name.trim(),
        args.label,
    )?;
    let default = tenant.default_store(ctx.host, ctx.caller.session.as_deref())?;
    if default.is_none() {
        tenant.set_default(ctx.host, ctx.caller.session.as_deref(), &record.store_id)?;
    }
    let default = tenant.default_store(ctx.host, ctx.caller.session.as_deref())?;
    Ok(view(&record, default.as_deref()))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

impl Validate for NoArgs {}

#[derive(Serialize, JsonSchema)]
pub struct StoresOut {
    pub stores: Vec<StoreOut>,
    /// The default store's id, if any.
    pub default_store: Option<String>,
}

fn list(ctx: &Ctx, _: NoArgs) -> Result<StoresOut, ToolError> {
    let tenant = ctx.require_tenant()?;
    let default = tenant.default_store(ctx.host, ctx.caller.session.as_deref())?;
    let stores = tenant
        .stores(ctx.host)?
        .iter()
        .map(|r| view(r, default.as_deref()))
        .collect();
    Ok(StoresOut {
        stores,
        default_store: default,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreRefArgs {
    /// Store id or name.
    pub store: String,
}

impl Validate for StoreRefArgs {}

fn use_store(ctx: &Ctx, args: StoreRefArgs) -> Result<StoreOut, ToolError> {
    let tenant = ctx.require_tenant()?;
    let record = tenant.resolve(ctx.host, &args.store)?;
    ctx.audit_target(Some(&record.store_id), record.store_id.clone());
    tenant.set_default(ctx.host, ctx.caller.session.as_deref(), &record.store_id)?;
    Ok(view(&record, Some(&record.store_id)))
}

fn resolve(ctx: &Ctx, args: StoreRefArgs) -> Result<StoreOut, ToolError> {
    let tenant = ctx.require_tenant()?;
    let record = tenant.resolve(ctx.host, &args.store)?;
    let default = tenant.default_store(ctx.host, ctx.caller.session.as_deref())?;
    Ok(view(&record, default.as_deref()))
}

#[derive(Serialize, JsonSchema)]
pub struct DeletedOut {
    pub deleted: bool,
    pub store_id: String,
}

fn delete(ctx: &Ctx, args: StoreRefArgs) -> Result<DeletedOut, ToolError> {
    let tenant = ctx.require_tenant()?;
    let record = tenant.resolve(ctx.host, &args.store)?;
    ctx.audit_target(Some(&record.store_id), record.store_id.clone());
    tenant.delete_store(ctx.host, &record.store_id)?;
    Ok(DeletedOut {
        deleted: true,
        store_id: record.store_id,
    })
}
