//! Read-through cache over one evictable bucket per family (`cache-orders`, …). Keys are
//! `{tenant}:{store}:{endpoint}:{query-hash}`, where the hash also covers the family's
//! generation, so a write invalidates every entry of its family at once. Each value
//! carries its own expiry, so any key-value backend serves; the host's backends also
//! expire and cap the buckets themselves, which sweeps the entries a bump made unreachable.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

pub use crate::host::Family;

use crate::config::Ttls;
use crate::host::{Bucket, Host, Level};
use crate::trace;

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

/// The generation counter of a family; every key embeds it, so bumping it invalidates all
/// of that store's entries at once. Kept in `state`: if an evictable bucket dropped it, old
/// entries would come back.
fn generation_key(tenant: &str, store: &str, family: Family) -> String {
    format!("gen/{tenant}/{store}/{}", family.as_str())
}

/// Invalidate every cached read of `family` for `tenant` and `store`, in O(1).
pub fn invalidate(host: &dyn Host, tenant: &str, store: &str, family: Family) {
    trace::instant(
        host,
        trace::kind::INVALIDATE,
        || family.as_str().to_string(),
        || None,
    );
    if let Err(e) = host.kv_increment(Bucket::State, &generation_key(tenant, store, family), 1) {
        host.log(Level::Error, "cache", &format!("invalidation failed: {e}"));
    }
}

/// A stored entry: its expiry and the value as JSON text (read without building it).
#[derive(Serialize, Deserialize)]
struct RawEntry<'a> {
    expires_at_ms: u64,
    #[serde(borrow)]
    value: &'a RawValue,
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

    fn generation(&self, family: Family) -> u64 {
        self.host
            .kv_increment(
                Bucket::State,
                &generation_key(self.tenant, self.store, family),
                0,
            )
            .unwrap_or_else(|e| {
                self.host
                    .log(Level::Warn, "cache", &format!("generation unreadable: {e}"));
                0
            })
    }

    /// Invalidate every cached read of `family` for this tenant and store, in O(1).
    pub fn invalidate(&self, family: Family) {
        invalidate(self.host, self.tenant, self.store, family);
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
        let span = trace::start(self.host);
        let (key, ttl_ms, now) = self.entry_key(family, query);
        let bucket = Bucket::Cache(family);
        if ttl_ms > 0
            && let Some(value) =
                self.lookup(bucket, &key, now, |v| serde_json::from_str(v.get()).ok())
        {
            self.counted(family, CacheStatus::Hit);
            self.traced(span, family, CacheStatus::Hit);
            return Ok((value, CacheStatus::Hit));
        }
        if ttl_ms > 0 {
            self.traced(span, family, CacheStatus::Miss);
        }
        let value = fetch()?;
        if ttl_ms > 0 {
            self.counted(family, CacheStatus::Miss);
            let text = serde_json::to_string(&value).expect("a JSON value always serializes");
            self.store(bucket, &key, now.saturating_add(ttl_ms), &text);
        }
        Ok((value, CacheStatus::Miss))
    }

    /// [`Self::read_through`] answering the body as text: a hit is handed on as stored,
    /// without building a `Value` of it.
    pub fn read_through_raw<E>(
        &self,
        family: Family,
        query: &[(String, String)],
        fetch: impl FnOnce() -> Result<Value, E>,
    ) -> Result<(Box<RawValue>, CacheStatus), E> {
        let span = trace::start(self.host);
        let (key, ttl_ms, now) = self.entry_key(family, query);
        let bucket = Bucket::Cache(family);
        if ttl_ms > 0
            && let Some(raw) = self.lookup(bucket, &key, now, |v| Some(v.to_owned()))
        {
            self.counted(family, CacheStatus::Hit);
            self.traced(span, family, CacheStatus::Hit);
            return Ok((raw, CacheStatus::Hit));
        }
        if ttl_ms > 0 {
            self.traced(span, family, CacheStatus::Miss);
        }
        let value = fetch()?;
        let text = serde_json::to_string(&value).expect("a JSON value always serializes");
        if ttl_ms > 0 {
            self.counted(family, CacheStatus::Miss);
            self.store(bucket, &key, now.saturating_add(ttl_ms), &text);
        }
        let raw = RawValue::from_string(text).expect("serialized just now");
        Ok((raw, CacheStatus::Miss))
    }

    /// The entry's key (with the family's generation), the family's lifetime, and now.
    fn entry_key(&self, family: Family, query: &[(String, String)]) -> (String, u64, u64) {
        let ttl_ms = self.ttls.of(family);
        let mut versioned = query.to_vec();
        versioned.push((
            "\u{0}generation".into(),
            self.generation(family).to_string(),
        ));
        let key = key(self.tenant, self.store, family.as_str(), &versioned);
        (key, ttl_ms, self.host.now_ms())
    }

    /// The lookup as a trace step: `hit orders`, `miss inventory-items`.
    fn traced(&self, span: trace::Span, family: Family, status: CacheStatus) {
        let result = match status {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
        };
        span.end(
            self.host,
            trace::kind::CACHE,
            || format!("{result} {}", family.as_str()),
            None,
            || None,
        );
    }

    fn counted(&self, family: Family, status: CacheStatus) {
        let result = match status {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
        };
        self.host
            .metric("cache", &[("family", family.as_str()), ("result", result)]);
    }

    /// `read` of the value of a fresh, readable entry (the entry is scanned once); an
    /// expired or unreadable one is dropped.
    fn lookup<R>(
        &self,
        bucket: Bucket,
        key: &str,
        now: u64,
        read: impl FnOnce(&RawValue) -> Option<R>,
    ) -> Option<R> {
        let bytes = match self.host.kv_get(bucket, key) {
            Ok(found) => found?,
            Err(e) => {
                self.host
                    .log(Level::Warn, "cache", &format!("read failed: {e}"));
                return None;
            }
        };
        match serde_json::from_slice::<RawEntry>(&bytes) {
            Ok(entry) if entry.expires_at_ms > now => read(entry.value),
            Ok(_) => {
                // Expired: gone now, even where the backend does not expire entries.
                let _ = self.host.kv_delete(bucket, key);
                None
            }
            Err(e) => {
                self.host.log(
                    Level::Warn,
                    "cache",
                    &format!("unreadable entry dropped: {e}"),
                );
                let _ = self.host.kv_delete(bucket, key);
                None
            }
        }
    }

    fn store(&self, bucket: Bucket, key: &str, expires_at_ms: u64, text: &str) {
        let entry = RawEntry {
            expires_at_ms,
            value: serde_json::from_str(text).expect("serialized JSON"),
        };
        let bytes = serde_json::to_vec(&entry).expect("a raw value always serializes");
        if let Err(e) = self.host.kv_set(bucket, key, &bytes) {
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

    fn ttls() -> Ttls {
        Ttls {
            orders_ms: 15_000,
            products_ms: 15_000,
            store_ms: 15_000,
        }
    }

    #[test]
    fn a_raw_hit_is_the_stored_text_and_either_reader_reads_either_writer() {
        let host = crate::testing::ScriptedHost::configured();
        let cache = Cache::new(&host, "t", "s", ttls());
        let body =
            serde_json::json!({"status": "success", "order": {"id": "5", "z": 1, "a": [1, 2]}});
        let query = q(&[("id", "5")]);
        // Written by the Value reader, read raw.
        let (first, status) = cache
            .read_through(Family::Orders, &query, || Ok::<_, ()>(body.clone()))
            .unwrap();
        assert_eq!((first, status), (body.clone(), CacheStatus::Miss));
        let (raw, status) = cache
            .read_through_raw(Family::Orders, &query, || -> Result<Value, ()> {
                panic!("must be a hit")
            })
            .unwrap();
        assert_eq!(status, CacheStatus::Hit);
        assert_eq!(serde_json::from_str::<Value>(raw.get()).unwrap(), body);
        // Written raw (after an invalidation), read as a Value.
        cache.invalidate(Family::Orders);
        let (raw, status) = cache
            .read_through_raw(Family::Orders, &query, || Ok::<_, ()>(body.clone()))
            .unwrap();
        assert_eq!(status, CacheStatus::Miss);
        assert_eq!(raw.get(), body.to_string());
        let (value, status) = cache
            .read_through(Family::Orders, &query, || -> Result<Value, ()> {
                panic!("must be a hit")
            })
            .unwrap();
        assert_eq!((value, status), (body, CacheStatus::Hit));
    }

    #[test]
    fn an_expired_or_unreadable_entry_is_a_miss_and_dropped() {
        let host = crate::testing::ScriptedHost::configured();
        let cache = Cache::new(&host, "t", "s", ttls());
        let query = q(&[("id", "5")]);
        let fetch = || Ok::<_, ()>(serde_json::json!({"order": {"id": "5"}}));
        cache
            .read_through_raw(Family::Orders, &query, fetch)
            .unwrap();
        host.now.set(host.now.get() + 15_001);
        let (_, status) = cache
            .read_through_raw(Family::Orders, &query, fetch)
            .unwrap();
        assert_eq!(status, CacheStatus::Miss, "expired");
        for (_, stored) in host.kv.borrow_mut().iter_mut() {
            *stored = b"{not json".to_vec();
        }
        let (_, status) = cache
            .read_through_raw(Family::Orders, &query, fetch)
            .unwrap();
        assert_eq!(status, CacheStatus::Miss, "unreadable");
    }
}
