//! The audit trail: every mutation and every store or tenant change, per tenant, in the
//! `state` bucket. Entries hold ids and outcomes, never secrets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ToolError;
use crate::host::{Bucket, Host, Level};
use crate::kv::{get_json, kv_err, set_json};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    /// Position in the tenant's trail (1, 2, …).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub tenant: String,
    pub store: Option<String>,
    pub tool: String,
    /// The order, product or store acted on.
    pub target: Option<String>,
    /// `ok`, the error code, or `pending` while a write is in flight.
    pub outcome: String,
    pub request_id: String,
    /// More about the outcome, e.g. why a call was abandoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The outcome of a write that has started and not finished yet.
pub const PENDING: &str = "pending";

fn seq_key(tenant: &str) -> String {
    format!("audit/{tenant}/seq")
}

fn entry_key(tenant: &str, seq: u64) -> String {
    format!("audit/{tenant}/{seq:012}")
}

/// Append an entry and return its seq; a failure is logged, never raised (the mutation
/// may already have happened).
pub fn record(host: &dyn Host, entry: AuditEntry) -> Option<u64> {
    append(host, entry)
        .map_err(|(tool, e)| {
            host.log(
                Level::Error,
                "audit",
                &format!("audit entry lost for {tool}: {e}"),
            )
        })
        .ok()
}

/// Append an entry, or fail: for entries that must exist before a write goes out.
pub fn append(host: &dyn Host, mut entry: AuditEntry) -> Result<u64, (String, ToolError)> {
    let fail = |e: ToolError, entry: &AuditEntry| (entry.tool.clone(), e);
    let seq = host
        .kv_increment(Bucket::State, &seq_key(&entry.tenant), 1)
        .map_err(|e| fail(kv_err(e), &entry))?;
    entry.seq = seq;
    set_json(host, Bucket::State, &entry_key(&entry.tenant, seq), &entry)
        .map_err(|e| fail(e, &entry))?;
    Ok(seq)
}

/// Replace the entry with the same tenant and seq (a pending write's final outcome).
pub fn rewrite(host: &dyn Host, entry: &AuditEntry) {
    if let Err(e) = set_json(
        host,
        Bucket::State,
        &entry_key(&entry.tenant, entry.seq),
        entry,
    ) {
        host.log(
            Level::Error,
            "audit",
            &format!("audit outcome lost for {}: {e}", entry.tool),
        );
    }
}

/// Newest first: up to `limit` entries with `seq < before` (all when `None`).
pub fn list(
    host: &dyn Host,
    tenant: &str,
    limit: u32,
    before: Option<u64>,
) -> Result<(Vec<AuditEntry>, Option<u64>), ToolError> {
    let last = host
        .kv_increment(Bucket::State, &seq_key(tenant), 0)
        .map_err(kv_err)?;
    let mut seq = before.map_or(last, |b| b.saturating_sub(1).min(last));
    let mut out = Vec::new();
    while seq > 0 && out.len() < limit as usize {
        if let Some(entry) = get_json::<AuditEntry>(host, Bucket::State, &entry_key(tenant, seq))? {
            out.push(entry);
        }
        seq -= 1;
    }
    let next = (seq > 0).then(|| seq + 1);
    Ok((out, next))
}

/// Forget a tenant's whole trail.
pub fn clear(host: &dyn Host, tenant: &str) -> Result<(), ToolError> {
    let last = host
        .kv_increment(Bucket::State, &seq_key(tenant), 0)
        .map_err(kv_err)?;
    for seq in 1..=last {
        host.kv_delete(Bucket::State, &entry_key(tenant, seq))
            .map_err(kv_err)?;
    }
    host.kv_delete(Bucket::State, &seq_key(tenant))
        .map_err(kv_err)
}
