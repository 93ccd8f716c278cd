//! Safe full-record updates. OrderDesk replaces a record on PUT and offers no version check,
//! so under a lease shared by every instance an update runs read → change → PUT, where:
//!
//! - the upstream tokens for the read and the PUT are both taken before the read, so
//!   nothing waits between the two: the read is the freshest copy there can be, and the
//!   window in which an outside edit could be lost is one request long (a conflict-free
//!   update costs two upstream requests);
//! - a 409 on the PUT (someone else's edit) redoes the cycle from a fresh read, with
//!   back-off, up to [`MAX_CYCLES`], then `CONCURRENT_UPDATE`;
//! - a read or PUT answered 429 was refused: a PUT's body is never sent again; the cycle
//!   restarts from a fresh read after the advised wait;
//! - a PUT answered 5xx or not at all may have landed: the record is read back; if it holds
//!   the change, done; if it is as before, the cycle restarts; otherwise the outcome is
//!   unknown and the call says so (`WRITE_OUTCOME_UNKNOWN`).

use serde_json::{Map, Value, json};

use super::StoreCtx;
use super::write::outcome_unknown;
use crate::client::{Client, OdError};
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Level, Method};
use crate::lock::{LEASE_MS, Lease};
use crate::resource::Resource;
use crate::retry::RetryPolicy;
use crate::trace;

/// Cycles before giving up.
pub const MAX_CYCLES: u32 = 5;
/// How long to wait for another update of the same record to finish.
const LOCK_WAIT_MS: u64 = 15_000;

/// Turns the fetched record into the wanted one.
pub type Change<'a> = dyn Fn(&Map<String, Value>) -> Result<Map<String, Value>, ToolError> + 'a;

/// The outcome of an update.
#[derive(Debug)]
pub struct Updated {
    pub record: Map<String, Value>,
    /// False when the change left the record as it was (nothing was sent).
    pub changed: bool,
    /// Cycles redone because the record changed underneath (a 409).
    pub conflicts: u32,
    /// Cycles redone because OrderDesk refused or lost a request (429, 5xx, no answer).
    pub retries: u32,
    /// Requests sent to OrderDesk.
    pub upstream_calls: u32,
    /// True when a PUT's answer was lost and reading the record back showed it landed.
    pub recovered: bool,
}

/// How one cycle ended.
enum Cycle {
    /// The change leaves the record as it is: nothing is sent.
    Unchanged(Map<String, Value>),
    /// The record holds the change.
    Done {
        record: Map<String, Value>,
        recovered: bool,
    },
    /// Someone else changed the record (a 409): run another cycle.
    Conflict,
    /// OrderDesk refused or lost a request: run another cycle after `wait_ms`.
    Retry { wait_ms: u64 },
}

pub fn update(
    ctx: &StoreCtx,
    res: &Resource,
    id: &str,
    change: &Change,
) -> Result<Updated, ToolError> {
    let host = ctx.host;
    let client = ctx.client();
    let od = |e: OdError| res.od_error(id, e);
    let path = res.path(id);
    let lock = res.lock_name(ctx.store_id(), id);
    let busy = || {
        ToolError::new(
            ErrorCode::ConcurrentUpdate,
            "another update of this record did not finish in time; nothing was written",
        )
    };
    let mut lease = Lease::acquire(host, &lock, LEASE_MS, LOCK_WAIT_MS)?.ok_or_else(busy)?;
    let backoff = RetryPolicy {
        base_ms: 50,
        max_backoff_ms: 1_000,
        ..client.retry_policy()
    };
    // The intent is journaled before the read, so nothing (not even a state write) sits
    // between the read and the PUT.
    ctx.begin_write(res.family, id)?;
    let (mut conflicts, mut retries) = (0, 0);
    for cycle in 1..=MAX_CYCLES {
        if !lease.keep()? {
            lease = Lease::acquire(host, &lock, LEASE_MS, LOCK_WAIT_MS)?.ok_or_else(busy)?;
        }
        let cycled = attempt(&client, &mut lease, &path, res, change).map_err(|e| e.map_od(od))?;
        let wait_ms = match cycled {
            Cycle::Unchanged(record) => {
                return Ok(Updated {
                    record,
                    changed: false,
                    conflicts,
                    retries,
                    upstream_calls: client.sent(),
                    recovered: false,
                });
            }
            Cycle::Done { record, recovered } => {
                return Ok(Updated {
                    record,
                    changed: true,
                    conflicts,
                    retries,
                    upstream_calls: client.sent(),
                    recovered,
                });
            }
            Cycle::Conflict => {
                conflicts += 1;
                host.metric("update_conflict", &[]);
                let wait_ms = backoff.backoff(cycle, host.random_u64());
                trace::instant(
                    host,
                    trace::kind::CONFLICT,
                    || format!("{} changed underneath (cycle {cycle})", res.noun),
                    || Some(json!({ "cycle": cycle, "backoff_ms": wait_ms })),
                );
                wait_ms
            }
            Cycle::Retry { wait_ms } if wait_ms > backoff.max_retry_after_ms => {
                // OrderDesk asks for a longer wait than a call may sit out; nothing was
                // written, so the caller may simply try again later.
                return Err(od(OdError::RateLimited {
                    retry_after_ms: Some(wait_ms),
                    tries: retries + 1,
                }));
            }
            Cycle::Retry { wait_ms } => {
                retries += 1;
                wait_ms.max(backoff.backoff(cycle, host.random_u64()))
            }
        };
        host.log(
            Level::Info,
            "update",
            &format!("{path}: cycle {cycle} redone ({conflicts} conflicts, {retries} retries)"),
        );
        if cycle < MAX_CYCLES {
            let span = trace::start(host);
            host.sleep_ms(wait_ms);
            span.end(
                host,
                trace::kind::WAIT,
                || format!("cycle {cycle} redone"),
                None,
                || Some(json!({ "wait_ms": wait_ms, "conflicts": conflicts, "retries": retries })),
            );
        }
    }
    Err(ToolError::new(
        ErrorCode::ConcurrentUpdate,
        format!(
            "the {} kept changing (or OrderDesk kept failing) during {MAX_CYCLES} attempts; \
             nothing was written over anyone else's change",
            res.noun
        ),
    )
    .with_details(json!({
        "attempts": MAX_CYCLES,
        "conflicts": conflicts,
        "retries": retries,
        "upstream_calls": client.sent(),
    })))
}

/// Why a cycle stopped the whole update.
enum Stop {
    Od(OdError),
    Tool(ToolError),
}

impl Stop {
    fn map_od(self, od: impl Fn(OdError) -> ToolError) -> ToolError {
        match self {
            Stop::Od(e) => od(e),
            Stop::Tool(e) => e,
        }
    }
}

impl From<ToolError> for Stop {
    fn from(e: ToolError) -> Self {
        Stop::Tool(e)
    }
}

/// Read, change, PUT, with nothing waiting in between.
fn attempt(
    client: &Client,
    lease: &mut Lease,
    path: &str,
    res: &Resource,
    change: &Change,
) -> Result<Cycle, Stop> {
    // Both tokens first: once the read is answered, the PUT goes out at once. (A change
    // that turns out to be a no-op leaves its second token unspent.)
    let mut slots = client.reserve(2);
    // The reservation may have waited: the lease must still be ours before the read.
    if !lease.keep()? {
        return Ok(Cycle::Retry { wait_ms: 0 });
    }
    let base = match client.send_once(Method::Get, path, None, Some(&mut slots)) {
        Ok(body) => envelope::object(&body, res.envelope)?,
        Err(e) => return refused_or_stop(e),
    };
    let wanted = change(&base)?;
    if wanted == base {
        return Ok(Cycle::Unchanged(base));
    }
    // A read slower than a quarter of the lease renews it here (the only case that asks
    // the state store anything between the read and the PUT); a lost lease writes nothing.
    let span = trace::start(client.host());
    let held = lease.keep()?;
    span.end(
        client.host(),
        trace::kind::RECHECK,
        || format!("{} lease before PUT", lease.name()),
        None,
        || Some(json!({ "held": held })),
    );
    if !held {
        return Ok(Cycle::Retry { wait_ms: 0 });
    }
    let body = Value::Object(wanted);
    let wanted = body.as_object().expect("built as an object");
    match client.send_once(Method::Put, path, Some(&body), Some(&mut slots)) {
        Ok(answer) => Ok(Cycle::Done {
            record: envelope::object(&answer, res.envelope).unwrap_or_else(|_| wanted.clone()),
            recovered: false,
        }),
        Err(OdError::Conflict(_)) => Ok(Cycle::Conflict),
        Err(e) if e.is_ambiguous() => landed(client, path, res, (&base, wanted), change, &e),
        Err(e) => refused_or_stop(e),
    }
}

/// A request refused before anything happened: 429 → another cycle after the advised wait;
/// 5xx or no answer on a read → another cycle; anything else stops the update.
fn refused_or_stop(e: OdError) -> Result<Cycle, Stop> {
    match e.rate_limited() {
        Some(advised) => Ok(Cycle::Retry {
            wait_ms: advised.unwrap_or(1_000),
        }),
        None if e.is_ambiguous() => Ok(Cycle::Retry { wait_ms: 0 }),
        None => Err(Stop::Od(e)),
    }
}

/// After a PUT whose answer was lost: read the record back. It holds the change → done; it
/// is as the read saw it → the PUT did not land, run another cycle; anything else (the
/// read fails, or someone changed it meanwhile) → the outcome is unknown.
fn landed(
    client: &Client,
    path: &str,
    res: &Resource,
    (before, wanted): (&Map<String, Value>, &Map<String, Value>),
    change: &Change,
    cause: &OdError,
) -> Result<Cycle, Stop> {
    let unknown = |why: &str| {
        Stop::Tool(outcome_unknown(
            cause,
            &format!("{why}; read the {} before changing it again.", res.noun),
            json!({ res.id_argument: path.rsplit('/').next() }),
        ))
    };
    let span = trace::start(client.host());
    let read_back = client.read(path, &[]);
    span.end(
        client.host(),
        trace::kind::RECHECK,
        || format!("read back {} after a lost PUT answer", res.noun),
        None,
        || Some(json!({ "cause": format!("{cause:?}"), "read": read_back.is_ok() })),
    );
    let after = match read_back {
        Ok(body) => envelope::object(&body, res.envelope)?,
        Err(_) => return Err(unknown("reading it back failed too")),
    };
    if without_stamp(&after) == without_stamp(wanted) || change(&after)? == after {
        return Ok(Cycle::Done {
            record: after,
            recovered: true,
        });
    }
    if without_stamp(&after) == without_stamp(before) {
        return Ok(Cycle::Retry { wait_ms: 0 });
    }
    Err(unknown("it has changed since, and not only by this update"))
}

/// OrderDesk stamps `date_updated` itself; compare everything else.
fn without_stamp(m: &Map<String, Value>) -> Map<String, Value> {
    let mut m = m.clone();
    m.remove("date_updated");
    m
}
