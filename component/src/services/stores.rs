//! The tenant's store registry as a service: registering a store checks its credentials
//! with OrderDesk first, on the tenant's own bucket for unverified keys, and seals the key;
//! deleting one also forgets what the server keeps about it locally.

use crate::client::{Client, Credentials};
use crate::config::{Secret, Settings};
use crate::error::{ErrorCode, ToolError};
use crate::host::Host;
use crate::ratelimit::Account;
use crate::tenancy::Tenant;

pub use crate::tenancy::StoreRecord;

/// Forget what the server keeps about a tenant's store beside its registration: the
/// unattended key copy, the sync settings, stats and runs, the mirror. Webhook events
/// age out on their own.
pub fn forget_local(host: &dyn Host, tenant: &str, store_id: &str) -> Result<(), ToolError> {
    crate::unattended::remove(host, tenant, store_id)?;
    super::sync::SyncState::new(host, tenant, store_id).forget()?;
    super::mirror::Mirror::new(host, tenant, store_id).clear()
}

/// What a new registration names.
pub struct Registration<'a> {
    pub store_id: &'a str,
    pub api_key: &'a str,
    pub name: &'a str,
    pub label: Option<String>,
}

/// Register (or re-register) a store for `tenant`; its first store becomes its default.
pub fn register(
    host: &dyn Host,
    settings: &Settings,
    tenant: &Tenant,
    new: Registration,
) -> Result<StoreRecord, ToolError> {
    let creds = Credentials {
        store_id: new.store_id.to_string(),
        api_key: Secret(new.api_key.trim().to_string()),
    };
    // Never save credentials OrderDesk refuses; until they check out, they draw on the
    // tenant's own small bucket, never on the store's shared one.
    let unverified = Account::Unverified {
        tenant: tenant.id.clone(),
    };
    Client::new(host, settings, &creds, &unverified)
        .read("/test", &[])
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    let record = tenant.save_store(
        host,
        new.store_id,
        &creds.api_key.0,
        new.name.trim(),
        new.label,
    )?;
    // A store kept for background sync and webhooks keeps its copy in step with the key.
    crate::unattended::rewrap_if_kept(host, settings, &tenant.id, &creds)?;
    if tenant.default_store(host)?.is_none() {
        tenant.set_default(host, &record.store_id)?;
    }
    Ok(record)
}

/// The tenant's registered stores.
pub fn list(host: &dyn Host, tenant: &Tenant) -> Result<Vec<StoreRecord>, ToolError> {
    tenant.stores(host)
}

/// A registered store by exact id, else by case-insensitive name (or label).
pub fn resolve(host: &dyn Host, tenant: &Tenant, wanted: &str) -> Result<StoreRecord, ToolError> {
    tenant.resolve(host, wanted)
}

/// Remove a store from the tenant's registry, then what the server keeps about it beside
/// the registration ([`forget_local`]). OrderDesk is not called.
pub fn delete(host: &dyn Host, tenant: &Tenant, store_id: &str) -> Result<(), ToolError> {
    tenant.delete_store(host, store_id)?;
    forget_local(host, &tenant.id, store_id)
}
