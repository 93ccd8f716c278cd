//! A tenant's store registry: each store's record with its API key sealed (AES-256-GCM,
//! bound to tenant and store) under the tenant's master key, lookup by id or name, and the
//! tenant's default store.
//!
//! State layout (`state` bucket): `store/{tenant}/{store_id}`, `stores/{tenant}` (list),
//! `default/{tenant}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Tenant, auth_required, get_tenant, tenant_lock};
use crate::client::Credentials;
use crate::config::Secret;
use crate::crypto;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host};
use crate::kv::{AppendList, get_json, kv_err, set_json};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreRecord {
    pub store_id: String,
    pub name: String,
    pub label: Option<String>,
    /// Master-key version → hex(nonce || AES-256-GCM(api key)), bound to tenant and store.
    /// Normally one entry; two while a rotation runs (or after one failed midway).
    #[serde(default)]
    pub sealed: BTreeMap<u32, String>,
    pub created_at_ms: u64,
}

pub(super) fn store_key(tenant: &str, store_id: &str) -> String {
    format!("store/{tenant}/{store_id}")
}

fn stores_list<'h>(host: &'h dyn Host, tenant_id: &str) -> AppendList<'h> {
    AppendList::new(host, format!("stores/{tenant_id}"))
}

fn default_key(tenant_id: &str) -> String {
    format!("default/{tenant_id}")
}

/// The ids of a tenant's registered stores (no store record is read).
pub fn store_ids(host: &dyn Host, tenant_id: &str) -> Result<Vec<String>, ToolError> {
    stores_list(host, tenant_id).items()
}

/// A tenant's store records, in registration order (no key is opened).
pub fn store_records(host: &dyn Host, tenant_id: &str) -> Result<Vec<StoreRecord>, ToolError> {
    let mut out = Vec::new();
    for id in stores_list(host, tenant_id).items()? {
        if let Some(r) = get_json::<StoreRecord>(host, Bucket::State, &store_key(tenant_id, &id))? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Change one store record of a tenant; `STORE_NOT_FOUND` when it has no such store.
pub fn update_store(
    host: &dyn Host,
    tenant_id: &str,
    store_id: &str,
    change: impl FnOnce(&mut StoreRecord),
) -> Result<(), ToolError> {
    let _lock = tenant_lock(host, tenant_id)?;
    let key = store_key(tenant_id, store_id);
    let mut record = get_json::<StoreRecord>(host, Bucket::State, &key)?
        .ok_or_else(|| no_such_store(store_id))?;
    change(&mut record);
    set_json(host, Bucket::State, &key, &record)
}

/// Make a registered store the tenant's default; `STORE_NOT_FOUND` otherwise.
pub fn set_default_store(
    host: &dyn Host,
    tenant_id: &str,
    store_id: &str,
) -> Result<(), ToolError> {
    if get_json::<StoreRecord>(host, Bucket::State, &store_key(tenant_id, store_id))?.is_none() {
        return Err(no_such_store(store_id));
    }
    host.kv_set(Bucket::State, &default_key(tenant_id), store_id.as_bytes())
        .map_err(kv_err)
}

/// The tenant's default store id, if it has one.
pub fn default_store_of(host: &dyn Host, tenant_id: &str) -> Result<Option<String>, ToolError> {
    Ok(host
        .kv_get(Bucket::State, &default_key(tenant_id))
        .map_err(kv_err)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

fn no_such_store(store_id: &str) -> ToolError {
    ToolError::new(
        ErrorCode::StoreNotFound,
        format!("no store {store_id:?} is registered for this tenant"),
    )
    .with_details(serde_json::json!({ "store": store_id }))
}

/// Forget every store of a tenant that is being deleted: records, list and default.
pub(super) fn forget_all(host: &dyn Host, tenant_id: &str) -> Result<(), ToolError> {
    let stores = stores_list(host, tenant_id);
    for store_id in stores.items()? {
        host.kv_delete(Bucket::State, &store_key(tenant_id, &store_id))
            .map_err(kv_err)?;
    }
    stores.clear()?;
    host.kv_delete(Bucket::State, &default_key(tenant_id))
        .map_err(kv_err)
}

/// Rotation's last step: drop every sealed copy of the store's key but `version`'s (a store
/// deleted meanwhile stays deleted).
pub(super) fn keep_only_copy(
    host: &dyn Host,
    tenant_id: &str,
    store_id: &str,
    version: u32,
) -> Result<(), ToolError> {
    let key = store_key(tenant_id, store_id);
    let Some(mut found) = get_json::<StoreRecord>(host, Bucket::State, &key)? else {
        return Ok(());
    };
    found.sealed.retain(|v, _| *v == version);
    set_json(host, Bucket::State, &key, &found)
}

impl Tenant {
    /// Seal `api_key` under this tenant's master key and save the store (replacing one
    /// with the same id). Under the tenant lock, the key version is checked first: a
    /// registration never seals under a key a rotation has retired.
    pub fn save_store(
        &self,
        host: &dyn Host,
        store_id: &str,
        api_key: &str,
        name: &str,
        label: Option<String>,
    ) -> Result<StoreRecord, ToolError> {
        let _lock = tenant_lock(host, &self.id)?;
        let current = get_tenant(host, &self.id)?;
        if current.key_version != self.record.key_version {
            return Err(auth_required(
                "the tenant's master key was rotated meanwhile; sign in with the new key",
            ));
        }
        let sealed = self.seal(host, &self.encryption_key()?, store_id, api_key);
        let record = StoreRecord {
            store_id: store_id.to_string(),
            name: name.to_string(),
            label,
            sealed: BTreeMap::from([(self.record.key_version, sealed)]),
            created_at_ms: host.now_ms(),
        };
        let existed =
            get_json::<StoreRecord>(host, Bucket::State, &store_key(&self.id, store_id))?.is_some();
        set_json(host, Bucket::State, &store_key(&self.id, store_id), &record)?;
        if !existed {
            stores_list(host, &self.id).push(store_id)?;
        }
        Ok(record)
    }

    /// Rotation's first step: save `record` with a copy of its API key sealed under this
    /// (new) tenant key, beside the old copies.
    pub(super) fn add_sealed_copy(
        &self,
        host: &dyn Host,
        key: &[u8; 32],
        record: &StoreRecord,
        api_key: &str,
    ) -> Result<(), ToolError> {
        let mut next = record.clone();
        next.sealed.insert(
            self.record.key_version,
            self.seal(host, key, &record.store_id, api_key),
        );
        set_json(
            host,
            Bucket::State,
            &store_key(&self.id, &record.store_id),
            &next,
        )
    }

    fn seal(&self, host: &dyn Host, key: &[u8; 32], store_id: &str, api_key: &str) -> String {
        let nonce: [u8; 12] = host.random_bytes(12).try_into().expect("12 bytes asked");
        crypto::seal(
            key,
            &nonce,
            api_key.as_bytes(),
            &crypto::associated_data(&self.id, store_id),
        )
    }

    pub fn stores(&self, host: &dyn Host) -> Result<Vec<StoreRecord>, ToolError> {
        store_records(host, &self.id)
    }

    /// A store by exact id, else by case-insensitive name (or label).
    pub fn resolve(&self, host: &dyn Host, wanted: &str) -> Result<StoreRecord, ToolError> {
        if let Some(r) = get_json::<StoreRecord>(host, Bucket::State, &store_key(&self.id, wanted))?
        {
            return Ok(r);
        }
        let matches: Vec<StoreRecord> = self
            .stores(host)?
            .into_iter()
            .filter(|r| {
                r.name.eq_ignore_ascii_case(wanted)
                    || r.label
                        .as_deref()
                        .is_some_and(|l| l.eq_ignore_ascii_case(wanted))
            })
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().expect("one match")),
            0 => Err(ToolError::new(
                ErrorCode::StoreNotFound,
                format!(
                    "no store {wanted:?} is registered; stores_list shows the registered stores"
                ),
            )
            .with_details(serde_json::json!({ "store": wanted }))),
            _ => Err(ToolError::new(
                ErrorCode::StoreNotFound,
                format!("{wanted:?} names several stores; use the store id"),
            )),
        }
    }

    pub fn delete_store(&self, host: &dyn Host, store_id: &str) -> Result<(), ToolError> {
        host.kv_delete(Bucket::State, &store_key(&self.id, store_id))
            .map_err(kv_err)?;
        stores_list(host, &self.id).remove(store_id)
    }

    /// Decrypt a store's API key into credentials.
    pub fn credentials(&self, record: &StoreRecord) -> Result<Credentials, ToolError> {
        let sealed = record.sealed.get(&self.record.key_version).ok_or_else(|| {
            ToolError::new(
                ErrorCode::Internal,
                format!(
                    "store {} has no key sealed for the current master key; register it again",
                    record.store_id
                ),
            )
        })?;
        let plain = crypto::open(
            &self.encryption_key()?,
            sealed,
            &crypto::associated_data(&self.id, &record.store_id),
        )
        .map_err(|e| {
            ToolError::new(
                ErrorCode::Internal,
                format!("stored API key for store {}: {e}", record.store_id),
            )
        })?;
        Ok(Credentials {
            store_id: record.store_id.clone(),
            api_key: Secret(
                String::from_utf8(plain).map_err(|_| {
                    ToolError::new(ErrorCode::Internal, "stored API key is not text")
                })?,
            ),
        })
    }

    /// Make `store_id` the tenant's default (the store tools use when a connection has
    /// picked none).
    pub fn set_default(&self, host: &dyn Host, store_id: &str) -> Result<(), ToolError> {
        host.kv_set(Bucket::State, &default_key(&self.id), store_id.as_bytes())
            .map_err(kv_err)
    }

    /// The tenant's default store, if it has one.
    pub fn default_store(&self, host: &dyn Host) -> Result<Option<String>, ToolError> {
        default_store_of(host, &self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{authenticate, create_tenant, rotate_key};
    use super::*;
    use crate::testing::ScriptedHost;

    #[test]
    fn create_authenticate_and_store_round_trip() {
        let host = ScriptedHost::configured();
        let (record, key) = create_tenant(&host, "Acme").unwrap();
        assert!(key.starts_with(&format!("odmk_{}_", record.id)));
        let tenant = authenticate(&host, &key).unwrap();
        tenant
            .save_store(&host, "101", "api-key-101", "Main", None)
            .unwrap();
        let stored = host
            .kv
            .borrow()
            .get(&("state", "store/".to_string() + &record.id + "/101"))
            .cloned()
            .unwrap();
        assert!(!String::from_utf8_lossy(&stored).contains("api-key-101"));
        let r = tenant.resolve(&host, "main").unwrap();
        assert_eq!(tenant.credentials(&r).unwrap().api_key.0, "api-key-101");
        assert!(authenticate(&host, &key.replace("odmk_", "odmk_0")).is_err());
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push('x');
        assert_eq!(
            authenticate(&host, &wrong).unwrap_err().code,
            ErrorCode::AuthRequired
        );
    }

    #[test]
    fn a_registration_with_a_retired_key_version_is_refused() {
        let host = ScriptedHost::configured();
        let (record, old) = create_tenant(&host, "Acme").unwrap();
        let stale = authenticate(&host, &old).unwrap();
        let new = rotate_key(&host, &record.id, &old).unwrap();
        let e = stale
            .save_store(&host, "9", "k9", "nine", None)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthRequired);
        let fresh = authenticate(&host, &new).unwrap();
        assert!(fresh.resolve(&host, "9").is_err(), "nothing was saved");
    }

    #[test]
    fn a_store_record_moved_to_another_tenant_does_not_open() {
        let host = ScriptedHost::configured();
        let (_, ka) = create_tenant(&host, "A").unwrap();
        let (rb, kb) = create_tenant(&host, "B").unwrap();
        let a = authenticate(&host, &ka).unwrap();
        let record = a.save_store(&host, "1", "secret", "S", None).unwrap();
        let b = authenticate(&host, &kb).unwrap();
        assert_eq!(b.id, rb.id);
        assert!(b.credentials(&record).is_err());
    }
}
