//! Tenants and stores end to end: isolation between tenants, encrypted keys at rest, no
//! secret in logs, key rotation through the CLI.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{BIN, FakeOrderDesk, Launch, fake, spawn};

/// Run `orderdesk-mcp tenant …` on `state`; returns what it printed.
fn tenant_cli(state: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(BIN)
        .env_clear()
        .envs(env.iter().copied())
        .arg("tenant")
        .args(args)
        .args(["--state", state])
        .arg("--precompile-cache")
        .arg(support::shared_precompile_cache())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// `orderdesk-mcp tenant create`; returns (tenant id, master key).
fn create_tenant(state: &str, name: &str) -> (String, String) {
    let text = tenant_cli(state, &["create", "--name", name], &[]);
    let id = text
        .split("id=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let key = text
        .split("keep it safe): ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    assert!(key.starts_with("odmk_"));
    (id, key)
}

fn tenant_launch(fake: &FakeOrderDesk, state: &str) -> Launch {
    let mut launch = Launch::against(fake).state(state);
    launch.store_id = None;
    launch.api_key = None;
    launch
}

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
    let a = spawn(tenant_launch(&fake, &state).arg("--log").arg("trace")).await;
    let b = spawn(tenant_launch(&fake, &state)).await;
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
    let server = spawn(tenant_launch(&fake, &state)).await;
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

    let server = spawn(tenant_launch(&fake, &state)).await;
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
