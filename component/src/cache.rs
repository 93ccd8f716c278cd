//! Read-through cache over the `cache` bucket. Keys are
//! `{tenant}:{store}:{endpoint}:{query-hash}`; each value carries its own expiry, so any
//! key-value backend (even one without TTLs) serves.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::Ttls;
use crate::host::{Bucket, Host, Level};

/// The families of cached reads. Each has its own lifetime and generation counter, so a
/// write invalidates exactly its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `/orders` and `/orders/{id}`.
    Orders,
    /// `/inventory-items` and `/inventory-items/{id}`.
    Products,
    /// `/store`: settings and folders.
    Store,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Orders, Family::Products, Family::Store];

    /// The endpoint part of cache keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Orders => "orders",
            Family::Products => "inventory-items",
            Family::Store => "store",
        }
    }
}

impl Ttls {
    /// How long a family's reads are kept.
    pub fn of(&self, family: Family) -> u64 {
        match family {
            Family::Orders => self.orders_ms,
            Family::Products => self.products_ms,
            Family::Store => self.store_ms,
        }
    }
}

/// Whether a result came from the cache; tools report it as `cache: "hit" | "miss"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    Hit,
    Miss,
}

/// The cache key for one upstream read. The query is sorted before hashing, so the same
/// filters in another order share an entry; the hash keeps keys short and free of PII.
pub fn key(tenant: &str, store: &str, endpoint: &str, query: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort();
    let mut hasher = Sha256::new();
    for (k, v) in pairs {
        // Length prefixes keep ("a","bc") and ("ab","c") apart.
        hasher.update((k.len() as u64).to_le_bytes());
        hasher.update(k.as_bytes());
        hasher.update((v.len() as u64).to_le_bytes());
        hasher.update(v.as_bytes());
    }
    let digest = hasher.finalize();
    format!("{tenant}:{store}:{endpoint}:{}", hex::encode(&digest[..8]))
}

#[derive(Serialize, Deserialize)]
struct Entry {
    expires_at_ms: u64,
    value: Value,
}

/// The cache as seen by one tenant and store.
pub struct Cache<'a> {
    host: &'a dyn Host,
    tenant: &'a str,
    store: &'a str,
    ttls: Ttls,
}

impl<'a> Cache<'a> {
    pub fn new(host: &'a dyn Host, tenant: &'a str, store: &'a str, ttls: Ttls) -> Self {
        Self {
            host,
            tenant,
            store,
            ttls,
        }
    }

    /// The generation counter of an endpoint family; every key embeds it, so bumping it
    /// invalidates all of that store's entries at once. Kept in `state`: if an evictable
    /// bucket dropped it, old entries would come back.
    fn generation_key(&self, family: Family) -> String {
        format!("gen/{}/{}/{}", self.tenant, self.store, family.as_str())
    }

    fn generation(&self, family: Family) -> u64 {
        self.host
            .kv_increment(Bucket::State, &self.generation_key(family), 0)
            .unwrap_or_else(|e| {
                self.host
                    .log(Level::Warn, "cache", &format!("generation unreadable: {e}"));
                0
            })
    }

    /// Invalidate every cached read of `family` for this tenant and store, in O(1).
    pub fn invalidate(&self, family: Family) {
        if let Err(e) = self
            .host
            .kv_increment(Bucket::State, &self.generation_key(family), 1)
        {
            self.host
                .log(Level::Error, "cache", &format!("invalidation failed: {e}"));
        }
    }

    /// Return the cached value for `family` + `query` if fresh, else call `fetch` and keep
    /// its result for the family's lifetime. Cache failures are logged and never fail the
    /// read.
    pub fn read_through<E>(
        &self,
        family: Family,
        query: &[(String, String)],
        fetch: impl FnOnce() -> Result<Value, E>,
    ) -> Result<(Value, CacheStatus), E> {
        let ttl_ms = self.ttls.of(family);
        let mut versioned = query.to_vec();
        versioned.push((
            "\u{0}generation".into(),
            self.generation(family).to_string(),
        ));
        let key = key(self.tenant, self.store, family.as_str(), &versioned);
        let now = self.host.now_ms();
        if ttl_ms > 0
            && let Some(value) = self.lookup(&key, now)
        {
            return Ok((value, CacheStatus::Hit));
        }
        let value = fetch()?;
        if ttl_ms > 0 {
            self.store(&key, now.saturating_add(ttl_ms), &value);
        }
        Ok((value, CacheStatus::Miss))
    }

    fn lookup(&self, key: &str, now: u64) -> Option<Value> {
        let bytes = match self.host.kv_get(Bucket::Cache, key) {
            Ok(found) => found?,
            Err(e) => {
                self.host
                    .log(Level::Warn, "cache", &format!("read failed: {e}"));
                return None;
            }
        };
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) if entry.expires_at_ms > now => Some(entry.value),
            Ok(_) => None,
            Err(e) => {
                self.host.log(
                    Level::Warn,
                    "cache",
                    &format!("unreadable entry dropped: {e}"),
                );
                let _ = self.host.kv_delete(Bucket::Cache, key);
                None
            }
        }
    }

    fn store(&self, key: &str, expires_at_ms: u64, value: &Value) {
        let entry = Entry {
            expires_at_ms,
            value: value.clone(),
        };
        let bytes = serde_json::to_vec(&entry).expect("a JSON value always serializes");
        if let Err(e) = self.host.kv_set(Bucket::Cache, key, &bytes) {
            self.host
                .log(Level::Warn, "cache", &format!("write failed: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn key_has_the_documented_shape() {
        let k = key("t1", "42", "orders", &q(&[("limit", "50")]));
        let parts: Vec<&str> = k.split(':').collect();
        assert_eq!(&parts[..3], &["t1", "42", "orders"]);
        assert_eq!(parts[3].len(), 16);
        assert!(parts[3].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn query_order_does_not_matter() {
        let a = key("t", "s", "orders", &q(&[("limit", "5"), ("offset", "10")]));
        let b = key("t", "s", "orders", &q(&[("offset", "10"), ("limit", "5")]));
        assert_eq!(a, b);
    }

    #[test]
    fn different_queries_tenants_and_stores_differ() {
        let base = key("t", "s", "orders", &q(&[("offset", "10")]));
        assert_ne!(base, key("t", "s", "orders", &q(&[("offset", "11")])));
        assert_ne!(base, key("u", "s", "orders", &q(&[("offset", "10")])));
        assert_ne!(base, key("t", "r", "orders", &q(&[("offset", "10")])));
        assert_ne!(
            base,
            key("t", "s", "inventory-items", &q(&[("offset", "10")]))
        );
        // Length-prefixing keeps shifted boundaries apart.
        assert_ne!(
            key("t", "s", "e", &q(&[("a", "bc")])),
            key("t", "s", "e", &q(&[("ab", "c")]))
        );
    }

    #[test]
    fn key_does_not_leak_query_values() {
        let k = key("t", "s", "orders", &q(&[("email", "alice@example.com")]));
        assert!(!k.contains("alice"));
    }
}
