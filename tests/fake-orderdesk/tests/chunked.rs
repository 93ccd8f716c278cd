//! Request bodies sent without `Content-Length` (`Transfer-Encoding: chunked`): refused with
//! 411 before they reach the store, unless `reject_chunked` is off.

mod support;

use std::process::Stdio;

use fake_orderdesk::{FakeConfig, FakeOrderDesk, Match, Respond, Rule};
use serde_json::json;
use support::{Client, fake_with_limit, fake_without_limit, new_order};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn chunked_post_is_refused_with_411_and_creates_nothing() {
    // The bucket is on: a refused request must not take a token.
    let (fake, client) = fake_with_limit(3).await;
    let reply = client
        .send_chunked("POST", "/orders", &new_order("CH-1"))
        .await;
    assert_eq!(reply.status, 411);
    assert_eq!(reply.json()["status"], "error");
    assert!(reply.json()["message"].is_string());
    assert_eq!(reply.header_u64("X-Tokens-Remaining"), Some(20));
    assert_eq!(fake.orders_with_source_id("10001", "CH-1"), 0);
    assert!(fake.order(100_004).is_none());

    // A chunked PUT is not applied either.
    let put = client
        .send_chunked("PUT", "/orders/100001", &json!({"email": "chunked@x.y"}))
        .await;
    assert_eq!(put.status, 411);
    assert_ne!(fake.order(100_001).unwrap()["email"], "chunked@x.y");

    // The same body with Content-Length is served, and takes the first token.
    let served = client
        .send_json("POST", "/orders", &new_order("CH-1"))
        .await;
    assert_eq!(served.status, 201);
    assert_eq!(served.header_u64("X-Tokens-Remaining"), Some(19));
    assert_eq!(fake.orders_with_source_id("10001", "CH-1"), 1);

    let stats = fake.stats();
    assert_eq!(stats.status_411, 2);
    assert_eq!(stats.total, 3);
    assert_eq!(stats.count("POST /orders"), 2);
    assert_eq!(stats.count("PUT /orders/{id}"), 1);
    assert_eq!(
        (stats.status_5xx, stats.status_429, stats.dropped),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn refused_chunked_requests_consume_no_fault_and_no_rule() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults().fail_next_5xx(1, 503);
    fake.faults().drop_after_apply_next(1);
    fake.faults()
        .schedule(Rule::on(Match::Writes, Respond::Status(502)));
    let chunked = client
        .send_chunked("POST", "/orders", &new_order("CH-2"))
        .await;
    assert_eq!(chunked.status, 411);
    assert_eq!(fake.faults().scheduled(), 1, "the rule did not see it");
    // The rule, then the one-shot faults, are all still there for the next writes.
    let order = new_order("CH-2");
    assert_eq!(
        client.send_json("POST", "/orders", &order).await.status,
        502
    );
    assert_eq!(
        client.send_json("POST", "/orders", &order).await.status,
        503
    );
    assert!(
        client
            .try_request("POST", "/orders", Some(&order))
            .await
            .is_none()
    );
    assert_eq!(fake.orders_with_source_id("10001", "CH-2"), 1);
    assert_eq!(fake.stats().status_411, 1);
}

#[tokio::test]
async fn chunked_post_is_served_when_allowed() {
    let fake = FakeOrderDesk::start(FakeConfig {
        orders: 3,
        rate_limit: false,
        reject_chunked: false,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let client = Client::new(&fake);
    let reply = client
        .send_chunked("POST", "/orders", &new_order("CH-3"))
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json()["order"]["source_id"], "CH-3");
    assert_eq!(fake.order(100_004).unwrap()["source_id"], "CH-3");
    let put = client
        .send_chunked("PUT", "/orders/100001", &json!({"email": "chunked@x.y"}))
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(fake.order(100_001).unwrap()["email"], "chunked@x.y");
    assert_eq!(fake.stats().status_411, 0);
}

/// Starts the binary with `extra` flags and returns a client for it.
async fn spawn_binary(extra: &[&str]) -> (tokio::process::Child, Client) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-orderdesk"))
        .args(["--port", "0", "--orders", "2", "--no-rate-limit"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next_line().await.unwrap().expect("URL line");
    // Read the other two lines too: closing the pipe early would make the binary exit.
    for _ in 0..2 {
        lines.next_line().await.unwrap().expect("a variable line");
    }
    let addr = url
        .strip_prefix("ORDERDESK_API_URL=http://")
        .and_then(|rest| rest.split_once('/'))
        .expect("URL line")
        .0;
    let client = Client {
        addr: addr.parse().unwrap(),
        store_id: FakeConfig::default().store_id,
        api_key: FakeConfig::default().api_key,
    };
    (child, client)
}

#[tokio::test]
async fn binary_refuses_chunked_bodies_unless_allow_chunked() {
    let (mut strict, client) = spawn_binary(&[]).await;
    let refused = client
        .send_chunked("POST", "/orders", &new_order("B-1"))
        .await;
    assert_eq!(refused.status, 411);
    strict.kill().await.unwrap();

    let (mut lenient, client) = spawn_binary(&["--allow-chunked"]).await;
    let served = client
        .send_chunked("POST", "/orders", &new_order("B-1"))
        .await;
    assert_eq!(served.status, 201);
    assert_eq!(client.get("/orders").await.json()["total_records"], 3);
    lenient.kill().await.unwrap();
}
