//! Writes against a picky upstream, with the fault injected at every step of each
//! multi-step operation, not only the first: the real binary and component against the
//! fake OrderDesk, which refuses chunked bodies (411) throughout.
//!
//! An update is a read (1st `GET /orders/{id}`) and a PUT, and after a lost answer a read
//! back (2nd `GET`); a create is lookup
//! (`GET /orders?source_id`), POST, and after a lost answer a recovery lookup.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Edit, FakeOrderDesk, Launch, Match, Respond, Rule, Server, fake_unlimited, spawn};

const GET: &str = "GET /orders/{id}";
const PUT: &str = "PUT /orders/{id}";
const LIST: &str = "GET /orders";
const POST: &str = "POST /orders";
const TIMEOUT_MS: u64 = 1_000;
const SLOW: Duration = Duration::from_millis(1_600);

async fn setup() -> (FakeOrderDesk, Server) {
    let fake = fake_unlimited().await;
    let server = spawn(
        Launch::against(&fake)
            .unthrottled()
            .upstream_timeout_ms(TIMEOUT_MS),
    )
    .await;
    (fake, server)
}

fn rule(route: &str, skip: u32, respond: Respond) -> Rule {
    Rule::on(Match::Route(route.into()), respond).skip(skip)
}

/// Update order `id` with one field; the result must be truthful whatever the fault.
async fn update(server: &Server, id: u64, value: &str) -> Value {
    server
        .ok(
            "orders_update",
            json!({ "order_id": id, "changes": { "order_metadata": { "agent": value } } }),
        )
        .await
}

fn agent(fake: &FakeOrderDesk, id: u64) -> Value {
    fake.order(id).unwrap()["order_metadata"]["agent"].clone()
}

#[tokio::test]
async fn an_outside_edit_made_while_the_put_waits_out_a_429_survives() {
    let (fake, server) = setup().await;
    let id = fake.order_ids()[0];
    fake.faults()
        .schedule(rule(PUT, 0, Respond::RateLimited(2)).with_edit(Edit::AfterServing));
    let out = update(&server, id, "a").await;
    assert_eq!(agent(&fake, id), "a");
    assert_eq!(
        fake.external_edits_of(id),
        1,
        "the outside edit was overwritten"
    );
    assert_eq!(out["retries"], 1);
    assert_eq!(out["order"]["order_metadata"]["external_edits"], 1);
    let stats = fake.stats();
    assert_eq!(
        stats.count(PUT),
        2,
        "one refused PUT, one PUT built from a fresh read"
    );
    assert_eq!(stats.status_411, 0);
    server.stop().await;
}

#[tokio::test]
async fn every_fault_at_every_step_of_an_update_loses_nothing() {
    // (route, skip, fault): each step of the cycle, each way a real upstream fails there.
    let mut cases: Vec<(&str, u32, Respond)> = Vec::new();
    for (route, skip) in [(GET, 0), (PUT, 0)] {
        for fault in [
            Respond::Status(503),
            Respond::RateLimited(1),
            Respond::Drop,
            Respond::Slow(SLOW),
        ] {
            cases.push((route, skip, fault));
        }
    }
    for fault in [
        Respond::DropAfterApply,
        Respond::FailAfterApply(502),
        Respond::SlowAfterApply(SLOW),
    ] {
        cases.push((PUT, 0, fault));
    }
    let (fake, server) = setup().await;
    for (n, (route, skip, fault)) in cases.into_iter().enumerate() {
        let id = fake.order_ids()[n];
        fake.faults().schedule(rule(route, skip, fault));
        let value = format!("case-{n}");
        let out = update(&server, id, &value).await;
        let case = format!("{route} #{skip} {fault:?}: {out}");
        assert_eq!(agent(&fake, id), value.as_str(), "{case}");
        assert_eq!(
            out["order"]["order_metadata"]["agent"],
            value.as_str(),
            "{case}"
        );
        let after_apply = matches!(
            fault,
            Respond::DropAfterApply | Respond::FailAfterApply(_) | Respond::SlowAfterApply(_)
        );
        assert_eq!(out["recovered"], after_apply, "{case}");
        assert_eq!(fake.faults().scheduled(), 0, "{case}: the fault was hit");
    }
    assert_eq!(fake.stats().status_411, 0, "no write went out chunked");
    server.stop().await;
}

#[tokio::test]
async fn outside_edits_at_each_step_survive_except_in_the_one_request_window() {
    // (route, skip, when, survives): an edit the read sees is merged; an edit landing
    // between the read and the PUT is the window OrderDesk's API (no version check) leaves
    // open, kept to one request by taking both tokens before the read; an edit after the
    // PUT is simply the next change.
    let cases = [
        (GET, 0, Edit::BeforeServing, true),
        (GET, 0, Edit::AfterServing, false),
        (PUT, 0, Edit::BeforeServing, false),
        (PUT, 0, Edit::AfterServing, true),
    ];
    let (fake, server) = setup().await;
    for (n, (route, skip, when, survives)) in cases.into_iter().enumerate() {
        let id = fake.order_ids()[20 + n];
        fake.faults()
            .schedule(rule(route, skip, Respond::Normal).with_edit(when));
        let out = update(&server, id, "mine").await;
        let case = format!("{route} #{skip} {when:?}: {out}");
        assert_eq!(agent(&fake, id), "mine", "{case}");
        assert_eq!(fake.external_edits_of(id), u64::from(survives), "{case}");
        assert_eq!(out["upstream_calls"], 2, "{case}: a read and a PUT");
    }
    server.stop().await;
}

fn new_order(source_id: Value) -> Value {
    let mut order = json!({
        "email": "buyer@example.com",
        "shipping": { "first_name": "Kari", "last_name": "Nordmann", "city": "Oslo" },
        "order_items": [{ "name": "Tea", "code": "SKU-5001", "price": 9.5, "quantity": 2 }]
    });
    if !source_id.is_null() {
        order["source_id"] = source_id;
    }
    order
}

/// Create, and when the outcome is unknown retry once with the source_id it returned, as
/// an agent following the error's advice does. Returns the source_id and the last result.
async fn create_like_an_agent(server: &Server, source_id: Value) -> (String, Value) {
    let first = server
        .call("orders_create", json!({ "order": new_order(source_id) }))
        .await;
    let text = first.content[0].as_text().unwrap().text.clone();
    let body: Value = serde_json::from_str(&text).unwrap();
    if first.is_error != Some(true) {
        return (body["source_id"].as_str().unwrap().to_string(), body);
    }
    let error = &body["error"];
    assert_eq!(error["code"], "WRITE_OUTCOME_UNKNOWN", "{text}");
    assert_eq!(error["retryable"], false);
    let source_id = error["details"]["source_id"].as_str().unwrap().to_string();
    let retry = server
        .ok(
            "orders_create",
            json!({ "order": new_order(json!(source_id)) }),
        )
        .await;
    (source_id, retry)
}

#[tokio::test]
async fn every_fault_at_every_step_of_a_create_makes_exactly_one_order() {
    let cases: Vec<(&str, u32, Respond, u32)> = vec![
        (LIST, 0, Respond::Status(503), 1),
        (LIST, 0, Respond::Drop, 1),
        (POST, 0, Respond::RateLimited(1), 1),
        (POST, 0, Respond::Status(503), 1),
        (POST, 0, Respond::Drop, 1),
        (POST, 0, Respond::DropAfterApply, 1),
        (POST, 0, Respond::FailAfterApply(502), 1),
        (POST, 0, Respond::SlowAfterApply(SLOW), 1),
        // The answer is lost and every recovery lookup fails too: unknown, then the
        // agent's retry with the returned source_id finds the order.
        (POST, 0, Respond::DropAfterApply, 1),
    ];
    let (fake, server) = setup().await;
    let store = fake.store_id().to_string();
    for (n, (route, skip, fault, _)) in cases.iter().enumerate() {
        fake.faults().schedule(rule(route, *skip, *fault));
        if n == cases.len() - 1 {
            // 2 recovery lookups × 3 tries each.
            fake.faults()
                .schedule(rule(LIST, 1, Respond::Status(500)).times(6));
        }
        let given = if n % 2 == 0 {
            json!(format!("SHOP-{n}"))
        } else {
            Value::Null
        };
        let (source_id, out) = create_like_an_agent(&server, given).await;
        let case = format!("{route} {fault:?}: {out}");
        assert_eq!(fake.orders_with_source_id(&store, &source_id), 1, "{case}");
        assert_eq!(out["order"]["source_id"], source_id.as_str(), "{case}");
    }
    assert_eq!(fake.stats().status_411, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_numeric_source_id_sent_twice_makes_one_order() {
    let (fake, server) = setup().await;
    let first = server
        .ok(
            "orders_create",
            json!({ "order": new_order(json!(777123)) }),
        )
        .await;
    assert_eq!(first["source_id"], "777123");
    assert_eq!(first["already_existed"], false);
    let second = server
        .ok(
            "orders_create",
            json!({ "order": new_order(json!(777123)) }),
        )
        .await;
    assert_eq!(second["already_existed"], true);
    assert_eq!(second["order"]["id"], first["order"]["id"]);
    assert_eq!(fake.orders_with_source_id(fake.store_id(), "777123"), 1);
    let created = fake.order(first["order"]["id"].as_str().unwrap().parse().unwrap());
    assert_eq!(
        created.unwrap()["source_id"],
        777123,
        "kept as the number it was given"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_and_whose_retry_reuses_the_source_id_makes_one_order() {
    let (fake, server) = setup().await;
    // Lost answer, and OrderDesk's search is down for every recovery lookup.
    fake.faults()
        .schedule(rule(POST, 0, Respond::DropAfterApply));
    fake.faults()
        .schedule(rule(LIST, 1, Respond::Status(503)).times(6));
    let (source_id, retried) = create_like_an_agent(&server, Value::Null).await;
    assert!(
        source_id.starts_with("odmcp-"),
        "a generated id was handed back"
    );
    assert_eq!(retried["already_existed"], true);
    assert_eq!(fake.orders_with_source_id(fake.store_id(), &source_id), 1);
    assert_eq!(fake.stats().count(POST), 1);
    server.stop().await;
}

#[tokio::test]
async fn deletes_notes_and_shipments_under_lost_answers() {
    let (fake, server) = setup().await;
    let ids = fake.order_ids();
    // A delete whose answer is lost is asked again; the 404 then means done.
    fake.faults()
        .schedule(rule("DELETE /orders/{id}", 0, Respond::DropAfterApply));
    let out = server
        .ok("orders_delete", json!({ "order_id": ids[40] }))
        .await;
    assert_eq!(out["deleted"], true);
    assert!(fake.order(ids[40]).is_none());
    // A note is not idempotent: a lost answer is reported, never repeated.
    fake.faults().schedule(rule(
        "POST /orders/{id}/order-history",
        0,
        Respond::DropAfterApply,
    ));
    let e = server
        .err(
            "orders_add_note",
            json!({ "order_id": ids[41], "note": "called" }),
        )
        .await;
    assert_eq!(e["code"], "WRITE_OUTCOME_UNKNOWN");
    assert_eq!(e["retryable"], false);
    assert_eq!(
        fake.order_history(ids[41]).len(),
        1,
        "added once, not twice"
    );
    fake.faults().schedule(rule(
        "POST /orders/{id}/shipments",
        0,
        Respond::FailAfterApply(504),
    ));
    let e = server
        .err(
            "shipments_add",
            json!({ "order_id": ids[42], "shipment": { "tracking_number": "T1" } }),
        )
        .await;
    assert_eq!(e["code"], "WRITE_OUTCOME_UNKNOWN");
    assert_eq!(fake.shipments(ids[42]).len(), 1);
    // A 429 on a write was refused unprocessed, so it is sent again.
    fake.faults().schedule(rule(
        "POST /orders/{id}/order-history",
        0,
        Respond::RateLimited(1),
    ));
    server
        .ok(
            "orders_add_note",
            json!({ "order_id": ids[43], "note": "hi" }),
        )
        .await;
    assert_eq!(fake.order_history(ids[43]).len(), 1);
    assert_eq!(fake.stats().status_411, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_write_cut_off_by_the_deadline_is_audited_and_its_cache_dropped() {
    let fake = fake_unlimited().await;
    let server = spawn(
        Launch::against(&fake)
            .unthrottled()
            .upstream_timeout_ms(20_000)
            .arg("--call-timeout-secs")
            .arg("1"),
    )
    .await;
    let id = fake.order_ids()[50];
    let before = server.ok("orders_get", json!({ "order_id": id })).await;
    assert_eq!(before["cache"], "miss");
    // OrderDesk applies the PUT but answers only after the call's deadline.
    fake.faults().schedule(rule(
        PUT,
        0,
        Respond::SlowAfterApply(Duration::from_secs(3)),
    ));
    let e = server
        .err(
            "orders_update",
            json!({ "order_id": id, "changes": { "email": "late@example.com" } }),
        )
        .await;
    assert_eq!(e["code"], "DEADLINE_EXCEEDED");
    assert_eq!(e["retryable"], false, "a write may have happened");
    assert_eq!(e["details"]["write_outcome"], "unknown");
    let after = server.ok("orders_get", json!({ "order_id": id })).await;
    assert_eq!(
        after["cache"], "miss",
        "the abandoned write dropped the cached order"
    );
    assert_eq!(after["order"]["email"], "late@example.com");
    let audit = server.ok("audit_list", json!({})).await;
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["tool"] == "orders_update")
        .expect("the write is audited");
    assert_eq!(entry["outcome"], "WRITE_OUTCOME_UNKNOWN");
    assert!(
        entry["note"].as_str().unwrap().contains("deadline"),
        "{entry}"
    );
    // The stopped call's lease on the order was released: the next update goes through
    // (waiting out a 60 s lease would end in CONCURRENT_UPDATE after 15 s).
    let next = server
        .ok(
            "orders_update",
            json!({ "order_id": id, "changes": { "email": "next@example.com" } }),
        )
        .await;
    assert_eq!(next["conflicts"], 0);
    assert_eq!(fake.order(id).unwrap()["email"], "next@example.com");
    server.stop().await;
}
