//! Faults that hit writes after they were applied, and orders edited behind the client's back.

mod support;

use serde_json::json;
use support::{Client, build, fake_without_limit, new_order};

#[tokio::test]
async fn fail_after_apply_creates_the_order_but_answers_an_error() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults().fail_after_apply_next(2, 504);
    // Reads neither suffer nor consume the fault.
    assert_eq!(client.get("/orders/100001").await.status, 200);

    let reply = client.send_json("POST", "/orders", &new_order("R-1")).await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.json()["status"], "error");
    assert!(reply.json()["message"].is_string());
    assert!(reply.header_u64("X-Tokens-Remaining").is_some());
    assert_eq!(fake.order(100_004).unwrap()["source_id"], "R-1");

    // A client that blindly retries creates a duplicate, as with the real OrderDesk.
    let retry = client.send_json("POST", "/orders", &new_order("R-1")).await;
    assert_eq!(retry.status, 504);
    assert_eq!(fake.orders_with_source_id("10001", "R-1"), 2);

    let third = client.send_json("POST", "/orders", &new_order("R-1")).await;
    assert_eq!(third.status, 201);
    assert_eq!(fake.orders_with_source_id("10001", "R-1"), 3);
    let stats = fake.stats();
    assert_eq!((stats.status_5xx, stats.count("POST /orders")), (2, 3));
}

#[tokio::test]
async fn fail_after_apply_covers_put_and_delete() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults().fail_after_apply_next(2, 1);
    let reply = client
        .send_json("PUT", "/orders/100002", &json!({"email": "x@y.z"}))
        .await;
    assert_eq!(reply.status, 500, "an invalid status is sent as 500");
    assert_eq!(fake.order(100_002).unwrap()["email"], "x@y.z");
    assert_eq!(client.delete("/orders/100003").await.status, 500);
    assert!(fake.order(100_003).is_none());
    assert_eq!(client.delete("/orders/100001").await.status, 200);
}

#[tokio::test]
async fn drop_after_apply_closes_the_connection_after_the_write() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults().drop_after_apply_next(1);
    let auth = [
        ("ORDERDESK-STORE-ID", "10001"),
        ("ORDERDESK-API-KEY", "fake-api-key-0123456789"),
        ("Content-Type", "application/json"),
    ];
    let body = json!({"tracking_number": "1Z-DROP"}).to_string();
    let request = build("POST", "/orders/100001/shipments", &auth, Some(&body));
    match client.exchange(&request).await {
        Ok(bytes) => assert!(bytes.is_empty(), "{:?}", String::from_utf8_lossy(&bytes)),
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}"),
    }
    assert_eq!(fake.shipments(100_001)[0]["tracking_number"], "1Z-DROP");
    let again = client
        .send_json(
            "POST",
            "/orders/100001/shipments",
            &json!({"tracking_number": "1Z-2"}),
        )
        .await;
    assert_eq!(again.status, 201);
    let stats = fake.stats();
    assert_eq!((stats.dropped, stats.total), (1, 2));
}

#[tokio::test]
async fn write_faults_come_after_the_others() {
    let (fake, client) = fake_without_limit(3).await;
    fake.faults().fail_next_5xx(1, 503);
    fake.faults().drop_after_apply_next(1);
    fake.faults().fail_after_apply_next(1, 502);
    // The plain 5xx is first and applies nothing.
    let first = client.send_json("POST", "/orders", &new_order("F-1")).await;
    assert_eq!(first.status, 503);
    assert_eq!(fake.orders_with_source_id("10001", "F-1"), 0);
    // Then the drop after applying, then the failure after applying.
    let auth = [
        ("ORDERDESK-STORE-ID", "10001"),
        ("ORDERDESK-API-KEY", "fake-api-key-0123456789"),
    ];
    let dropped = client
        .exchange(&build("DELETE", "/orders/100001", &auth, None))
        .await
        .unwrap_or_default();
    assert!(dropped.is_empty());
    assert!(fake.order(100_001).is_none());
    assert_eq!(client.delete("/orders/100002").await.status, 502);
    assert!(fake.order(100_002).is_none());
    assert_eq!(client.delete("/orders/100003").await.status, 200);

    fake.faults().fail_after_apply_next(3, 500);
    fake.faults().clear();
    assert_eq!(
        client
            .send_json("POST", "/orders", &new_order("F-2"))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn concurrent_edits_make_the_clients_copy_stale() {
    let (fake, client) = fake_without_limit(3).await;
    fake.add_store("20002", "k2", 3, 1);
    let other = Client::for_store(&fake, "20002", "k2");
    fake.faults().concurrent_edits(2);

    let first = client.get("/orders/100001").await.json()["order"].clone();
    assert_eq!(
        fake.order(100_001).unwrap(),
        first,
        "the 1st read edits nothing"
    );
    // A missing order is not a served read and does not count.
    assert_eq!(client.get("/orders/999").await.status, 404);
    let second = client.get("/orders/100002").await.json()["order"].clone();
    assert!(second["order_metadata"].get("external_edits").is_none());
    let stored = fake.order(100_002).unwrap();
    assert_eq!(stored["order_metadata"]["external_edits"], 1);
    assert_ne!(stored["date_updated"], second["date_updated"]);
    let updated = stored["date_updated"].as_str().unwrap();
    assert_eq!(updated.len(), 19, "{updated}");
    assert_eq!(fake.stats().external_edits, 1);

    // Counting spans stores; the next read sees the edit, the 4th edits again.
    other.get("/orders/100001").await;
    let seen = client.get("/orders/100002").await.json()["order"].clone();
    assert_eq!(seen["order_metadata"]["external_edits"], 1);
    assert_eq!(
        fake.order(100_002).unwrap()["order_metadata"]["external_edits"],
        2
    );
    assert!(
        fake.order_in("20002", 100_001).unwrap()["order_metadata"]
            .get("external_edits")
            .is_none()
    );
    assert_eq!(fake.stats().external_edits, 2);

    // Lists are not single-order reads.
    client.get("/orders").await;
    client.get("/orders").await;
    assert_eq!(fake.stats().external_edits, 2);

    fake.faults().concurrent_edits(0);
    for _ in 0..4 {
        client.get("/orders/100003").await;
    }
    assert_eq!(fake.stats().external_edits, 2);
    fake.faults().concurrent_edits(1);
    other.get("/orders/100003").await;
    assert_eq!(
        fake.order_in("20002", 100_003).unwrap()["order_metadata"]["external_edits"],
        1
    );
    assert_eq!(fake.stats().external_edits, 3);
}
