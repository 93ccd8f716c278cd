//! Every branch of the update cycle (read, change, PUT), over a scripted OrderDesk whose
//! order can be edited by "someone else" at any step.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Map, Value, json};

use super::update::{MAX_CYCLES, Updated, update};
use super::{Journal, StoreCtx};
use crate::client::Credentials;
use crate::config::{Secret, Settings};
use crate::error::{ErrorCode, ToolError};
use crate::host::{HttpRequest, HttpResponse, NetError};
use crate::lock::LEASE_MS;
use crate::merge;
use crate::resource::ORDER;
use crate::testing::{ScriptedHost, response};

/// The order as the scripted OrderDesk holds it.
#[derive(Clone)]
struct Server(Rc<RefCell<Map<String, Value>>>);

impl Server {
    fn new() -> Self {
        let order = json!({"id": "5", "email": "a@b.c", "note": "x", "date_updated": "t0"});
        Server(Rc::new(RefCell::new(order.as_object().unwrap().clone())))
    }

    fn get(
        &self,
    ) -> impl FnOnce(&ScriptedHost, &HttpRequest) -> Result<HttpResponse, NetError> + use<> {
        let order = self.0.clone();
        move |_, _| {
            let body = json!({"status": "success", "order": order.borrow().clone()});
            Ok(response(200, &[], &body.to_string()))
        }
    }

    /// Apply the PUT body, then answer `status` (200 = the real answer).
    fn put(
        &self,
        status: u16,
    ) -> impl FnOnce(&ScriptedHost, &HttpRequest) -> Result<HttpResponse, NetError> + use<> {
        let order = self.0.clone();
        move |_, req| {
            let body: Map<String, Value> =
                serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
            *order.borrow_mut() = body;
            order
                .borrow_mut()
                .insert("date_updated".into(), json!("t-put"));
            let answer = json!({"status": "success", "order": order.borrow().clone()});
            Ok(response(status, &[], &answer.to_string()))
        }
    }

    /// Someone else's edit, as OrderDesk's UI would make it.
    fn edit(&self, n: u64) {
        let mut order = self.0.borrow_mut();
        order.insert("outside".into(), json!(n));
        order.insert("date_updated".into(), json!(format!("t-edit-{n}")));
    }

    fn field(&self, key: &str) -> Option<Value> {
        self.0.borrow().get(key).cloned()
    }
}

fn run(host: &ScriptedHost) -> Result<Updated, ToolError> {
    let settings = Settings::load(host).unwrap();
    let journal = Journal::new(host, "orders_update", "r1");
    let ctx = StoreCtx {
        host,
        settings: &settings,
        tenant: "_".into(),
        creds: Credentials {
            store_id: "7".into(),
            api_key: Secret("k".into()),
        },
        journal: &journal,
    };
    let changes = json!({"email": "new@b.c"}).as_object().unwrap().clone();
    let result = update(&ctx, &ORDER, "5", &|base| Ok(merge::merge(base, &changes)));
    journal.finish("_", &result.as_ref().map(drop));
    result
}

fn puts(host: &ScriptedHost) -> Vec<Value> {
    host.requests
        .borrow()
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| serde_json::from_slice(r.body.as_ref().unwrap()).unwrap())
        .collect()
}

#[test]
fn read_then_put_two_requests() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    host.respond(od.get()).respond(od.put(200));
    let done = run(&host).unwrap();
    assert_eq!(host.sent(), ["GET /orders/5", "PUT /orders/5"]);
    assert_eq!(
        (done.conflicts, done.retries, done.upstream_calls),
        (0, 0, 2)
    );
    assert!(done.changed && !done.recovered);
    assert_eq!(od.field("email"), Some(json!("new@b.c")));
    assert_eq!(
        od.field("note"),
        Some(json!("x")),
        "omitted fields are kept"
    );
}

#[test]
fn an_unchanged_record_is_not_written() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    od.0.borrow_mut().insert("email".into(), json!("new@b.c"));
    host.respond(od.get());
    let done = run(&host).unwrap();
    assert!(!done.changed);
    assert_eq!(host.sent(), ["GET /orders/5"]);
}

#[test]
fn an_edit_made_before_the_read_is_merged_not_lost() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    let editor = od.clone();
    host.respond(move |h, r| {
        editor.edit(1);
        editor.get()(h, r)
    })
    .respond(od.put(200));
    let done = run(&host).unwrap();
    assert_eq!(done.conflicts, 0);
    assert_eq!(puts(&host).len(), 1);
    assert_eq!(
        od.field("outside"),
        Some(json!(1)),
        "the outside edit survived"
    );
    assert_eq!(od.field("email"), Some(json!("new@b.c")));
}

#[test]
fn an_edit_landing_between_the_read_and_the_put_is_the_one_window_left() {
    // OrderDesk has no version check: an edit in the one request between our read and our
    // PUT is overwritten. This pins the window the README documents, and that it is only
    // that one request (the PUT follows the read directly).
    let (host, od) = (ScriptedHost::configured(), Server::new());
    let editor = od.clone();
    host.respond(move |h, r| {
        let answer = editor.get()(h, r);
        editor.edit(2);
        answer
    })
    .respond(od.put(200));
    let done = run(&host).unwrap();
    assert_eq!(host.sent(), ["GET /orders/5", "PUT /orders/5"]);
    assert!(done.changed);
    assert_eq!(od.field("outside"), None, "overwritten, as documented");
}

#[test]
fn a_429_on_the_put_is_never_resent_and_an_edit_during_the_wait_survives() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    let editor = od.clone();
    host.respond(od.get()).respond(move |_, _| {
        // Refused unprocessed; someone edits the order while we wait out the 429.
        editor.edit(7);
        Ok(response(429, &[("X-Retry-After", "2")], "{}"))
    });
    host.respond(od.get()).respond(od.put(200));
    let done = run(&host).unwrap();
    assert_eq!(done.retries, 1);
    assert_eq!(
        od.field("outside"),
        Some(json!(7)),
        "the edit made during the wait survived"
    );
    assert_eq!(od.field("email"), Some(json!("new@b.c")));
    let bodies = puts(&host);
    assert_eq!(bodies.len(), 2);
    assert_ne!(
        bodies[0], bodies[1],
        "the second PUT is built from a fresh read"
    );
    assert_eq!(bodies[1]["outside"], 7);
    assert!(host.sleeps.borrow().contains(&2_000), "waited as advised");
}

#[test]
fn a_409_on_the_put_redoes_the_cycle() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    host.respond(od.get())
        .answer(409, &[], r#"{"status":"error","message":"conflict"}"#)
        .respond(od.get())
        .respond(od.put(200));
    let done = run(&host).unwrap();
    assert_eq!((done.conflicts, done.retries), (1, 0));
    assert_eq!(puts(&host).len(), 2);
}

#[test]
fn a_put_whose_answer_is_lost_but_landed_is_recovered_without_resending() {
    for lost in [502u16, 0] {
        let (host, od) = (ScriptedHost::configured(), Server::new());
        host.respond(od.get());
        if lost == 0 {
            let apply = od.put(200);
            host.respond(move |h, r| {
                apply(h, r).unwrap();
                Err(NetError::Timeout)
            });
        } else {
            host.respond(od.put(lost));
        }
        host.respond(od.get());
        let done = run(&host).unwrap();
        assert!(done.recovered, "{lost}");
        assert_eq!(puts(&host).len(), 1, "{lost}: never re-sent");
        assert_eq!(od.field("email"), Some(json!("new@b.c")));
    }
}

#[test]
fn a_put_whose_answer_is_lost_and_did_not_land_restarts_from_a_fresh_read() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    host.respond(od.get())
        .answer(503, &[], "")
        .respond(od.get()) // read back: unchanged
        .respond(od.get())
        .respond(od.put(200));
    let done = run(&host).unwrap();
    assert_eq!(done.retries, 1);
    assert!(!done.recovered);
    assert_eq!(od.field("email"), Some(json!("new@b.c")));
}

#[test]
fn a_lost_put_on_a_record_someone_else_changed_is_an_unknown_outcome() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    let editor = od.clone();
    host.respond(od.get()).respond(move |_, _| {
        editor.edit(3);
        Err(NetError::Connection("reset".into()))
    });
    host.respond(od.get());
    let e = run(&host).unwrap_err();
    assert_eq!(e.code, ErrorCode::WriteOutcomeUnknown);
    assert!(!e.retryable);
    assert_eq!(e.details["order_id"], "5");
    assert_eq!(puts(&host).len(), 1);
}

#[test]
fn a_failing_read_never_leads_to_a_put() {
    for (status, header) in [(429u16, Some(("X-Retry-After", "1"))), (500, None)] {
        let (host, od) = (ScriptedHost::configured(), Server::new());
        let headers: Vec<(&str, &str)> = header.into_iter().collect();
        host.answer(status, &headers, "{}")
            .respond(od.get())
            .respond(od.put(200));
        let done = run(&host).unwrap();
        assert_eq!(done.retries, 1, "{status}");
        assert_eq!(
            host.sent(),
            ["GET /orders/5", "GET /orders/5", "PUT /orders/5"],
            "{status}: the read is tried once, then the cycle restarts"
        );
    }
}

#[test]
fn nothing_waits_between_the_read_and_the_put() {
    let mut host = ScriptedHost::configured();
    // A bucket of one request refilling at 1/s: the second request must wait.
    host.config.insert("upstream_burst".into(), "1".into());
    host.config.insert("upstream_per_second".into(), "1".into());
    let od = Server::new();
    let sleeps_at = Rc::new(RefCell::new(Vec::new()));
    for step in 0..2 {
        let (seen, od2) = (sleeps_at.clone(), od.clone());
        host.respond(move |h, r| {
            seen.borrow_mut().push(h.sleeps.borrow().len());
            if step == 1 {
                od2.put(200)(h, r)
            } else {
                od2.get()(h, r)
            }
        });
    }
    run(&host).unwrap();
    let at = sleeps_at.borrow();
    assert_eq!(at[1], at[0], "no sleep between the read and the PUT");
    assert!(at[0] > 0, "the wait for both tokens came before the read");
}

#[test]
fn five_conflicting_cycles_end_in_concurrent_update_with_nothing_written() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    for n in 0..MAX_CYCLES as u64 {
        let editor = od.clone();
        host.respond(od.get()).respond(move |_, _| {
            // Someone else's edit got there first; OrderDesk refuses ours.
            editor.edit(n + 1);
            Ok(response(
                409,
                &[],
                r#"{"status":"error","message":"conflict"}"#,
            ))
        });
    }
    let e = run(&host).unwrap_err();
    assert_eq!(e.code, ErrorCode::ConcurrentUpdate);
    assert!(e.retryable);
    assert_eq!(e.details["conflicts"], MAX_CYCLES);
    assert_eq!(od.field("email"), Some(json!("a@b.c")));
    assert_eq!(od.field("outside"), Some(json!(MAX_CYCLES)));
}

#[test]
fn an_update_waits_for_the_record_lock_and_gives_up_in_time() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    let lock = ORDER.lock_name("7", "5");
    let now = host.now.get();
    host.locks
        .borrow_mut()
        .insert(lock.clone(), ("someone".into(), now + 2_000));
    host.respond(od.get()).respond(od.put(200));
    run(&host).unwrap();
    assert!(
        host.now.get() >= now + 2_000,
        "waited for the other holder's lease"
    );

    let (host, od) = (ScriptedHost::configured(), Server::new());
    let now = host.now.get();
    host.locks
        .borrow_mut()
        .insert(lock, ("someone".into(), now + 60_000));
    drop(od);
    let e = run(&host).unwrap_err();
    assert_eq!(e.code, ErrorCode::ConcurrentUpdate);
    assert!(
        host.requests.borrow().is_empty(),
        "nothing sent without the lock"
    );
}

#[test]
fn a_lost_lease_stops_the_put_until_the_lock_is_ours_again() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    let lock = ORDER.lock_name("7", "5");
    let (od2, lock2) = (od.clone(), lock.clone());
    // The read takes longer than the lease; meanwhile another updater takes the lock for 1 s.
    host.respond(move |h, r| {
        h.now.set(h.now.get() + LEASE_MS + 1);
        let until = h.now.get() + 1_000;
        h.locks.borrow_mut().insert(lock2, ("other".into(), until));
        od2.get()(h, r)
    });
    host.respond(od.get()).respond(od.put(200));
    let done = run(&host).unwrap();
    assert_eq!(done.retries, 1, "the cycle without the lease was redone");
    assert_eq!(
        host.sent(),
        ["GET /orders/5", "GET /orders/5", "PUT /orders/5"],
        "no PUT while another holder had the lock"
    );
    assert!(
        host.locks.borrow().get(&lock).is_none(),
        "released at the end"
    );
}

#[test]
fn a_long_update_renews_its_lease() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    let lock = ORDER.lock_name("7", "5");
    let held_at_put = Rc::new(RefCell::new(false));
    // Two slow reads (40 s each, the first answered 503) before the PUT: together they
    // outlast one 60 s lease.
    for step in 0..3 {
        let (od2, seen, lock2) = (od.clone(), held_at_put.clone(), lock.clone());
        host.respond(move |h, r| {
            if step == 2 {
                let now = h.now.get();
                let held = h
                    .locks
                    .borrow()
                    .get(&lock2)
                    .is_some_and(|(_, exp)| *exp > now);
                *seen.borrow_mut() = held;
                return od2.put(200)(h, r);
            }
            h.now.set(h.now.get() + 40_000);
            if step == 0 {
                return Ok(response(503, &[], ""));
            }
            od2.get()(h, r)
        });
    }
    let done = run(&host).unwrap();
    assert_eq!(done.retries, 1);
    assert!(
        *held_at_put.borrow(),
        "the lease was still ours when the PUT went out"
    );
}

#[test]
fn a_429_asking_for_longer_than_a_call_may_wait_answers_od_api_429_with_nothing_written() {
    let (host, od) = (ScriptedHost::configured(), Server::new());
    host.respond(od.get())
        .answer(429, &[("X-Retry-After", "120")], "{}");
    let e = run(&host).unwrap_err();
    assert_eq!(e.code, ErrorCode::OdApi429);
    assert!(e.retryable, "refused unprocessed: safe to try again later");
    assert_eq!(e.details["retry_after_ms"], 120_000);
    assert!(
        host.sleeps.borrow().iter().all(|ms| *ms < 120_000),
        "did not sit it out"
    );
    assert_eq!(od.field("email"), Some(json!("a@b.c")));
}
