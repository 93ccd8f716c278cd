//! OrderDesk webhooks through the real `serve`: `POST /webhooks/orderdesk` as the "Post
//! Order JSON" rule action sends it (built and signed by the fake), into the order mirror
//! and the read cache; refusals by status (401, 400, 413); redeliveries; what the event log
//! keeps (never the signature or key); and one store id registered by two tenants.

use crate::support;

use std::collections::BTreeMap;

use fake_orderdesk::webhook::{Delivery, form_body, signature};
use rmcp::model::ProtocolVersion;
use serde_json::{Value, json};
use support::http::{self, HttpServer, ok};
use support::sync::{SECRET, SECRET_ENV, deliver, id_of, mirror};
use support::{FakeOrderDesk, Launch, create_tenant, fake_unlimited};

/// `serve` for the single store of `fake`: no scheduler, order reads cached for an hour
/// (a fresh read after a webhook is the webhook's doing, not the TTL's), and `extra`.
async fn serve(fake: &FakeOrderDesk, extra: &[&str]) -> HttpServer {
    let mut launch = Launch::against(fake)
        .arg("--sync-tick-secs")
        .arg("0")
        .arg("--cache-ttl-orders")
        .arg("3600");
    for arg in extra {
        launch = launch.arg(*arg);
    }
    http::serve_with_env(&launch, &[(SECRET_ENV, SECRET)]).await
}

/// Opts the store into webhooks (polling off, so nothing but the deliveries writes).
async fn opt_in<S: rmcp::Service<rmcp::RoleClient>>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, S>,
    store: Option<&str>,
) -> Value {
    let mut args = json!({ "enabled": false, "webhooks": true });
    if let Some(store) = store {
        args["store"] = store.into();
    }
    let configured = ok(client, "sync_configure", args).await;
    assert_eq!(configured["config"]["webhooks"], true, "{configured}");
    if store.is_some() {
        // A tenant's store: its key is kept sealed for deliveries that come with no caller.
        assert_eq!(configured["unattended_key"], true, "{configured}");
    }
    configured
}

/// `webhooks_list` of the store: its raw result text (to search for secrets) and events.
async fn events<S: rmcp::Service<rmcp::RoleClient>>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, S>,
    store: Option<&str>,
) -> (String, Vec<Value>) {
    let mut args = json!({ "limit": 100 });
    if let Some(store) = store {
        args["store"] = store.into();
    }
    let result = http::call(client, "webhooks_list", args).await;
    assert_ne!(result.is_error, Some(true), "webhooks_list: {result:?}");
    let text = result.content[0].as_text().expect("text").text.clone();
    let structured = result.structured_content.expect("structured content");
    (text, structured["events"].as_array().unwrap().clone())
}

#[tokio::test]
async fn a_signed_delivery_reaches_the_mirror_and_freshens_a_cached_read() {
    let fake = fake_unlimited().await;
    let store = fake.store_id().to_string();
    let server = serve(&fake, &[]).await;
    let client = server.stateless_client(None).await;
    let id = fake.order_ids()[0];

    // A store never opted in refuses its deliveries, however well signed.
    let never = fake.webhook(&store, id).unwrap();
    let (status, body) = deliver(&server, &never).await;
    assert_eq!(status, 401, "not opted in: {body}");

    // A store opted out of webhooks refuses its deliveries, signed or not.
    let opted_out = ok(
        &client,
        "sync_configure",
        json!({ "enabled": false, "webhooks": false }),
    )
    .await;
    assert_eq!(opted_out["config"]["webhooks"], false, "{opted_out}");
    let early = fake.webhook(&store, id).unwrap();
    let (status, body) = deliver(&server, &early).await;
    assert_eq!(status, 401, "{body}");
    opt_in(&client, None).await;

    let first = ok(&client, "orders_get", json!({ "order_id": id })).await;
    let cached = ok(&client, "orders_get", json!({ "order_id": id })).await;
    assert_eq!(cached["cache"], "hit", "{cached}");
    assert_eq!(
        first["order"]["order_metadata"]["external_edits"],
        Value::Null
    );

    // Someone edits the order in OrderDesk; its rule posts the order to us.
    assert!(fake.edit_order_in(&store, id));
    let stale = ok(&client, "orders_get", json!({ "order_id": id })).await;
    assert_eq!(
        stale["cache"], "hit",
        "no webhook yet: the cached copy is served"
    );
    let delivery = fake.webhook(&store, id).unwrap();
    let (status, body) = deliver(&server, &delivery).await;
    assert_eq!(status, 200, "{body}\n{}", server.stderr());
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["outcome"], "accepted", "{body}");
    assert_eq!(id_of(&body["order_id"]), id);

    // At once, with the cache TTL (an hour) far from over: the read is the new order.
    let fresh = ok(&client, "orders_get", json!({ "order_id": id })).await;
    assert_eq!(
        fresh["order"]["order_metadata"]["external_edits"], 1,
        "{fresh}"
    );
    assert_eq!(fresh["order"], fake.order(id).unwrap());

    let mirrored = mirror(&client, None).await;
    assert_eq!(mirrored.keys().copied().collect::<Vec<_>>(), vec![id]);
    let entry = &mirrored[&id];
    assert_eq!(entry.via, "webhook");
    assert_eq!(entry.status, "active");
    assert_eq!(entry.order, fake.order(id).unwrap());
    let by_text = ok(
        &client,
        "mirror_orders_query",
        json!({ "text": id.to_string() }),
    )
    .await;
    assert_eq!(by_text["total_count"], 1, "{by_text}");

    let (_, listed) = events(&client, None).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(id_of(&listed[0]["order_id"]), id);
    assert_eq!(listed[0]["change"], "created", "{listed:?}");
    assert_eq!(listed[0]["deliveries"], 1);

    // A cancellation delivered later keeps the order, now cancelled.
    assert!(fake.cancel_order(&store, id));
    let (status, body) = deliver(&server, &fake.webhook(&store, id).unwrap()).await;
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("accepted")),
        "{body}"
    );
    let mirrored = mirror(&client, None).await;
    assert_eq!(mirrored[&id].status, "cancelled");
    assert_eq!(mirrored[&id].row.folder_id, 4);
    let (_, listed) = events(&client, None).await;
    assert_eq!(listed[0]["change"], "cancelled", "newest first: {listed:?}");
}

#[tokio::test]
async fn wrong_signatures_stores_bodies_and_sizes_are_refused() {
    let fake = fake_unlimited().await;
    let store = fake.store_id().to_string();
    let server = serve(&fake, &["--webhook-max-body-bytes", "4096"]).await;
    let client = server.stateless_client(None).await;
    opt_in(&client, None).await;
    let id = fake.order_ids()[1];
    let good = fake.webhook(&store, id).unwrap();
    let json = good.order_json().unwrap();

    let unauthorized = [
        (
            "a forged signature",
            good.clone().with_signature(Some(&"0".repeat(64))),
        ),
        ("no signature", good.clone().with_signature(None)),
        (
            "signed with another key",
            Delivery::signed(&store, "not-the-key", &json),
        ),
        (
            "an unknown store",
            Delivery::signed("77777", fake.api_key(), &json),
        ),
        (
            "a signature of other bytes",
            good.clone()
                .with_signature(Some(&signature(&format!("{json} "), fake.api_key()))),
        ),
    ];
    for (what, delivery) in &unauthorized {
        let (status, body) = deliver(&server, delivery).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["status"], "error", "{what}: {body}");
    }
    let (_, listed) = events(&client, None).await;
    assert!(
        listed.is_empty(),
        "refused deliveries were kept: {listed:?}"
    );
    assert!(mirror(&client, None).await.is_empty());

    let signed = |order: &str| Delivery::signed(&store, fake.api_key(), order);
    let invalid = [
        ("no order field", good.clone().with_body("orders=%7B%7D")),
        ("an empty body", good.clone().with_body("")),
        ("a broken escape", good.clone().with_body("order=%7B%ZZ")),
        ("no store header", good.clone().with_store_id(None)),
        (
            "a JSON body",
            good.clone()
                .with_content_type("application/json")
                .with_body(json.clone()),
        ),
        ("an order that is not JSON", signed("not json")),
        ("JSON that is not an order", signed("[1,2,3]")),
        (
            "an order without an id",
            signed(r#"{"email":"x@example.com"}"#),
        ),
    ];
    for (what, delivery) in &invalid {
        let (status, body) = deliver(&server, delivery).await;
        assert_eq!(status, 400, "{what}: {body}");
    }

    // Over the cap (4 KiB here): 413, whether the order is signed or not.
    let mut big: Value = serde_json::from_str(&json).unwrap();
    big["order_notes"] = json!(["x".repeat(8_000)]);
    let big = serde_json::to_string(&big).unwrap();
    assert!(form_body(&big).len() > 4096);
    let (status, body) = deliver(&server, &signed(&big)).await;
    assert_eq!(status, 413, "{body}");

    // None of it reached the mirror; the good delivery still goes through.
    assert!(mirror(&client, None).await.is_empty());
    let (status, body) = deliver(&server, &good).await;
    assert_eq!(status, 200, "{body}");
    let metrics = server.metrics().await;
    let count = |outcome: &str| -> u64 {
        let prefix = format!("orderdesk_webhooks_total{{outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    assert_eq!(
        count("unauthorized"),
        unauthorized.len() as u64,
        "{metrics}"
    );
    assert_eq!(count("invalid"), invalid.len() as u64 + 1, "{metrics}");
    assert_eq!(count("accepted"), 1, "{metrics}");
}

#[tokio::test]
async fn a_redelivery_is_acknowledged_and_recorded_once() {
    let fake = fake_unlimited().await;
    let store = fake.store_id().to_string();
    let server = serve(&fake, &[]).await;
    let client = server.stateless_client(None).await;
    opt_in(&client, None).await;
    let id = fake.order_ids()[2];
    let delivery = fake.webhook(&store, id).unwrap();

    let (status, first) = deliver(&server, &delivery).await;
    assert_eq!(
        (status, &first["outcome"]),
        (200, &json!("accepted")),
        "{first}"
    );
    let (status, again) = deliver(&server, &delivery).await;
    assert_eq!(
        (status, &again["outcome"]),
        (200, &json!("duplicate")),
        "{again}"
    );

    let (text, listed) = events(&client, None).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let event = &listed[0];
    assert_eq!(id_of(&event["order_id"]), id);
    assert_eq!(event["deliveries"], 2, "{event}");
    let hash = event["body_sha256"].as_str().unwrap();
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{event}"
    );
    assert!(event["request_id"].as_str().is_some_and(|r| !r.is_empty()));

    // A changed order is a new event, not a duplicate.
    fake.edit_order_in(&store, id);
    let changed = fake.webhook(&store, id).unwrap();
    let (status, body) = deliver(&server, &changed).await;
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("accepted")),
        "{body}"
    );
    let (more_text, listed) = events(&client, None).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["change"], "updated", "newest first: {listed:?}");
    assert_eq!(listed[0]["deliveries"], 1);
    assert_eq!(
        mirror(&client, None).await[&id].order,
        fake.order(id).unwrap()
    );

    // Neither the event log, the mirror nor the server's log holds a signature or the key.
    let mirror_text = http::call(&client, "mirror_orders_query", json!({}))
        .await
        .content[0]
        .as_text()
        .unwrap()
        .text
        .clone();
    let logs = server.stderr();
    let secrets = [
        delivery.signature.clone().unwrap(),
        changed.signature.clone().unwrap(),
        fake.api_key().to_string(),
        SECRET.to_string(),
    ];
    for secret in &secrets {
        for (what, text) in [
            ("webhooks_list", &text),
            ("webhooks_list", &more_text),
            ("mirror_orders_query", &mirror_text),
            ("the server log", &logs),
        ] {
            assert!(!text.contains(secret.as_str()), "{what} holds {secret}");
        }
    }
    assert!(
        logs.contains("webhook"),
        "one log line per delivery:\n{logs}"
    );
    assert!(
        !logs.contains(
            &fake.order(id).unwrap()["email"]
                .as_str()
                .unwrap()
                .to_string()
        ),
        "a delivery's body reached the log"
    );
}

#[tokio::test]
async fn a_store_of_two_tenants_takes_each_delivery_into_the_signers_mirror_only() {
    let fake = fake_unlimited().await;
    const STORE: &str = "50001";
    const KEY_A: &str = "key-tenant-a-3f9d1c";
    const KEY_B: &str = "key-tenant-b-7e2a4b";
    fake.add_store(STORE, KEY_A, 10, 3);
    // The store's key was rotated: tenant A still holds the old one, B the new one.
    fake.add_api_key(STORE, KEY_B);
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let (_, bearer_a) = create_tenant(&state, "Agency A");
    let (_, bearer_b) = create_tenant(&state, "Agency B");
    let launch = Launch::for_tenants(&fake, &state)
        .arg("--sync-tick-secs")
        .arg("0");
    let server = http::serve_with_env(&launch, &[(SECRET_ENV, SECRET)]).await;
    let a = server
        .session_client(Some(&bearer_a), ProtocolVersion::V_2025_11_25)
        .await;
    let b = server.stateless_client(Some(&bearer_b)).await;
    let register = |key: &str| json!({ "store_id": STORE, "api_key": key, "name": "Shared" });
    ok(&a, "stores_register", register(KEY_A)).await;
    ok(&b, "stores_register", register(KEY_B)).await;
    opt_in(&a, Some(STORE)).await;
    opt_in(&b, Some(STORE)).await;

    let order = |id: u64| serde_json::to_string(&fake.order_in(STORE, id).unwrap()).unwrap();
    let (status, body) = deliver(&server, &Delivery::signed(STORE, KEY_A, &order(100_003))).await;
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("accepted")),
        "{body}"
    );
    let (status, body) = deliver(&server, &Delivery::signed(STORE, KEY_B, &order(100_005))).await;
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("accepted")),
        "{body}"
    );
    let (status, body) = deliver(
        &server,
        &Delivery::signed(STORE, "key-of-no-one", &order(100_006)),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let ids = |m: BTreeMap<u64, support::sync::Mirrored>| m.keys().copied().collect::<Vec<_>>();
    assert_eq!(ids(mirror(&a, Some(STORE)).await), vec![100_003]);
    assert_eq!(ids(mirror(&b, Some(STORE)).await), vec![100_005]);
    let (_, of_a) = events(&a, Some(STORE)).await;
    let (_, of_b) = events(&b, Some(STORE)).await;
    assert_eq!(of_a.len(), 1, "{of_a:?}");
    assert_eq!(id_of(&of_a[0]["order_id"]), 100_003);
    assert_eq!(of_b.len(), 1, "{of_b:?}");
    assert_eq!(id_of(&of_b[0]["order_id"]), 100_005);
}
