//! The life cycle every capability given to the component shares (`http_egress`, `kv`,
//! `lock`, `config`, `logging`): link its imports once, build its app-wide state once from
//! the settings, and hand each call's store a cheap per-call state. The runtime knows
//! capabilities only through this trait, so adding one touches its module and the list in
//! `runtime`.

use wasmtime::component::Linker;

use crate::runtime::CallState;

/// What a per-call state may know about its call.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The MCP request id (or a label such as `list-tools`), for logs.
    pub request_id: String,
}

/// One capability.
pub trait Capability: Send + Sync + 'static {
    /// What one call's store holds for this capability.
    type Call: Send + 'static;
    /// Put the capability's imports into the linker.
    fn link(linker: &mut Linker<CallState>) -> anyhow::Result<()>;
    /// The per-call state: clones of shared handles, nothing slow.
    fn call(&self, info: &CallInfo) -> Self::Call;
}
