//! The rate limiter, injected faults, request counters and the binary.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Client, build, fake_with_limit, fake_without_limit};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn leaky_bucket_answers_429_when_empty() {
    let (fake, client) = fake_with_limit(5).await;
    let mut remaining = Vec::new();
    let mut limited = 0;
    for _ in 0..25 {
        let reply = client.get("/test").await;
        let tokens = reply
            .header_u64("X-Tokens-Remaining")
            .expect("X-Tokens-Remaining on every answer");
        match reply.status {
            200 => remaining.push(tokens),
            429 => {
                limited += 1;
                assert_eq!(tokens, 0);
                assert!(reply.header_u64("X-Retry-After").is_some_and(|s| s >= 1));
                assert_eq!(
                    reply.json(),
                    json!({"status": "error", "message": "Rate limit exceeded"})
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        limited >= 1,
        "25 rapid requests must overflow a bucket of 20"
    );
    assert_eq!(remaining[0], 19);
    assert!(remaining.windows(2).all(|w| w[1] <= w[0]), "{remaining:?}");
    assert!(*remaining.last().unwrap() <= 1, "{remaining:?}");
    assert_eq!(fake.stats().status_429, limited);

    fake.refill_bucket();
    assert_eq!(client.get("/test").await.status, 200);
}

#[tokio::test]
async fn bucket_can_be_switched_off() {
    let (_fake, client) = fake_without_limit(1).await;
    for _ in 0..30 {
        let reply = client.get("/test").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header_u64("X-Tokens-Remaining"), Some(20));
    }
}

#[tokio::test]
async fn injected_5xx_then_success() {
    let (fake, client) = fake_without_limit(5).await;
    fake.faults().fail_next_5xx(2, 503);
    for _ in 0..2 {
        let reply = client.get("/orders/100001").await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.json()["status"], "error");
        assert!(reply.json()["message"].is_string());
        assert!(reply.header_u64("X-Tokens-Remaining").is_some());
    }
    assert_eq!(client.get("/orders/100001").await.status, 200);
    let stats = fake.stats();
    assert_eq!((stats.status_5xx, stats.count("GET /orders/{id}")), (2, 3));
}

#[tokio::test]
async fn injected_429_then_success() {
    let (fake, client) = fake_without_limit(5).await;
    fake.faults().fail_next_429(2, 7);
    for _ in 0..2 {
        let reply = client.get("/orders").await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("X-Retry-After"), Some("7"));
        assert_eq!(reply.header_u64("X-Tokens-Remaining"), Some(0));
    }
    assert_eq!(client.get("/orders").await.status, 200);
    assert_eq!(fake.stats().status_429, 2);
}

#[tokio::test]
async fn dropped_connection_has_no_response() {
    let (fake, client) = fake_without_limit(5).await;
    fake.faults().drop_next(1);
    let auth = [
        ("ORDERDESK-STORE-ID", "10001"),
        ("ORDERDESK-API-KEY", "fake-api-key-0123456789"),
    ];
    let request = build("GET", "/orders/100001", &auth, None);
    match client.exchange(&request).await {
        Ok(bytes) => assert!(
            bytes.is_empty(),
            "got bytes: {:?}",
            String::from_utf8_lossy(&bytes)
        ),
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}"),
    }
    assert_eq!(client.get("/orders/100001").await.status, 200);
    let stats = fake.stats();
    assert_eq!((stats.dropped, stats.total), (1, 2));
}

#[tokio::test]
async fn faults_apply_in_order_drop_5xx_429() {
    let (fake, client) = fake_without_limit(5).await;
    fake.faults().fail_next_429(1, 3);
    fake.faults().fail_next_5xx(1, 500);
    fake.faults().drop_next(1);
    let auth = [
        ("ORDERDESK-STORE-ID", "10001"),
        ("ORDERDESK-API-KEY", "fake-api-key-0123456789"),
    ];
    let dropped = client
        .exchange(&build("GET", "/test", &auth, None))
        .await
        .unwrap_or_default();
    assert!(dropped.is_empty());
    assert_eq!(client.get("/test").await.status, 500);
    assert_eq!(client.get("/test").await.status, 429);
    assert_eq!(client.get("/test").await.status, 200);

    fake.faults().fail_next_5xx(5, 502);
    fake.faults().clear();
    assert_eq!(client.get("/test").await.status, 200);
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let (fake, client) = fake_without_limit(5).await;
    fake.faults().set_latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(client.get("/test").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    fake.faults().clear();
    let started = Instant::now();
    assert_eq!(client.get("/test").await.status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn stats_count_by_route_template() {
    let (fake, client) = fake_without_limit(5).await;
    for id in [100_001, 100_002, 999_999] {
        client.get(&format!("/orders/{id}")).await;
    }
    client.get("/orders?limit=2").await;
    client.raw_request("GET", "/orders", &[], None).await;
    client
        .send_json(
            "POST",
            "/orders/100001/shipments",
            &json!({"tracking_number": "T1"}),
        )
        .await;
    let stats = fake.stats();
    assert_eq!(stats.count("GET /orders/{id}"), 3);
    assert_eq!(stats.count("GET /orders"), 2);
    assert_eq!(stats.count("POST /orders/{id}/shipments"), 1);
    assert_eq!(stats.count("DELETE /orders/{id}"), 0);
    assert_eq!((stats.total, stats.status_401), (6, 1));
    fake.reset_stats();
    assert_eq!(fake.stats().total, 0);
    assert!(fake.stats().by_route.is_empty());
}

#[tokio::test]
async fn server_stops_when_dropped() {
    let (fake, client) = fake_without_limit(1).await;
    assert_eq!(client.get("/test").await.status, 200);
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        client
            .exchange(&build("GET", "/test", &[], None))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn binary_prints_its_environment_and_serves() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-orderdesk"))
        .args([
            "--port",
            "0",
            "--orders",
            "7",
            "--store-id",
            "777",
            "--no-rate-limit",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || lines.next_line().await.unwrap().expect("a line");
    let url = next().await;
    assert_eq!(next().await, "ORDERDESK_STORE_ID=777");
    assert_eq!(next().await, "ORDERDESK_API_KEY=fake-api-key-0123456789");
    let base = url
        .strip_prefix("ORDERDESK_API_URL=http://")
        .expect("URL line");
    let (addr, path) = base.split_once('/').unwrap();
    assert_eq!(path, "api/v2");
    let client = Client {
        addr: addr.parse().unwrap(),
        store_id: "777".into(),
        api_key: "fake-api-key-0123456789".into(),
    };
    assert_eq!(client.get("/orders").await.json()["total_records"], 7);
    child.kill().await.unwrap();
}
