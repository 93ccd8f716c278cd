//! Tenants as the doors see them: creating and listing them with their store counts,
//! signing in with a master key, rotating it, and deleting a tenant together with
//! everything the server keeps for its stores and its audit trail.

use sha2::{Digest, Sha256};

use super::stores::forget_local;
use super::sync::configured_targets;
use super::{Settings, traces};
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host};
use crate::kv::kv_err;
use crate::lock::{LEASE_MS, Lease};
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
/// registry (sync, mirror, unattended key), then its e-mail index entry, the tenant and
/// its registry, then its audit trail and its traces.
pub fn delete(host: &dyn Host, id: &str) -> Result<(), ToolError> {
    forget_stores(host, id)
        .and_then(|()| forget_email(host, id))
        .and_then(|()| tenancy::delete_tenant(host, id))
        .and_then(|()| audit::clear(host, id))
        .and_then(|()| traces::delete_all(host, id))
}

/// A tenant as the console shows it.
pub struct Profile {
    pub summary: TenantSummary,
    /// Start of its latest traced call, milliseconds since the Unix epoch.
    pub last_active_ms: Option<u64>,
}

/// One tenant's profile; `TENANT_NOT_FOUND`.
pub fn profile(host: &dyn Host, settings: &Settings, id: &str) -> Result<Profile, ToolError> {
    let record = tenancy::get_tenant(host, id)?;
    Ok(Profile {
        last_active_ms: traces::last_active_ms(host, settings, id),
        summary: summary(host, record),
    })
}

/// Every tenant's profile.
pub fn profiles(host: &dyn Host, settings: &Settings) -> Result<Vec<Profile>, ToolError> {
    Ok(tenancy::list_tenants(host)?
        .into_iter()
        .map(|record| Profile {
            last_active_ms: traces::last_active_ms(host, settings, &record.id),
            summary: summary(host, record),
        })
        .collect())
}

/// Disable or enable a tenant: a disabled tenant's key is refused with `TENANT_DISABLED`.
pub fn set_disabled(host: &dyn Host, id: &str, disabled: bool) -> Result<(), ToolError> {
    tenancy::update_tenant(host, id, |r| {
        r.disabled = disabled;
        Ok(())
    })
    .map(drop)
}

/// An e-mail address normalised (trimmed, lower-case) and minimally checked: one `@`, a
/// non-empty local part, a domain with a dot, at most 254 characters, no whitespace or
/// control characters. `INVALID_ARGUMENT` otherwise.
pub fn normalise_email(raw: &str) -> Result<String, ToolError> {
    let email = raw.trim().to_lowercase();
    let bad = |why: &str| ToolError::invalid_argument("email", why.to_string());
    if email.len() > 254 {
        return Err(bad("is longer than 254 characters"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace or a control character"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(bad("has no @"));
    };
    if domain.contains('@') {
        return Err(bad("has more than one @"));
    }
    if local.is_empty() {
        return Err(bad("has nothing before the @"));
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Err(bad("needs a domain with a dot after the @"));
    }
    Ok(email)
}

fn email_key(email: &str) -> String {
    format!("email/{}", hex::encode(Sha256::digest(email.as_bytes())))
}

/// The tenant an address belongs to, if any (a stale index entry is no one's).
pub fn tenant_of_email(host: &dyn Host, email: &str) -> Result<Option<TenantRecord>, ToolError> {
    let Some(id) = host
        .kv_get(Bucket::State, &email_key(email))
        .map_err(kv_err)?
    else {
        return Ok(None);
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    match tenancy::get_tenant(host, &id) {
        Ok(r) if r.email.as_deref() == Some(email) => Ok(Some(r)),
        Ok(_) => Ok(None),
        Err(e) if e.code == ErrorCode::TenantNotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Give tenant `id` the address `email` (normalised): `EMAIL_TAKEN` when another tenant
/// has it. The index entry is written first, under a lock on the address, so two tenants
/// never both hold one address; the old address's entry goes last.
pub fn set_email(host: &dyn Host, id: &str, email: &str) -> Result<(), ToolError> {
    let email = normalise_email(email)?;
    let key = email_key(&email);
    let _lock = Lease::acquire(host, &key, LEASE_MS, 5_000)?.ok_or_else(|| {
        ToolError::new(
            ErrorCode::ConcurrentUpdate,
            "this address is being claimed right now; try again",
        )
    })?;
    tenancy::get_tenant(host, id)?;
    if let Some(holder) = tenant_of_email(host, &email)?
        && holder.id != id
    {
        return Err(ToolError::new(
            ErrorCode::EmailTaken,
            "another tenant already has this e-mail address",
        ));
    }
    host.kv_set(Bucket::State, &key, id.as_bytes())
        .map_err(kv_err)?;
    let mut old = None;
    tenancy::update_tenant(host, id, |r| {
        old = r.email.replace(email.clone());
        Ok(())
    })?;
    if let Some(old) = old.filter(|o| *o != email) {
        let old_key = email_key(&old);
        if host
            .kv_get(Bucket::State, &old_key)
            .map_err(kv_err)?
            .as_deref()
            == Some(id.as_bytes())
        {
            host.kv_delete(Bucket::State, &old_key).map_err(kv_err)?;
        }
    }
    Ok(())
}

/// Remove the tenant's e-mail index entry (if it still points at the tenant).
fn forget_email(host: &dyn Host, id: &str) -> Result<(), ToolError> {
    let record = tenancy::get_tenant(host, id)?;
    let Some(email) = record.email else {
        return Ok(());
    };
    let key = email_key(&email);
    let holder = host.kv_get(Bucket::State, &key).map_err(kv_err)?;
    if holder.as_deref() == Some(id.as_bytes()) {
        host.kv_delete(Bucket::State, &key).map_err(kv_err)?;
    }
    Ok(())
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
