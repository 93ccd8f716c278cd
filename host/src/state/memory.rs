//! In-memory backend: nothing survives the process. Cache buckets expire and are capped
//! like every backend's; one mutex makes each operation atomic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::{Backend, Bucket, Keep, Layout, StateError, add_to_counter, ms, now_ms};

type Key = (&'static str, String);

#[derive(Default)]
struct Inner {
    durable: BTreeMap<Key, Vec<u8>>,
    /// (bucket, key) → (value, expires at ms)
    cache: HashMap<Key, (Vec<u8>, u64)>,
    /// Eviction order: soonest expiry first.
    expiry: BTreeSet<(u64, &'static str, String)>,
    locks: HashMap<String, (String, u64)>,
}

impl Inner {
    fn remove_cached(&mut self, key: &Key) {
        if let Some((_, expires)) = self.cache.remove(key) {
            self.expiry.remove(&(expires, key.0, key.1.clone()));
        }
    }

    /// Drop expired entries, then the soonest-expiring ones past the cap.
    fn sweep(&mut self, now: u64, cap: u64) {
        while let Some((expires, bucket, key)) = self.expiry.first().cloned() {
            if expires > now && self.cache.len() as u64 <= cap {
                break;
            }
            self.expiry.pop_first();
            self.cache.remove(&(bucket, key));
        }
    }
}

pub struct MemoryState {
    inner: Mutex<Inner>,
    layout: Layout,
}

impl MemoryState {
    pub fn new(layout: Layout) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            layout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a few inserts/removes on one map: a panic cannot leave it torn.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Backend for MemoryState {
    async fn get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let inner = self.lock();
        let k = (bucket.name, key.to_string());
        Ok(match bucket.keep {
            Keep::Durable => inner.durable.get(&k).cloned(),
            Keep::Cache(_) => inner
                .cache
                .get(&k)
                .filter(|(_, expires)| *expires > now_ms())
                .map(|(v, _)| v.clone()),
        })
    }

    async fn set(&self, bucket: Bucket, key: &str, value: Vec<u8>) -> Result<(), StateError> {
        let mut inner = self.lock();
        let k = (bucket.name, key.to_string());
        match bucket.keep {
            Keep::Durable => {
                inner.durable.insert(k, value);
            }
            Keep::Cache(ttl) => {
                let now = now_ms();
                let expires = now.saturating_add(ms(ttl));
                inner.remove_cached(&k);
                inner.expiry.insert((expires, k.0, k.1.clone()));
                inner.cache.insert(k, (value, expires));
                inner.sweep(now, self.layout.cache_max_entries);
            }
        }
        Ok(())
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> Result<(), StateError> {
        let mut inner = self.lock();
        let k = (bucket.name, key.to_string());
        match bucket.keep {
            Keep::Durable => {
                inner.durable.remove(&k);
            }
            Keep::Cache(_) => inner.remove_cached(&k),
        }
        Ok(())
    }

    async fn list_keys(
        &self,
        bucket: Bucket,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<String>, StateError> {
        let inner = self.lock();
        let mut keys: Vec<String> = match bucket.keep {
            Keep::Durable => inner
                .durable
                .keys()
                .filter(|(b, _)| *b == bucket.name)
                .map(|(_, k)| k.clone())
                .collect(),
            Keep::Cache(_) => {
                let now = now_ms();
                let mut keys: Vec<String> = inner
                    .cache
                    .iter()
                    .filter(|((b, _), (_, exp))| *b == bucket.name && *exp > now)
                    .map(|((_, k), _)| k.clone())
                    .collect();
                keys.sort();
                keys
            }
        };
        Ok(keys
            .drain(..)
            .skip(offset as usize)
            .take(limit as usize)
            .collect())
    }

    async fn increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, StateError> {
        if bucket.keep != Keep::Durable {
            return Err(StateError::Other("counters live in durable buckets".into()));
        }
        let mut inner = self.lock();
        let k = (bucket.name, key.to_string());
        let next = add_to_counter(inner.durable.get(&k).map(Vec::as_slice), delta)?;
        inner.durable.insert(k, next.to_string().into_bytes());
        Ok(next)
    }

    async fn lock_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StateError> {
        let now = now_ms();
        let mut inner = self.lock();
        let free = inner
            .locks
            .get(name)
            .is_none_or(|(holder, expires)| holder == owner || *expires <= now);
        if free {
            let until = now.saturating_add(ms(ttl));
            inner
                .locks
                .insert(name.to_string(), (owner.to_string(), until));
        }
        Ok(free)
    }

    async fn lock_renew(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StateError> {
        let now = now_ms();
        let mut inner = self.lock();
        match inner.locks.get_mut(name) {
            Some((holder, expires)) if holder == owner && *expires > now => {
                *expires = now.saturating_add(ms(ttl));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn lock_release(&self, name: &str, owner: &str) -> Result<bool, StateError> {
        let mut inner = self.lock();
        if inner
            .locks
            .get(name)
            .is_some_and(|(holder, _)| holder == owner)
        {
            inner.locks.remove(name);
            return Ok(true);
        }
        Ok(false)
    }

    async fn cache_entries(&self) -> Result<u64, StateError> {
        let mut inner = self.lock();
        inner.sweep(now_ms(), self.layout.cache_max_entries);
        Ok(inner.cache.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn contract() {
        super::super::contract::run(|layout| async move {
            Arc::new(MemoryState::new(layout)) as Arc<dyn Backend>
        })
        .await;
    }
}
