//! Tenants: master keys (a salted HMAC-SHA256 verifier only, see [`master_key`]), the
//! tenant record, key rotation and the tenant lock. Each tenant's store registry (sealed
//! API keys, the default store) is [`stores`].
//!
//! State layout (`state` bucket): `tenant/{id}`, `tenants` (list), and
//! `rl/auth/{tenant}/…` (failed checks of a legacy Argon2id verifier). Older versions also
//! wrote `auth/{sha256(key)}` verification-cache entries; nothing reads them any more, and
//! upgrading a legacy verifier deletes the one of its key.
//!
//! A store record keeps its API key sealed per master-key version. Rotation first adds a
//! copy sealed under the new key to every store, then switches the tenant record (one
//! write), then removes the old copies: a failure at any step leaves either the old key or
//! the new one opening every store. Rotation and registration hold the tenant's lock, and
//! registration re-checks the key version under it, so no store is sealed under a key that
//! is being retired.

use serde::{Deserialize, Serialize};

use crate::client::Credentials;
use crate::config::Secret;
use crate::crypto;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host, Level};
use crate::kv::{AppendList, get_json, kv_err, set_json};
use crate::lock::{LEASE_MS, Lease};

mod master_key;
mod stores;

pub use master_key::{authenticate, tenant_id_of};
use master_key::{key_hash, new_master_key};
pub use stores::{
    StoreRecord, default_store_of, set_default_store, store_ids, store_records, update_store,
};

/// How long registration or rotation waits for the other to finish.
const TENANT_LOCK_WAIT_MS: u64 = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    pub created_at_ms: u64,
    /// The master key's verifier: `hmac-sha256$<salt hex>$<mac hex>` (HMAC-SHA256 keyed by
    /// a random per-record salt). Records from older versions hold an Argon2id PHC string
    /// until their key next verifies, which rewrites it in the new form.
    pub key_hash: String,
    /// HKDF salt, hex.
    pub hkdf_salt: String,
    /// Bumped by every rotation; names the master key that sealed each store's API key.
    pub key_version: u32,
    /// The address its sign-in links go to (normalised: trimmed, lower-case); none for
    /// tenants made by the CLI. Indexed by `email/{sha256(address)}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A disabled tenant's key is refused (`TENANT_DISABLED`) until it is enabled again.
    #[serde(default)]
    pub disabled: bool,
}

/// A caller whose master key checked out.
#[derive(Clone)]
pub struct Tenant {
    pub id: String,
    master_key: Secret,
    record: TenantRecord,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn tenant_key(id: &str) -> String {
    format!("tenant/{id}")
}

/// The lock registration, rotation and verifier upgrades of one tenant share.
fn tenant_lock<'h>(host: &'h dyn Host, id: &str) -> Result<Lease<'h>, ToolError> {
    try_tenant_lock(host, id, TENANT_LOCK_WAIT_MS)?.ok_or_else(|| {
        ToolError::new(
            ErrorCode::ConcurrentUpdate,
            "the tenant is being changed (key rotation or registration); try again",
        )
    })
}

/// [`tenant_lock`], waiting at most `wait_ms`; `None` when it stayed taken.
fn try_tenant_lock<'h>(
    host: &'h dyn Host,
    id: &str,
    wait_ms: u64,
) -> Result<Option<Lease<'h>>, ToolError> {
    Lease::acquire(host, &format!("tenant/{id}"), LEASE_MS, wait_ms)
}

fn auth_required(message: &str) -> ToolError {
    ToolError::new(ErrorCode::AuthRequired, message.to_string())
}

/// Create a tenant; returns the record and its master key (shown once).
pub fn create_tenant(host: &dyn Host, name: &str) -> Result<(TenantRecord, String), ToolError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ToolError::invalid_argument(
            "name",
            "must be 1-100 characters",
        ));
    }
    let id = hex::encode(host.random_bytes(8));
    let master_key = new_master_key(host, &id);
    let record = TenantRecord {
        id: id.clone(),
        name: name.to_string(),
        created_at_ms: host.now_ms(),
        key_hash: key_hash(host, &master_key),
        hkdf_salt: hex::encode(host.random_bytes(32)),
        key_version: 1,
        email: None,
        disabled: false,
    };
    set_json(host, Bucket::State, &tenant_key(&id), &record)?;
    AppendList::new(host, "tenants").push(&id)?;
    Ok((record, master_key))
}

pub fn list_tenants(host: &dyn Host) -> Result<Vec<TenantRecord>, ToolError> {
    let mut out = Vec::new();
    for id in AppendList::new(host, "tenants").items()? {
        if let Some(record) = get_json::<TenantRecord>(host, Bucket::State, &tenant_key(&id))? {
            out.push(record);
        }
    }
    Ok(out)
}

pub fn get_tenant(host: &dyn Host, id: &str) -> Result<TenantRecord, ToolError> {
    get_json(host, Bucket::State, &tenant_key(id))?
        .ok_or_else(|| ToolError::new(ErrorCode::TenantNotFound, format!("no tenant with id {id}")))
}

/// Change a tenant's record under the tenant lock (so a rotation's record write and this
/// one never lose each other); returns the record as saved.
pub fn update_tenant(
    host: &dyn Host,
    id: &str,
    change: impl FnOnce(&mut TenantRecord) -> Result<(), ToolError>,
) -> Result<TenantRecord, ToolError> {
    let _lock = tenant_lock(host, id)?;
    let mut record = get_tenant(host, id)?;
    change(&mut record)?;
    set_json(host, Bucket::State, &tenant_key(id), &record)?;
    Ok(record)
}

/// Delete a tenant and everything it owns in the state bucket.
pub fn delete_tenant(host: &dyn Host, id: &str) -> Result<(), ToolError> {
    get_tenant(host, id)?;
    stores::forget_all(host, id)?;
    host.kv_delete(Bucket::State, &tenant_key(id))
        .map_err(kv_err)?;
    AppendList::new(host, "tenants").remove(id)?;
    Ok(())
}

impl Tenant {
    /// The tenant's stored record (no key material beyond the master key's verifier and
    /// the HKDF salt).
    pub fn record(&self) -> &TenantRecord {
        &self.record
    }

    fn encryption_key(&self) -> Result<[u8; 32], ToolError> {
        let salt = hex::decode(&self.record.hkdf_salt)
            .map_err(|_| ToolError::new(ErrorCode::Internal, "tenant record has a bad salt"))?;
        Ok(crypto::derive_key(&self.master_key.0, &salt))
    }
}

/// Rotate a tenant's master key; returns the new one. Three steps, each of which may fail
/// without losing a key: (1) every store gets a copy of its API key sealed under the new
/// key, beside the old copy; (2) the tenant record switches to the new key in one write —
/// from here the new key opens every store and the old key no longer verifies; (3) the
/// old copies are removed (a failure here is logged; they are inert).
pub fn rotate_key(host: &dyn Host, id: &str, current: &str) -> Result<String, ToolError> {
    let _lock = tenant_lock(host, id)?;
    let tenant = authenticate(host, current)?;
    if tenant.id != id {
        return Err(auth_required("that master key belongs to another tenant"));
    }
    let stores: Vec<(StoreRecord, Credentials)> = tenant
        .stores(host)?
        .into_iter()
        .map(|r| tenant.credentials(&r).map(|c| (r, c)))
        .collect::<Result<_, _>>()?;
    let new_key = new_master_key(host, id);
    let mut record = tenant.record.clone();
    record.key_hash = key_hash(host, &new_key);
    record.hkdf_salt = hex::encode(host.random_bytes(32));
    record.key_version += 1;
    let rotated = Tenant {
        id: id.to_string(),
        master_key: Secret(new_key.clone()),
        record: record.clone(),
    };
    let key = rotated.encryption_key()?;
    // (1) new copies beside the old ones
    for (r, c) in &stores {
        rotated.add_sealed_copy(host, &key, r, &c.api_key.0)?;
    }
    // (2) the switch
    set_json(host, Bucket::State, &tenant_key(id), &record)?;
    // (3) clean-up
    for (r, _) in &stores {
        if let Err(e) = stores::keep_only_copy(host, id, &r.store_id, record.key_version) {
            host.log(
                Level::Warn,
                "tenancy",
                &format!("old sealed key of store {} not removed: {e}", r.store_id),
            );
        }
    }
    Ok(new_key)
}

#[cfg(test)]
mod tests {
    use super::stores::store_key;
    use super::*;
    use crate::testing::ScriptedHost;

    #[test]
    fn rotation_keeps_store_keys_and_retires_the_old_key() {
        let host = ScriptedHost::configured();
        let (record, old) = create_tenant(&host, "Acme").unwrap();
        authenticate(&host, &old)
            .unwrap()
            .save_store(&host, "7", "k7", "Seven", None)
            .unwrap();
        let new = rotate_key(&host, &record.id, &old).unwrap();
        assert!(
            authenticate(&host, &old).is_err(),
            "old key retired at once"
        );
        let tenant = authenticate(&host, &new).unwrap();
        let r = tenant.resolve(&host, "7").unwrap();
        assert_eq!(tenant.credentials(&r).unwrap().api_key.0, "k7");
    }

    /// Whether `key` signs in and opens every one of `stores`.
    fn opens_all(host: &ScriptedHost, key: &str, stores: &[(&str, &str)]) -> bool {
        let Ok(tenant) = authenticate(host, key) else {
            return false;
        };
        stores.iter().all(|(id, api_key)| {
            tenant
                .resolve(host, id)
                .and_then(|r| tenant.credentials(&r))
                .is_ok_and(|c| c.api_key.0 == *api_key)
        })
    }

    #[test]
    fn a_rotation_failing_at_any_step_leaves_the_old_or_the_new_key_working() {
        let stores = [("1", "k1"), ("2", "k2"), ("3", "k3")];
        let mut outcomes = (0, 0);
        for allowed_writes in 0..40 {
            let host = ScriptedHost::configured();
            let (record, old) = create_tenant(&host, "Acme").unwrap();
            let tenant = authenticate(&host, &old).unwrap();
            for (id, key) in stores {
                tenant.save_store(&host, id, key, id, None).unwrap();
            }
            host.writes_left.set(Some(allowed_writes));
            let result = rotate_key(&host, &record.id, &old);
            host.writes_left.set(None);
            match result {
                Ok(new) => {
                    outcomes.1 += 1;
                    assert!(opens_all(&host, &new, &stores), "new key, {allowed_writes}");
                    assert!(authenticate(&host, &old).is_err(), "old key retired");
                }
                Err(_) => {
                    outcomes.0 += 1;
                    assert!(opens_all(&host, &old, &stores), "old key, {allowed_writes}");
                    // A later rotation still works from there.
                    let new = rotate_key(&host, &record.id, &old).unwrap();
                    assert!(opens_all(&host, &new, &stores));
                }
            }
        }
        assert!(
            outcomes.0 > 3 && outcomes.1 > 3,
            "both sides exercised: {outcomes:?}"
        );
    }

    #[test]
    fn a_completed_rotation_leaves_one_sealed_copy_per_store() {
        let host = ScriptedHost::configured();
        let (record, old) = create_tenant(&host, "Acme").unwrap();
        let tenant = authenticate(&host, &old).unwrap();
        tenant.save_store(&host, "1", "k1", "one", None).unwrap();
        let new = rotate_key(&host, &record.id, &old).unwrap();
        let stored: StoreRecord = get_json(&host, Bucket::State, &store_key(&record.id, "1"))
            .unwrap()
            .unwrap();
        assert_eq!(stored.sealed.len(), 1, "the old copy is gone");
        assert!(opens_all(&host, &new, &[("1", "k1")]));
    }
}
