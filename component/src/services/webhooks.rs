//! Webhook events: each delivery OrderDesk's "Post Order JSON" rule makes, stored durably
//! before it is acknowledged, recognised when OrderDesk delivers it again (it retries a
//! failed delivery 5 times over 2 hours), and applied to the mirror.
//!
//! State layout (`state` bucket), for tenant `t` and store `s`: the counter
//! `webhook/{t}/{s}/seq`, events `webhook/{t}/{s}/e/{seq}`, and dedupe keys
//! `webhook/{t}/{s}/d/{order id}/{sha256 of the body}` → seq. The newest [`RETAINED`]
//! events are kept (far more than two hours of redeliveries); older ones go with their
//! dedupe keys.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::mirror::{Change, Mirror, Via};
use crate::cache::{self, Family};
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host};
use crate::kv::{get_json, kv_err, set_json};
use crate::lock::Lease;

/// The lease on one order's deliveries: storing one takes milliseconds.
const DELIVERY_LEASE_MS: u64 = 10_000;

/// Events kept per store.
pub const RETAINED: u64 = 500;

/// One delivery, as `webhooks_list` shows it (never the signature or a key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub seq: u64,
    /// When it first arrived, milliseconds since the Unix epoch.
    pub received_at: u64,
    pub order_id: String,
    /// What it did to the mirror.
    pub change: Change,
    /// How many times OrderDesk delivered it (redeliveries included).
    pub deliveries: u32,
    /// SHA-256 of the delivered order JSON, hex.
    pub body_sha256: String,
    /// The first delivery's request id.
    pub request_id: String,
    /// Whether it reached the mirror (false only while, or if, applying failed).
    pub applied: bool,
}

/// Whether a delivery was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
}

struct Keys {
    prefix: String,
}

impl Keys {
    fn new(tenant: &str, store_id: &str) -> Self {
        Self {
            prefix: format!("webhook/{tenant}/{store_id}"),
        }
    }
    fn seq(&self) -> String {
        format!("{}/seq", self.prefix)
    }
    fn event(&self, seq: u64) -> String {
        format!("{}/e/{seq}", self.prefix)
    }
    fn dedupe(&self, order_id: &str, sha: &str) -> String {
        format!("{}/d/{order_id}/{sha}", self.prefix)
    }
}

/// Store, dedupe and apply one verified delivery for one tenant's registration.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    host: &dyn Host,
    tenant: &str,
    store_id: &str,
    order: &Map<String, Value>,
    order_id: &str,
    raw: &str,
    cancelled_folders: &[u64],
    request_id: &str,
) -> Result<(Outcome, Change), ToolError> {
    let keys = Keys::new(tenant, store_id);
    let sha = hex::encode(Sha256::digest(raw.as_bytes()));
    let _lock = Lease::acquire(
        host,
        &format!("{}/{order_id}", keys.prefix),
        DELIVERY_LEASE_MS,
        10_000,
    )?
    .ok_or_else(|| {
        ToolError::new(
            ErrorCode::ConcurrentUpdate,
            "another delivery of this order is being stored; OrderDesk will retry",
        )
    })?;
    let dedupe_key = keys.dedupe(order_id, &sha);
    let known: Option<u64> = host
        .kv_get(Bucket::State, &dedupe_key)
        .map_err(kv_err)?
        .and_then(|b| String::from_utf8_lossy(&b).parse().ok());
    if let Some(seq) = known
        && let Some(mut event) = get_json::<Event>(host, Bucket::State, &keys.event(seq))?
    {
        event.deliveries += 1;
        if !event.applied {
            event.change = apply(host, tenant, store_id, order, cancelled_folders)?;
            event.applied = true;
        }
        set_json(host, Bucket::State, &keys.event(seq), &event)?;
        return Ok((Outcome::Duplicate, event.change));
    }
    let seq = host
        .kv_increment(Bucket::State, &keys.seq(), 1)
        .map_err(kv_err)?;
    let mut event = Event {
        seq,
        received_at: host.now_ms(),
        order_id: order_id.to_string(),
        change: Change::AlreadySynced,
        deliveries: 1,
        body_sha256: sha,
        request_id: request_id.to_string(),
        applied: false,
    };
    // Durable first: from here a redelivery is recognised, even if applying fails (the
    // redelivery then applies it).
    set_json(host, Bucket::State, &keys.event(seq), &event)?;
    host.kv_set(Bucket::State, &dedupe_key, seq.to_string().as_bytes())
        .map_err(kv_err)?;
    event.change = apply(host, tenant, store_id, order, cancelled_folders)?;
    event.applied = true;
    set_json(host, Bucket::State, &keys.event(seq), &event)?;
    if seq > RETAINED {
        forget(host, &keys, seq - RETAINED);
    }
    Ok((Outcome::Accepted, event.change))
}

/// Mirror the order and drop the store's cached order reads: OrderDesk just said it
/// changed, whatever the mirror already knew.
fn apply(
    host: &dyn Host,
    tenant: &str,
    store_id: &str,
    order: &Map<String, Value>,
    cancelled_folders: &[u64],
) -> Result<Change, ToolError> {
    let applied = Mirror::new(host, tenant, store_id).apply(
        vec![order.clone()],
        cancelled_folders,
        Via::Webhook,
    )?;
    cache::invalidate(host, tenant, store_id, Family::Orders);
    Ok(applied.first().map(|(_, c)| *c).unwrap_or(Change::Skipped))
}

fn forget(host: &dyn Host, keys: &Keys, seq: u64) {
    if let Ok(Some(old)) = get_json::<Event>(host, Bucket::State, &keys.event(seq)) {
        let _ = host.kv_delete(Bucket::State, &keys.dedupe(&old.order_id, &old.body_sha256));
    }
    let _ = host.kv_delete(Bucket::State, &keys.event(seq));
}

/// The newest events (before `before`, if given), newest first, and the `before` of the
/// next page.
pub fn list(
    host: &dyn Host,
    tenant: &str,
    store_id: &str,
    limit: u32,
    before: Option<u64>,
) -> Result<(Vec<Event>, Option<u64>), ToolError> {
    let keys = Keys::new(tenant, store_id);
    let newest = host
        .kv_increment(Bucket::State, &keys.seq(), 0)
        .map_err(kv_err)?;
    let top = before.map_or(newest, |b| b.saturating_sub(1).min(newest));
    let floor = newest.saturating_sub(RETAINED);
    let mut out = Vec::new();
    let mut seq = top;
    while seq > floor && out.len() < limit as usize {
        if let Some(e) = get_json::<Event>(host, Bucket::State, &keys.event(seq))? {
            out.push(e);
        }
        seq -= 1;
    }
    let next = (seq > floor && !out.is_empty())
        .then(|| out.last().map(|e| e.seq))
        .flatten();
    Ok((out, next))
}

/// When the store's latest accepted delivery (its newest event) first arrived.
pub fn last_accepted_at(
    host: &dyn Host,
    tenant: &str,
    store_id: &str,
) -> Result<Option<u64>, ToolError> {
    Ok(list(host, tenant, store_id, 1, None)?
        .0
        .first()
        .map(|e| e.received_at))
}

/// How many events are kept for the store.
pub fn count(host: &dyn Host, tenant: &str, store_id: &str) -> Result<u64, ToolError> {
    let newest = host
        .kv_increment(Bucket::State, &Keys::new(tenant, store_id).seq(), 0)
        .map_err(kv_err)?;
    Ok(newest.min(RETAINED))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;
    use serde_json::json;

    fn order(updated: &str) -> (Map<String, Value>, String) {
        let o = json!({"id": "77", "email": "a@b.c", "folder_id": 1, "date_updated": updated});
        (o.as_object().cloned().unwrap(), o.to_string())
    }

    #[test]
    fn a_redelivery_is_recognised_and_counted_not_applied_again() {
        let host = ScriptedHost::configured();
        let (o, raw) = order("2026-03-01 10:00:00");
        let first = deliver(&host, "t", "1", &o, "77", &raw, &[4], "r1").unwrap();
        assert_eq!(first, (Outcome::Accepted, Change::Created));
        let again = deliver(&host, "t", "1", &o, "77", &raw, &[4], "r2").unwrap();
        assert_eq!(again, (Outcome::Duplicate, Change::Created));
        let (events, next) = list(&host, "t", "1", 10, None).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].deliveries, 2);
        assert_eq!(events[0].request_id, "r1");
        assert!(next.is_none());
        // Another body for the same order is a new event.
        let (o2, raw2) = order("2026-03-01 11:00:00");
        let third = deliver(&host, "t", "1", &o2, "77", &raw2, &[4], "r3").unwrap();
        assert_eq!(third, (Outcome::Accepted, Change::Updated));
        // Another tenant keeps its own events.
        assert!(list(&host, "u", "1", 10, None).unwrap().0.is_empty());
    }

    #[test]
    fn a_delivery_stored_but_not_applied_is_applied_by_its_redelivery() {
        let host = ScriptedHost::configured();
        let (o, raw) = order("2026-03-01 10:00:00");
        // The counter, the event and its dedupe key are stored; the mirror write fails.
        host.writes_left.set(Some(3));
        assert!(deliver(&host, "t", "1", &o, "77", &raw, &[], "r1").is_err());
        host.writes_left.set(None);
        let (events, _) = list(&host, "t", "1", 10, None).unwrap();
        assert_eq!(events.len(), 1);
        assert!(!events[0].applied);
        assert_eq!(Mirror::new(&host, "t", "1").count().unwrap(), 0);
        // OrderDesk retries (we answered a failure): the redelivery applies it.
        let out = deliver(&host, "t", "1", &o, "77", &raw, &[], "r2").unwrap();
        assert_eq!(out, (Outcome::Duplicate, Change::Created));
        let (events, _) = list(&host, "t", "1", 10, None).unwrap();
        assert_eq!((events.len(), events[0].deliveries), (1, 2));
        assert!(events[0].applied);
        assert_eq!(Mirror::new(&host, "t", "1").count().unwrap(), 1);
    }

    #[test]
    fn listing_pages_newest_first() {
        let host = ScriptedHost::configured();
        for i in 0..7 {
            let (o, raw) = order(&format!("2026-03-01 10:00:0{i}"));
            deliver(&host, "t", "1", &o, "77", &raw, &[], "r").unwrap();
        }
        let (page, next) = list(&host, "t", "1", 3, None).unwrap();
        assert_eq!(
            page.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![7, 6, 5]
        );
        let (page, next) = list(&host, "t", "1", 3, next).unwrap();
        assert_eq!(
            page.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![4, 3, 2]
        );
        let (page, next) = list(&host, "t", "1", 3, next).unwrap();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1]);
        assert!(next.is_none());
        assert_eq!(count(&host, "t", "1").unwrap(), 7);
    }
}
