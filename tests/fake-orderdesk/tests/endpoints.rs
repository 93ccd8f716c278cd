//! Order items, shipments by id, batch shipments, order validation, duplicates and folders.

mod support;

use serde_json::{Value, json};
use support::fake_without_limit;

fn valid_order() -> Value {
    json!({
        "source_id": "WEB-7",
        "shipping": {"first_name": "Grace", "last_name": "Hopper"},
        "order_items": [
            {"id": "42", "name": "Mug", "code": "M-1", "price": 10, "quantity": 1},
            {"name": "Lamp", "code": "L-1", "price": 20, "quantity": 2},
        ],
    })
}

#[tokio::test]
async fn order_items_crud() {
    let (fake, client) = fake_without_limit(3).await;
    let listed = client.get("/orders/100001/order-items").await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    assert_eq!(listed["status"], "success");
    assert_eq!(
        listed["order_items"],
        fake.order(100_001).unwrap()["order_items"]
    );
    let seeded_id = listed["order_items"][0]["id"].as_str().unwrap().to_string();
    let one = client
        .get(&format!("/orders/100001/order-items/{seeded_id}"))
        .await
        .json();
    assert_eq!(one["order_item"]["id"], seeded_id.as_str());

    let before = fake.order(100_001).unwrap();
    let count = before["order_items"].as_array().unwrap().len();
    let single = json!({"name": "Candle", "code": "C-1", "price": 5, "quantity": 1});
    let added = client
        .send_json("POST", "/orders/100001/order-items", &single)
        .await;
    assert_eq!(added.status, 201);
    let order = added.json()["order"].clone();
    let items = order["order_items"].as_array().unwrap();
    assert_eq!(items.len(), count + 1);
    let new_id = items[count]["id"].as_str().unwrap().to_string();
    assert_eq!(items[count]["name"], "Candle");
    assert_ne!(order["date_updated"], before["date_updated"]);
    assert_eq!(fake.order(100_001).unwrap(), order);

    let two = json!([{"name": "A", "quantity": 1}, {"name": "B", "quantity": 3}]);
    let added = client
        .send_json("POST", "/orders/100001/order-items", &two)
        .await
        .json();
    let items = added["order"]["order_items"].as_array().unwrap().clone();
    assert_eq!(items.len(), count + 3);
    let mut ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count + 3, "item ids are unique");

    let path = format!("/orders/100001/order-items/{new_id}");
    let replaced = client
        .send_json("PUT", &path, &json!({"name": "Big Candle", "quantity": 4}))
        .await;
    assert_eq!(replaced.status, 200);
    let item = &replaced.json()["order"]["order_items"][count];
    assert_eq!(
        *item,
        json!({"id": new_id, "name": "Big Candle", "quantity": 4})
    );

    let deleted = client.delete(&path).await;
    assert_eq!(deleted.status, 200);
    let left = deleted.json()["order"]["order_items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(left, count + 2);
    assert_eq!(client.get(&path).await.status, 404);

    let item = json!({"name": "X"});
    for (method, path) in [
        ("GET", "/orders/999/order-items"),
        ("POST", "/orders/999/order-items"),
        ("PUT", "/orders/999/order-items/1"),
        ("PUT", "/orders/100001/order-items/1"),
        ("DELETE", "/orders/100001/order-items/1"),
        ("GET", "/orders/100001/order-items/abc"),
    ] {
        let reply = if method == "GET" || method == "DELETE" {
            client.request(method, path, &[], None).await
        } else {
            client.send_json(method, path, &item).await
        };
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(reply.json()["status"], "error");
    }
    let message = client.delete("/orders/100001/order-items/1").await.json();
    assert_eq!(message["message"], "Order item not found");
    assert_eq!(
        client
            .send_json("POST", "/orders/100001/order-items", &json!([]))
            .await
            .status,
        400
    );
    let stats = fake.stats();
    assert_eq!(stats.count("PUT /orders/{id}/order-items/{id}"), 3);
}

#[tokio::test]
async fn created_orders_get_item_ids() {
    let (fake, client) = fake_without_limit(1).await;
    let created = client.send_json("POST", "/orders", &valid_order()).await;
    assert_eq!(created.status, 201);
    let order = created.json()["order"].clone();
    let ids: Vec<&str> = order["order_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&"42"), "OrderDesk assigns item ids");
    let id = order["id"].as_str().unwrap();
    let path = format!("/orders/{id}/order-items/{}", ids[1]);
    assert_eq!(client.get(&path).await.json()["order_item"]["name"], "Lamp");
    assert_eq!(fake.order(100_002).unwrap(), order);
}

#[tokio::test]
async fn shipments_by_id() {
    let (fake, client) = fake_without_limit(3).await;
    let shipment = json!({
        "tracking_number": "1Z999",
        "carrier_code": "UPS",
        "shipment_method": "Ground",
        "weight": 2.5,
    });
    let added = client
        .send_json("POST", "/orders/100002/shipments", &shipment)
        .await;
    assert_eq!(added.status, 201);
    let added = added.json();
    assert_eq!(added["status"], "success");
    let made = &added["shipment"];
    assert_eq!(
        (
            &made["carrier_code"],
            &made["shipment_method"],
            &made["weight"]
        ),
        (&json!("UPS"), &json!("Ground"), &json!(2.5))
    );
    let id = made["id"].as_str().unwrap().to_string();
    let path = format!("/orders/100002/shipments/{id}");
    assert_eq!(client.get(&path).await.json()["shipment"], *made);
    assert_eq!(
        client.get("/orders/100002/shipments").await.json()["shipments"],
        json!([made])
    );

    let before = fake.order(100_002).unwrap()["date_updated"].clone();
    let changed = client
        .send_json(
            "PUT",
            &path,
            &json!({"tracking_number": "1Z000", "id": "7", "order_id": "1"}),
        )
        .await;
    assert_eq!(changed.status, 200);
    let changed = changed.json()["shipment"].clone();
    assert_eq!(changed["tracking_number"], "1Z000");
    assert_eq!(changed["carrier_code"], "UPS");
    assert_eq!(
        (changed["id"].as_str(), changed["order_id"].as_str()),
        (Some(id.as_str()), Some("100002"))
    );
    assert_eq!(fake.shipments(100_002), vec![changed]);
    let after = fake.order(100_002).unwrap()["date_updated"].clone();
    assert!(
        after.as_str().unwrap() >= before.as_str().unwrap(),
        "{after} < {before}"
    );

    assert_eq!(client.get("/orders/100001/shipments/1").await.status, 404);
    assert_eq!(
        client
            .get(&format!("/orders/100001/shipments/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        client
            .get(&format!("/orders/999/shipments/{id}"))
            .await
            .json()["message"],
        "Order not found"
    );
    let deleted = client.delete(&path).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json()["status"], "success");
    assert!(fake.shipments(100_002).is_empty());
    assert_eq!(client.get(&path).await.status, 404);
    assert_eq!(
        client.delete(&path).await.json()["message"],
        "Shipment not found"
    );
    let untracked = client
        .send_json(
            "POST",
            "/orders/100002/shipments",
            &json!({"carrier_code": "UPS"}),
        )
        .await;
    assert_eq!(untracked.status, 400);
}

#[tokio::test]
async fn batch_shipments_report_per_item_errors() {
    let (fake, client) = fake_without_limit(3).await;
    let batch = json!([
        {"order_id": "100001", "tracking_number": "T-1", "carrier_code": "USPS"},
        {"order_id": 999, "tracking_number": "T-2"},
        {"order_id": 100_003, "tracking_number": "T-3"},
        {"order_id": 100_002},
    ]);
    let reply = client.send_json("POST", "/batch-shipments", &batch).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["status"], "success");
    let shipments = body["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 2);
    assert_eq!(shipments[0]["order_id"], "100001");
    assert_eq!(shipments[1]["order_id"], "100003");
    assert_ne!(shipments[0]["id"], shipments[1]["id"]);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (&errors[0]["index"], &errors[0]["order_id"]),
        (&json!(1), &json!(999))
    );
    assert_eq!(errors[0]["message"], "Order not found");
    assert_eq!(errors[1]["index"], 3);
    assert_eq!(fake.shipments(100_001)[0]["carrier_code"], "USPS");
    assert!(fake.shipments(100_002).is_empty());

    let wrapped = json!({"shipments": [{"order_id": 100_002, "tracking_number": "T-4"}]});
    let body = client
        .send_json("POST", "/batch-shipments", &wrapped)
        .await
        .json();
    assert_eq!(body["shipments"][0]["tracking_number"], "T-4");
    assert!(body.get("errors").is_none());
    assert_eq!(
        client
            .send_json("POST", "/batch-shipments", &json!([]))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn new_orders_are_validated() {
    let (fake, client) = fake_without_limit(2).await;
    let mut no_items = valid_order();
    no_items["order_items"] = json!([]);
    let mut no_name = valid_order();
    no_name["shipping"] = json!({"first_name": " ", "address1": "1 Main St"});
    let mut missing_items = valid_order();
    missing_items.as_object_mut().unwrap().remove("order_items");
    for bad in [no_items, no_name, missing_items, json!({})] {
        let reply = client.send_json("POST", "/orders", &bad).await;
        assert_eq!(reply.status, 400, "{bad}");
        let body = reply.json();
        assert_eq!(body["status"], "error");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(fake.orders_in("10001").len(), 2);

    let mut company_only = valid_order();
    company_only["shipping"] = json!({});
    company_only["customer"] = json!({"company": "Acme"});
    assert_eq!(
        client
            .send_json("POST", "/orders", &company_only)
            .await
            .status,
        201
    );
    let mut last_only = valid_order();
    last_only["shipping"] = json!({"last_name": "Hopper"});
    assert_eq!(
        client.send_json("POST", "/orders", &last_only).await.status,
        201
    );
}

#[tokio::test]
async fn duplicate_source_ids_create_duplicates() {
    let (fake, client) = fake_without_limit(2).await;
    assert_eq!(fake.orders_with_source_id("10001", "SRC-100001"), 1);
    assert_eq!(fake.orders_with_source_id("10001", "WEB-7"), 0);
    for expected in ["100003", "100004"] {
        let reply = client.send_json("POST", "/orders", &valid_order()).await;
        assert_eq!(reply.status, 201);
        assert_eq!(reply.json()["order"]["id"], expected);
    }
    assert_eq!(fake.orders_with_source_id("10001", "WEB-7"), 2);
    assert_eq!(fake.orders_with_source_id("nope", "WEB-7"), 0);
    let found = client
        .get("/orders?source_id=WEB-7&order_by=id&order=asc")
        .await
        .json();
    assert_eq!(support::ids(&found, "orders"), vec![100_003, 100_004]);
    let one = client.get("/orders?source_id=SRC-100002").await.json();
    assert_eq!(support::ids(&one, "orders"), vec![100_002]);
}

#[tokio::test]
async fn put_never_moves_an_order() {
    let (fake, client) = fake_without_limit(3).await;
    // Seeded order 100002 is in folder 2.
    assert_eq!(fake.order(100_002).unwrap()["folder_id"], 2);
    for folder in [json!(3), json!("4"), json!(99), json!("Shipped")] {
        let body = json!({"email": "a@b.c", "folder_id": folder, "order_items": []});
        let reply = client.send_json("PUT", "/orders/100002", &body).await;
        assert_eq!(reply.status, 200, "{folder}");
        assert_eq!(reply.json()["order"]["folder_id"], 2);
    }
    assert_eq!(fake.order(100_002).unwrap()["folder_id"], 2);
    let moved = json!({"destination_folder_id": 3, "orders": [100_002]});
    client.send_json("POST", "/move-orders", &moved).await;
    let kept = client
        .send_json("PUT", "/orders/100002", &json!({"email": "a@b.c"}))
        .await;
    assert_eq!(kept.json()["order"]["folder_id"], 3);
    assert_eq!(
        kept.json()["order"]["date_added"],
        fake.order(100_002).unwrap()["date_added"]
    );
}
