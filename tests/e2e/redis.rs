//! Scale-out on Redis: two `orderdesk-mcp serve` processes on one real `redis-server`
//! (started by the test set-up on a loopback port) share tenants, stores, cache
//! generations, locks and each store's upstream bucket.

use crate::support;

use std::time::Duration;

use fake_orderdesk::redis_server::RedisServer;
use rmcp::model::ProtocolVersion;
use serde_json::json;
use support::http::{self, HttpServer, ok};
use support::{FakeConfig, Launch, create_tenant, fake_with};

/// Two `serve` processes with the same settings (the same Redis).
async fn pair(launch: &Launch) -> (HttpServer, HttpServer) {
    (http::serve(launch).await, http::serve(launch).await)
}

#[tokio::test]
async fn two_servers_share_tenants_stores_cache_and_locks() {
    let redis = RedisServer::start();
    let fake = fake_with(FakeConfig {
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await;
    fake.add_store("40001", "key-r-1a2b3c", 30, 5);
    fake.faults().concurrent_edits(11);
    let state = redis.url();
    let (_, key) = create_tenant(&state, "Scale-out");
    let launch = Launch::for_tenants(&fake, &state)
        .arg("--tool-calls-per-minute")
        .arg("0");
    let (one, two) = pair(&launch).await;
    let a = one
        .session_client(Some(&key), ProtocolVersion::V_2025_11_25)
        .await;
    let b = two.stateless_client(Some(&key)).await;

    // A store registered through one server is there through the other.
    ok(
        &a,
        "stores_register",
        json!({ "store_id": "40001", "api_key": "key-r-1a2b3c", "name": "Shared" }),
    )
    .await;
    let listed = ok(&b, "stores_list", json!({})).await;
    assert_eq!(listed["stores"][0]["store_id"], "40001", "{listed}");

    // A write through one is read fresh through the other (one cache generation).
    let id = fake.order_ids_in("40001")[0];
    let before = ok(&b, "orders_get", json!({ "order_id": id })).await;
    let again = ok(&b, "orders_get", json!({ "order_id": id })).await;
    assert_eq!(again["cache"], "hit", "{again}");
    ok(
        &a,
        "orders_update",
        json!({ "order_id": id, "changes": { "email": "fresh@example.com" } }),
    )
    .await;
    let after = ok(&b, "orders_get", json!({ "order_id": id })).await;
    assert_ne!(before["order"]["email"], "fresh@example.com");
    assert_eq!(after["order"]["email"], "fresh@example.com", "{after}");
    assert_eq!(after["cache"], "miss");

    // Concurrent updates of one order through both servers lose nothing.
    let updates = |client_no: usize| {
        let (a, b) = (&a, &b);
        async move {
            for j in 0..10 {
                let field = format!("s{client_no}_{j}");
                let args = json!({ "order_id": id, "changes": { "order_metadata": { field: j } } });
                if client_no == 0 {
                    ok(a, "orders_update", args).await;
                } else {
                    ok(b, "orders_update", args).await;
                }
            }
        }
    };
    tokio::join!(updates(0), updates(1));
    let order = fake.order_in("40001", id).unwrap();
    let metadata = order["order_metadata"].as_object().unwrap();
    let missing: Vec<String> = (0..2)
        .flat_map(|i| (0..10).map(move |j| format!("s{i}_{j}")))
        .filter(|k| !metadata.contains_key(k))
        .collect();
    assert!(missing.is_empty(), "lost changes: {missing:?}");
    assert!(fake.stats().external_edits > 0);
}

#[tokio::test]
async fn two_servers_stay_inside_one_store_bucket() {
    let redis = RedisServer::start();
    // OrderDesk's real bucket: 20 requests, refilled at 3 per second.
    let fake = fake_with(FakeConfig::default()).await;
    let state = redis.url();
    let launch = Launch::against(&fake)
        .state(&state)
        .arg("--tool-calls-per-minute")
        .arg("0");
    let (one, two) = pair(&launch).await;
    let a = one.stateless_client(None).await;
    let b = two.stateless_client(None).await;
    // 40 cache misses, 20 through each server at once: twice the burst.
    let ids = fake.order_ids();
    let reads = |client: usize| {
        let (a, b, ids) = (&a, &b, &ids);
        async move {
            for id in ids.iter().skip(client).step_by(2).take(20) {
                let args = json!({ "order_id": id });
                if client == 0 {
                    ok(a, "orders_get", args).await;
                } else {
                    ok(b, "orders_get", args).await;
                }
            }
        }
    };
    let started = std::time::Instant::now();
    tokio::join!(reads(0), reads(1));
    let stats = fake.stats();
    assert_eq!(
        stats.status_429, 0,
        "the pair overdrew the bucket: {stats:?}"
    );
    assert_eq!(stats.count("GET /orders/{id}"), 40);
    // 20 at once, then 20 more at 3/s: the shared bucket made them wait.
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}: the servers did not share the bucket",
        started.elapsed()
    );
}
