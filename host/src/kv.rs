//! Capability `kv`: `wasi:keyvalue/store` and `atomics` for the component, over the state
//! [`Backend`]. The component may open exactly the buckets of the [`Layout`]; anything
//! else is `no-such-store`.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};

use crate::bindings::wasi::keyvalue::{atomics, store};
use crate::capability::{CallInfo, Capability, Holds};
use crate::state::{Backend, Bucket, BucketHandle, Layout, StateError};

/// App-wide: the backend and the buckets it serves.
pub struct Kv {
    backend: Arc<dyn Backend>,
    layout: Layout,
}

impl Kv {
    pub fn new(backend: Arc<dyn Backend>, layout: Layout) -> Self {
        Self { backend, layout }
    }
}

/// Per call: the open bucket handles and a handle on the backend.
pub struct KvCall {
    table: ResourceTable,
    backend: Arc<dyn Backend>,
    layout: Layout,
}

impl Capability for Kv {
    type Call = KvCall;

    fn link<T: Holds<Self>>(linker: &mut Linker<T>) -> anyhow::Result<()> {
        store::add_to_linker::<_, HasSelf<KvCall>>(linker, |s| s.part().0)?;
        atomics::add_to_linker::<_, HasSelf<KvCall>>(linker, |s| s.part().0)?;
        Ok(())
    }

    fn call(&self, _: &CallInfo) -> KvCall {
        KvCall {
            table: ResourceTable::new(),
            backend: self.backend.clone(),
            layout: self.layout.clone(),
        }
    }
}

impl From<wasmtime::component::ResourceTableError> for StateError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        StateError::Other(format!("bucket handle: {e}"))
    }
}

impl KvCall {
    fn bucket(&self, handle: &Resource<BucketHandle>) -> Result<Bucket, StateError> {
        Ok(self.table.get(handle)?.bucket)
    }
}

impl store::Host for KvCall {
    async fn open(&mut self, identifier: String) -> Result<Resource<BucketHandle>, StateError> {
        let bucket = self
            .layout
            .bucket(&identifier)
            .ok_or(StateError::NoSuchBucket)?;
        Ok(self.table.push(BucketHandle { bucket })?)
    }

    fn convert_error(&mut self, err: StateError) -> wasmtime::Result<store::Error> {
        Ok(match err {
            StateError::NoSuchBucket => store::Error::NoSuchStore,
            StateError::Other(msg) => store::Error::Other(msg),
        })
    }
}

impl store::HostBucket for KvCall {
    async fn get(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let bucket = self.bucket(&bucket)?;
        self.backend.get(bucket, &key).await
    }

    async fn set(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), StateError> {
        let bucket = self.bucket(&bucket)?;
        self.backend.set(bucket, &key, value).await
    }

    async fn delete(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<(), StateError> {
        let bucket = self.bucket(&bucket)?;
        self.backend.delete(bucket, &key).await
    }

    async fn exists(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<bool, StateError> {
        let bucket = self.bucket(&bucket)?;
        self.backend.exists(bucket, &key).await
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, StateError> {
        const PAGE: u32 = 1000;
        let bucket = self.bucket(&bucket)?;
        let offset = cursor.unwrap_or(0);
        let keys = self.backend.list_keys(bucket, offset, PAGE).await?;
        let cursor = (keys.len() == PAGE as usize).then(|| offset + u64::from(PAGE));
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvCall {
    async fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: u64,
    ) -> Result<u64, StateError> {
        let bucket = self.bucket(&bucket)?;
        self.backend.increment(bucket, &key, delta).await
    }
}
