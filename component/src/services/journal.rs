//! What a write call leaves behind, whatever way it ends: before the first request that may
//! change OrderDesk, an audit entry `pending` and an intent record naming the cache family
//! to drop; afterwards the outcome and the invalidation. A call that traps or times out
//! never reaches "afterwards", so the host calls `call-abandoned` and [`settle_abandoned`]
//! finishes the job from the intent record.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEntry, PENDING};
use crate::cache;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Family, Host, Level};
use crate::kv::{get_json, set_json};

/// An open write, as stored under `intent/{request_id}` until the call settles.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    entry: AuditEntry,
    families: Vec<Family>,
}

fn intent_key(request_id: &str) -> String {
    format!("intent/{request_id}")
}

/// The journal of one tool call.
pub struct Journal<'a> {
    host: &'a dyn Host,
    tool: &'a str,
    request_id: &'a str,
    open: RefCell<Option<Intent>>,
    /// The store and target the call acted on, for the audit entry of a call that failed
    /// before it wrote anything.
    seen: RefCell<(Option<String>, Option<String>)>,
}

impl<'a> Journal<'a> {
    pub fn new(host: &'a dyn Host, tool: &'a str, request_id: &'a str) -> Self {
        Self {
            host,
            tool,
            request_id,
            open: RefCell::new(None),
            seen: RefCell::new((None, None)),
        }
    }

    /// Record the intent to write `family` records of `store` for `tenant`. Must succeed
    /// before the write goes out: a write the journal cannot see is not sent.
    pub fn begin(
        &self,
        tenant: &str,
        store: &str,
        family: Family,
        target: &str,
    ) -> Result<(), ToolError> {
        self.note(Some(store), target);
        if let Some(open) = self.open.borrow_mut().as_mut() {
            if !open.families.contains(&family) {
                open.families.push(family);
                self.save(open)?;
            }
            return Ok(());
        }
        let mut entry = AuditEntry {
            seq: 0,
            at_ms: self.host.now_ms(),
            tenant: tenant.to_string(),
            store: Some(store.to_string()),
            tool: self.tool.to_string(),
            target: Some(target.to_string()),
            outcome: PENDING.into(),
            request_id: self.request_id.to_string(),
            note: None,
        };
        entry.seq = audit::append(self.host, entry.clone()).map_err(|(_, e)| e)?;
        let intent = Intent {
            entry,
            families: vec![family],
        };
        self.save(&intent)?;
        *self.open.borrow_mut() = Some(intent);
        Ok(())
    }

    /// Whether the call has begun a write that may have reached OrderDesk.
    pub fn writing(&self) -> bool {
        self.open.borrow().is_some()
    }

    /// Name what the call acts on (e.g. the id of an order once it was created).
    pub fn note(&self, store: Option<&str>, target: &str) {
        let mut seen = self.seen.borrow_mut();
        if let Some(s) = store {
            seen.0 = Some(s.to_string());
        }
        seen.1 = Some(target.to_string());
        if let Some(open) = self.open.borrow_mut().as_mut() {
            open.entry.target = Some(target.to_string());
        }
    }

    fn save(&self, intent: &Intent) -> Result<(), ToolError> {
        set_json(
            self.host,
            Bucket::State,
            &intent_key(self.request_id),
            intent,
        )
    }

    /// Settle the call: drop the cached reads it may have made stale, record its outcome.
    /// `tenant` is the audit trail to use when nothing was written (the call failed early).
    pub fn finish(&self, tenant: &str, outcome: &Result<(), &ToolError>) {
        let code = match outcome {
            Ok(()) => "ok".to_string(),
            Err(e) => e.code.as_str().to_string(),
        };
        match self.open.borrow_mut().take() {
            Some(intent) => settle(self.host, intent, code, None),
            None => {
                let (store, target) = self.seen.borrow().clone();
                audit::record(
                    self.host,
                    AuditEntry {
                        seq: 0,
                        at_ms: self.host.now_ms(),
                        tenant: tenant.to_string(),
                        store,
                        tool: self.tool.to_string(),
                        target,
                        outcome: code,
                        request_id: self.request_id.to_string(),
                        note: None,
                    },
                );
            }
        }
    }
}

fn settle(host: &dyn Host, intent: Intent, outcome: String, note: Option<String>) {
    let entry = &intent.entry;
    if let Some(store) = &entry.store {
        for family in &intent.families {
            cache::invalidate(host, &entry.tenant, store, *family);
        }
    }
    audit::rewrite(
        host,
        &AuditEntry {
            outcome,
            note,
            ..entry.clone()
        },
    );
    if let Err(e) = host.kv_delete(Bucket::State, &intent_key(&entry.request_id)) {
        host.log(Level::Warn, "journal", &format!("intent not cleared: {e}"));
    }
}

/// Finish what the call `request_id` left open when it trapped or ran out of time.
/// Returns whether it had an open write.
pub fn settle_abandoned(host: &dyn Host, request_id: &str, reason: &str) -> bool {
    match get_json::<Intent>(host, Bucket::State, &intent_key(request_id)) {
        Ok(Some(intent)) => {
            host.log(
                Level::Warn,
                "journal",
                &format!(
                    "{} ({request_id}) was abandoned mid-write ({reason}): cache dropped, \
                     outcome unknown",
                    intent.entry.tool
                ),
            );
            settle(
                host,
                intent,
                ErrorCode::WriteOutcomeUnknown.as_str().into(),
                Some(format!("call abandoned: {reason}")),
            );
            true
        }
        Ok(None) => false,
        Err(e) => {
            host.log(Level::Error, "journal", &format!("intent unreadable: {e}"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Cache, CacheStatus};
    use crate::config::Ttls;
    use serde_json::json;

    const TTLS: Ttls = Ttls {
        orders_ms: 60_000,
        products_ms: 60_000,
        store_ms: 60_000,
    };

    fn cached(host: &ScriptedHost) -> CacheStatus {
        let cache = Cache::new(host, "t", "7", TTLS);
        let (_, status) = cache
            .read_through(Family::Orders, &[], || Ok::<_, ()>(json!({"a": 1})))
            .unwrap();
        status
    }

    use crate::testing::ScriptedHost;

    #[test]
    fn a_finished_write_invalidates_and_records_its_outcome() {
        let host = ScriptedHost::configured();
        assert_eq!(cached(&host), CacheStatus::Miss);
        assert_eq!(cached(&host), CacheStatus::Hit);
        let journal = Journal::new(&host, "orders_update", "r1");
        journal.begin("t", "7", Family::Orders, "100").unwrap();
        let (entries, _) = audit::list(&host, "t", 10, None).unwrap();
        assert_eq!(entries[0].outcome, "pending");
        journal.finish("t", &Ok(()));
        assert_eq!(cached(&host), CacheStatus::Miss, "invalidated");
        let (entries, _) = audit::list(&host, "t", 10, None).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].outcome, "ok");
        assert!(!settle_abandoned(&host, "r1", "late"), "nothing left open");
    }

    #[test]
    fn an_abandoned_write_is_settled_from_its_intent() {
        let host = ScriptedHost::configured();
        cached(&host);
        let journal = Journal::new(&host, "orders_update", "r2");
        journal.begin("t", "7", Family::Orders, "100").unwrap();
        drop(journal); // the instance trapped: finish never ran
        assert_eq!(cached(&host), CacheStatus::Hit, "still stale");
        assert!(settle_abandoned(&host, "r2", "deadline exceeded"));
        assert_eq!(cached(&host), CacheStatus::Miss, "invalidated");
        let (entries, _) = audit::list(&host, "t", 10, None).unwrap();
        assert_eq!(entries[0].outcome, "WRITE_OUTCOME_UNKNOWN");
        assert!(entries[0].note.as_deref().unwrap().contains("deadline"));
        assert!(!settle_abandoned(&host, "r2", "again"));
    }

    #[test]
    fn a_write_the_journal_cannot_record_is_not_begun() {
        let host = ScriptedHost::configured();
        host.writes_left.set(Some(0));
        let journal = Journal::new(&host, "orders_update", "r3");
        assert!(journal.begin("t", "7", Family::Orders, "1").is_err());
    }

    #[test]
    fn a_call_that_failed_before_writing_is_still_audited() {
        let host = ScriptedHost::configured();
        let journal = Journal::new(&host, "orders_update", "r4");
        journal.note(Some("7"), "100");
        let error = ToolError::new(ErrorCode::InvalidArgument, "bad");
        journal.finish("t", &Err(&error));
        let (entries, _) = audit::list(&host, "t", 10, None).unwrap();
        assert_eq!(entries[0].outcome, "INVALID_ARGUMENT");
        assert_eq!(entries[0].target.as_deref(), Some("100"));
    }
}
