//! One store on the server: its credentials, its data and its own leaky bucket.
//!
//! OrderDesk serves every store from one origin and picks the store from the
//! `ORDERDESK-STORE-ID` and `ORDERDESK-API-KEY` headers; the gate in `server` resolves them
//! to a [`Tenant`] and hands it to the handlers as a request extension.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::HeaderMap;

use crate::data::StoreData;
use crate::faults::Bucket;
use crate::{FakeConfig, lock};

/// A store served by the fake.
#[derive(Debug)]
pub struct Tenant {
    /// The id clients send in `ORDERDESK-STORE-ID`.
    pub id: String,
    /// The key clients send in `ORDERDESK-API-KEY`.
    pub api_key: String,
    /// The name `GET /store` reports.
    pub name: String,
    /// More keys the store accepts besides `api_key` ([`crate::FakeOrderDesk::add_api_key`]).
    extra_keys: Mutex<Vec<String>>,
    bucket: Mutex<Bucket>,
    data: Mutex<StoreData>,
}

impl Tenant {
    /// A store seeded from `data`, its bucket set up from `config`.
    pub fn new(
        id: &str,
        api_key: &str,
        name: String,
        config: &FakeConfig,
        data: StoreData,
    ) -> Self {
        Self {
            id: id.to_string(),
            api_key: api_key.to_string(),
            name,
            extra_keys: Mutex::new(Vec::new()),
            bucket: Mutex::new(Bucket::new(
                config.rate_limit,
                config.bucket_capacity,
                config.refill_per_sec,
            )),
            data: Mutex::new(data),
        }
    }

    /// The store's records.
    pub fn data(&self) -> MutexGuard<'_, StoreData> {
        lock(&self.data)
    }

    /// Makes the store accept `key` too.
    pub fn add_key(&self, key: &str) {
        lock(&self.extra_keys).push(key.to_string());
    }

    /// Whether `key` is one the store accepts.
    pub fn accepts(&self, key: &str) -> bool {
        key == self.api_key || lock(&self.extra_keys).iter().any(|k| k == key)
    }

    /// The store's rate-limit bucket.
    pub fn bucket(&self) -> MutexGuard<'_, Bucket> {
        lock(&self.bucket)
    }
}

/// Every store on the server, by id.
#[derive(Debug, Default)]
pub struct Tenants {
    stores: Mutex<BTreeMap<String, Arc<Tenant>>>,
}

impl Tenants {
    /// Adds `tenant`, replacing any store with the same id.
    pub fn insert(&self, tenant: Tenant) {
        lock(&self.stores).insert(tenant.id.clone(), Arc::new(tenant));
    }

    /// The store with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Tenant>> {
        lock(&self.stores).get(id).cloned()
    }

    /// Every store, ordered by id.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        lock(&self.stores).values().cloned().collect()
    }

    /// The store whose id and key the request carries; `None` unless both match one store.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<Arc<Tenant>> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let tenant = self.get(header("ORDERDESK-STORE-ID")?)?;
        tenant
            .accepts(header("ORDERDESK-API-KEY")?)
            .then_some(tenant)
    }
}
