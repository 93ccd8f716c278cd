//! Capability `lock`: `orderdesk:mcp/lock` for the component, over the state [`Backend`]'s
//! native leases (acquire-if-absent with a TTL and owner, renew, release-if-owner). Each
//! call remembers the leases it holds, so when the call traps or runs out of time the host
//! releases them at once instead of leaving them to expire.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::orderdesk::mcp::lock;
use crate::capability::{CallInfo, Capability, Holds};
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

/// Per call: a handle on the backend and the leases the call holds.
pub struct LockCall {
    backend: Arc<dyn Backend>,
    held: Held,
}

/// The (name, owner) leases a call holds; shared with the runtime, which releases what is
/// left when the call is stopped.
#[derive(Clone, Default)]
pub struct Held(Arc<Mutex<Vec<(String, String)>>>);

impl Held {
    fn update(&self, f: impl FnOnce(&mut Vec<(String, String)>)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Release every lease still held (release-if-owner: a lease someone else took after
    /// it expired stays theirs).
    pub async fn release_all(&self, backend: &dyn Backend) {
        let leftover = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        for (name, owner) in leftover {
            match backend.lock_release(&name, &owner).await {
                Ok(released) => tracing::info!(lock = %name, released, "lease of a stopped call"),
                Err(e) => tracing::warn!(lock = %name, "releasing a stopped call's lease: {e}"),
            }
        }
    }
}

impl LockCall {
    pub fn held(&self) -> Held {
        self.held.clone()
    }
}

impl Capability for Locks {
    type Call = LockCall;

    fn link<T: Holds<Self>>(linker: &mut Linker<T>) -> anyhow::Result<()> {
        lock::add_to_linker::<_, HasSelf<LockCall>>(linker, |s| s.part().0)?;
        Ok(())
    }

    fn call(&self, _: &CallInfo) -> LockCall {
        LockCall {
            backend: self.backend.clone(),
            held: Held::default(),
        }
    }
}

impl Locks {
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
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
        let taken = self.backend.lock_acquire(&name, &owner, ttl).await;
        if let Ok(false) = taken {
            crate::metrics::get().lock_contended.inc();
        }
        if let Ok(true) = taken {
            self.held.update(|held| {
                if !held.iter().any(|(n, o)| *n == name && *o == owner) {
                    held.push((name.clone(), owner.clone()));
                }
            });
        }
        Ok(taken.map_err(|e| e.to_string()))
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
        self.held
            .update(|held| held.retain(|(n, o)| !(*n == name && *o == owner)));
        Ok(self
            .backend
            .lock_release(&name, &owner)
            .await
            .map_err(|e| e.to_string()))
    }
}
