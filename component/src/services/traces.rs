//! Traces as the doors see them: a call is recorded from its start ([`begin`]) to its end
//! ([`finish`]), its steps noted by the infrastructure through [`crate::trace`], and the
//! finished trace stored once per tenant it acted for, bounded in count and age.
//!
//! State layout (`state` bucket): `trace-seq/{tenant}` (an atomic counter) and
//! `trace/{tenant}/{slot}` with `slot = (seq - 1) % trace_keep`: each new trace takes the
//! next slot and overwrites the oldest, so the count bound holds with no read-modify-write
//! race. Traces older than `trace_max_age_minutes` are skipped on reading and deleted then.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{SINGLE_STORE_TENANT, Settings};
use crate::error::ToolError;
use crate::host::{Bucket, Host};
use crate::kv::{get_json, kv_err, set_json};
use crate::tenancy;
use crate::trace;

pub use crate::trace::Step;

/// The largest `trace_keep` the settings allow: deleting a tenant clears this many slots
/// at most (fewer when it made fewer traces).
const MAX_KEEP: u64 = 100_000;
/// The longest arguments text kept, in bytes; longer ones are cut with a marker.
pub const MAX_ARGUMENT_BYTES: usize = 4_096;
/// The longest error message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 1_000;
/// The most summaries one listing answers.
pub const MAX_LIST: u32 = 500;

/// What kind of call a trace records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A `tools.call-tool`.
    Tool,
    /// An `intake.webhook-deliver`.
    Webhook,
    /// An `intake.sync-run`.
    Sync,
}

impl CallKind {
    fn as_str(self) -> &'static str {
        match self {
            CallKind::Tool => "tool",
            CallKind::Webhook => "webhook",
            CallKind::Sync => "sync",
        }
    }
}

/// One trace as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// The request id.
    pub id: String,
    pub tenant: String,
    pub store: Option<String>,
    /// `tool`, `webhook` or `sync`.
    pub kind: String,
    /// The tool's name, `webhook` or `sync_run`.
    pub name: String,
    /// `ok` or the error code.
    pub outcome: String,
    pub started_at_ms: u64,
    pub duration_us: u64,
}

/// One trace with its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    #[serde(flatten)]
    pub summary: TraceSummary,
    /// The arguments, a JSON object as text, secrets replaced by `"[redacted]"`.
    pub arguments: String,
    pub message: Option<String>,
    pub steps: Vec<Step>,
    /// Steps past the per-trace bound, counted but not kept.
    #[serde(default)]
    pub dropped_steps: u32,
    /// The tenant's trace sequence number (orders traces of one tenant).
    #[serde(default)]
    seq: u64,
}

/// Which traces a listing shows.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    pub store: Option<String>,
    pub name: Option<String>,
    /// `ok`, `error` (any failure) or one error code.
    pub outcome: Option<String>,
    pub since_ms: Option<u64>,
    /// At most this many (capped at [`MAX_LIST`]).
    pub limit: u32,
}

impl TraceFilter {
    fn keeps(&self, s: &TraceSummary) -> bool {
        self.store
            .as_ref()
            .is_none_or(|w| s.store.as_ref() == Some(w))
            && self.name.as_ref().is_none_or(|w| &s.name == w)
            && self.since_ms.is_none_or(|t| s.started_at_ms >= t)
            && self.outcome.as_deref().is_none_or(|w| match w {
                "error" => s.outcome != "ok",
                other => s.outcome == other,
            })
    }
}

fn seq_key(tenant: &str) -> String {
    format!("trace-seq/{tenant}")
}

fn slot_key(tenant: &str, slot: u64) -> String {
    format!("trace/{tenant}/{slot}")
}

/// Start recording a call.
pub fn begin(host: &dyn Host, kind: CallKind, name: &str, request_id: &str) {
    trace::begin(host, kind.as_str(), name, request_id);
}

/// Note the store the call acts on (the first one stays).
pub fn note_store(store_id: &str) {
    trace::set_store(store_id);
}

/// Forget the call being recorded (it is not traced: e.g. its credential failed).
pub fn discard() {
    trace::abandon();
}

/// Finish the call being recorded and keep it under each of `tenants` (none: it is
/// dropped). Costs two host round trips per tenant (the slot counter and the write); a
/// failure to keep it is logged, never the call's.
pub fn finish(
    host: &dyn Host,
    settings: &Settings,
    tenants: &[&str],
    arguments: Option<&Value>,
    result: Result<(), &ToolError>,
) {
    let Some(recording) = trace::finish(host) else {
        return;
    };
    if settings.trace_keep == 0 || tenants.is_empty() {
        return;
    }
    let (outcome, message) = match result {
        Ok(()) => ("ok".to_string(), None),
        Err(e) => (
            e.code.as_str().to_string(),
            Some(trace_text(&e.message, MAX_MESSAGE_CHARS)),
        ),
    };
    let arguments = arguments_text(arguments);
    for tenant in tenants {
        let trace = Trace {
            summary: TraceSummary {
                id: recording.id.clone(),
                tenant: tenant.to_string(),
                store: recording.store.clone(),
                kind: recording.kind.to_string(),
                name: recording.name.clone(),
                outcome: outcome.clone(),
                started_at_ms: recording.started_at_ms,
                duration_us: recording.duration_us,
            },
            arguments: arguments.clone(),
            message: message.clone(),
            steps: recording.steps.clone(),
            dropped_steps: recording.dropped_steps,
            seq: 0,
        };
        if let Err(e) = keep(host, settings.trace_keep, trace) {
            host.log(
                crate::host::Level::Warn,
                "trace",
                &format!("trace of {} not kept: {e}", recording.id),
            );
        }
    }
}

fn keep(host: &dyn Host, keep: u64, mut trace: Trace) -> Result<(), ToolError> {
    let tenant = trace.summary.tenant.clone();
    let seq = host
        .kv_increment(Bucket::State, &seq_key(&tenant), 1)
        .map_err(kv_err)?;
    trace.seq = seq;
    set_json(
        host,
        Bucket::State,
        &slot_key(&tenant, (seq - 1) % keep),
        &trace,
    )
}

/// The arguments as kept: redacted, and cut past [`MAX_ARGUMENT_BYTES`] (then a JSON
/// object saying so, with the start of the text).
fn arguments_text(arguments: Option<&Value>) -> String {
    let text = arguments
        .map(redact)
        .unwrap_or_else(|| json!({}))
        .to_string();
    if text.len() <= MAX_ARGUMENT_BYTES {
        return text;
    }
    let mut cut = MAX_ARGUMENT_BYTES - 100;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    json!({ "[truncated]": true, "bytes": text.len(), "start": &text[..cut] }).to_string()
}

fn trace_text(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `value` with the value of every object key that names a secret (`key`, `secret`,
/// `token`, `password`, in any case) replaced by `"[redacted]"`, at any depth.
pub fn redact(value: &Value) -> Value {
    const SECRET_WORDS: [&str; 4] = ["key", "secret", "token", "password"];
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let v = if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
                        json!("[redacted]")
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// Every trace of `tenant` still within the age bound, newest first; expired ones met are
/// deleted.
fn of_tenant(host: &dyn Host, settings: &Settings, tenant: &str) -> Result<Vec<Trace>, ToolError> {
    let keep = settings.trace_keep;
    if keep == 0 {
        return Ok(Vec::new());
    }
    let seq = host
        .kv_increment(Bucket::State, &seq_key(tenant), 0)
        .map_err(kv_err)?;
    let oldest_kept = host.now_ms().saturating_sub(settings.trace_max_age_ms);
    let mut out = Vec::new();
    for slot in 0..seq.min(keep) {
        let key = slot_key(tenant, slot);
        let Some(trace) = get_json::<Trace>(host, Bucket::State, &key)? else {
            continue;
        };
        if trace.summary.started_at_ms < oldest_kept {
            host.kv_delete(Bucket::State, &key).map_err(kv_err)?;
            continue;
        }
        out.push(trace);
    }
    out.sort_by_key(|t| std::cmp::Reverse(t.seq));
    Ok(out)
}

/// The tenants whose traces `tenant` covers: itself, or (none) every tenant and `_`.
fn tenants_of(host: &dyn Host, tenant: Option<&str>) -> Result<Vec<String>, ToolError> {
    match tenant {
        Some(t) => Ok(vec![t.to_string()]),
        None => {
            let mut all: Vec<String> = tenancy::list_tenants(host)?
                .into_iter()
                .map(|r| r.id)
                .collect();
            all.push(SINGLE_STORE_TENANT.to_string());
            Ok(all)
        }
    }
}

/// Recent traces, newest first: one tenant's, or every tenant's (`None`).
pub fn list(
    host: &dyn Host,
    settings: &Settings,
    tenant: Option<&str>,
    filter: &TraceFilter,
) -> Result<Vec<TraceSummary>, ToolError> {
    let mut found: Vec<Trace> = Vec::new();
    for t in tenants_of(host, tenant)? {
        found.extend(
            of_tenant(host, settings, &t)?
                .into_iter()
                .filter(|tr| filter.keeps(&tr.summary)),
        );
    }
    found.sort_by_key(|t| std::cmp::Reverse((t.summary.started_at_ms, t.seq)));
    Ok(found
        .into_iter()
        .take(filter.limit.min(MAX_LIST) as usize)
        .map(|t| t.summary)
        .collect())
}

/// One trace by id, if it is `tenant`'s (`None`: any tenant's) and still kept.
pub fn get(
    host: &dyn Host,
    settings: &Settings,
    tenant: Option<&str>,
    id: &str,
) -> Result<Option<Trace>, ToolError> {
    for t in tenants_of(host, tenant)? {
        if let Some(found) = of_tenant(host, settings, &t)?
            .into_iter()
            .find(|tr| tr.summary.id == id)
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// When the tenant's latest kept trace started: its newest slot, one counter read and one
/// record read.
pub fn last_active_ms(host: &dyn Host, settings: &Settings, tenant: &str) -> Option<u64> {
    let keep = settings.trace_keep;
    if keep == 0 {
        return None;
    }
    let seq = host
        .kv_increment(Bucket::State, &seq_key(tenant), 0)
        .ok()
        .filter(|s| *s > 0)?;
    get_json::<Trace>(host, Bucket::State, &slot_key(tenant, (seq - 1) % keep))
        .ok()
        .flatten()
        .map(|t| t.summary.started_at_ms)
}

/// Delete every trace of `tenant` and its counter.
pub fn delete_all(host: &dyn Host, tenant: &str) -> Result<(), ToolError> {
    let seq = host
        .kv_increment(Bucket::State, &seq_key(tenant), 0)
        .map_err(kv_err)?;
    for slot in 0..seq.min(MAX_KEEP) {
        host.kv_delete(Bucket::State, &slot_key(tenant, slot))
            .map_err(kv_err)?;
    }
    host.kv_delete(Bucket::State, &seq_key(tenant))
        .map_err(kv_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth_and_long_arguments_cut() {
        let args = json!({
            "api_key": "k", "Master_Key": "m", "nested": [{"Token": 1, "name": "n"}],
            "store": {"password": "p", "id": 7}, "keyword": "x"
        });
        let r = redact(&args);
        assert_eq!(r["api_key"], "[redacted]");
        assert_eq!(r["Master_Key"], "[redacted]");
        assert_eq!(r["nested"][0]["Token"], "[redacted]");
        assert_eq!(r["nested"][0]["name"], "n");
        assert_eq!(r["store"]["password"], "[redacted]");
        assert_eq!(r["store"]["id"], 7);
        let long = json!({ "note": "é".repeat(5_000) });
        let text = arguments_text(Some(&long));
        assert!(text.len() <= MAX_ARGUMENT_BYTES, "{}", text.len());
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["[truncated]"], true);
    }
}
