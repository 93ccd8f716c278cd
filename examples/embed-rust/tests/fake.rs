//! The example against the fake OrderDesk: the catalog, `orders_get` (a miss, then hits
//! from its in-memory key-value), a missing order and an unknown tool.

use std::path::{Path, PathBuf};
use std::process::Command;

use fake_orderdesk::{FakeConfig, FakeOrderDesk};
use serde_json::Value;

/// orderdesk.wasm, built (or found fresh) the way host/build.rs builds it.
fn component() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target/wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--profile",
            "component",
            "--target",
            "wasm32-wasip2",
        ])
        .args(["-p", "orderdesk-component", "--target-dir"])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo");
    assert!(status.success(), "building the component failed");
    target.join("wasm32-wasip2/component/orderdesk_component.wasm")
}

#[tokio::test]
async fn the_example_answers_orders_get_from_the_fake() {
    let wasm = tokio::task::spawn_blocking(component).await.unwrap();
    let fake = FakeOrderDesk::start(FakeConfig {
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let id = fake.order_ids()[0].to_string();
    let get = format!(r#"{{"order_id":"{id}"}}"#);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_embed-rust"))
        .arg(&wasm)
        .args(["orders_get", &get, "orders_get", r#"{"order_id":"42"}"#])
        .args(["no_such_tool", "{}", "orders_get", &get, "--repeat", "300"])
        .env_clear()
        .env("ORDERDESK_API_URL", fake.base_url())
        .env("ORDERDESK_STORE_ID", fake.store_id())
        .env("ORDERDESK_API_KEY", fake.api_key())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let [tools, miss, missing, unknown, hit, timing] = &lines[..] else {
        panic!("unexpected output: {lines:?}\n{stderr}")
    };

    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "orders_get")
    );
    assert_eq!(miss["ok"]["cache"], "miss", "{stderr}");
    assert_eq!(miss["ok"]["order"]["id"], id);
    let order = fake.order(id.parse().unwrap()).unwrap();
    assert_eq!(miss["ok"]["order"]["email"], order["email"]);
    assert_eq!(missing["error"]["code"], "ORDER_NOT_FOUND");
    assert_eq!(missing["error"]["retryable"], false);
    assert_eq!(unknown["unknown_tool"], "no_such_tool");
    assert_eq!(hit["ok"]["cache"], "hit");
    assert_eq!(hit["ok"]["order"], miss["ok"]["order"]);
    // One GET per order id (the order, 42): the 301 later calls of the order were served
    // from the in-memory key-value.
    assert_eq!(fake.stats().count("GET /orders/{id}"), 2);
    println!(
        "embed-rust: cache-hit orders_get median {:.0} µs over {}",
        timing["median_us"].as_f64().unwrap(),
        timing["repeat"]
    );
}
