//! Scheduled rules: a fault (and an outside edit) at the k-th matching request.

mod support;

use std::time::{Duration, Instant};

use fake_orderdesk::{Edit, FakeOrderDesk, Match, Respond, Rule};
use serde_json::{Value, json};
use support::{Client, Reply, fake_without_limit};

/// The order the scenarios read and write.
const ORDER: &str = "/orders/100001";
const ID: u64 = 100_001;
/// The delay of the slow responses; normal answers are far faster.
const SLOW: Duration = Duration::from_millis(400);
const PUT_EMAIL: &str = "put@example.com";
/// One of each response.
const ALL: [Respond; 8] = [
    Respond::Normal,
    Respond::Status(503),
    Respond::RateLimited(7),
    Respond::Drop,
    Respond::DropAfterApply,
    Respond::FailAfterApply(502),
    Respond::SlowAfterApply(SLOW),
    Respond::Slow(SLOW),
];

fn route(template: &str) -> Match {
    Match::Route(template.into())
}

/// One request's answer (`None` when the connection closed without one) and duration.
struct Outcome {
    reply: Option<Reply>,
    took: Duration,
}

async fn send(client: &Client, method: &str, path: &str, body: Option<&Value>) -> Outcome {
    let started = Instant::now();
    let reply = client.try_request(method, path, body).await;
    Outcome {
        reply,
        took: started.elapsed(),
    }
}

/// What a client's update does: read the order three times, then replace it.
async fn three_gets_then_a_put(client: &Client) -> Vec<Outcome> {
    let mut steps = Vec::new();
    for _ in 0..3 {
        steps.push(send(client, "GET", ORDER, None).await);
    }
    let body = json!({ "email": PUT_EMAIL });
    steps.push(send(client, "PUT", ORDER, Some(&body)).await);
    steps
}

/// Asserts that `step` shows `respond`.
fn assert_suffered(respond: Respond, step: &Outcome) {
    let reply = step.reply.as_ref();
    match respond {
        Respond::Drop | Respond::DropAfterApply => {
            assert!(reply.is_none(), "{respond:?} answered");
            return;
        }
        _ => {}
    }
    let reply = reply.unwrap_or_else(|| panic!("{respond:?} dropped the connection"));
    match respond {
        Respond::Normal => assert!(reply.status == 200 && step.took < SLOW),
        Respond::Status(status) | Respond::FailAfterApply(status) => {
            assert_eq!(reply.status, status);
            assert_eq!(reply.json()["status"], "error");
            assert!(reply.json()["message"].is_string());
            assert!(reply.header_u64("X-Tokens-Remaining").is_some());
        }
        Respond::RateLimited(secs) => {
            assert_eq!(reply.status, 429);
            assert_eq!(reply.header_u64("X-Retry-After"), Some(u64::from(secs)));
            assert_eq!(reply.header_u64("X-Tokens-Remaining"), Some(0));
            assert_eq!(reply.json()["status"], "error");
        }
        Respond::Slow(wait) | Respond::SlowAfterApply(wait) => {
            assert_eq!(reply.status, 200);
            assert!(step.took >= wait, "{respond:?} took {:?}", step.took);
        }
        Respond::Drop | Respond::DropAfterApply => unreachable!(),
    }
}

/// Asserts that step `hit` of [`three_gets_then_a_put`] suffered `respond`, every other step
/// was served normally, the PUT was applied unless it was the one refused, the rule is
/// spent and the counters saw every request.
fn assert_hit(fake: &FakeOrderDesk, respond: Respond, steps: &[Outcome], hit: usize) {
    for (i, step) in steps.iter().enumerate() {
        if i == hit {
            assert_suffered(respond, step);
            continue;
        }
        let reply = step.reply.as_ref();
        let reply = reply.unwrap_or_else(|| panic!("{respond:?}: step {i} was dropped"));
        assert_eq!(reply.status, 200, "{respond:?}: step {i}");
        assert!(
            step.took < SLOW,
            "{respond:?}: step {i} took {:?}",
            step.took
        );
    }
    let refused = matches!(
        respond,
        Respond::Status(_) | Respond::RateLimited(_) | Respond::Drop
    );
    let applied = fake.order(ID).unwrap()["email"] == PUT_EMAIL;
    assert_eq!(applied, !(hit == 3 && refused), "{respond:?}: PUT applied");
    assert_eq!(
        fake.faults().scheduled(),
        0,
        "{respond:?}: the rule is spent"
    );
    let stats = fake.stats();
    assert_eq!(stats.count("GET /orders/{id}"), 3);
    assert_eq!(stats.count("PUT /orders/{id}"), 1);
    let dropped = matches!(respond, Respond::Drop | Respond::DropAfterApply);
    let server_error = matches!(respond, Respond::Status(_) | Respond::FailAfterApply(_));
    let limited = matches!(respond, Respond::RateLimited(_));
    assert_eq!(stats.dropped, u64::from(dropped), "{respond:?}");
    assert_eq!(stats.status_5xx, u64::from(server_error), "{respond:?}");
    assert_eq!(stats.status_429, u64::from(limited), "{respond:?}");
    assert_eq!(stats.external_edits, 0);
}

/// Runs the scenario once per response with the rule `make` builds, expecting step `hit`.
async fn each_response(make: impl Fn(Respond) -> Rule, hit: usize) {
    for respond in ALL {
        let (fake, client) = fake_without_limit(3).await;
        fake.faults().schedule(make(respond));
        let steps = three_gets_then_a_put(&client).await;
        assert_hit(&fake, respond, &steps, hit);
    }
}

#[tokio::test]
async fn every_response_at_skip_0_hits_the_first_matching_put() {
    each_response(|respond| Rule::on(route("PUT /orders/{id}"), respond), 3).await;
}

#[tokio::test]
async fn every_response_at_skip_2_hits_the_third_matching_get() {
    each_response(|r| Rule::on(route("GET /orders/{id}"), r).skip(2), 2).await;
}

#[tokio::test]
async fn every_response_with_match_any_hits_the_first_request() {
    each_response(|respond| Rule::on(Match::Any, respond), 0).await;
}

#[tokio::test]
async fn reads_and_writes_filters() {
    each_response(|r| Rule::on(Match::Reads, r).skip(1), 1).await;
    each_response(|r| Rule::on(Match::Writes, r), 3).await;
    // Skipping counts only matching requests: the only write is never reached.
    let (fake, client) = fake_without_limit(3).await;
    fake.faults()
        .schedule(Rule::on(Match::Writes, Respond::Drop).skip(1));
    let steps = three_gets_then_a_put(&client).await;
    assert!(
        steps
            .iter()
            .all(|s| s.reply.as_ref().unwrap().status == 200)
    );
    assert_eq!(fake.faults().scheduled(), 1);
}

#[tokio::test]
async fn rules_expire_after_times() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults()
        .schedule(Rule::on(Match::Any, Respond::Status(503)).times(2));
    assert_eq!(fake.faults().scheduled(), 1);
    assert_eq!(client.get("/test").await.status, 503);
    assert_eq!(fake.faults().scheduled(), 1);
    assert_eq!(client.get(ORDER).await.status, 503);
    assert_eq!(fake.faults().scheduled(), 0);
    assert_eq!(client.get("/test").await.status, 200);
    assert_eq!(client.get(ORDER).await.status, 200);
    // A rule with times 0 does nothing at all.
    fake.faults()
        .schedule(Rule::on(Match::Any, Respond::Drop).times(0));
    assert_eq!(fake.faults().scheduled(), 0);
    assert_eq!(client.get("/test").await.status, 200);
    assert_eq!(fake.stats().status_5xx, 2);
}

#[tokio::test]
async fn clear_removes_rules() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults()
        .schedule(Rule::on(Match::Any, Respond::Status(503)));
    fake.faults()
        .schedule(Rule::on(Match::Reads, Respond::Drop).skip(1).times(5));
    assert_eq!(fake.faults().scheduled(), 2);
    fake.faults().clear();
    assert_eq!(fake.faults().scheduled(), 0);
    for _ in 0..4 {
        assert_eq!(client.get(ORDER).await.status, 200);
    }
}

#[tokio::test]
async fn skipping_rules_count_requests_another_rule_acts_on() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults()
        .schedule(Rule::on(Match::Any, Respond::Status(501)));
    fake.faults()
        .schedule(Rule::on(Match::Any, Respond::Status(502)).skip(1));
    // The first request is rule 1's, and also rule 2's one skipped request.
    assert_eq!(client.get("/test").await.status, 501);
    assert_eq!(client.get("/test").await.status, 502);
    assert_eq!(client.get("/test").await.status, 200);
}

#[tokio::test]
async fn a_ready_rule_waits_while_an_earlier_rule_acts() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults()
        .schedule(Rule::on(Match::Reads, Respond::Status(501)).times(2));
    fake.faults()
        .schedule(Rule::on(Match::Reads, Respond::Status(502)));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(client.get("/test").await.status);
    }
    assert_eq!(statuses, [501, 501, 502, 200]);
}

#[tokio::test]
async fn rules_come_before_one_shot_faults() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults().fail_next_5xx(1, 503);
    fake.faults()
        .schedule(Rule::on(Match::Any, Respond::Status(501)));
    assert_eq!(client.get("/test").await.status, 501);
    assert_eq!(client.get("/test").await.status, 503);
    assert_eq!(client.get("/test").await.status, 200);
    // A rule serving normally still keeps the one-shot fault for the next request.
    fake.faults().fail_next_429(1, 4);
    fake.faults()
        .schedule(Rule::on(Match::Any, Respond::Normal));
    assert_eq!(client.get("/test").await.status, 200);
    assert_eq!(client.get("/test").await.status, 429);
    assert_eq!(client.get("/test").await.status, 200);
}

/// The outside edits an order shows in an answer.
fn edits_in(reply: &Reply) -> u64 {
    reply.json()["order"]["order_metadata"]["external_edits"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn edit_before_serving_shows_in_the_answer() {
    let (fake, client) = fake_without_limit(3).await;
    let rule = Rule::on(route("GET /orders/{id}"), Respond::Normal);
    fake.faults()
        .schedule(rule.skip(1).with_edit(Edit::BeforeServing));
    let first = client.get(ORDER).await;
    assert_eq!((first.status, edits_in(&first)), (200, 0));
    assert_eq!(fake.external_edits_of(ID), 0);
    let second = client.get(ORDER).await;
    assert_eq!((second.status, edits_in(&second)), (200, 1));
    assert_eq!(second.json()["order"], fake.order(ID).unwrap());
    assert_eq!(edits_in(&client.get(ORDER).await), 1, "one edit only");
    assert_eq!(fake.external_edits_of(ID), 1);
    assert_eq!(fake.stats().external_edits, 1);
}

#[tokio::test]
async fn edit_after_serving_is_only_in_the_store() {
    let (fake, client) = fake_without_limit(3).await;
    let rule = Rule::on(route("GET /orders/{id}"), Respond::Normal);
    fake.faults().schedule(rule.with_edit(Edit::AfterServing));
    let first = client.get(ORDER).await;
    assert_eq!((first.status, edits_in(&first)), (200, 0));
    let stored = fake.order(ID).unwrap();
    assert_eq!(stored["order_metadata"]["external_edits"], 1);
    assert_ne!(
        stored["date_updated"],
        first.json()["order"]["date_updated"]
    );
    assert_eq!(stored["date_updated"].as_str().unwrap().len(), 19);
    // The client's next read sees it.
    assert_eq!(client.get(ORDER).await.json()["order"], stored);
    assert_eq!(fake.stats().external_edits, 1);
}

#[tokio::test]
async fn edits_happen_with_error_answers_too() {
    let (fake, client) = fake_without_limit(3).await;
    let reads = || route("GET /orders/{id}");
    let faults = fake.faults();
    faults.schedule(Rule::on(reads(), Respond::Status(503)).with_edit(Edit::BeforeServing));
    faults.schedule(
        Rule::on(reads(), Respond::Drop)
            .skip(1)
            .with_edit(Edit::AfterServing),
    );
    faults.schedule(
        Rule::on(reads(), Respond::RateLimited(2))
            .skip(2)
            .with_edit(Edit::BeforeServing),
    );
    assert_eq!(client.get(ORDER).await.status, 503);
    assert_eq!(fake.external_edits_of(ID), 1);
    assert!(client.try_request("GET", ORDER, None).await.is_none());
    assert_eq!(fake.external_edits_of(ID), 2);
    assert_eq!(client.get(ORDER).await.status, 429);
    assert_eq!(fake.external_edits_of(ID), 3);
    let stats = fake.stats();
    assert_eq!(
        (
            stats.external_edits,
            stats.status_5xx,
            stats.status_429,
            stats.dropped
        ),
        (3, 1, 1, 1)
    );
}

#[tokio::test]
async fn a_rate_limited_put_with_an_edit_after_serving_applies_only_the_edit() {
    let (fake, client) = fake_without_limit(3).await;
    let rule = Rule::on(route("PUT /orders/{id}"), Respond::RateLimited(3));
    fake.faults().schedule(rule.with_edit(Edit::AfterServing));
    let before = fake.order(ID).unwrap();
    let body = json!({ "email": PUT_EMAIL });
    let reply = client.send_json("PUT", ORDER, &body).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("X-Retry-After"), Some("3"));
    let stored = fake.order(ID).unwrap();
    assert_eq!(stored["email"], before["email"], "the PUT is not applied");
    assert_eq!(fake.external_edits_of(ID), 1, "the edit is");
    assert_eq!(fake.stats().external_edits, 1);
    // A client that blindly retries its stale PUT loses the edit, which tests can see.
    assert_eq!(client.send_json("PUT", ORDER, &body).await.status, 200);
    assert_eq!(fake.order(ID).unwrap()["email"], PUT_EMAIL);
    assert_eq!(fake.external_edits_of(ID), 0);
}

#[tokio::test]
async fn an_edit_before_a_write_is_overwritten_one_after_is_kept() {
    let (fake, client) = fake_without_limit(3).await;
    let puts = || route("PUT /orders/{id}");
    let faults = fake.faults();
    faults.schedule(Rule::on(puts(), Respond::FailAfterApply(504)).with_edit(Edit::BeforeServing));
    faults.schedule(
        Rule::on(puts(), Respond::FailAfterApply(504))
            .skip(1)
            .with_edit(Edit::AfterServing),
    );
    let body = json!({ "email": PUT_EMAIL });
    assert_eq!(client.send_json("PUT", ORDER, &body).await.status, 504);
    assert_eq!(fake.order(ID).unwrap()["email"], PUT_EMAIL);
    assert_eq!(
        fake.external_edits_of(ID),
        0,
        "the PUT replaced the edited order"
    );
    assert_eq!(client.send_json("PUT", ORDER, &body).await.status, 504);
    assert_eq!(fake.external_edits_of(ID), 1);
    assert_eq!(fake.stats().external_edits, 2);
}

#[tokio::test]
async fn outside_edits_of_inventory_items_and_order_sub_resources() {
    let (fake, client) = fake_without_limit(3).await;
    let items = Rule::on(route("GET /inventory-items/{id}"), Respond::Normal);
    fake.faults().schedule(items.with_edit(Edit::AfterServing));
    let shipments = Rule::on(route("POST /orders/{id}/shipments"), Respond::Normal);
    fake.faults()
        .schedule(shipments.with_edit(Edit::BeforeServing));

    let item = client.get("/inventory-items/5001").await.json()["inventory_item"].clone();
    assert!(item.get("external_edits").is_none());
    let stored = fake.product(5001).unwrap();
    assert_eq!(stored["external_edits"], 1);
    assert_ne!(stored["date_updated"], item["date_updated"]);
    assert_eq!(fake.product_external_edits_of(5001), 1);
    assert_eq!(fake.product_external_edits_of(5002), 0);

    let shipment = json!({ "tracking_number": "1Z-EDIT" });
    let reply = client
        .send_json("POST", "/orders/100002/shipments", &shipment)
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(fake.external_edits_of(100_002), 1);
    assert_eq!(fake.stats().external_edits, 2);
}

#[tokio::test]
async fn edits_of_missing_records_are_skipped() {
    let (fake, client) = fake_without_limit(3).await;
    let edit = |m: Match| Rule::on(m, Respond::Normal).with_edit(Edit::BeforeServing);
    fake.faults().schedule(edit(route("GET /orders/{id}")));
    fake.faults().schedule(edit(route("POST /orders")));
    fake.faults()
        .schedule(edit(route("GET /inventory-items/{id}")));
    fake.faults()
        .schedule(edit(route("DELETE /orders/{id}")).times(1));
    assert_eq!(client.get("/orders/999999").await.status, 404);
    let order = json!({
        "shipping": {"company": "Acme"},
        "order_items": [{"name": "Mug", "price": 4, "quantity": 1}],
    });
    assert_eq!(
        client.send_json("POST", "/orders", &order).await.status,
        201
    );
    assert_eq!(client.get("/inventory-items/1").await.status, 404);
    assert_eq!(fake.faults().scheduled(), 1);
    // After serving, a deleted order is no longer there to edit.
    fake.faults().clear();
    let after = Rule::on(route("DELETE /orders/{id}"), Respond::Normal);
    fake.faults().schedule(after.with_edit(Edit::AfterServing));
    assert_eq!(client.delete("/orders/100003").await.status, 200);
    // Without valid credentials there is no store to edit in.
    fake.faults().schedule(edit(Match::Any));
    let anonymous = client.raw_request("GET", ORDER, &[], None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(fake.faults().scheduled(), 0);
    assert_eq!(fake.external_edits_of(ID), 0);
    assert!(
        fake.order(100_004).unwrap()["order_metadata"]
            .get("external_edits")
            .is_none()
    );
    assert_eq!(fake.external_edits_of(999_999), 0);
    assert_eq!(fake.stats().external_edits, 0);
}

#[tokio::test]
async fn edits_target_the_store_the_request_is_for() {
    let (fake, _client) = fake_without_limit(3).await;
    fake.add_store("20002", "k2", 3, 1);
    let other = Client::for_store(&fake, "20002", "k2");
    let rule = Rule::on(Match::Any, Respond::Normal).with_edit(Edit::AfterServing);
    fake.faults().schedule(rule);
    assert_eq!(other.get(ORDER).await.status, 200);
    let edited = fake.order_in("20002", ID).unwrap();
    assert_eq!(edited["order_metadata"]["external_edits"], 1);
    assert_eq!(
        fake.external_edits_of(ID),
        0,
        "the default store is untouched"
    );
}

#[tokio::test]
async fn successive_edits_within_a_second_are_distinguishable() {
    let (fake, client) = fake_without_limit(3).await;
    let rule = Rule::on(route("GET /orders/{id}"), Respond::Normal);
    fake.faults()
        .schedule(rule.times(2).with_edit(Edit::BeforeServing));
    let first = client.get(ORDER).await.json()["order"].clone();
    let second = client.get(ORDER).await.json()["order"].clone();
    assert_ne!(first, second);
    assert_eq!(first["order_metadata"]["external_edits"], 1);
    assert_eq!(second["order_metadata"]["external_edits"], 2);
    assert_eq!(fake.external_edits_of(ID), 2);
}

#[tokio::test]
async fn slow_after_apply_applies_the_write_before_answering() {
    let (fake, client) = fake_without_limit(3).await;
    let wait = Duration::from_millis(1200);
    let rule = Rule::on(route("PUT /orders/{id}"), Respond::SlowAfterApply(wait));
    fake.faults().schedule(rule);
    let writer = client.clone();
    let pending = tokio::spawn(async move {
        let body = json!({ "email": PUT_EMAIL });
        send(&writer, "PUT", ORDER, Some(&body)).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "the answer is still pending");
    assert_eq!(
        fake.order(ID).unwrap()["email"],
        PUT_EMAIL,
        "already applied"
    );
    // Other connections are served meanwhile.
    let started = Instant::now();
    assert_eq!(client.get("/orders/100002").await.status, 200);
    assert!(started.elapsed() < wait);
    assert!(!pending.is_finished());
    let outcome = pending.await.unwrap();
    let reply = outcome.reply.expect("an answer");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["order"]["email"], PUT_EMAIL);
    assert!(outcome.took >= wait, "{:?}", outcome.took);
}

#[tokio::test]
async fn slow_waits_before_serving() {
    let (fake, client) = fake_without_limit(3).await;
    let wait = Duration::from_millis(1200);
    fake.faults()
        .schedule(Rule::on(route("PUT /orders/{id}"), Respond::Slow(wait)));
    let writer = client.clone();
    let pending = tokio::spawn(async move {
        let body = json!({ "email": PUT_EMAIL });
        send(&writer, "PUT", ORDER, Some(&body)).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished());
    assert_ne!(
        fake.order(ID).unwrap()["email"],
        PUT_EMAIL,
        "not applied yet"
    );
    let started = Instant::now();
    assert_eq!(client.get("/test").await.status, 200);
    assert!(started.elapsed() < wait);
    let outcome = pending.await.unwrap();
    assert_eq!(outcome.reply.expect("an answer").status, 200);
    assert!(outcome.took >= wait);
    assert_eq!(fake.order(ID).unwrap()["email"], PUT_EMAIL);
}
