//! The sandbox contains a misbehaving component: traps, runaway loops, memory hogs and
//! requests to foreign origins fail that one call, and the next call works.

use crate::support;

use serde_json::json;
use support::{Launch, fake, spawn};

const MISBEHAVE: &str = env!("ORDERDESK_MISBEHAVE_WASM");

fn misbehaving(fake: &support::FakeOrderDesk) -> Launch {
    Launch::against(fake)
        .arg("--component")
        .arg(MISBEHAVE)
        .arg("--call-timeout-secs")
        .arg("2")
        .arg("--memory-limit-mb")
        .arg("32")
}

#[tokio::test]
async fn a_trap_fails_only_that_call() {
    let fake = fake().await;
    let server = spawn(misbehaving(&fake)).await;
    assert_eq!(server.ok("ok", json!({})).await["ok"], true);
    let error = server.err("trap", json!({})).await;
    assert_eq!(error["code"], "COMPONENT_TRAPPED");
    assert_eq!(server.ok("ok", json!({})).await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn a_runaway_loop_hits_the_deadline_and_the_next_call_works() {
    let fake = fake().await;
    let server = spawn(misbehaving(&fake)).await;
    let error = server.err("spin", json!({})).await;
    assert_eq!(error["code"], "DEADLINE_EXCEEDED");
    assert_eq!(server.ok("ok", json!({})).await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn memory_past_the_cap_traps_and_the_next_call_works() {
    let fake = fake().await;
    let server = spawn(misbehaving(&fake)).await;
    let error = server.err("grow", json!({})).await;
    assert_eq!(error["code"], "COMPONENT_TRAPPED");
    assert_eq!(server.ok("ok", json!({})).await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn requests_to_another_origin_are_denied() {
    let fake = fake().await;
    let elsewhere = support::fake().await; // a live server the component must not reach
    let server = spawn(misbehaving(&fake)).await;

    let error = server
        .err(
            "fetch",
            json!({ "url": format!("{}/test", elsewhere.base_url()) }),
        )
        .await;
    assert!(
        error["code"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{error}"
    );
    assert_eq!(
        elsewhere.stats().total,
        0,
        "the foreign origin saw no request"
    );

    // The configured origin is reachable (401: the guest sends no credentials).
    let allowed = server
        .ok(
            "fetch",
            json!({ "url": format!("{}/test", fake.base_url()) }),
        )
        .await;
    assert_eq!(allowed["status"], 401);
    assert!(server.stderr().contains("outbound request denied"));
    server.stop().await;
}

#[tokio::test]
async fn the_real_component_reports_a_denied_destination_as_http_request_denied() {
    // The component is configured for a live fake, but the host's allow-list names another
    // origin: the single egress hook must refuse, and the component must say so.
    let fake = fake().await;
    let launch = Launch::against(&fake)
        .arg("--egress-allow")
        .arg("http://127.0.0.1:9");
    let server = spawn(launch).await;
    let error = server
        .err("orders_get", json!({ "order_id": fake.order_ids()[0] }))
        .await;
    assert_eq!(error["code"], "HTTP_REQUEST_DENIED", "{error}");
    assert_eq!(error["retryable"], false);
    assert_eq!(fake.stats().total, 0, "the denied origin saw no request");
    assert!(server.stderr().contains("outbound request denied"));
    server.stop().await;
}

#[tokio::test]
async fn the_compiled_component_is_cached_on_disk() {
    let fake = fake().await;
    let cache = tempfile::tempdir().unwrap();
    let launch = Launch::against(&fake)
        .arg("--precompile-cache")
        .arg(cache.path().display().to_string());

    let cold = spawn(launch.clone()).await;
    cold.ok("store_test", json!({})).await;
    assert!(
        cold.stderr().contains(r#""compile":"Compiled""#),
        "{}",
        cold.stderr()
    );
    cold.stop().await;
    let artifacts: Vec<_> = std::fs::read_dir(cache.path()).unwrap().flatten().collect();
    assert_eq!(artifacts.len(), 1, "one artifact, no temp files left");

    let warm = spawn(launch).await;
    warm.ok("store_test", json!({})).await;
    assert!(
        warm.stderr().contains(r#""compile":"Cache""#),
        "{}",
        warm.stderr()
    );
    warm.stop().await;
}
