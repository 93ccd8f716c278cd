//! Capability `logging`: `wasi:logging` for the component. Guest log events become host
//! `tracing` events (target `component`), tagged with the call's request id; events in
//! the `metric` context feed [`crate::metrics`] instead.

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::wasi::logging::logging::{self, Level};
use crate::capability::{CallInfo, Capability};
use crate::runtime::CallState;

/// App-wide: nothing to share; `tracing` is global.
pub struct Logging;

/// The context of the component's metric events (its `Host::metric`): counted, not logged.
const METRIC_CONTEXT: &str = "metric";

/// Per call: the request id every event carries.
pub struct LogCall {
    request_id: String,
}

impl Capability for Logging {
    type Call = LogCall;

    fn link(linker: &mut Linker<CallState>) -> anyhow::Result<()> {
        logging::add_to_linker::<_, HasSelf<LogCall>>(linker, |s| &mut s.log)?;
        Ok(())
    }

    fn call(&self, info: &CallInfo) -> LogCall {
        LogCall {
            request_id: info.request_id.clone(),
        }
    }
}

impl logging::Host for LogCall {
    async fn log(
        &mut self,
        level: Level,
        context: String,
        message: String,
    ) -> wasmtime::Result<()> {
        if context == METRIC_CONTEXT {
            crate::metrics::get().component_event(&message);
            return Ok(());
        }
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
