//! Several stores on one server: isolation, per-store credentials, buckets and counters.

mod support;

use fake_orderdesk::{FakeConfig, FakeOrderDesk};
use serde_json::json;
use support::{Client, fake_without_limit, ids};

const OTHER: &str = "20002";
const OTHER_KEY: &str = "other-key";

#[tokio::test]
async fn added_stores_have_their_own_distinguishable_data() {
    let (fake, default) = fake_without_limit(5).await;
    fake.add_store(OTHER, OTHER_KEY, 3, 4);
    let other = Client::for_store(&fake, OTHER, OTHER_KEY);
    assert_eq!(
        fake.store_ids(),
        vec!["10001".to_string(), OTHER.to_string()]
    );

    let list = other.get("/orders?order_by=id&order=asc").await.json();
    assert_eq!(list["total_records"], 3);
    assert_eq!(ids(&list, "orders"), vec![100_001, 100_002, 100_003]);
    assert_eq!(fake.order_ids_in(OTHER), vec![100_001, 100_002, 100_003]);
    assert_eq!(fake.order_ids_in("nope"), Vec::<u64>::new());
    assert_eq!(default.get("/orders").await.json()["total_records"], 5);

    let mine = other.get("/orders/100001").await.json()["order"].clone();
    assert_eq!(mine["source_id"], format!("SRC-{OTHER}-100001"));
    assert!(mine["email"].as_str().unwrap().contains(OTHER), "{mine}");
    assert!(
        mine["order_items"][0]["code"]
            .as_str()
            .unwrap()
            .starts_with(&format!("SKU-{OTHER}-"))
    );
    assert_eq!(fake.order_in(OTHER, 100_001).unwrap(), mine);
    assert_ne!(fake.order(100_001).unwrap(), mine);
    assert_eq!(fake.order(100_001).unwrap()["source_id"], "SRC-100001");
    assert_eq!(fake.orders_in(OTHER).len(), 3);
    assert!(fake.order_in("nope", 100_001).is_none());

    let item = other.get("/inventory-items/5002").await.json();
    assert_eq!(item["inventory_item"]["code"], format!("SKU-{OTHER}-5002"));
    assert_eq!(other.get("/inventory-items/5005").await.status, 404);
    assert_eq!(
        fake.product_in(OTHER, 5002).unwrap()["code"],
        format!("SKU-{OTHER}-5002")
    );
    assert_eq!(fake.product_ids_in(OTHER), vec![5001, 5002, 5003, 5004]);

    let store = other.get("/store").await.json();
    assert_eq!(store["store"]["id"], 20002);
    assert_eq!(store["store"]["folders"]["3"], "Shipped");
    assert_eq!(default.get("/store").await.json()["store"]["id"], 10001);

    // Filtering by source id works within a store and never sees the other store's orders.
    let by_source = other
        .get(&format!("/orders?source_id=SRC-{OTHER}-100002"))
        .await
        .json();
    assert_eq!(ids(&by_source, "orders"), vec![100_002]);
    let foreign = default
        .get(&format!("/orders?source_id=SRC-{OTHER}-100002"))
        .await
        .json();
    assert_eq!(foreign["total_records"], 0);
}

#[tokio::test]
async fn writes_stay_in_their_store() {
    let (fake, default) = fake_without_limit(5).await;
    fake.add_store(OTHER, OTHER_KEY, 5, 2);
    let other = Client::for_store(&fake, OTHER, OTHER_KEY);

    let order = json!({
        "source_id": "WEB-9",
        "customer": {"first_name": "Ada"},
        "order_items": [{"name": "Mug", "price": 3, "quantity": 1}],
    });
    let created = other.send_json("POST", "/orders", &order).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["order"]["id"], "100006");
    assert!(fake.order_in(OTHER, 100_006).is_some());
    assert!(fake.order(100_006).is_none());
    assert_eq!(default.get("/orders/100006").await.status, 404);

    let moved = json!({"destination_folder_id": 4, "orders": [100_001]});
    assert_eq!(
        other.send_json("POST", "/move-orders", &moved).await.status,
        200
    );
    assert_eq!(fake.order_in(OTHER, 100_001).unwrap()["folder_id"], 4);
    assert_eq!(fake.order(100_001).unwrap()["folder_id"], 1);

    let shipment = json!({"tracking_number": "Z1"});
    other
        .send_json("POST", "/orders/100002/shipments", &shipment)
        .await;
    let added = fake.shipments_in(OTHER, 100_002);
    assert_eq!(added[0]["store_id"], OTHER);
    assert!(fake.shipments(100_002).is_empty());

    assert_eq!(other.delete("/orders/100003").await.status, 200);
    assert!(fake.order_in(OTHER, 100_003).is_none());
    assert!(fake.order(100_003).is_some());
    other
        .send_json(
            "POST",
            "/orders/100004/order-history",
            &json!({"note": "hi"}),
        )
        .await;
    assert_eq!(fake.order_history_in(OTHER, 100_004)[0]["note"], "hi");
    assert!(fake.order_history(100_004).is_empty());
}

#[tokio::test]
async fn credentials_must_match_one_store() {
    let (fake, default) = fake_without_limit(2).await;
    fake.add_store(OTHER, OTHER_KEY, 2, 1);
    let get = |store: &'static str, key: &'static str| {
        let client = default.clone();
        async move {
            let auth = [("ORDERDESK-STORE-ID", store), ("ORDERDESK-API-KEY", key)];
            client.raw_request("GET", "/test", &auth, None).await.status
        }
    };
    assert_eq!(get(OTHER, OTHER_KEY).await, 200);
    assert_eq!(get("10001", "fake-api-key-0123456789").await, 200);
    // Each store's key opens only that store.
    assert_eq!(get(OTHER, "fake-api-key-0123456789").await, 401);
    assert_eq!(get("10001", OTHER_KEY).await, 401);
    assert_eq!(get("30003", OTHER_KEY).await, 401);
    let stats = fake.stats();
    assert_eq!(stats.status_401, 3);
    assert_eq!(stats.by_store.get(OTHER), Some(&1));
    assert_eq!(stats.by_store.get("10001"), Some(&1));
    assert_eq!(stats.by_store.len(), 2);

    // Re-adding a store re-seeds it and can change its key.
    fake.add_store(OTHER, "new-key", 1, 0);
    assert_eq!(get(OTHER, OTHER_KEY).await, 401);
    assert_eq!(get(OTHER, "new-key").await, 200);
    assert_eq!(fake.order_ids_in(OTHER), vec![100_001]);
}

#[tokio::test]
#[should_panic(expected = "is the default store")]
async fn the_default_store_cannot_be_replaced() {
    let (fake, _client) = fake_without_limit(1).await;
    fake.add_store("10001", "x", 1, 1);
}

#[tokio::test]
async fn stats_count_per_store_and_route() {
    let (fake, default) = fake_without_limit(3).await;
    fake.add_store(OTHER, OTHER_KEY, 3, 1);
    let other = Client::for_store(&fake, OTHER, OTHER_KEY);
    for _ in 0..3 {
        other.get("/orders/100001").await;
    }
    other.get("/orders").await;
    default.get("/orders/100002").await;
    // Faulted requests still count for the store whose credentials they carried.
    fake.faults().fail_next_5xx(1, 500);
    assert_eq!(other.get("/orders").await.status, 500);
    let stats = fake.stats();
    assert_eq!(stats.count_in(OTHER, "GET /orders/{id}"), 3);
    assert_eq!(stats.count_in(OTHER, "GET /orders"), 2);
    assert_eq!(stats.count_in("10001", "GET /orders/{id}"), 1);
    assert_eq!(stats.count_in("10001", "GET /orders"), 0);
    assert_eq!(stats.count("GET /orders/{id}"), 4);
    assert_eq!(stats.by_store[OTHER], 5);
    assert_eq!(stats.by_store["10001"], 1);
    fake.reset_stats();
    assert!(fake.stats().by_store_route.is_empty());
}

#[tokio::test]
async fn each_store_has_its_own_bucket() {
    let fake = FakeOrderDesk::start(FakeConfig {
        orders: 2,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    fake.add_store(OTHER, OTHER_KEY, 2, 1);
    let default = Client::new(&fake);
    let other = Client::for_store(&fake, OTHER, OTHER_KEY);
    let mut limited = false;
    for _ in 0..25 {
        limited |= default.get("/test").await.status == 429;
    }
    assert!(limited, "the default store's bucket runs dry");
    let reply = other.get("/test").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header_u64("X-Tokens-Remaining"), Some(19));
    fake.refill_bucket();
    assert_eq!(default.get("/test").await.status, 200);
}
