//! The `wasi:keyvalue/store` and `atomics` imports, implemented over [`KvBackend`].

use wasmtime::component::Resource;

use super::{BUCKETS, KvError};
use crate::bindings::wasi::keyvalue::{atomics, store};
use crate::runtime::HostState;

/// A guest's open bucket: just its name; the backend is shared by the whole host.
pub struct BucketHandle {
    name: &'static str,
}

impl From<wasmtime::component::ResourceTableError> for KvError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        KvError::Other(format!("bucket handle: {e}"))
    }
}

impl HostState {
    fn bucket_name(&self, bucket: &Resource<BucketHandle>) -> Result<&'static str, KvError> {
        Ok(self.table.get(bucket)?.name)
    }
}

impl store::Host for HostState {
    fn open(&mut self, identifier: String) -> Result<Resource<BucketHandle>, KvError> {
        let name = BUCKETS
            .into_iter()
            .find(|b| *b == identifier)
            .ok_or(KvError::NoSuchStore)?;
        Ok(self.table.push(BucketHandle { name })?)
    }

    fn convert_error(&mut self, err: KvError) -> wasmtime::Result<store::Error> {
        Ok(match err {
            KvError::NoSuchStore => store::Error::NoSuchStore,
            KvError::Other(msg) => store::Error::Other(msg),
        })
    }
}

impl store::HostBucket for HostState {
    fn get(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KvError> {
        let name = self.bucket_name(&bucket)?;
        self.kv.get(name, &key)
    }

    fn set(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let name = self.bucket_name(&bucket)?;
        self.kv.set(name, &key, &value)
    }

    fn delete(&mut self, bucket: Resource<BucketHandle>, key: String) -> Result<(), KvError> {
        let name = self.bucket_name(&bucket)?;
        self.kv.delete(name, &key)
    }

    fn exists(&mut self, bucket: Resource<BucketHandle>, key: String) -> Result<bool, KvError> {
        let name = self.bucket_name(&bucket)?;
        self.kv.exists(name, &key)
    }

    fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvError> {
        const PAGE: u32 = 1000;
        let name = self.bucket_name(&bucket)?;
        let offset = cursor.unwrap_or(0);
        let keys = self.kv.list_keys(name, offset, PAGE)?;
        let cursor = (keys.len() == PAGE as usize).then(|| offset + u64::from(PAGE));
        Ok(store::KeyResponse { keys, cursor })
    }

    fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for HostState {
    fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: u64,
    ) -> Result<u64, KvError> {
        let name = self.bucket_name(&bucket)?;
        self.kv.increment(name, &key, delta)
    }
}
