//! Tenants as the doors see them: creating and listing them with their store counts,
//! signing in with a master key, rotating it, and deleting a tenant together with
//! everything the server keeps for its stores and its audit trail.

use super::stores::forget_local;
use super::sync::configured_targets;
use crate::error::ToolError;
use crate::host::Host;
use crate::{audit, tenancy};

pub use crate::tenancy::{Tenant, TenantRecord};

/// A tenant with its store count.
pub struct TenantSummary {
    pub record: TenantRecord,
    pub stores: u32,
}

/// `record` with its store count (0 when the list cannot be read: a summary never fails).
pub fn summary(host: &dyn Host, record: TenantRecord) -> TenantSummary {
    let stores = tenancy::store_ids(host, &record.id).map_or(0, |s| s.len() as u32);
    TenantSummary { record, stores }
}

/// Create a tenant; returns its record and its master key (shown once, never stored).
pub fn create(host: &dyn Host, name: &str) -> Result<(TenantRecord, String), ToolError> {
    tenancy::create_tenant(host, name)
}

/// Every tenant, with its store count.
pub fn list(host: &dyn Host) -> Result<Vec<TenantSummary>, ToolError> {
    Ok(tenancy::list_tenants(host)?
        .into_iter()
        .map(|r| summary(host, r))
        .collect())
}

/// The tenant a master key names by its form, checked or not.
pub fn claimed_by(master_key: &str) -> Option<&str> {
    tenancy::tenant_id_of(master_key)
}

/// The tenant a master key belongs to, if the key checks out.
pub fn authenticate(host: &dyn Host, master_key: &str) -> Result<Tenant, ToolError> {
    tenancy::authenticate(host, master_key)
}

/// What a connection signing in with a master key learns.
pub struct SignedIn {
    pub tenant_id: String,
    pub name: String,
    /// Registered stores.
    pub stores: usize,
}

/// Check a master key and describe its tenant.
pub fn sign_in(host: &dyn Host, master_key: &str) -> Result<SignedIn, ToolError> {
    let tenant = tenancy::authenticate(host, master_key)?;
    let record = tenancy::get_tenant(host, &tenant.id)?;
    let stores = tenant.stores(host)?.len();
    Ok(SignedIn {
        tenant_id: tenant.id,
        name: record.name,
        stores,
    })
}

/// Rotate a tenant's master key (see [`tenancy::rotate_key`]); returns the new one.
pub fn rotate_key(host: &dyn Host, id: &str, current: &str) -> Result<String, ToolError> {
    tenancy::rotate_key(host, id, current)
}

/// Delete a tenant: first what the server keeps about each of its stores beside the
/// registry (sync, mirror, unattended key), then the tenant and its registry, then its
/// audit trail.
pub fn delete(host: &dyn Host, id: &str) -> Result<(), ToolError> {
    forget_stores(host, id)
        .and_then(|()| tenancy::delete_tenant(host, id))
        .and_then(|()| audit::clear(host, id))
}

/// What the server keeps about each of the tenant's stores beside the registry, including
/// stores still configured for sync after their registration went.
fn forget_stores(host: &dyn Host, id: &str) -> Result<(), ToolError> {
    tenancy::get_tenant(host, id)?;
    let mut stores = tenancy::store_ids(host, id)?;
    for (tenant, store_id) in configured_targets(host)? {
        if tenant == id && !stores.contains(&store_id) {
            stores.push(store_id);
        }
    }
    for store_id in stores {
        forget_local(host, id, &store_id)?;
    }
    Ok(())
}
