//! The local order mirror: every order the polling sync or a webhook brought in, per
//! tenant and store, queryable without calling OrderDesk.
//!
//! State layout (`state` bucket), for tenant `t` and store `s`:
//! - `mirror/{t}/{s}/o/{id}`: the order as OrderDesk sent it, with its mirror status;
//! - `mirror/{t}/{s}/shard/{k}` (`k` < [`SHARDS`]): a summary of each order whose id hashes
//!   to `k` (dates, folder, status, lowercased search text, content fingerprint).
//!
//! Queries read the shards (one key per shard, whatever the store's size) and then only
//! the orders of the page asked for. Writers take the mirror's lock for the read-modify-
//! write of the shards, and write an order before its summary: a writer that dies midway
//! leaves an order that the next sync or webhook classifies again, never a summary without
//! its order.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorCode, ToolError};
use crate::host::Host;
use crate::kv::{get_json, set_json};
use crate::lock::Lease;
use crate::merge;
use crate::services::orders::id_text;

use crate::host::Bucket;

/// Summary shards per store.
pub const SHARDS: u64 = 128;

/// How long a writer waits for the mirror lock.
const MIRROR_LOCK_WAIT_MS: u64 = 15_000;

/// The mirror lock's lease: a page's writes take well under a second, and a writer killed
/// while holding it blocks the others no longer than this.
const MIRROR_LEASE_MS: u64 = 10_000;

/// Whether the mirror holds an order as live or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Cancelled,
}

/// What brought an order's current copy into the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Sync,
    Webhook,
}

/// What an incoming copy of an order does to the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// New to the mirror.
    Created,
    /// In the mirror; its `date_updated` or its content moved.
    Updated,
    /// In the mirror as live; OrderDesk now shows it in a cancelled folder.
    Cancelled,
    /// Cancelled and never seen: not mirrored.
    Skipped,
    /// The mirror already has this copy.
    AlreadySynced,
    /// Older than the mirror's copy (an out-of-order webhook): ignored.
    Stale,
}

impl Change {
    /// Whether applying it writes to the mirror.
    pub fn writes(self) -> bool {
        matches!(self, Change::Created | Change::Updated | Change::Cancelled)
    }
}

/// One order's summary in its shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// `date_updated`.
    pub u: String,
    /// `date_added`.
    pub a: String,
    /// `folder_id`.
    pub f: Option<u64>,
    /// Cancelled.
    pub c: bool,
    /// Email, lowercased.
    pub e: String,
    /// Search text, lowercased: id, email, names, company, source id.
    pub x: String,
    /// Content fingerprint.
    pub h: String,
}

impl Summary {
    pub fn of(order: &Map<String, Value>, cancelled_folders: &[u64]) -> Self {
        let text = |pointer: &str| {
            Value::Object(order.clone())
                .pointer(pointer)
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => String::new(),
                })
                .unwrap_or_default()
        };
        let folder = order.get("folder_id").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        });
        let search = [
            "/id",
            "/email",
            "/source_id",
            "/customer/first_name",
            "/customer/last_name",
            "/customer/company",
            "/shipping/first_name",
            "/shipping/last_name",
            "/shipping/company",
        ]
        .iter()
        .map(|p| text(p))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
        Self {
            u: text("/date_updated"),
            a: text("/date_added"),
            f: folder,
            c: folder.is_some_and(|f| cancelled_folders.contains(&f)),
            e: text("/email").to_lowercase(),
            x: search,
            h: merge::fingerprint(order),
        }
    }
}

/// What a copy of an order does, given the mirror's summary of it (if any).
pub fn classify(existing: Option<&Summary>, incoming: &Summary) -> Change {
    match existing {
        None if incoming.c => Change::Skipped,
        None => Change::Created,
        Some(old) if incoming.u < old.u => Change::Stale,
        Some(old) if old.h == incoming.h && old.u == incoming.u && old.c == incoming.c => {
            Change::AlreadySynced
        }
        Some(old) if incoming.c && !old.c => Change::Cancelled,
        Some(_) => Change::Updated,
    }
}

/// An order as the mirror keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Entry {
    /// OrderDesk's order id.
    pub id: String,
    pub status: Status,
    /// Whether the sync or a webhook brought this copy.
    pub via: Via,
    /// When this copy was stored, milliseconds since the Unix epoch.
    pub synced_at: u64,
    /// The order's `date_updated` (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub date_updated: String,
    /// The order exactly as OrderDesk sent it.
    pub order: Map<String, Value>,
}

/// Filters of [`Mirror::query`]; dates are inclusive bounds in OrderDesk's format.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub folders: Option<Vec<u64>>,
    pub status: Option<Status>,
    pub email: Option<String>,
    pub text: Option<String>,
    pub added: (Option<String>, Option<String>),
    pub modified: (Option<String>, Option<String>),
}

/// What mirror queries sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    DateUpdated,
    DateAdded,
    Id,
}

impl Filter {
    fn matches(&self, s: &Summary) -> bool {
        let within = |v: &str, (from, to): &(Option<String>, Option<String>)| {
            from.as_deref().is_none_or(|f| v >= f) && to.as_deref().is_none_or(|t| v <= t)
        };
        self.folders
            .as_ref()
            .is_none_or(|fs| s.f.is_some_and(|f| fs.contains(&f)))
            && self
                .status
                .is_none_or(|st| (st == Status::Cancelled) == s.c)
            && self
                .email
                .as_deref()
                .is_none_or(|e| s.e == e.to_lowercase())
            && self
                .text
                .as_deref()
                .is_none_or(|t| s.x.contains(&t.to_lowercase()))
            && within(&s.a, &self.added)
            && within(&s.u, &self.modified)
    }
}

/// One tenant's mirror of one store.
pub struct Mirror<'a> {
    host: &'a dyn Host,
    prefix: String,
}

type Shards = BTreeMap<u64, BTreeMap<String, Summary>>;

/// Which shard an order id's summary lives in (FNV-1a, stable across builds).
pub fn shard_of(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % SHARDS
}

impl<'a> Mirror<'a> {
    pub fn new(host: &'a dyn Host, tenant: &str, store_id: &str) -> Self {
        Self {
            host,
            prefix: format!("mirror/{tenant}/{store_id}"),
        }
    }

    fn order_key(&self, id: &str) -> String {
        format!("{}/o/{id}", self.prefix)
    }

    fn shard_key(&self, k: u64) -> String {
        format!("{}/shard/{k}", self.prefix)
    }

    fn load_shard(&self, k: u64) -> Result<BTreeMap<String, Summary>, ToolError> {
        Ok(get_json(self.host, Bucket::State, &self.shard_key(k))?.unwrap_or_default())
    }

    fn load_shards(&self, ids: impl Iterator<Item = u64>) -> Result<Shards, ToolError> {
        let mut shards = Shards::new();
        for k in ids {
            if let std::collections::btree_map::Entry::Vacant(slot) = shards.entry(k) {
                slot.insert(self.load_shard(k)?);
            }
        }
        Ok(shards)
    }

    /// What each of `orders` would do to the mirror, in order; writes nothing.
    pub fn plan(
        &self,
        orders: &[Map<String, Value>],
        cancelled_folders: &[u64],
    ) -> Result<Vec<(String, Change)>, ToolError> {
        let shards = self.load_shards(orders.iter().map(|o| shard_of(&order_id(o))))?;
        Ok(orders
            .iter()
            .map(|o| {
                let id = order_id(o);
                let existing = shards.get(&shard_of(&id)).and_then(|s| s.get(&id));
                let change = classify(existing, &Summary::of(o, cancelled_folders));
                (id, change)
            })
            .collect())
    }

    /// Classify and store `orders` (the same order twice: the later copy counts).
    pub fn apply(
        &self,
        orders: Vec<Map<String, Value>>,
        cancelled_folders: &[u64],
        via: Via,
    ) -> Result<Vec<(String, Change)>, ToolError> {
        let span = crate::trace::start(self.host);
        let given = orders.len();
        let _lock = Lease::acquire(
            self.host,
            &self.prefix,
            MIRROR_LEASE_MS,
            MIRROR_LOCK_WAIT_MS,
        )?
        .ok_or_else(|| {
            ToolError::new(
                ErrorCode::ConcurrentUpdate,
                "the order mirror stayed locked by another writer; try again",
            )
        })?;
        let mut shards = self.load_shards(orders.iter().map(|o| shard_of(&order_id(o))))?;
        let mut dirty = std::collections::BTreeSet::new();
        let now = self.host.now_ms();
        let mut out = Vec::with_capacity(orders.len());
        for order in orders {
            let id = order_id(&order);
            if id.is_empty() {
                continue;
            }
            let k = shard_of(&id);
            let shard = shards.entry(k).or_default();
            let summary = Summary::of(&order, cancelled_folders);
            let change = classify(shard.get(&id), &summary);
            if change.writes() {
                let entry = Entry {
                    id: id.clone(),
                    status: if summary.c {
                        Status::Cancelled
                    } else {
                        Status::Active
                    },
                    via,
                    synced_at: now,
                    date_updated: summary.u.clone(),
                    order,
                };
                set_json(self.host, Bucket::State, &self.order_key(&id), &entry)?;
                shard.insert(id.clone(), summary);
                dirty.insert(k);
            }
            out.push((id, change));
        }
        let shards_written = dirty.len();
        for k in dirty {
            set_json(self.host, Bucket::State, &self.shard_key(k), &shards[&k])?;
        }
        let written = out.iter().filter(|(_, c)| c.writes()).count();
        span.end(
            self.host,
            crate::trace::kind::MIRROR,
            || format!("{given} orders applied"),
            None,
            || Some(serde_json::json!({ "written": written, "shards": shards_written })),
        );
        Ok(out)
    }

    /// Orders matching `filter`, sorted, one page of them; and how many match in all.
    pub fn query(
        &self,
        filter: &Filter,
        sort: SortBy,
        descending: bool,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<Entry>), ToolError> {
        let mut hits: Vec<(String, Summary)> = Vec::new();
        for k in 0..SHARDS {
            hits.extend(
                self.load_shard(k)?
                    .into_iter()
                    .filter(|(_, s)| filter.matches(s)),
            );
        }
        let numeric = |id: &str| id.parse::<u64>().unwrap_or(u64::MAX);
        hits.sort_by(|(ia, a), (ib, b)| {
            let primary = match sort {
                SortBy::DateUpdated => a.u.cmp(&b.u),
                SortBy::DateAdded => a.a.cmp(&b.a),
                SortBy::Id => std::cmp::Ordering::Equal,
            };
            let ordering = primary
                .then_with(|| numeric(ia).cmp(&numeric(ib)))
                .then_with(|| ia.cmp(ib));
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        let total = hits.len() as u64;
        let mut page = Vec::new();
        for (id, _) in hits.into_iter().skip(offset as usize).take(limit as usize) {
            if let Some(entry) = get_json::<Entry>(self.host, Bucket::State, &self.order_key(&id))?
            {
                page.push(entry);
            }
        }
        Ok((total, page))
    }

    /// How many orders the mirror holds.
    pub fn count(&self) -> Result<u64, ToolError> {
        let mut n = 0;
        for k in 0..SHARDS {
            n += self.load_shard(k)?.len() as u64;
        }
        Ok(n)
    }

    /// Forget the whole mirror (the store was deleted or opted out).
    pub fn clear(&self) -> Result<(), ToolError> {
        for k in 0..SHARDS {
            for id in self.load_shard(k)?.keys() {
                self.host
                    .kv_delete(Bucket::State, &self.order_key(id))
                    .map_err(crate::kv::kv_err)?;
            }
            self.host
                .kv_delete(Bucket::State, &self.shard_key(k))
                .map_err(crate::kv::kv_err)?;
        }
        Ok(())
    }
}

/// An order's id as text (`""` when it has none).
pub fn order_id(order: &Map<String, Value>) -> String {
    order.get("id").map(id_text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;
    use serde_json::json;

    fn order(id: u64, updated: &str, folder: u64) -> Map<String, Value> {
        json!({
            "id": id.to_string(),
            "email": format!("Buyer{}@Example.com", id % 3),
            "folder_id": folder,
            "date_added": "2026-01-01 10:00:00",
            "date_updated": updated,
            "shipping": {"first_name": "Ada", "last_name": format!("Lovelace{id}")},
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn classification_follows_the_sync_rules() {
        let live = Summary::of(&order(1, "2026-01-02 00:00:00", 1), &[4]);
        let cancelled = Summary::of(&order(1, "2026-01-03 00:00:00", 4), &[4]);
        assert_eq!(classify(None, &live), Change::Created);
        assert_eq!(classify(None, &cancelled), Change::Skipped);
        assert_eq!(classify(Some(&live), &live), Change::AlreadySynced);
        assert_eq!(classify(Some(&live), &cancelled), Change::Cancelled);
        assert_eq!(
            classify(Some(&cancelled), &cancelled),
            Change::AlreadySynced
        );
        assert_eq!(classify(Some(&cancelled), &live), Change::Stale);
        let later = Summary::of(&order(1, "2026-01-04 00:00:00", 2), &[4]);
        assert_eq!(classify(Some(&cancelled), &later), Change::Updated);
        assert_eq!(classify(Some(&later), &live), Change::Stale);
        // The same second but other content (two edits within one second) still updates.
        let mut edited = order(1, "2026-01-02 00:00:00", 1);
        edited.insert("email".into(), "new@example.com".into());
        assert_eq!(
            classify(Some(&live), &Summary::of(&edited, &[4])),
            Change::Updated
        );
    }

    #[test]
    fn apply_stores_orders_and_query_filters_sorts_and_pages() {
        let host = ScriptedHost::configured();
        let m = Mirror::new(&host, "t", "s");
        let orders: Vec<_> = (1..=30)
            .map(|i| order(i, &format!("2026-02-{:02} 00:00:00", i % 28 + 1), i % 4 + 1))
            .collect();
        let applied = m.apply(orders.clone(), &[4], Via::Sync).unwrap();
        let created = applied
            .iter()
            .filter(|(_, c)| *c == Change::Created)
            .count();
        let skipped = applied
            .iter()
            .filter(|(_, c)| *c == Change::Skipped)
            .count();
        assert_eq!(
            (created, skipped),
            (23, 7),
            "folder 4 is cancelled: never seen → skipped"
        );
        assert_eq!(m.count().unwrap(), 23);
        // Again: nothing changes.
        let again = m.apply(orders, &[4], Via::Sync).unwrap();
        assert!(
            again
                .iter()
                .all(|(_, c)| matches!(c, Change::AlreadySynced | Change::Skipped))
        );

        let (total, page) = m
            .query(&Filter::default(), SortBy::Id, false, 0, 10)
            .unwrap();
        assert_eq!(total, 23);
        assert_eq!(
            page.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            vec!["1", "2", "4", "5", "6", "8", "9", "10", "12", "13"]
        );
        let (_, last) = m
            .query(&Filter::default(), SortBy::Id, false, 20, 10)
            .unwrap();
        assert_eq!(last.len(), 3);

        let by_email = Filter {
            email: Some("buyer1@EXAMPLE.com".into()),
            ..Filter::default()
        };
        let (n, hits) = m
            .query(&by_email, SortBy::DateUpdated, true, 0, 100)
            .unwrap();
        assert!(
            n > 0
                && hits
                    .iter()
                    .all(|e| e.order["email"] == "Buyer1@Example.com")
        );
        let by_text = Filter {
            text: Some("lovelace17".into()),
            ..Filter::default()
        };
        assert_eq!(m.query(&by_text, SortBy::Id, false, 0, 10).unwrap().0, 1);
        let by_folder = Filter {
            folders: Some(vec![2]),
            modified: (
                Some("2026-02-05".into()),
                Some("2026-02-20 23:59:59".into()),
            ),
            ..Filter::default()
        };
        let (_, hits) = m.query(&by_folder, SortBy::Id, false, 0, 100).unwrap();
        assert!(!hits.is_empty());
        assert!(hits.iter().all(|e| e.order["folder_id"] == 2
            && e.date_updated.as_str() >= "2026-02-05"
            && e.date_updated.as_str() <= "2026-02-20 23:59:59"));
    }

    #[test]
    fn a_cancellation_keeps_the_order_marked_cancelled() {
        let host = ScriptedHost::configured();
        let m = Mirror::new(&host, "t", "s");
        m.apply(vec![order(5, "2026-01-02 00:00:00", 1)], &[4], Via::Sync)
            .unwrap();
        let out = m
            .apply(vec![order(5, "2026-01-03 00:00:00", 4)], &[4], Via::Webhook)
            .unwrap();
        assert_eq!(out, vec![("5".to_string(), Change::Cancelled)]);
        let cancelled = Filter {
            status: Some(Status::Cancelled),
            ..Filter::default()
        };
        let (n, hits) = m.query(&cancelled, SortBy::Id, false, 0, 10).unwrap();
        assert_eq!(n, 1);
        assert_eq!(hits[0].via, Via::Webhook);
        assert_eq!(hits[0].status, Status::Cancelled);
    }

    #[test]
    fn mirrors_of_tenants_and_stores_are_apart() {
        let host = ScriptedHost::configured();
        Mirror::new(&host, "a", "1")
            .apply(vec![order(1, "2026-01-01 00:00:00", 1)], &[], Via::Sync)
            .unwrap();
        assert_eq!(Mirror::new(&host, "b", "1").count().unwrap(), 0);
        assert_eq!(Mirror::new(&host, "a", "2").count().unwrap(), 0);
        Mirror::new(&host, "a", "1").clear().unwrap();
        assert_eq!(Mirror::new(&host, "a", "1").count().unwrap(), 0);
    }

    #[test]
    fn shards_spread_ids() {
        let mut seen = std::collections::BTreeSet::new();
        for id in 100_001..102_001u64 {
            seen.insert(shard_of(&id.to_string()));
        }
        assert_eq!(seen.len() as u64, SHARDS);
    }
}
