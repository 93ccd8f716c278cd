//! The life cycle every capability given to the component shares (`http_egress`, `kv`,
//! `lock`, `config`, `logging`): link its imports once, build its app-wide state once from
//! the settings, and hand each call's store a cheap per-call state. A capability is generic
//! over the embedder's store data, the way wasmtime's `wasi-config` and `wasi-http` are: it
//! names only its own per-call state and the call's resource table ([`Holds`]), never the
//! runtime's types. The runtime's one list of capabilities does the rest, so adding one is
//! its module plus one line there.

use tokio_util::sync::CancellationToken;
use wasmtime::component::{Linker, ResourceTable};

/// What a per-call state may know about its call.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The MCP request id (or a label such as `list-tools`), for logs.
    pub request_id: String,
    /// What the caller of this call listens for and may do to it.
    pub hooks: CallHooks,
    /// The tenant the call runs for, when it runs for one (the dashboard's history).
    pub tenant: Option<std::sync::Arc<str>>,
}

/// A running call's ties to whoever asked for it: the MCP request (cancellation, progress
/// notifications) or the scheduler (shutdown).
#[derive(Debug, Clone, Default)]
pub struct CallHooks {
    /// Once cancelled, the egress refuses the call's further outgoing requests
    /// (`internal-error("cancelled")`), and the component winds the call up.
    pub cancel: Option<CancellationToken>,
    /// Where the component's `progress` log events go; dropped when `None` or full.
    pub progress: Option<tokio::sync::mpsc::Sender<Progress>>,
}

impl CallHooks {
    /// Hooks that only cancel.
    pub fn cancelled_by(token: CancellationToken) -> Self {
        Self {
            cancel: Some(token),
            progress: None,
        }
    }
}

/// One progress event of a running call (MCP `notifications/progress` without the token).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Progress {
    pub progress: f64,
    #[serde(default)]
    pub total: Option<f64>,
    #[serde(default)]
    pub message: Option<String>,
}

/// One capability.
pub trait Capability: Sized + Send + Sync + 'static {
    /// What one call's store holds for this capability.
    type Call: Send + 'static;
    /// Put the capability's imports into a linker over any store data that holds its state.
    fn link<T: Holds<Self>>(linker: &mut Linker<T>) -> anyhow::Result<()>;
    /// The per-call state: clones of shared handles, nothing slow.
    fn call(&self, info: &CallInfo) -> Self::Call;
}

/// Store data that holds capability `C`'s per-call state, beside the call's resource table.
pub trait Holds<C: Capability>: Send + 'static {
    fn part(&mut self) -> (&mut C::Call, &mut ResourceTable);
}
