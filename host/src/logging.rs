//! Capability `logging`: the component's stderr. The component logs one JSON object per
//! line on `wasi:cli/stderr` (`{"level", "context", "message"}`; see `wit/orderdesk.wit`),
//! which any WASI runtime shows as it is. This host reads those lines instead: they become
//! `tracing` events (target `component`) tagged with the call's request id; events in the
//! `metric` context feed [`crate::metrics`], and events in the `progress` context go to the
//! call's progress sink (MCP `notifications/progress`). Anything else the guest writes
//! there (a panic message) is logged as a warning, line by line.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime::component::Linker;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::capability::{CallInfo, Capability, Holds, Progress};

/// App-wide: nothing to share; `tracing` is global.
pub struct Logging;

/// The context of the component's metric events (its `Host::metric`): counted, not logged.
const METRIC_CONTEXT: &str = "metric";

/// The context of the component's progress events: `{"progress", "total", "message"}`.
const PROGRESS_CONTEXT: &str = "progress";

/// The longest line kept; a longer run without a newline is handled as a line of its own,
/// so a guest cannot make the host buffer without bound.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest message of one guest log event that reaches the log; longer ones are cut.
const MAX_MESSAGE_CHARS: usize = 2048;

/// Log bytes one call may write; past it its further events are counted, not logged.
const MAX_CALL_LOG_BYTES: usize = 64 * 1024;

/// `text` as a log field: at most `max` characters, control characters escaped (so a
/// value cannot forge log lines), and the length of what was cut said at the end.
pub fn clip(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 16);
    for (taken, (i, c)) in text.char_indices().enumerate() {
        if taken == max {
            out.push_str(&format!("…(+{} bytes)", text.len() - i));
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Per call: the guest's stderr, parsed line by line.
pub struct LogCall {
    sink: Arc<Mutex<LineSink>>,
}

/// The state behind one call's stderr.
struct LineSink {
    request_id: String,
    progress: Option<tokio::sync::mpsc::Sender<Progress>>,
    /// The call's tenant, for the dashboard's history.
    tenant: Option<Arc<str>>,
    partial: Vec<u8>,
    /// Log bytes this call wrote so far, and the events dropped past the budget.
    logged: usize,
    dropped: usize,
}

impl Capability for Logging {
    type Call = LogCall;

    /// No import to link: stderr comes with the WASI context ([`LogCall::stderr`]).
    fn link<T: Holds<Self>>(_: &mut Linker<T>) -> anyhow::Result<()> {
        Ok(())
    }

    fn call(&self, info: &CallInfo) -> LogCall {
        LogCall {
            sink: Arc::new(Mutex::new(LineSink {
                request_id: info.request_id.clone(),
                progress: info.hooks.progress.clone(),
                tenant: info.tenant.clone(),
                partial: Vec::new(),
                logged: 0,
                dropped: 0,
            })),
        }
    }
}

impl LogCall {
    /// The stream to give the call's WASI context as its stderr.
    pub fn stderr(&self) -> GuestStderr {
        GuestStderr(self.sink.clone())
    }
}

/// A guest's level names.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(serde::Deserialize)]
struct Event {
    level: Level,
    context: String,
    message: String,
}

impl LineSink {
    fn write(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&bytes[..end]);
            self.flush_line();
            bytes = &bytes[end + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= MAX_LINE_BYTES {
            let rest = self.partial.split_off(MAX_LINE_BYTES);
            self.flush_line();
            self.partial = rest;
        }
    }

    fn flush_line(&mut self) {
        let line = std::mem::take(&mut self.partial);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        if !text.trim().is_empty() {
            self.dispatch(text);
        }
    }

    fn dispatch(&mut self, line: &str) {
        let parsed = serde_json::from_str::<Event>(line);
        if let Ok(event) = &parsed {
            if event.context == METRIC_CONTEXT {
                let counted = crate::metrics::get().component_event(&event.message);
                if let (Some(counted), Some(tenant)) = (counted, &self.tenant) {
                    crate::history::get().record(tenant, |c| match counted {
                        crate::metrics::Counted::CacheHit => c.cache_hits += 1,
                        crate::metrics::Counted::CacheMiss => c.cache_misses += 1,
                        crate::metrics::Counted::Throttled => c.throttled += 1,
                    });
                }
                return;
            }
            if event.context == PROGRESS_CONTEXT {
                self.progress(&event.message);
                return;
            }
        }
        if self.logged >= MAX_CALL_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.logged += line.len().min(MAX_MESSAGE_CHARS);
        let request_id = self.request_id.as_str();
        let Ok(Event {
            level,
            context,
            message,
        }) = parsed
        else {
            let line = clip(line, MAX_MESSAGE_CHARS);
            tracing::warn!(target: "component", request_id, "stderr: {line}");
            return;
        };
        let context = clip(&context, 32);
        let message = clip(&message, MAX_MESSAGE_CHARS);
        match level {
            Level::Trace => tracing::trace!(target: "component", request_id, context, "{message}"),
            Level::Debug => tracing::debug!(target: "component", request_id, context, "{message}"),
            Level::Info => tracing::info!(target: "component", request_id, context, "{message}"),
            Level::Warn => tracing::warn!(target: "component", request_id, context, "{message}"),
            Level::Error => tracing::error!(target: "component", request_id, context, "{message}"),
        }
    }

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

impl Drop for LineSink {
    fn drop(&mut self) {
        // What the guest wrote last without a newline (e.g. before a trap).
        self.flush_line();
        if self.dropped > 0 {
            tracing::warn!(
                target: "component",
                request_id = self.request_id.as_str(),
                dropped = self.dropped,
                "the call wrote more than {MAX_CALL_LOG_BYTES} bytes of log; the rest was dropped"
            );
        }
    }
}

/// One call's stderr as wasmtime-wasi wants it: every stream it opens writes to the same
/// line sink.
#[derive(Clone)]
pub struct GuestStderr(Arc<Mutex<LineSink>>);

impl GuestStderr {
    fn write(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .write(bytes);
    }
}

impl IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestStderr {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStderr {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        GuestStderr::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE_BYTES)
    }
}

impl tokio::io::AsyncWrite for GuestStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        GuestStderr::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(progress: Option<tokio::sync::mpsc::Sender<Progress>>) -> GuestStderr {
        Logging
            .call(&CallInfo {
                request_id: "r".into(),
                hooks: crate::capability::CallHooks {
                    cancel: None,
                    progress,
                },
                tenant: None,
            })
            .stderr()
    }

    fn line(level: &str, context: &str, message: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({ "level": level, "context": context, "message": message })
        )
    }

    #[tokio::test]
    async fn progress_events_reach_the_sink_and_nothing_else_does() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let out = sink(Some(tx));
        for (context, message) in [
            ("progress", r#"{"progress":1,"total":3,"message":"page 1"}"#),
            ("progress", r#"{"progress":2,"total":null,"message":null}"#),
            ("progress", r#"{"progress":"lots"}"#),
            ("progress", "not json"),
            ("sync", r#"{"progress":9}"#),
        ] {
            out.write(line("info", context, message).as_bytes());
        }
        out.write(b"thread 'main' panicked at src/lib.rs:1:1\n");
        drop(out);
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
    async fn lines_split_across_writes_are_joined() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let out = sink(Some(tx));
        let whole = line("info", "progress", r#"{"progress":7}"#);
        let (a, b) = whole.as_bytes().split_at(10);
        out.write(a);
        assert!(rx.try_recv().is_err(), "half a line is not an event");
        out.write(b);
        assert_eq!(rx.recv().await.unwrap().progress, 7.0);
        // The last line without its newline still counts when the call ends.
        out.write(
            line("info", "progress", r#"{"progress":8}"#)
                .trim_end()
                .as_bytes(),
        );
        drop(out);
        assert_eq!(rx.recv().await.unwrap().progress, 8.0);
    }

    #[test]
    fn clipped_fields_are_short_and_cannot_forge_lines() {
        assert_eq!(clip("orders_get", 64), "orders_get");
        let long = clip(&"x".repeat(10_000), 64);
        assert!(long.starts_with(&"x".repeat(64)) && long.ends_with("(+9936 bytes)"));
        assert_eq!(clip("a\nb\u{1b}[2J", 64), "a\\nb\\u{1b}[2J");
        assert_eq!(clip("é", 1), "é");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..Default::default()
        })]

        /// A clipped field has no control character and at most `max` characters of the
        /// value, plus the note of what was cut.
        #[test]
        fn clipped_fields_are_bounded_and_single_line(text in "\\PC{0,300}|[\\x00-\\x1f]{0,50}", max in 1usize..100) {
            let clipped = clip(&text, max);
            proptest::prop_assert!(!clipped.chars().any(char::is_control), "{clipped:?}");
            proptest::prop_assert!(clipped.chars().count() <= max * 10 + 24, "{clipped:?}");
        }
    }

    #[tokio::test]
    async fn a_chatty_call_logs_its_budget_and_no_more() {
        let out = sink(None);
        for _ in 0..1000 {
            out.write(line("info", "client", &"m".repeat(1000)).as_bytes());
        }
        let sink = out.0.lock().unwrap();
        assert!(sink.logged <= MAX_CALL_LOG_BYTES + MAX_MESSAGE_CHARS);
        assert!(sink.dropped > 900);
    }

    #[tokio::test]
    async fn a_full_or_missing_sink_drops_progress_and_endless_lines_stay_bounded() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let out = sink(Some(tx));
        for _ in 0..3 {
            out.write(line("info", "progress", r#"{"progress":1}"#).as_bytes());
        }
        let out = sink(None);
        out.write(line("info", "progress", r#"{"progress":1}"#).as_bytes());
        for _ in 0..100 {
            out.write(&[b'x'; 10_000]);
        }
        assert!(out.0.lock().unwrap().partial.len() < MAX_LINE_BYTES);
    }
}
