//! Where the component's state lives: one [`Backend`] trait, implemented by [`memory`]
//! (tests, throwaway runs), [`sqlite`] (the embedded, durable default) and [`redis`]
//! (shared by several host processes or machines), and served to
//! the component by two capabilities: `kv` (`wasi:keyvalue`) and `lock`
//! (`orderdesk:mcp/lock`). A new backend is one file here plus its line in [`open`]; the
//! [`contract`] suite is what it must pass.
//!
//! Buckets are fixed: `state` is durable; each `cache-*` bucket is evictable, with the
//! lifetime of its family, and all of them together hold at most `cache_max_entries`
//! entries (the ones closest to expiry go first). Backends enforce both, so the cache never
//! grows without bound, whatever the component does.

mod faulty;
pub mod memory;
pub mod redis;
pub mod sqlite;

#[cfg(test)]
pub(crate) mod contract;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// A backend failure, surfaced to the guest as `error::other`.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("{0}")]
    Other(String),
}

/// What a bucket keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Until deleted.
    Durable,
    /// Until `Duration` after it was written, or until the cache cap pushes it out.
    Cache(Duration),
}

/// One bucket the component may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub name: &'static str,
    pub keep: Keep,
}

/// A guest's open bucket (the resource behind `wasi:keyvalue/store.bucket`).
pub struct BucketHandle {
    pub bucket: Bucket,
}

/// The buckets and the cache cap, from the settings.
#[derive(Debug, Clone)]
pub struct Layout {
    pub buckets: Vec<Bucket>,
    /// The identifier the component opens each of `buckets` by (the bucket settings;
    /// by default the bucket's own name). Backends store under the fixed names.
    guest_names: Vec<String>,
    /// Most entries all cache buckets hold together.
    pub cache_max_entries: u64,
}

impl Layout {
    /// `state` plus the three cache families with these lifetimes.
    pub fn new(orders: Duration, products: Duration, store: Duration, max_entries: u64) -> Self {
        let cache = |name, ttl| Bucket {
            name,
            keep: Keep::Cache(ttl),
        };
        Self {
            buckets: vec![
                Bucket {
                    name: "state",
                    keep: Keep::Durable,
                },
                cache("cache-orders", orders),
                cache("cache-products", products),
                cache("cache-store", store),
            ],
            guest_names: ["state", "cache-orders", "cache-products", "cache-store"]
                .map(String::from)
                .to_vec(),
            cache_max_entries: max_entries.max(1),
        }
    }

    /// The component opens the buckets under these identifiers (`state_bucket`,
    /// `cache_bucket_orders`, `cache_bucket_products`, `cache_bucket_store`).
    pub fn opened_as(mut self, names: [String; 4]) -> Self {
        self.guest_names = names.to_vec();
        self
    }

    /// The bucket the component opens as `name`, if it may open it.
    pub fn bucket(&self, name: &str) -> Option<Bucket> {
        self.guest_names
            .iter()
            .position(|n| n == name)
            .map(|i| self.buckets[i])
    }
}

/// A key-value store with fixed buckets plus named leases. Every method is atomic on its
/// own and safe to call from many tasks (and, for shared backends, many processes) at once.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, StateError>;
    async fn set(&self, bucket: Bucket, key: &str, value: Vec<u8>) -> Result<(), StateError>;
    async fn delete(&self, bucket: Bucket, key: &str) -> Result<(), StateError>;
    async fn exists(&self, bucket: Bucket, key: &str) -> Result<bool, StateError> {
        Ok(self.get(bucket, key).await?.is_some())
    }
    /// Keys in `bucket` in a stable order, `limit` at a time from `offset`.
    async fn list_keys(
        &self,
        bucket: Bucket,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<String>, StateError>;
    /// Add `delta` to the decimal counter at `key` (missing = 0); return the new value.
    async fn increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, StateError>;

    /// Take `name` for `owner` for `ttl`, if it is free, expired, or already `owner`'s.
    async fn lock_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StateError>;
    /// Extend `owner`'s unexpired lease on `name`; false when it is not `owner`'s.
    async fn lock_renew(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StateError>;
    /// Delete `name` if `owner` holds it (compare-and-delete); false otherwise.
    async fn lock_release(&self, name: &str, owner: &str) -> Result<bool, StateError>;

    /// Entries the cache buckets hold now (for the contract tests, and metrics to come).
    #[allow(dead_code)]
    async fn cache_entries(&self) -> Result<u64, StateError>;
}

/// Where state lives, as given by `--state`.
#[derive(Clone, PartialEq, Eq)]
pub enum StateSpec {
    Memory,
    Sqlite(std::path::PathBuf),
    /// A `redis://[[user]:password@]host[:port][/db]` URL; printed without its password.
    Redis(String),
}

impl std::str::FromStr for StateSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "memory" {
            Ok(StateSpec::Memory)
        } else if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                Err("sqlite: needs a file path, e.g. sqlite:/var/lib/orderdesk/state.db".into())
            } else {
                Ok(StateSpec::Sqlite(path.into()))
            }
        } else if s.starts_with("redis://") {
            redis::parse(s)?;
            Ok(StateSpec::Redis(s.into()))
        } else if s.starts_with("rediss://") {
            Err("rediss:// (Redis over TLS) is not supported by this build; use redis://".into())
        } else {
            Err(format!(
                "unknown state backend {:?}: use memory, sqlite:PATH or redis://HOST[:PORT][/DB]",
                redis::redact(s)
            ))
        }
    }
}

impl std::fmt::Display for StateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateSpec::Memory => f.write_str("memory"),
            StateSpec::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StateSpec::Redis(url) => f.write_str(&redis::redact(url)),
        }
    }
}

/// Like a derived `Debug`, but a Redis URL's password is hidden, as in `Display`.
impl std::fmt::Debug for StateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateSpec::Memory => f.write_str("Memory"),
            StateSpec::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            StateSpec::Redis(url) => f.debug_tuple("Redis").field(&redis::redact(url)).finish(),
        }
    }
}

/// Open the backend a spec names; with `fail_after_writes`, every write after that many
/// fails (fault injection for tests).
pub fn open(
    spec: &StateSpec,
    layout: Layout,
    fail_after_writes: Option<u64>,
) -> anyhow::Result<Arc<dyn Backend>> {
    let backend: Arc<dyn Backend> = match spec {
        StateSpec::Memory => Arc::new(memory::MemoryState::new(layout)),
        StateSpec::Sqlite(path) => Arc::new(sqlite::SqliteState::open(path, layout)?),
        StateSpec::Redis(url) => Arc::new(redis::RedisState::open(url, layout)?),
    };
    Ok(match fail_after_writes {
        Some(n) => Arc::new(faulty::Faulty::new(backend, n)),
        None => backend,
    })
}

/// Parse a stored counter; shared by the backends so they agree on the format.
pub(crate) fn add_to_counter(current: Option<&[u8]>, delta: u64) -> Result<u64, StateError> {
    let current = match current {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| StateError::Other("value is not a counter".into()))?,
    };
    current
        .checked_add(delta)
        .ok_or_else(|| StateError::Other("counter overflow".into()))
}

/// Milliseconds since the Unix epoch: the lease clock, shared by processes on one machine.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A duration in milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn the_component_opens_buckets_under_the_configured_names() {
        let ttl = Duration::from_secs(1);
        let default = Layout::new(ttl, ttl, ttl, 10);
        assert_eq!(default.bucket("state").unwrap().name, "state");
        assert!(default.bucket("").is_none());
        let renamed = default.opened_as(["s", "o", "p", "st"].map(String::from));
        assert_eq!(renamed.bucket("s").unwrap().name, "state");
        assert_eq!(renamed.bucket("o").unwrap().name, "cache-orders");
        assert_eq!(renamed.bucket("st").unwrap().keep, Keep::Cache(ttl));
        assert!(
            renamed.bucket("state").is_none(),
            "only the configured names open"
        );
    }
}
