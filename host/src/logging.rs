//! `wasi:logging` for the component: guest log events become host `tracing` events,
//! tagged with the call's request id.

use crate::bindings::wasi::logging::logging::{self, Level};
use crate::runtime::HostState;

impl logging::Host for HostState {
    fn log(&mut self, level: Level, context: String, message: String) -> wasmtime::Result<()> {
        let request_id = self.request_id.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "component", request_id, context, "{message}"),
            Level::Debug => tracing::debug!(target: "component", request_id, context, "{message}"),
            Level::Info => tracing::info!(target: "component", request_id, context, "{message}"),
            Level::Warn => tracing::warn!(target: "component", request_id, context, "{message}"),
            Level::Error | Level::Critical => {
                tracing::error!(target: "component", request_id, context, "{message}")
            }
        }
        Ok(())
    }
}
