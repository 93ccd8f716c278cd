//! Capability `lock`: `orderdesk:mcp/lock` for the component, over the state [`Backend`]'s
//! native leases (acquire-if-absent with a TTL and owner, renew, release-if-owner).

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::orderdesk::mcp::lock;
use crate::capability::{CallInfo, Capability};
use crate::runtime::CallState;
use crate::state::Backend;

/// App-wide: the backend whose leases the component uses.
pub struct Locks {
    backend: Arc<dyn Backend>,
}

impl Locks {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }
}

/// Per call: a handle on the backend.
pub struct LockCall {
    backend: Arc<dyn Backend>,
}

impl Capability for Locks {
    type Call = LockCall;

    fn link(linker: &mut Linker<CallState>) -> anyhow::Result<()> {
        lock::add_to_linker::<_, HasSelf<LockCall>>(linker, |s| &mut s.lock)?;
        Ok(())
    }

    fn call(&self, _: &CallInfo) -> LockCall {
        LockCall {
            backend: self.backend.clone(),
        }
    }
}

impl lock::Host for LockCall {
    async fn acquire(
        &mut self,
        name: String,
        owner: String,
        ttl_ms: u64,
    ) -> wasmtime::Result<Result<bool, String>> {
        let ttl = Duration::from_millis(ttl_ms);
        Ok(self
            .backend
            .lock_acquire(&name, &owner, ttl)
            .await
            .map_err(|e| e.to_string()))
    }

    async fn renew(
        &mut self,
        name: String,
        owner: String,
        ttl_ms: u64,
    ) -> wasmtime::Result<Result<bool, String>> {
        let ttl = Duration::from_millis(ttl_ms);
        Ok(self
            .backend
            .lock_renew(&name, &owner, ttl)
            .await
            .map_err(|e| e.to_string()))
    }

    async fn release(
        &mut self,
        name: String,
        owner: String,
    ) -> wasmtime::Result<Result<bool, String>> {
        Ok(self
            .backend
            .lock_release(&name, &owner)
            .await
            .map_err(|e| e.to_string()))
    }
}
