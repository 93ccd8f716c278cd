//! The audit trail as the doors read and add to it: a tenant's entries page by page, and
//! the operator's actions on tenants. Tool calls' own entries are the [`journal`]'s.
//!
//! [`journal`]: super::journal

use crate::audit;
use crate::error::ToolError;
use crate::host::Host;

pub use crate::audit::AuditEntry;

/// Newest first: up to `limit` entries of `trail` with `seq < before` (all when `None`),
/// and the `before` of the next page (`None` at the end).
pub fn page(
    host: &dyn Host,
    trail: &str,
    limit: u32,
    before: Option<u64>,
) -> Result<(Vec<AuditEntry>, Option<u64>), ToolError> {
    audit::list(host, trail, limit, before)
}

/// Record an operator `action` on tenant `tenant_id` in each of `trails`. Never fails: the
/// action has happened whether or not its entry lands (a lost entry is logged).
pub fn record_operator_action(
    host: &dyn Host,
    trails: &[&str],
    action: &str,
    tenant_id: &str,
    outcome: &Result<(), &ToolError>,
) {
    for trail in trails {
        audit::record(
            host,
            AuditEntry {
                seq: 0,
                at_ms: host.now_ms(),
                tenant: trail.to_string(),
                store: None,
                tool: action.to_string(),
                target: Some(tenant_id.to_string()),
                outcome: match outcome {
                    Ok(()) => "ok".into(),
                    Err(e) => e.code.as_str().into(),
                },
                request_id: format!("admin-{}", hex::encode(host.random_bytes(6))),
                note: None,
            },
        );
    }
}
