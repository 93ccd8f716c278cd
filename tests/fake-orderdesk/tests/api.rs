//! The fake's API behaviour over real HTTP: auth, OrderDesk's GET rules, envelopes, orders
//! search and the write endpoints.

mod support;

use serde_json::{Value, json};
use support::{fake_without_limit, ids};

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn test_and_store_endpoints() {
    let (_fake, client) = fake_without_limit(5).await;
    let reply = client.get("/test").await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["status"], "success");
    assert_eq!(body["message"], "Connection Successful");
    assert!(
        is_timestamp(body["current_date_time"].as_str().unwrap()),
        "{body}"
    );

    let store = client.get("/store").await.json();
    assert_eq!(store["store"]["id"], 10001);
    assert_eq!(
        store["store"]["folders"],
        json!({"1": "New", "2": "Prepared", "3": "Shipped", "4": "Cancelled"})
    );
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401() {
    let (fake, client) = fake_without_limit(5).await;
    let missing = client.raw_request("GET", "/orders", &[], None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json(),
        json!({"status": "error", "message": "Invalid Store ID or API Key"})
    );
    assert!(missing.header_u64("X-Tokens-Remaining").is_some());
    let wrong_key = [
        ("ORDERDESK-STORE-ID", "10001"),
        ("ORDERDESK-API-KEY", "nope"),
    ];
    assert_eq!(
        client
            .raw_request("GET", "/orders", &wrong_key, None)
            .await
            .status,
        401
    );
    assert_eq!(fake.stats().status_401, 2);
}

#[tokio::test]
async fn get_and_delete_with_content_type_or_body_are_refused() {
    let (_fake, client) = fake_without_limit(5).await;
    let with_type = client
        .request(
            "GET",
            "/orders",
            &[("Content-Type", "application/json")],
            None,
        )
        .await;
    assert_eq!(with_type.status, 400);
    assert_eq!(with_type.json()["status"], "error");
    assert!(with_type.header_u64("X-Tokens-Remaining").is_some());
    assert_eq!(
        client.request("GET", "/test", &[], Some("{}")).await.status,
        400
    );
    let delete = client
        .request(
            "DELETE",
            "/orders/100001",
            &[("Content-Type", "application/json")],
            None,
        )
        .await;
    assert_eq!(delete.status, 400);
    // A POST with a JSON body is fine, and nothing was deleted above.
    assert_eq!(client.get("/orders/100001").await.status, 200);
}

#[tokio::test]
async fn orders_list_pages_newest_first_with_totals() {
    let (fake, client) = fake_without_limit(200).await;
    let first = client.get("/orders?limit=10").await.json();
    assert_eq!(first["status"], "success");
    assert!(
        first["execution_time"]
            .as_str()
            .unwrap()
            .ends_with(" seconds")
    );
    assert_eq!(first["total_records"], 200);
    assert_eq!(first["records_returned"], 10);
    assert_eq!(
        (first["offset"].clone(), first["limit"].clone()),
        (json!(0), json!(10))
    );
    assert_eq!(
        ids(&first, "orders"),
        (100_191..=100_200).rev().collect::<Vec<_>>()
    );

    let mut seen = Vec::new();
    for offset in (0..200).step_by(50) {
        let page = client.get(&format!("/orders?offset={offset}")).await.json();
        assert_eq!(page["records_returned"], 50);
        seen.extend(ids(&page, "orders"));
    }
    seen.sort_unstable();
    assert_eq!(seen, fake.order_ids());
    let past_end = client.get("/orders?offset=195&limit=10").await.json();
    assert_eq!(
        (
            past_end["records_returned"].clone(),
            past_end["total_records"].clone()
        ),
        (json!(5), json!(200))
    );
}

#[tokio::test]
async fn orders_list_limits_and_ordering() {
    let (_fake, client) = fake_without_limit(120).await;
    let too_many = client.get("/orders?limit=501").await;
    assert_eq!(too_many.status, 400);
    assert_eq!(too_many.json()["status"], "error");
    assert_eq!(
        client.get("/orders?limit=500").await.json()["records_returned"],
        120
    );
    assert_eq!(client.get("/orders?order_by=color").await.status, 400);
    assert_eq!(client.get("/orders?order=sideways").await.status, 400);
    assert_eq!(client.get("/orders?limit=ten").await.status, 400);

    let by_total = client
        .get("/orders?order_by=order_total&order=asc&limit=500")
        .await
        .json();
    let totals: Vec<f64> = by_total["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_total"].as_f64().unwrap())
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");

    let by_id = client
        .get("/orders?order_by=id&order=asc&limit=3")
        .await
        .json();
    assert_eq!(ids(&by_id, "orders"), vec![100_001, 100_002, 100_003]);

    // Emails repeat, so ties must fall back to the id for stable paging.
    let by_email = client
        .get("/orders?order_by=email&order=asc&limit=500")
        .await
        .json();
    let rows: Vec<(String, u64)> = by_email["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["email"].as_str().unwrap().to_string(),
                o["id"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted);
    assert!(
        rows.windows(2).any(|w| w[0].0 == w[1].0),
        "some emails should repeat"
    );
}

/// Every seeded order, to check filters against.
async fn all_orders(client: &support::Client) -> Vec<Value> {
    client.get("/orders?limit=500").await.json()["orders"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn orders_list_filters() {
    let (_fake, client) = fake_without_limit(200).await;
    let all = all_orders(&client).await;

    let folders = client.get("/orders?folder_id=1,3&limit=500").await.json();
    assert_eq!(folders["total_records"], 100);
    assert!(
        folders["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["folder_id"] == 1 || o["folder_id"] == 3)
    );
    let shipped = client.get("/orders?folder_name=Shipped").await.json();
    assert_eq!(shipped["total_records"], 50);
    assert_eq!(shipped["orders"][0]["folder_id"], 3);
    assert_eq!(client.get("/orders?folder_id=1,x").await.status, 400);

    let email = all[0]["email"].as_str().unwrap().to_string();
    let expected = all.iter().filter(|o| o["email"] == email.as_str()).count();
    let by_email = client
        .get(&format!("/orders?email={}", email.to_uppercase()))
        .await
        .json();
    assert_eq!(by_email["total_records"], expected);
    assert!(expected > 1, "seeded customers place several orders");

    let amazon = client
        .get("/orders?source_name=amazon&limit=500")
        .await
        .json();
    assert!(
        amazon["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["source_name"] == "Amazon")
    );
    let by_source = client.get("/orders?source_id=SRC-100007").await.json();
    assert_eq!(ids(&by_source, "orders"), vec![100_007]);

    let last = all[3]["customer"]["last_name"].as_str().unwrap();
    let expected = all
        .iter()
        .filter(|o| o["customer"]["last_name"] == last)
        .count();
    assert_eq!(
        client
            .get(&format!("/orders?customer_last_name={last}"))
            .await
            .json()["total_records"],
        expected
    );
    let ship_first = all[5]["shipping"]["first_name"].as_str().unwrap();
    let expected = all
        .iter()
        .filter(|o| o["shipping"]["first_name"] == ship_first)
        .count();
    assert_eq!(
        client
            .get(&format!("/orders?shipping_first_name={ship_first}"))
            .await
            .json()["total_records"],
        expected
    );

    // Whole-day bounds include the end date entirely.
    let in_days = |o: &Value| {
        let d = o["date_added"].as_str().unwrap();
        ("2026-01-05 00:00:00"..="2026-01-10 23:59:59").contains(&d)
    };
    let expected = all.iter().filter(|o| in_days(o)).count();
    let dated = client
        .get("/orders?search_start_date=2026-01-05&search_end_date=2026-01-10&limit=500")
        .await
        .json();
    assert_eq!(dated["total_records"], expected);
    assert!(expected > 20);
    assert!(dated["orders"].as_array().unwrap().iter().all(in_days));

    let modified = |o: &Value| o["date_updated"].as_str().unwrap() >= "2026-01-20 12:00:00";
    let expected = all.iter().filter(|o| modified(o)).count();
    let recent = client
        .get("/orders?modified_start_date=2026-01-20%2012:00:00&limit=500")
        .await
        .json();
    assert_eq!(recent["total_records"], expected);
    assert_eq!(
        client.get("/orders?search_start_date=soon").await.status,
        400
    );
}

#[tokio::test]
async fn single_order_and_unknown_routes() {
    let (_fake, client) = fake_without_limit(10).await;
    let order = client.get("/orders/100001").await.json();
    assert_eq!(order["status"], "success");
    let order = &order["order"];
    assert_eq!(order["id"], "100001");
    assert_eq!(order["source_id"], "SRC-100001");
    assert_eq!(order["source_name"], "Shopify");
    for key in [
        "email",
        "shipping",
        "customer",
        "order_items",
        "checkout_data",
        "order_metadata",
        "order_notes",
    ] {
        assert!(!order[key].is_null(), "missing {key}");
    }
    assert!(is_timestamp(order["date_added"].as_str().unwrap()));

    for path in ["/orders/999999", "/orders/abc"] {
        let missing = client.get(path).await;
        assert_eq!(missing.status, 404);
        assert_eq!(
            missing.json(),
            json!({"status": "error", "message": "Order not found"})
        );
    }
    let unknown = client.get("/nothing-here").await;
    assert_eq!(
        (unknown.status, unknown.json()["status"].clone()),
        (404, json!("error"))
    );
    let wrong_method = client.request("PATCH", "/orders", &[], Some("{}")).await;
    assert_eq!(
        (wrong_method.status, wrong_method.json()["status"].clone()),
        (405, json!("error"))
    );
}

#[tokio::test]
async fn put_replaces_the_order_and_bumps_date_updated() {
    let (fake, client) = fake_without_limit(10).await;
    let before = client.get("/orders/100005").await.json()["order"].clone();
    let replacement =
        json!({"id": "1", "email": "new@example.com", "order_items": [], "order_total": 12.5});
    let reply = client
        .send_json("PUT", "/orders/100005", &replacement)
        .await;
    assert_eq!(reply.status, 200);
    let after = reply.json()["order"].clone();
    assert_eq!(after["id"], "100005");
    assert_eq!(after["email"], "new@example.com");
    assert_eq!(after["order_total"], 12.5);
    assert_eq!(after["date_added"], before["date_added"]);
    assert_ne!(after["date_updated"], before["date_updated"]);
    assert!(is_timestamp(after["date_updated"].as_str().unwrap()));
    // Replaced, not merged: the old customer is gone.
    assert_eq!(after["customer"], json!({}));
    assert_eq!(client.get("/orders/100005").await.json()["order"], after);
    assert_eq!(fake.order(100_005).unwrap(), after);
    assert_eq!(
        client
            .send_json("PUT", "/orders/999", &replacement)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn post_creates_an_order() {
    let (_fake, client) = fake_without_limit(200).await;
    let new = json!({
        "email": "buyer@example.com",
        "source_id": "WEB-1",
        "customer": {"first_name": "Ada", "last_name": "Lovelace"},
        "order_items": [{"name": "Mug", "code": "SKU-5001", "price": 10.0, "quantity": 2}],
        "order_shipping": 5,
    });
    let reply = client.send_json("POST", "/orders", &new).await;
    assert_eq!(reply.status, 201);
    let body = reply.json();
    assert_eq!(
        (body["status"].clone(), body["message"].clone()),
        (json!("success"), json!("Order created"))
    );
    let order = &body["order"];
    assert_eq!(order["id"], "100201");
    assert_eq!(order["folder_id"], 1);
    assert_eq!(order["order_total"], 25.0);
    assert_eq!(order["date_added"], order["date_updated"]);
    assert_eq!(client.get("/orders/100201").await.json()["order"], *order);
    assert_eq!(
        client.get("/orders?limit=1").await.json()["total_records"],
        201
    );
    assert_eq!(
        client
            .request(
                "POST",
                "/orders",
                &[("Content-Type", "application/json")],
                Some("nope")
            )
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn history_shipments_moves_and_deletes() {
    let (fake, client) = fake_without_limit(10).await;
    let note = client
        .send_json(
            "POST",
            "/orders/100002/order-history",
            &json!({"note": "Called the customer"}),
        )
        .await;
    assert_eq!(note.json()["status"], "success");
    assert_eq!(
        fake.order_history(100_002)[0]["note"],
        "Called the customer"
    );
    let long = "x".repeat(1801);
    assert_eq!(
        client
            .send_json(
                "POST",
                "/orders/100002/order-history",
                &json!({"note": long})
            )
            .await
            .status,
        400
    );

    let shipment =
        json!({"tracking_number": "1Z999", "carrier_code": "UPS", "shipment_method": "Ground"});
    let added = client
        .send_json("POST", "/orders/100002/shipments", &shipment)
        .await;
    assert_eq!(added.status, 201);
    assert_eq!(added.json()["shipment"]["order_id"], "100002");
    let listed = client.get("/orders/100002/shipments").await.json();
    assert_eq!(listed["shipments"][0]["tracking_number"], "1Z999");

    let moved = client
        .send_json(
            "POST",
            "/move-orders",
            &json!({"destination_folder_id": 3, "orders": ["100001", 100_002]}),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.json());
    assert_eq!(fake.order(100_001).unwrap()["folder_id"], 3);
    assert_eq!(fake.order(100_002).unwrap()["folder_id"], 3);
    let bad_folder = json!({"destination_folder_id": 99, "orders": [100_001]});
    assert_eq!(
        client
            .send_json("POST", "/move-orders", &bad_folder)
            .await
            .status,
        400
    );

    assert_eq!(
        client
            .request("DELETE", "/orders/100003", &[], None)
            .await
            .status,
        200
    );
    assert_eq!(client.get("/orders/100003").await.status, 404);
    assert_eq!(client.get("/orders").await.json()["total_records"], 9);
}

#[tokio::test]
async fn inventory_items() {
    let (fake, client) = fake_without_limit(1).await;
    let page = client
        .get("/inventory-items?limit=20&offset=40")
        .await
        .json();
    assert_eq!(
        (
            page["total_records"].clone(),
            page["records_returned"].clone()
        ),
        (json!(50), json!(10))
    );
    assert_eq!(ids(&page, "inventory_items")[0], 5041);
    let by_code = client.get("/inventory-items?code=SKU-5007").await.json();
    assert_eq!(ids(&by_code, "inventory_items"), vec![5007]);
    let name = by_code["inventory_items"][0]["name"]
        .as_str()
        .unwrap()
        .replace(' ', "%20");
    assert!(
        client
            .get(&format!("/inventory-items?name={name}"))
            .await
            .json()["total_records"]
            .as_u64()
            .unwrap()
            >= 1
    );

    let item = client.get("/inventory-items/5001").await.json();
    assert_eq!(item["inventory_item"]["code"], "SKU-5001");
    assert_eq!(client.get("/inventory-items/1").await.status, 404);

    let created = client
        .send_json(
            "POST",
            "/inventory-items",
            &json!({"name": "Kettle", "code": "KET-1", "price": 30, "stock": 4}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["inventory_item"]["id"], "5051");
    let duplicate = json!({"name": "Kettle", "code": "KET-1"});
    assert_eq!(
        client
            .send_json("POST", "/inventory-items", &duplicate)
            .await
            .status,
        400
    );

    let replaced = client
        .send_json(
            "PUT",
            "/inventory-items/5051",
            &json!({"name": "Kettle XL", "code": "KET-1", "stock": 9}),
        )
        .await;
    assert_eq!(replaced.json()["inventory_item"]["stock"], 9);
    let batch = json!([{"id": "5001", "stock": 77}, {"id": 5002, "price": 1.5}]);
    let updated = client
        .send_json("PUT", "/batch-inventory-items", &batch)
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(fake.product(5001).unwrap()["stock"], 77);
    assert_eq!(fake.product(5002).unwrap()["price"], 1.5);
    assert_eq!(
        client
            .send_json(
                "PUT",
                "/batch-inventory-items",
                &json!([{"id": 1, "stock": 1}])
            )
            .await
            .status,
        404
    );

    assert_eq!(
        client
            .request("DELETE", "/inventory-items/5051", &[], None)
            .await
            .status,
        200
    );
    assert_eq!(client.get("/inventory-items/5051").await.status, 404);
}
