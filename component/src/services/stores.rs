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

/// One registered store as the console's stores page shows it; no key material.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub store_id: String,
    pub name: String,
    pub label: Option<String>,
    pub is_default: bool,
    pub sync_enabled: bool,
    pub sync_interval_minutes: Option<u32>,
    /// The last run's report, as `sync_status` shows it (a JSON object, as text).
    pub last_sync: Option<String>,
    pub webhooks_enabled: bool,
    /// When the latest accepted webhook delivery first arrived.
    pub last_webhook_ms: Option<u64>,
    pub mirror_orders: u64,
    /// Cached reads held for the store: the cache buckets cannot count theirs, so none.
    pub cache_entries: Option<u64>,
    /// The store's upstream bucket as this server counts it, and when that was read.
    pub bucket_tokens: Option<f64>,
    pub bucket_seen_ms: Option<u64>,
}

/// A tenant's stores, in registration order, with their health (`TENANT_NOT_FOUND`).
pub fn overview(
    host: &dyn Host,
    settings: &Settings,
    tenant: &str,
) -> Result<Vec<Overview>, ToolError> {
    crate::tenancy::get_tenant(host, tenant)?;
    let default = crate::tenancy::default_store_of(host, tenant)?;
    let mut out = Vec::new();
    for record in crate::tenancy::store_records(host, tenant)? {
        let id = record.store_id;
        let sync = super::sync::SyncState::new(host, tenant, &id);
        let config = sync.config()?;
        let last_sync = sync
            .last_run()?
            .map(|r| serde_json::to_string(&r))
            .transpose()
            .map_err(|e| ToolError::new(ErrorCode::Internal, format!("sync report: {e}")))?;
        let tokens = crate::ratelimit::upstream_tokens(host, &id, settings.upstream);
        out.push(Overview {
            is_default: default.as_deref() == Some(id.as_str()),
            sync_enabled: config.as_ref().is_some_and(|c| c.enabled),
            sync_interval_minutes: config.as_ref().map(|c| c.interval_minutes),
            last_sync,
            webhooks_enabled: config.as_ref().is_some_and(|c| c.webhooks),
            last_webhook_ms: super::webhooks::last_accepted_at(host, tenant, &id)?,
            // Counting reads every shard of the mirror (128 reads); a store with neither
            // sync nor webhooks has no mirror (opting out clears it), so it is not read.
            mirror_orders: if config.as_ref().is_some_and(|c| c.enabled || c.webhooks) {
                super::mirror::Mirror::new(host, tenant, &id).count()?
            } else {
                0
            },
            cache_entries: None,
            bucket_seen_ms: tokens.map(|_| host.now_ms()),
            bucket_tokens: tokens,
            name: record.name,
            label: record.label,
            store_id: id,
        });
    }
    Ok(out)
}

/// Make a registered store the tenant's default; `STORE_NOT_FOUND` otherwise.
pub fn set_default(host: &dyn Host, tenant: &str, store_id: &str) -> Result<(), ToolError> {
    crate::tenancy::get_tenant(host, tenant)?;
    crate::tenancy::set_default_store(host, tenant, store_id)
}

/// Set or clear (`None` or blank) a store's label, at most 100 characters.
pub fn set_label(
    host: &dyn Host,
    tenant: &str,
    store_id: &str,
    label: Option<&str>,
) -> Result<(), ToolError> {
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    if label.is_some_and(|l| l.chars().count() > 100) {
        return Err(ToolError::invalid_argument(
            "label",
            "must be at most 100 characters",
        ));
    }
    crate::tenancy::get_tenant(host, tenant)?;
    crate::tenancy::update_store(host, tenant, store_id, |r| {
        r.label = label.map(str::to_string)
    })
}
