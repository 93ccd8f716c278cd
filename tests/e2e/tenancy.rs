//! Tenants and stores end to end: isolation between tenants, encrypted keys at rest, no
//! secret in logs, key rotation through the CLI.

use crate::support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{FakeOrderDesk, Launch, create_tenant, fake, spawn, tenant_cli, try_tenant_cli};

const STORES: [(&str, &str); 4] = [
    ("20001", "key-a1-0f9e8d"),
    ("20002", "key-a2-1c2b3a"),
    ("20003", "key-b1-4d5e6f"),
    ("20004", "key-b2-7a8b9c"),
];

#[tokio::test]
async fn tenants_see_only_their_own_stores_cache_and_audit() {
    let fake = fake().await;
    for (id, key) in STORES {
        fake.add_store(id, key, 20, 5);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let state = format!("sqlite:{}", db.display());
    let (_, key_a) = create_tenant(&state, "Agency A");
    let (_, key_b) = create_tenant(&state, "Agency B");

    // A logs at the most verbose level: secrets must stay out even there.
    let a = spawn(Launch::for_tenants(&fake, &state).arg("--log").arg("trace")).await;
    let b = spawn(Launch::for_tenants(&fake, &state)).await;
    let e = a.err("stores_list", json!({})).await;
    assert_eq!(e["code"], "AUTH_REQUIRED");
    let e = a
        .err(
            "tenant_use_master_key",
            json!({ "master_key": "odmk_0123456789abcdef_00" }),
        )
        .await;
    assert_eq!(e["code"], "AUTH_REQUIRED");
    a.ok("tenant_use_master_key", json!({ "master_key": key_a }))
        .await;
    b.ok("tenant_use_master_key", json!({ "master_key": key_b }))
        .await;

    // Bad credentials are checked against OrderDesk and never saved.
    let e = a
        .err(
            "stores_register",
            json!({ "store_id": "20001", "api_key": "wrong", "name": "Nope" }),
        )
        .await;
    assert_eq!(e["code"], "OD_API_401");
    assert!(
        a.ok("stores_list", json!({})).await["stores"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    for (i, (id, key)) in STORES.iter().enumerate() {
        let (server, name) = if i < 2 {
            (&a, format!("A store {i}"))
        } else {
            (&b, format!("B store {i}"))
        };
        server
            .ok(
                "stores_register",
                json!({ "store_id": id, "api_key": key, "name": name }),
            )
            .await;
    }
    let ids = |v: Value| -> BTreeSet<String> {
        v["stores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["store_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(a.ok("stores_list", json!({})).await),
        ["20001", "20002"].map(String::from).into()
    );
    assert_eq!(
        ids(b.ok("stores_list", json!({})).await),
        ["20003", "20004"].map(String::from).into()
    );
    assert!(
        a.ok("stores_list", json!({}))
            .await
            .to_string()
            .find("key-a1")
            .is_none(),
        "keys never listed"
    );

    // A cannot use, read through, or resolve B's stores.
    for (tool, args) in [
        ("stores_use", json!({ "store": "20003" })),
        ("stores_resolve", json!({ "store": "B store 2" })),
        (
            "orders_get",
            json!({ "order_id": "100001", "store": "20003" }),
        ),
        ("orders_list", json!({ "store": "20004" })),
    ] {
        let e = a.err(tool, args.clone()).await;
        assert_eq!(e["code"], "STORE_NOT_FOUND", "{tool} {args}");
    }

    // Default store and `store` by name both work.
    let first = a.ok("orders_get", json!({ "order_id": "100001" })).await;
    assert_eq!(first["cache"], "miss");
    assert!(
        first["order"]["source_id"]
            .as_str()
            .unwrap()
            .contains("20001"),
        "default = first registered"
    );
    a.ok("stores_use", json!({ "store": "A store 1" })).await;
    let second = a.ok("orders_get", json!({ "order_id": "100001" })).await;
    assert!(
        second["order"]["source_id"]
            .as_str()
            .unwrap()
            .contains("20002")
    );
    assert_eq!(
        a.ok(
            "orders_get",
            json!({ "order_id": "100001", "store": "20001" })
        )
        .await["cache"],
        "hit"
    );

    // B registers A's store too: same OrderDesk store, separate cache.
    b.ok(
        "stores_register",
        json!({ "store_id": "20001", "api_key": STORES[0].1, "name": "Shared" }),
    )
    .await;
    assert_eq!(
        b.ok(
            "orders_get",
            json!({ "order_id": "100001", "store": "20001" })
        )
        .await["cache"],
        "miss"
    );

    // A write by A is audited for A only.
    a.ok(
        "orders_update",
        json!({ "order_id": "100002", "store": "20001", "changes": { "email": "a@a.test" } }),
    )
    .await;
    let audit_a = a.ok("audit_list", json!({})).await;
    let audit_b = b.ok("audit_list", json!({})).await;
    let tools = |v: &Value| -> Vec<String> {
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["tool"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(tools(&audit_a).contains(&"orders_update".to_string()));
    assert!(!tools(&audit_b).contains(&"orders_update".to_string()));
    let entry = audit_a["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["tool"] == "orders_update")
        .unwrap();
    assert_eq!(entry["store"], "20001");
    assert_eq!(entry["target"], "100002");
    assert_eq!(entry["outcome"], "ok");
    assert!(
        audit_b["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["store"] != "20002")
    );

    let logs = format!("{}{}", a.stderr(), b.stderr());
    a.stop().await;
    b.stop().await;

    // No secret at rest or in the logs.
    let mut at_rest = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(db.with_extension("db-wal")) {
        at_rest.extend(wal);
    }
    let at_rest = String::from_utf8_lossy(&at_rest);
    for secret in STORES
        .iter()
        .map(|(_, k)| *k)
        .chain([key_a.as_str(), key_b.as_str()])
    {
        assert!(
            !at_rest.contains(secret),
            "a secret is stored in plain text"
        );
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    let secret_part = key_a.rsplit('_').next().unwrap();
    assert!(!at_rest.contains(secret_part));
}

#[tokio::test]
async fn rotating_a_key_retires_the_old_one_and_keeps_the_stores() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let (id, old) = create_tenant(&state, "Rotating");
    let server = spawn(Launch::for_tenants(&fake, &state)).await;
    server
        .ok("tenant_use_master_key", json!({ "master_key": old }))
        .await;
    server
        .ok(
            "stores_register",
            json!({ "store_id": fake.store_id(), "api_key": fake.api_key(), "name": "Main" }),
        )
        .await;
    server.stop().await;

    let printed = tenant_cli(
        &state,
        &["rotate-key", "--id", &id],
        &[("ORDERDESK_MASTER_KEY", &old)],
    );
    let new = printed.rsplit(' ').next().unwrap().trim().to_string();
    assert!(new.starts_with("odmk_") && new != old);

    let server = spawn(Launch::for_tenants(&fake, &state)).await;
    let e = server
        .err("tenant_use_master_key", json!({ "master_key": old }))
        .await;
    assert_eq!(e["code"], "AUTH_REQUIRED");
    server
        .ok("tenant_use_master_key", json!({ "master_key": new }))
        .await;
    let order = server
        .ok(
            "orders_get",
            json!({ "order_id": "100001", "store": "Main" }),
        )
        .await;
    assert_eq!(order["order"]["id"], "100001");
    server.stop().await;
}

/// Copy a SQLite state file with its WAL side files.
fn copy_state(from: &std::path::Path, to: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let src = std::path::PathBuf::from(format!("{}{suffix}", from.display()));
        if src.exists() {
            std::fs::copy(&src, format!("{}{suffix}", to.display())).unwrap();
        }
    }
}

/// Whether `key` signs in and reads an order through each of `stores`.
async fn key_opens(fake: &FakeOrderDesk, state: &str, key: &str, stores: &[&str]) -> bool {
    let server = spawn(Launch::for_tenants(fake, state)).await;
    let signed_in = server
        .call("tenant_use_master_key", json!({ "master_key": key }))
        .await;
    let mut ok = signed_in.is_error != Some(true);
    for store in stores {
        if !ok {
            break;
        }
        let read = server
            .call("orders_get", json!({ "order_id": 100001, "store": store }))
            .await;
        ok = read.is_error == Some(false);
    }
    server.stop().await;
    ok
}

#[tokio::test]
async fn a_rotation_failing_at_any_step_leaves_the_old_or_the_new_key_working() {
    let fake = fake().await;
    for (id, key) in &STORES[..2] {
        fake.add_store(id, key, 5, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.db");
    let state = format!("sqlite:{}", template.display());
    let (id, old) = create_tenant(&state, "Rotating");
    let server = spawn(Launch::for_tenants(&fake, &state)).await;
    server
        .ok("tenant_use_master_key", json!({ "master_key": old }))
        .await;
    for (store, key) in &STORES[..2] {
        server
            .ok(
                "stores_register",
                json!({ "store_id": store, "api_key": key, "name": store }),
            )
            .await;
    }
    server.stop().await;
    let stores = [STORES[0].0, STORES[1].0];
    let (mut kept_old, mut switched) = (0, 0);
    // Storage fails after 0, 1, 2, … writes: every step of the rotation in turn.
    for allowed in 0..16u32 {
        let db = dir.path().join(format!("try-{allowed}.db"));
        copy_state(&template, &db);
        let state = format!("sqlite:{}", db.display());
        let out = try_tenant_cli(
            &state,
            &["rotate-key", "--id", &id],
            &[
                ("ORDERDESK_MASTER_KEY", &old),
                (
                    "ORDERDESK_MCP_STATE_FAIL_AFTER_WRITES",
                    &allowed.to_string(),
                ),
            ],
        );
        let printed = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            switched += 1;
            let new = printed.rsplit(' ').next().unwrap().trim().to_string();
            assert!(
                key_opens(&fake, &state, &new, &stores).await,
                "after {allowed} writes: the new key must open every store"
            );
            assert!(
                !key_opens(&fake, &state, &old, &[]).await,
                "the old key is retired"
            );
        } else {
            kept_old += 1;
            assert!(
                key_opens(&fake, &state, &old, &stores).await,
                "after {allowed} writes the rotation failed, so the old key must still open \
                 every store: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(
        kept_old >= 3 && switched >= 3,
        "{kept_old} failed, {switched} switched"
    );
}

#[tokio::test]
async fn junk_registrations_never_touch_the_stores_upstream_bucket() {
    let fake = fake().await;
    fake.add_store(STORES[2].0, STORES[2].1, 5, 1);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let state = format!("sqlite:{}", db.display());
    let (tenant, key) = create_tenant(&state, "Mallory");
    let server = spawn(Launch::for_tenants(&fake, &state)).await;
    server
        .ok("tenant_use_master_key", json!({ "master_key": key }))
        .await;
    for _ in 0..3 {
        let e = server
            .err(
                "stores_register",
                json!({ "store_id": STORES[2].0, "api_key": "guess", "name": "victim" }),
            )
            .await;
        assert_eq!(e["code"], "OD_API_401");
    }
    server.stop().await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    let counter = |key: String| -> Option<String> {
        conn.query_row(
            "SELECT value FROM kv WHERE bucket = 'state' AND key = ?1",
            [key],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .ok()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    assert_eq!(
        counter(format!("rl/upstream/{}/n", STORES[2].0)),
        None,
        "the victim store's bucket was never drawn from"
    );
    assert_eq!(
        counter(format!("rl/verify/{tenant}/n")).as_deref(),
        Some("3")
    );
}

#[tokio::test]
async fn each_connection_keeps_its_own_default_store() {
    let fake = fake().await;
    for (id, key) in &STORES[..2] {
        fake.add_store(id, key, 5, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let (_, key) = create_tenant(&state, "Two desks");
    let first = spawn(Launch::for_tenants(&fake, &state)).await;
    let second = spawn(Launch::for_tenants(&fake, &state)).await;
    for server in [&first, &second] {
        server
            .ok("tenant_use_master_key", json!({ "master_key": key }))
            .await;
    }
    for (id, key) in &STORES[..2] {
        first
            .ok(
                "stores_register",
                json!({ "store_id": id, "api_key": key, "name": id }),
            )
            .await;
    }
    let source = |v: Value| v["order"]["source_id"].as_str().unwrap().to_string();
    first
        .ok("stores_use", json!({ "store": STORES[1].0 }))
        .await;
    let mine = first.ok("orders_get", json!({ "order_id": 100001 })).await;
    let theirs = second.ok("orders_get", json!({ "order_id": 100001 })).await;
    assert!(
        source(mine).contains(STORES[1].0),
        "the first picked store 2"
    );
    assert!(
        source(theirs).contains(STORES[0].0),
        "the second still uses the tenant's default"
    );
    let listed = second.ok("stores_list", json!({})).await;
    assert_eq!(listed["default_store"], STORES[0].0);
    first.stop().await;
    second.stop().await;
}
