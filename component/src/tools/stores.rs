//! The tenant's store registry: `stores_register`, `stores_list`, `stores_use`,
//! `stores_resolve`, `stores_delete`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::{Id, NAME_MAX, StoreRef, Text, check_id};
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::stores::{self, Registration, StoreRecord};

pub const TOOLS: &[Tool] = &[
    tool!(
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
    tool!(
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
    tool!(
        "stores_use",
        "Choose the default store",
        "Make a registered store (by id or name) the default for this connection, so store \
         tools can omit `store`. Other connections keep their own default.",
        Annotations::LOCAL,
        use_store,
    ),
    tool!(
        "stores_resolve",
        "Find a registered store",
        "Look a registered store up by id or name (names match case-insensitively).",
        Annotations {
            read_only: true,
            ..Annotations::LOCAL
        },
        resolve,
    ),
    tool!(
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
];

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterArgs {
    /// OrderDesk store id.
    pub store_id: Id,
    /// OrderDesk API key of that store.
    pub api_key: Text<API_KEY_MAX>,
    /// A name to refer to the store by.
    pub name: Text<NAME_MAX>,
    /// Optional free-form label (e.g. "EU warehouse").
    pub label: Option<Text<NAME_MAX>>,
}

/// The longest API key accepted (OrderDesk's are far shorter).
const API_KEY_MAX: usize = 200;

impl Validate for RegisterArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("store_id", self.store_id.as_str())?;
        // Text has trimmed and bounded both; only emptiness is left to check.
        if self.api_key.as_str().is_empty() {
            return Err(ToolError::invalid_argument(
                "api_key",
                "must be 1-200 characters",
            ));
        }
        if self.name.as_str().is_empty() {
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
    /// Whether this is this connection's default store.
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
    let store_id = args.store_id.as_str();
    ctx.journal.note(Some(store_id), store_id);
    let registration = Registration {
        store_id,
        api_key: args.api_key.as_str(),
        name: args.name.as_str(),
        label: args.label.map(|l| l.0),
    };
    let record = stores::register(ctx.host, ctx.settings, tenant, registration)?;
    let default = ctx.default_store_after()?;
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
    let default = ctx.default_store_after()?;
    let stores = stores::list(ctx.host, tenant)?
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
    pub store: StoreRef,
}

impl Validate for StoreRefArgs {}

fn use_store(ctx: &Ctx, args: StoreRefArgs) -> Result<StoreOut, ToolError> {
    let tenant = ctx.require_tenant()?;
    let record = stores::resolve(ctx.host, tenant, args.store.as_str())?;
    ctx.journal.note(Some(&record.store_id), &record.store_id);
    ctx.bind_default_store(record.store_id.clone());
    Ok(view(&record, Some(&record.store_id)))
}

fn resolve(ctx: &Ctx, args: StoreRefArgs) -> Result<StoreOut, ToolError> {
    let tenant = ctx.require_tenant()?;
    let record = stores::resolve(ctx.host, tenant, args.store.as_str())?;
    let default = ctx.default_store_after()?;
    Ok(view(&record, default.as_deref()))
}

#[derive(Serialize, JsonSchema)]
pub struct DeletedOut {
    pub deleted: bool,
    pub store_id: String,
}

fn delete(ctx: &Ctx, args: StoreRefArgs) -> Result<DeletedOut, ToolError> {
    let tenant = ctx.require_tenant()?;
    let record = stores::resolve(ctx.host, tenant, args.store.as_str())?;
    ctx.journal.note(Some(&record.store_id), &record.store_id);
    stores::delete(ctx.host, tenant, &record.store_id)?;
    Ok(DeletedOut {
        deleted: true,
        store_id: record.store_id,
    })
}
