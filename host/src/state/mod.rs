//! `wasi:keyvalue` for the component, over one backend trait with interchangeable stores:
//! [`memory`] (tests, throwaway runs) and [`sqlite`] (the embedded, durable default).

pub mod memory;
pub mod sqlite;
mod wasi;

use std::sync::Arc;

pub use wasi::BucketHandle;

/// The buckets the component may open; anything else is `no-such-store`.
pub const BUCKETS: [&str; 2] = ["state", "cache"];

/// A backend failure, surfaced to the guest as `error::other`.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("no such bucket")]
    NoSuchStore,
    #[error("{0}")]
    Other(String),
}

/// A key-value store with named buckets. Implementations must be safe to share between
/// concurrent tool calls; `increment` must be atomic.
pub trait KvBackend: Send + Sync {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, bucket: &str, key: &str) -> Result<(), KvError>;
    fn exists(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        Ok(self.get(bucket, key)?.is_some())
    }
    /// Keys in `bucket` in a stable order, `limit` at a time from `offset`.
    fn list_keys(&self, bucket: &str, offset: u64, limit: u32) -> Result<Vec<String>, KvError>;
    /// Add `delta` to the decimal counter at `key` (missing = 0); return the new value.
    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, KvError>;
}

/// Where state lives, as given by `--state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSpec {
    Memory,
    Sqlite(std::path::PathBuf),
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
        } else {
            Err(format!(
                "unknown state backend {s:?}: use memory or sqlite:PATH"
            ))
        }
    }
}

impl std::fmt::Display for StateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateSpec::Memory => f.write_str("memory"),
            StateSpec::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
        }
    }
}

/// Open the backend a spec names.
pub fn open(spec: &StateSpec) -> anyhow::Result<Arc<dyn KvBackend>> {
    Ok(match spec {
        StateSpec::Memory => Arc::new(memory::MemoryKv::default()),
        StateSpec::Sqlite(path) => Arc::new(sqlite::SqliteKv::open(path)?),
    })
}

/// Parse a stored counter; shared by the backends so they agree on the format.
pub(crate) fn add_to_counter(current: Option<&[u8]>, delta: u64) -> Result<u64, KvError> {
    let current = match current {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| KvError::Other("value is not a counter".into()))?,
    };
    current
        .checked_add(delta)
        .ok_or_else(|| KvError::Other("counter overflow".into()))
}

#[cfg(test)]
pub(crate) mod contract {
    //! One behaviour suite every backend must pass.
    use super::*;

    pub fn run(kv: &dyn KvBackend) {
        assert_eq!(kv.get("state", "a").unwrap(), None);
        kv.set("state", "a", b"1").unwrap();
        kv.set("cache", "a", b"2").unwrap();
        assert_eq!(kv.get("state", "a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(kv.get("cache", "a").unwrap().as_deref(), Some(&b"2"[..]));
        assert!(kv.exists("state", "a").unwrap());
        kv.set("state", "a", b"3").unwrap();
        assert_eq!(kv.get("state", "a").unwrap().as_deref(), Some(&b"3"[..]));
        kv.delete("state", "a").unwrap();
        assert!(!kv.exists("state", "a").unwrap());
        kv.delete("state", "never-there").unwrap();

        assert_eq!(kv.increment("state", "n", 1).unwrap(), 1);
        assert_eq!(kv.increment("state", "n", 41).unwrap(), 42);
        kv.set("state", "text", b"hello").unwrap();
        assert!(kv.increment("state", "text", 1).is_err());
        kv.set("state", "max", u64::MAX.to_string().as_bytes())
            .unwrap();
        assert!(kv.increment("state", "max", 1).is_err());

        for i in 0..5 {
            kv.set("cache", &format!("k{i}"), b"v").unwrap();
        }
        let first = kv.list_keys("cache", 0, 3).unwrap();
        let rest = kv.list_keys("cache", 3, 10).unwrap();
        assert_eq!(first.len(), 3);
        let mut all = first.clone();
        all.extend(rest);
        all.sort();
        assert_eq!(all, vec!["a", "k0", "k1", "k2", "k3", "k4"]);
    }

    pub fn concurrent_increments(kv: std::sync::Arc<dyn KvBackend>) {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let kv = kv.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        kv.increment("state", "shared", 1).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(kv.increment("state", "shared", 0).unwrap(), 400);
    }
}
