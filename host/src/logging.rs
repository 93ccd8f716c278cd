//! Capability `logging`: `wasi:logging` for the component. Guest log events become host
//! `tracing` events (target `component`), tagged with the call's request id; events in
//! the `metric` context feed [`crate::metrics`], and events in the `progress` context go
//! to the call's progress sink (MCP `notifications/progress`) instead.

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::wasi::logging::logging::{self, Level};
use crate::capability::{CallInfo, Capability, Progress};
use crate::runtime::CallState;

/// App-wide: nothing to share; `tracing` is global.
pub struct Logging;

/// The context of the component's metric events (its `Host::metric`): counted, not logged.
const METRIC_CONTEXT: &str = "metric";

/// The context of the component's progress events: `{"progress", "total", "message"}`.
const PROGRESS_CONTEXT: &str = "progress";

/// Per call: the request id every event carries, and where progress goes.
pub struct LogCall {
    request_id: String,
    progress: Option<tokio::sync::mpsc::Sender<Progress>>,
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
            progress: info.hooks.progress.clone(),
        }
    }
}

impl LogCall {
    /// Progress is advisory: an event nobody listens for, or that finds the sink full,
    /// is dropped rather than slowing the call down.
    fn progress(&self, message: &str) {
        let request_id = self.request_id.as_str();
        let event = match serde_json::from_str::<Progress>(message) {
            Ok(event) if event.progress.is_finite() => event,
            _ => {
                tracing::debug!(target: "component", request_id, "malformed progress event");
                return;
            }
        };
        match &self.progress {
            Some(sink) => {
                if sink.try_send(event).is_err() {
                    tracing::trace!(target: "component", request_id, "progress event dropped");
                }
            }
            None => tracing::trace!(
                target: "component",
                request_id,
                progress = event.progress,
                "progress (no listener)"
            ),
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
        if context == PROGRESS_CONTEXT {
            self.progress(&message);
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

#[cfg(test)]
mod tests {
    use super::*;
    use logging::Host as _;

    fn call(progress: Option<tokio::sync::mpsc::Sender<Progress>>) -> LogCall {
        LogCall {
            request_id: "r".into(),
            progress,
        }
    }

    #[tokio::test]
    async fn progress_events_reach_the_sink_and_nothing_else_does() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let mut log = call(Some(tx));
        for (context, message) in [
            ("progress", r#"{"progress":1,"total":3,"message":"page 1"}"#),
            ("progress", r#"{"progress":2,"total":null,"message":null}"#),
            ("progress", r#"{"progress":"lots"}"#),
            ("progress", "not json"),
            ("sync", r#"{"progress":9}"#),
        ] {
            log.log(Level::Info, context.into(), message.into())
                .await
                .unwrap();
        }
        drop(log);
        let mut got = Vec::new();
        while let Some(p) = rx.recv().await {
            got.push(p);
        }
        let page = |progress, total: Option<f64>, message: Option<&str>| Progress {
            progress,
            total,
            message: message.map(str::to_string),
        };
        assert_eq!(
            got,
            vec![page(1.0, Some(3.0), Some("page 1")), page(2.0, None, None)]
        );
    }

    #[tokio::test]
    async fn a_full_or_missing_sink_drops_progress_without_failing_the_call() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let mut log = call(Some(tx));
        for _ in 0..3 {
            log.log(Level::Info, "progress".into(), r#"{"progress":1}"#.into())
                .await
                .unwrap();
        }
        let mut log = call(None);
        log.log(Level::Info, "progress".into(), r#"{"progress":1}"#.into())
            .await
            .unwrap();
    }
}
