//! The one recording hook of a call's trace: the infrastructure notes each step where it
//! happens (a cache lookup, a lock wait, an upstream request, a back-off, a conflict) and
//! the recorder buffers it in memory; only the finished trace goes to the host, once, from
//! `services::traces`.
//!
//! One call runs per instance, so the recorder is a thread-local: [`begin`] opens it,
//! [`finish`] takes it. While none is open every hook is a no-op that reads no clock.
//!
//! 1. A front door's service calls [`begin`] with the call's kind, name and request id.
//! 2. Infrastructure records: `let span = trace::start(host); …; span.end(host, kind, …)`,
//!    or [`instant`] for a step that takes no time.
//! 3. [`finish`] hands back the [`Recording`] with its steps, bounded by [`MAX_STEPS`].

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::host::Host;

/// Step kinds, as the console shows them.
pub mod kind {
    /// A read-through cache lookup (`hit orders`, `miss orders`).
    pub const CACHE: &str = "cache";
    /// A lock taken (its wait) or released (how long it was held).
    pub const LOCK: &str = "lock";
    /// One request to OrderDesk.
    pub const UPSTREAM: &str = "upstream";
    /// A wait: the store's upstream bucket, a 429's advised wait, a back-off.
    pub const WAIT: &str = "wait";
    /// The check made right before a PUT, or reading a record back after a lost answer.
    pub const RECHECK: &str = "recheck";
    /// Someone else changed the record under an update.
    pub const CONFLICT: &str = "conflict";
    /// A family of cached reads dropped.
    pub const INVALIDATE: &str = "invalidate";
    /// Orders written into the local mirror.
    pub const MIRROR: &str = "mirror";
}

/// Steps one trace keeps; later ones are only counted.
pub const MAX_STEPS: usize = 100;
/// The longest label kept, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// One step of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub kind: String,
    pub label: String,
    /// Microseconds from the call's start to the step's start.
    pub start_us: u64,
    pub duration_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Further facts, a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// A call being recorded, or just finished.
#[derive(Debug, Clone)]
pub struct Recording {
    /// `tool`, `webhook` or `sync`.
    pub kind: &'static str,
    /// The tool's name, `webhook` or `sync_run`.
    pub name: String,
    /// The request id.
    pub id: String,
    /// Wall-clock start, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// The first store the call acted on.
    pub store: Option<String>,
    pub steps: Vec<Step>,
    /// Steps past [`MAX_STEPS`], counted but not kept.
    pub dropped_steps: u32,
    /// Monotonic start, microseconds.
    start_us: u64,
    /// Monotonic end, set by [`finish`].
    pub duration_us: u64,
}

thread_local! {
    static ACTIVE: RefCell<Option<Recording>> = const { RefCell::new(None) };
}

/// Start recording a call (replacing whatever an earlier call left open).
pub fn begin(host: &dyn Host, kind: &'static str, name: &str, id: &str) {
    let recording = Recording {
        kind,
        name: truncate(name),
        id: truncate(id),
        started_at_ms: host.now_ms(),
        store: None,
        steps: Vec::new(),
        dropped_steps: 0,
        start_us: host.monotonic_us(),
        duration_us: 0,
    };
    ACTIVE.with(|a| *a.borrow_mut() = Some(recording));
}

/// Whether a call is being recorded.
pub fn active() -> bool {
    ACTIVE.with(|a| a.borrow().is_some())
}

/// Note the store the call acts on (the first one named stays).
pub fn set_store(store: &str) {
    ACTIVE.with(|a| {
        if let Some(r) = a.borrow_mut().as_mut()
            && r.store.is_none()
        {
            r.store = Some(truncate(store));
        }
    });
}

/// Stop recording and hand the call's recording back (`None` when none was open).
pub fn finish(host: &dyn Host) -> Option<Recording> {
    let mut recording = ACTIVE.with(|a| a.borrow_mut().take())?;
    recording.duration_us = host.monotonic_us().saturating_sub(recording.start_us);
    Some(recording)
}

/// Drop the open recording, if any, without keeping it.
pub fn abandon() {
    ACTIVE.with(|a| *a.borrow_mut() = None);
}

/// A step's start: the monotonic time when a call is being recorded, else nothing.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Span {
    started_us: Option<u64>,
}

/// Open a span now (reads the clock only while recording).
pub fn start(host: &dyn Host) -> Span {
    Span {
        started_us: active().then(|| host.monotonic_us()),
    }
}

impl Span {
    /// Microseconds since the span opened (0 when not recording).
    pub fn elapsed_us(&self, host: &dyn Host) -> u64 {
        self.started_us
            .map_or(0, |s| host.monotonic_us().saturating_sub(s))
    }

    /// Record the step that began when the span opened. `label` and `detail` are built
    /// only while recording.
    pub fn end(
        self,
        host: &dyn Host,
        kind: &'static str,
        label: impl FnOnce() -> String,
        status: Option<u16>,
        detail: impl FnOnce() -> Option<Value>,
    ) {
        let Some(started) = self.started_us else {
            return;
        };
        let now = host.monotonic_us();
        push(
            kind,
            label(),
            started,
            now.saturating_sub(started),
            status,
            detail(),
        );
    }
}

/// Record a step that takes no time of its own (a conflict seen, an invalidation).
pub fn instant(
    host: &dyn Host,
    kind: &'static str,
    label: impl FnOnce() -> String,
    detail: impl FnOnce() -> Option<Value>,
) {
    start(host).end(host, kind, label, None, detail);
}

fn push(
    kind: &'static str,
    label: String,
    started_us: u64,
    duration_us: u64,
    status: Option<u16>,
    detail: Option<Value>,
) {
    ACTIVE.with(|a| {
        let mut active = a.borrow_mut();
        let Some(r) = active.as_mut() else {
            return;
        };
        if r.steps.len() >= MAX_STEPS {
            r.dropped_steps = r.dropped_steps.saturating_add(1);
            return;
        }
        r.steps.push(Step {
            kind: kind.to_string(),
            label: truncate(&label),
            start_us: started_us.saturating_sub(r.start_us),
            duration_us,
            status,
            detail,
        });
    });
}

/// `text` cut to [`MAX_LABEL_CHARS`] characters.
pub fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_LABEL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// An OrderDesk path as a route template: every segment that is not a plain word
/// (lower-case letters and `-`) becomes `{id}`, so no record id reaches a label.
pub fn route_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            if seg.is_empty() || seg.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                seg
            } else {
                "{id}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;

    #[test]
    fn nothing_is_recorded_outside_a_call_and_steps_are_bounded() {
        let host = ScriptedHost::configured();
        abandon();
        instant(&host, kind::CACHE, || "ignored".into(), || None);
        assert!(finish(&host).is_none());
        begin(&host, "tool", "orders_get", "r1");
        for i in 0..MAX_STEPS + 5 {
            instant(&host, kind::CACHE, || format!("step {i}"), || None);
        }
        let r = finish(&host).unwrap();
        assert_eq!(r.steps.len(), MAX_STEPS);
        assert_eq!(r.dropped_steps, 5);
        assert!(!active());
    }

    #[test]
    fn labels_are_cut_and_routes_lose_their_ids() {
        assert_eq!(
            truncate(&"é".repeat(300)).chars().count(),
            MAX_LABEL_CHARS + 1
        );
        assert_eq!(route_template("/orders/123"), "/orders/{id}");
        assert_eq!(
            route_template("/orders/A-1/shipments/9?x=secret"),
            "/orders/{id}/shipments/{id}"
        );
        assert_eq!(route_template("/inventory-items"), "/inventory-items");
    }
}
