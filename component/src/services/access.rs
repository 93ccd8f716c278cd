//! Who a call acts for and what it may reach: the caller's principal (the configured single
//! store, or the tenant whose master key checked out), the per-tenant tool-call budget, and
//! the store a call acts on, as a [`StoreCtx`].

use super::{Journal, SINGLE_STORE_TENANT, Settings, StoreCtx, load_settings};
use crate::client::Credentials;
use crate::error::{ErrorCode, ToolError};
use crate::host::Host;
use crate::ratelimit;
use crate::tenancy::{self, Tenant};

/// Who the call acts for.
pub enum Principal {
    /// No master key: the store configured through `wasi:config`.
    SingleStore,
    Tenant(Tenant),
}

impl Principal {
    /// The tenant id, or `_` in single-store mode.
    pub fn tenant_id(&self) -> &str {
        match self {
            Principal::Tenant(t) => &t.id,
            Principal::SingleStore => SINGLE_STORE_TENANT,
        }
    }

    /// The store used when neither the call nor the connection names one: the tenant's
    /// default, or the configured store.
    pub fn default_store(
        &self,
        host: &dyn Host,
        settings: &Settings,
    ) -> Result<Option<String>, ToolError> {
        match self {
            Principal::Tenant(t) => t.default_store(host),
            Principal::SingleStore => Ok(settings.store_id.clone()),
        }
    }
}

/// A call let in: the settings it runs with and who it acts for.
pub struct Admitted {
    pub settings: Settings,
    pub principal: Principal,
}

/// Let a call in, failing in this order: the settings load, `credential` (a tenant master
/// key; `None` acts for the single store) checks out, and `cost` fits the principal's
/// tool-call budget.
pub fn admit(host: &dyn Host, credential: Option<&str>, cost: u64) -> Result<Admitted, ToolError> {
    let settings = load_settings(host)?;
    let principal = match credential {
        Some(key) => Principal::Tenant(tenancy::authenticate(host, key)?),
        None => Principal::SingleStore,
    };
    ratelimit::admit_tool_call(
        host,
        principal.tenant_id(),
        cost,
        settings.tool_calls_per_minute,
        settings.tool_call_burst,
    )?;
    Ok(Admitted {
        settings,
        principal,
    })
}

const NO_STORE_HINT: &str = "no store given and no default store: pass `store` (id or name), \
call stores_use to pick a default, or register one with stores_register (after \
tenant_use_master_key). In single-store mode, start the server with --store-id and --api-key";

/// Which store a call asks for, most specific first.
#[derive(Clone, Copy, Default)]
pub struct StoreChoice<'a> {
    /// Named by the call (id or name).
    pub wanted: Option<&'a str>,
    /// The default the caller's connection picked.
    pub connection_default: Option<&'a str>,
}

/// The store a call acts on: the one it names, else the connection's default, else the
/// principal's. The journal notes it as the call's target.
pub fn store<'a>(
    host: &'a dyn Host,
    settings: &'a Settings,
    principal: &Principal,
    choice: StoreChoice,
    journal: &'a Journal<'a>,
) -> Result<StoreCtx<'a>, ToolError> {
    let creds = match principal {
        Principal::SingleStore => configured_store(settings, choice.wanted)?,
        Principal::Tenant(tenant) => {
            let id = match (choice.wanted, choice.connection_default) {
                (Some(w), _) => w.to_string(),
                (None, Some(d)) => d.to_string(),
                (None, None) => tenant
                    .default_store(host)?
                    .ok_or_else(|| ToolError::new(ErrorCode::StoreNotFound, NO_STORE_HINT))?,
            };
            let record = tenant.resolve(host, &id)?;
            tenant.credentials(&record)?
        }
    };
    journal.note(Some(&creds.store_id), &creds.store_id);
    super::traces::note_store(&creds.store_id);
    Ok(StoreCtx {
        host,
        settings,
        tenant: principal.tenant_id().to_string(),
        creds,
        journal,
    })
}

/// The configured single store, if it is the one `wanted` (or none is named).
fn configured_store(settings: &Settings, wanted: Option<&str>) -> Result<Credentials, ToolError> {
    let configured = Credentials::configured(settings)?
        .ok_or_else(|| ToolError::new(ErrorCode::StoreNotFound, NO_STORE_HINT))?;
    if let Some(w) = wanted.filter(|w| *w != configured.store_id) {
        return Err(ToolError::new(
            ErrorCode::StoreNotFound,
            format!(
                "store {w:?} is not available: this server is configured for store {}",
                configured.store_id
            ),
        ));
    }
    Ok(configured)
}
