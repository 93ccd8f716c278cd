//! The same orderdesk.wasm in Node: `jco transpile` (npm packages of `tests/js`, installed
//! from its lock file), run by `tests/js/harness.js` with preview2-shim for WASI and
//! `tests/js/embed.js` for the rest, against the fake OrderDesk. It lists the catalog our
//! own host lists and answers `orders_get` (a miss, then hits served from its key-value
//! store) and a missing order with `ORDER_NOT_FOUND`; requests to other origins are refused.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};
use support::{Launch, fake_unlimited, repo_root, spawn};

const ORDER_ROUTE: &str = "GET /orders/{id}";
const HITS: usize = 300;

/// `tests/js/node_modules/.bin`, installed from `tests/js/package-lock.json` on first use,
/// once, under a file lock (as `support::npm_clients` does for `tests/clients`).
fn npm_js() -> PathBuf {
    let dir = repo_root().join("tests/js");
    let bin = dir.join("node_modules/.bin");
    let lock = std::fs::File::create(dir.join(".install.lock")).unwrap();
    lock.lock().unwrap();
    if !bin.join("jco").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js) is needed to install jco for the tests");
        assert!(status.success(), "npm ci in tests/js failed");
    }
    lock.unlock().unwrap();
    bin
}

/// `jco transpile` the embedded component into `out`; returns the sizes in bytes of the
/// JavaScript it wrote and of its core wasm modules.
fn transpile(bin: &Path, out: &Path) -> (u64, u64) {
    let _ = std::fs::remove_dir_all(out);
    let status = Command::new(bin.join("jco"))
        .arg("transpile")
        .arg(env!("ORDERDESK_COMPONENT_WASM"))
        .args([
            "--instantiation",
            "async",
            "--name",
            "orderdesk",
            "-q",
            "-o",
        ])
        .arg(out)
        .status()
        .expect("running jco");
    assert!(status.success(), "jco transpile failed");
    // jco emits ES modules with a .js extension.
    std::fs::write(out.join("package.json"), r#"{"type":"module"}"#).unwrap();
    let (mut js, mut wasm) = (0, 0);
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let len = std::fs::metadata(&path).unwrap().len();
        match path.extension().and_then(|e| e.to_str()) {
            Some("js") => js += len,
            Some("wasm") => wasm += len,
            _ => {}
        }
    }
    (js, wasm)
}

#[tokio::test]
async fn node_runs_the_component_through_jco() {
    let bin = tokio::task::spawn_blocking(npm_js).await.unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jco/orderdesk");
    let started = Instant::now();
    let (js, wasm) = tokio::task::spawn_blocking({
        let out = out.clone();
        move || transpile(&bin, &out)
    })
    .await
    .unwrap();
    let transpile_time = started.elapsed();

    let fake = fake_unlimited().await;
    let id = fake.order_ids()[0].to_string();
    let spec = json!({
        "out_dir": out,
        "settings": {
            "api_url": fake.base_url(),
            "store_id": fake.store_id(),
            "api_key": fake.api_key(),
            "tool_calls_per_minute": "0",
        },
        "order_id": id,
        "missing_order_id": "42",
        "hits": HITS,
    });
    let run = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/js/harness.js"))
        .arg(spec.to_string())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .await
        .expect("node (Node.js) is needed to run the harness");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the harness failed:\n{stderr}");
    let result: Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("the harness printed no JSON ({e}):\n{stderr}"));

    // The catalog our own host lists, in the same order.
    let server = spawn(Launch::against(&fake)).await;
    let ours: Vec<String> = server
        .client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    server.stop().await;
    let listed: Vec<&str> = result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ours);

    let miss = &result["miss"]["ok"];
    assert_eq!(miss["cache"], "miss", "{result}");
    let order = fake.order(id.parse().unwrap()).unwrap();
    assert_eq!(miss["order"]["id"], id);
    assert_eq!(miss["order"]["email"], order["email"]);
    assert_eq!(result["hit"]["ok"]["cache"], "hit");
    assert_eq!(result["hit"]["ok"]["order"], miss["order"]);
    // One GET per order id (the order, 42): every later call of the order was served from
    // the harness's key-value.
    assert_eq!(fake.stats().count(ORDER_ROUTE), 2);

    let missing = &result["missing"]["error"];
    assert_eq!(missing["tag"], "failed", "{result}");
    assert_eq!(missing["val"]["code"], "ORDER_NOT_FOUND");
    assert_eq!(missing["val"]["retryable"], false);
    assert_eq!(
        result["unknown"]["error"],
        json!({ "tag": "unknown-tool", "val": "no_such_tool" })
    );

    // embed.js's egress policy refuses a request to any other origin.
    assert_eq!(result["egress"], "HTTP-request-denied");

    let latency = &result["hit_latency_us"];
    assert_eq!(latency["n"], HITS);
    println!(
        "node (jco): transpiled in {transpile_time:?} to {js} bytes of JS and {wasm} of core \
         wasm; instantiated in {:.0} ms; cache-hit orders_get median {:.0} µs, p90 {:.0} µs over {HITS}",
        result["instantiate_ms"].as_f64().unwrap(),
        latency["median"].as_f64().unwrap(),
        latency["p90"].as_f64().unwrap(),
    );
}
