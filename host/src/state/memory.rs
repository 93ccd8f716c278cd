//! In-memory key-value backend: nothing survives the process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{KvBackend, KvError, add_to_counter};

#[derive(Default)]
pub struct MemoryKv {
    data: Mutex<BTreeMap<(String, String), Vec<u8>>>,
}

impl MemoryKv {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Vec<u8>>> {
        // A panic elsewhere cannot leave a half-written map: every update is one insert.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KvBackend for MemoryKv {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lock().get(&(bucket.into(), key.into())).cloned())
    }

    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.lock()
            .insert((bucket.into(), key.into()), value.to_vec());
        Ok(())
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<(), KvError> {
        self.lock().remove(&(bucket.into(), key.into()));
        Ok(())
    }

    fn list_keys(&self, bucket: &str, offset: u64, limit: u32) -> Result<Vec<String>, KvError> {
        Ok(self
            .lock()
            .keys()
            .filter(|(b, _)| b == bucket)
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(_, k)| k.clone())
            .collect())
    }

    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, KvError> {
        let mut map = self.lock();
        let slot = (bucket.to_string(), key.to_string());
        let next = add_to_counter(map.get(&slot).map(Vec::as_slice), delta)?;
        map.insert(slot, next.to_string().into_bytes());
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract() {
        super::super::contract::run(&MemoryKv::default());
        super::super::contract::concurrent_increments(std::sync::Arc::new(MemoryKv::default()));
    }
}
