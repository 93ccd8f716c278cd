//! A backend wrapper that fails every write after the first `n` (hidden setting
//! `state_fail_after_writes`): how the end-to-end tests break storage at each step of a
//! multi-step operation such as key rotation. Reads and leases pass through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{Backend, Bucket, StateError};

pub struct Faulty {
    inner: Arc<dyn Backend>,
    writes_left: AtomicU64,
}

impl Faulty {
    pub fn new(inner: Arc<dyn Backend>, writes: u64) -> Self {
        Self {
            inner,
            writes_left: AtomicU64::new(writes),
        }
    }

    fn write(&self) -> Result<(), StateError> {
        self.writes_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(drop)
            .map_err(|_| StateError::Other("injected storage failure".into()))
    }
}

#[async_trait]
impl Backend for Faulty {
    async fn get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.inner.get(bucket, key).await
    }

    async fn set(&self, bucket: Bucket, key: &str, value: Vec<u8>) -> Result<(), StateError> {
        self.write()?;
        self.inner.set(bucket, key, value).await
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> Result<(), StateError> {
        self.write()?;
        self.inner.delete(bucket, key).await
    }

    async fn list_keys(
        &self,
        bucket: Bucket,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<String>, StateError> {
        self.inner.list_keys(bucket, offset, limit).await
    }

    async fn increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, StateError> {
        if delta > 0 {
            self.write()?;
        }
        self.inner.increment(bucket, key, delta).await
    }

    async fn lock_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StateError> {
        self.inner.lock_acquire(name, owner, ttl).await
    }

    async fn lock_renew(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StateError> {
        self.inner.lock_renew(name, owner, ttl).await
    }

    async fn lock_release(&self, name: &str, owner: &str) -> Result<bool, StateError> {
        self.inner.lock_release(name, owner).await
    }

    async fn cache_entries(&self) -> Result<u64, StateError> {
        self.inner.cache_entries().await
    }
}
