//! The life cycle every capability given to the component shares (`http_egress`, `kv`,
//! `lock`, `config`, `logging`): link its imports once, build its app-wide state once from
//! the settings, and hand each call's store a cheap per-call state. The runtime knows
//! capabilities only through this trait, so adding one touches its module and the list in
//! `runtime`.

use tokio_util::sync::CancellationToken;
use wasmtime::component::Linker;

use crate::runtime::CallState;

/// What a per-call state may know about its call.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The MCP request id (or a label such as `list-tools`), for logs.
    pub request_id: String,
    /// What the caller of this call listens for and may do to it.
    pub hooks: CallHooks,
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
pub trait Capability: Send + Sync + 'static {
    /// What one call's store holds for this capability.
    type Call: Send + 'static;
    /// Put the capability's imports into the linker.
    fn link(linker: &mut Linker<CallState>) -> anyhow::Result<()>;
    /// The per-call state: clones of shared handles, nothing slow.
    fn call(&self, info: &CallInfo) -> Self::Call;
}
