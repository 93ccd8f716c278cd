//! Safe full-record updates for OrderDesk, which replaces a record on PUT and offers no
//! version check: under a lock shared by every instance, fetch → change → re-read →
//! PUT. A re-read that differs from the fetch (someone else's edit), or a 409, redoes the
//! cycle with exponential back-off, up to 5 times, then `CONCURRENT_UPDATE`.

use serde_json::{Map, Value, json};

use crate::client::{Client, OdError};
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Host, Level, Method};
use crate::kvutil::Lease;
use crate::merge::fingerprint;
use crate::retry::RetryPolicy;

/// Cycles before giving up.
pub const MAX_CYCLES: u32 = 5;
/// How long to wait for another update of the same record to finish.
const LOCK_WAIT_MS: u64 = 15_000;

/// Turns the fetched record into the wanted one.
pub type Change<'a> = dyn Fn(&Map<String, Value>) -> Result<Map<String, Value>, ToolError> + 'a;

/// Which record to update.
pub struct Target<'a> {
    /// API path, e.g. `/orders/123`.
    pub path: String,
    /// Envelope key of the record, e.g. `order` or `inventory_item`.
    pub envelope: &'a str,
    /// Lock name; all updaters of the same record must agree on it.
    pub lock: String,
    /// Error for a missing record.
    pub not_found: ErrorCode,
}

/// The outcome of an update.
#[derive(Debug)]
pub struct Updated {
    pub record: Map<String, Value>,
    /// False when the change left the record as it was (nothing was sent).
    pub changed: bool,
    /// Cycles redone because the record changed underneath.
    pub conflicts: u32,
    /// Requests sent to OrderDesk.
    pub upstream_calls: u32,
}

pub fn update(
    host: &dyn Host,
    client: &Client,
    target: &Target,
    change: &Change,
) -> Result<Updated, ToolError> {
    let od = |e: OdError| e.into_tool_error(target.not_found);
    let backoff = RetryPolicy {
        base_ms: 50,
        max_backoff_ms: 1_000,
        ..RetryPolicy::default()
    };
    let mut conflicts = 0;
    let mut calls = 0;
    let fetch = |calls: &mut u32| {
        *calls += 1;
        envelope::object(&client.get(&target.path, &[]).map_err(od)?, target.envelope)
    };
    for cycle in 1..=MAX_CYCLES {
        let lease = Lease::acquire(host, &target.lock, LOCK_WAIT_MS)?.ok_or_else(|| {
            ToolError::new(
                ErrorCode::ConcurrentUpdate,
                "another update of this record did not finish in time",
            )
            .with_details(json!({ "conflicts": conflicts }))
        })?;
        let base = fetch(&mut calls)?;
        let wanted = change(&base)?;
        if wanted == base {
            return Ok(Updated {
                record: base,
                changed: false,
                conflicts,
                upstream_calls: calls,
            });
        }
        // Right before writing: has anyone changed the record since we read it?
        let current = fetch(&mut calls)?;
        if fingerprint(&current) == fingerprint(&base) {
            calls += 1;
            let body = Value::Object(wanted.clone());
            match client.write(Method::Put, &target.path, Some(&body)) {
                Ok(answer) => {
                    let record = envelope::object(&answer, target.envelope).unwrap_or(wanted);
                    return Ok(Updated {
                        record,
                        changed: true,
                        conflicts,
                        upstream_calls: calls,
                    });
                }
                Err(OdError::Conflict(_)) => {}
                Err(e) if e.is_ambiguous() => {
                    // The PUT may have landed: look before trying again.
                    let after = fetch(&mut calls)?;
                    if same_ignoring_timestamps(&after, &wanted) {
                        return Ok(Updated {
                            record: after,
                            changed: true,
                            conflicts,
                            upstream_calls: calls,
                        });
                    }
                }
                Err(e) => return Err(od(e)),
            }
        }
        // The record changed underneath, or OrderDesk said so: redo the cycle.
        drop(lease);
        conflicts += 1;
        host.log(
            Level::Info,
            "update",
            &format!(
                "{} changed underneath (cycle {cycle}); redoing",
                target.path
            ),
        );
        if cycle < MAX_CYCLES {
            host.sleep_ms(backoff.backoff(cycle, host.random_u64()));
        }
    }
    Err(ToolError::new(
        ErrorCode::ConcurrentUpdate,
        format!(
            "the record kept changing during {MAX_CYCLES} attempts; nothing was written over it"
        ),
    )
    .with_details(
        json!({ "attempts": MAX_CYCLES, "conflicts": conflicts, "upstream_calls": calls }),
    ))
}

/// OrderDesk stamps `date_updated` itself; compare everything else.
fn same_ignoring_timestamps(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let strip = |m: &Map<String, Value>| {
        let mut m = m.clone();
        m.remove("date_updated");
        m
    };
    strip(a) == strip(b)
}
