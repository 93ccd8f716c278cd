//! What a polling sync and webhooks need of the fake: large stores seeded quickly, paging
//! by `modified_start_date` with `order_by=id&order=asc`, `limit` up to 500 and `offset`;
//! changes from outside (edits, cancellations, new orders) that those pages see; and
//! webhook deliveries signed with the store's key.

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use fake_orderdesk::webhook::{self, Delivery};
use fake_orderdesk::{CANCELLED_FOLDER, FakeConfig, FakeOrderDesk, clock};
use serde_json::Value;
use support::{Client, fake_without_limit, ids};

/// A year back from any date these tests run on covers every seeded order (2026-01-01 on).
const WINDOW_START: &str = "2025-06-01%2000:00:00";

/// Every order id a sync would see, paging `limit` at a time from `start`.
async fn page_through(client: &Client, start: &str, limit: usize) -> (Vec<u64>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let path = format!(
            "/orders?modified_start_date={start}&limit={limit}&offset={}&order_by=id&order=asc",
            seen.len()
        );
        let reply = client.get(&path).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        let page = ids(&body, "orders");
        pages += 1;
        assert!(page.len() <= limit);
        if page.is_empty() {
            return (seen, pages);
        }
        seen.extend(page);
        if seen.len() >= body["total_records"].as_u64().unwrap() as usize {
            return (seen, pages);
        }
    }
}

#[tokio::test]
async fn ten_thousand_orders_seed_quickly_and_page_by_id() {
    let started = Instant::now();
    let fake = FakeOrderDesk::start(FakeConfig {
        orders: 10_000,
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let seeded = started.elapsed();
    assert!(seeded.as_secs() < 10, "seeding took {seeded:?}");
    let client = Client::new(&fake);

    let (seen, pages) = page_through(&client, WINDOW_START, 500).await;
    assert_eq!(pages, 20);
    let expected: Vec<u64> = (100_001..=110_000).collect();
    assert_eq!(
        seen, expected,
        "ascending ids, no page overlapping or skipped"
    );

    // A page past the end is empty but still counts the matches.
    let past = client
        .get(&format!(
            "/orders?modified_start_date={WINDOW_START}&limit=500&offset=10000&order_by=id&order=asc"
        ))
        .await
        .json();
    assert_eq!(past["total_records"], 10_000);
    assert_eq!(past["records_returned"], 0);
    assert_eq!(
        client.get("/orders?limit=501").await.status,
        400,
        "500 is the largest page"
    );
}

#[tokio::test]
async fn modified_start_date_takes_a_time_of_day() {
    let (fake, client) = fake_without_limit(30).await;
    // The cut-off is the date_updated of one order: it and every later one match.
    let orders = fake.orders_in(fake.store_id());
    let mut dates: Vec<&str> = orders
        .iter()
        .map(|o| o["date_updated"].as_str().unwrap())
        .collect();
    dates.sort();
    let cut = dates[10];
    let expected: BTreeSet<u64> = orders
        .iter()
        .filter(|o| o["date_updated"].as_str().unwrap() >= cut)
        .map(|o| o["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(expected.len(), 20, "dates are distinct");
    let (seen, _) = page_through(&client, &cut.replace(' ', "%20"), 7).await;
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert!(seen.is_sorted());

    let malformed = client
        .get("/orders?modified_start_date=2026-01-01T00:00:00")
        .await;
    assert_eq!(malformed.status, 400);
}

/// The ids changed since `since` (as OrderDesk prints dates), by a sync's query.
async fn changed_since(client: &Client, since: &str) -> BTreeSet<u64> {
    let (seen, _) = page_through(client, &since.replace(' ', "%20"), 500).await;
    seen.into_iter().collect()
}

#[tokio::test]
async fn outside_changes_are_dated_now_and_seen_by_a_sync() {
    let (fake, client) = fake_without_limit(40).await;
    fake.add_store("20002", "other-key", 5, 3);
    let store = fake.store_id().to_string();
    // A second before now: every seeded order of this small store is older.
    let before = clock::format_unix(clock::now_unix() - 1);

    assert!(fake.edit_order_in(&store, 100_002));
    assert!(fake.cancel_order(&store, 100_003));
    let new = fake.add_order(&store);
    assert_eq!(new, 100_041);
    assert!(!fake.cancel_order(&store, 999), "no such order");
    assert!(!fake.edit_order_in("nope", 100_002), "no such store");
    assert!(!fake.move_order(&store, 100_004, 9), "no such folder");

    let edited = fake.order(100_002).unwrap();
    assert_eq!(edited["order_metadata"]["external_edits"], 1);
    assert_eq!(fake.external_edits_of(100_002), 1);
    assert_eq!(fake.stats().external_edits, 1);
    let cancelled = fake.order(100_003).unwrap();
    assert_eq!(cancelled["folder_id"], CANCELLED_FOLDER);
    assert_eq!(CANCELLED_FOLDER, 4);
    let added = fake.order(new).unwrap();
    assert_eq!(added["folder_id"], 1);
    assert_eq!(added["date_added"], added["date_updated"]);
    assert_eq!(client.get(&format!("/orders/{new}")).await.status, 200);

    // A sync from a second ago sees exactly the three changes.
    assert_eq!(
        changed_since(&client, &before).await,
        BTreeSet::from([100_002, 100_003, new])
    );

    // The other store's orders are tagged like its seed and were not touched.
    let other_new = fake.add_order("20002");
    assert_eq!(other_new, 100_006);
    assert_eq!(
        fake.order_in("20002", other_new).unwrap()["source_id"],
        "SRC-20002-100006"
    );
    assert_eq!(fake.order_in("20002", 100_003).unwrap()["folder_id"], 3);
}

#[tokio::test]
async fn webhooks_are_signed_with_the_store_key() {
    let (fake, _) = fake_without_limit(3).await;
    let delivery = fake.webhook(fake.store_id(), 100_002).unwrap();
    let json = delivery.order_json().unwrap();
    let order: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(order, fake.order(100_002).unwrap());
    assert_eq!(delivery.store_id.as_deref(), Some(fake.store_id()));
    assert_eq!(
        delivery.signature.as_deref(),
        Some(webhook::signature(&json, fake.api_key()).as_str())
    );
    assert_eq!(
        delivery,
        Delivery::signed(fake.store_id(), fake.api_key(), &json)
    );
    assert!(fake.webhook(fake.store_id(), 1).is_none());
    assert!(fake.webhook("nope", 100_002).is_none());
    // A changed order is delivered as it is now.
    fake.edit_order_in(fake.store_id(), 100_002);
    let again = fake.webhook(fake.store_id(), 100_002).unwrap();
    assert_ne!(again.signature, delivery.signature);
    assert!(again.order_json().unwrap().contains("\"external_edits\":1"));
    // Posting anywhere but loopback is refused before connecting.
    let refused = webhook::post("http://192.0.2.1:80/webhooks/orderdesk", &delivery).await;
    assert!(refused.unwrap_err().to_string().contains("loopback"));
}

#[tokio::test]
async fn a_store_can_accept_a_second_key() {
    let (fake, client) = fake_without_limit(3).await;
    let second = Client::for_store(&fake, fake.store_id(), "second-key-42");
    assert_eq!(second.get("/test").await.status, 401);
    fake.add_api_key(fake.store_id(), "second-key-42");
    assert_eq!(second.get("/test").await.status, 200);
    assert_eq!(
        client.get("/test").await.status,
        200,
        "the first key still works"
    );
}
