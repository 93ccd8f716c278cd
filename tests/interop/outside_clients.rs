//! The real binary driven by a client this project did not write: the MCP Inspector CLI,
//! built on the TypeScript SDK that Claude Code and many other clients share. That SDK
//! validates `structuredContent` against each tool's `outputSchema`, also on error
//! results, and sends numeric-looking `--tool-arg` values as JSON numbers.

use crate::support;

use serde_json::Value;
use support::{Launch, fake, run_inspector};

/// The tool result the Inspector printed, and the error JSON its text carries (if any).
fn error_of(result: &Value) -> Value {
    let text = result["content"][0]["text"].as_str().expect("text content");
    serde_json::from_str::<Value>(text).expect("error text is JSON")["error"].clone()
}

#[tokio::test]
async fn the_inspector_reads_order_not_found_as_the_error_code() {
    let fake = fake().await;
    let out = run_inspector(
        &Launch::against(&fake),
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "orders_get",
            "--tool-arg",
            "order_id=42",
        ],
    )
    .await;
    assert!(
        !out.stderr.contains("must have required property"),
        "the SDK rejected the error result against the outputSchema: {}",
        out.stderr
    );
    let result = out.json();
    assert_eq!(result["isError"], true, "{}", out.stdout);
    assert!(result.get("structuredContent").is_none());
    let error = error_of(&result);
    assert_eq!(error["code"], "ORDER_NOT_FOUND", "{}", out.stdout);
    assert_eq!(error["details"]["order_id"], "42");
    assert_eq!(error["retryable"], false);
}

#[tokio::test]
async fn the_inspector_calls_orders_get_with_a_numeric_id() {
    let fake = fake().await;
    let id = fake.order_ids()[0];
    let out = run_inspector(
        &Launch::against(&fake),
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "orders_get",
            "--tool-arg",
            &format!("order_id={id}"),
        ],
    )
    .await;
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    let result = out.json();
    assert_ne!(result["isError"], true, "{}", out.stdout);
    // Validated by the SDK against the tool's outputSchema before it printed it.
    assert_eq!(result["structuredContent"]["order"]["id"], id.to_string());
    assert_eq!(result["structuredContent"]["cache"], "miss");
    assert_eq!(fake.stats().count("GET /orders/{id}"), 1);
}

#[tokio::test]
async fn the_inspector_lists_every_tool_and_reads_write_errors() {
    let fake = fake().await;
    let launch = Launch::against(&fake);
    let listed = run_inspector(&launch, &["--method", "tools/list"]).await;
    assert!(listed.success, "{}", listed.stderr);
    let tools = listed.json()["tools"].as_array().unwrap().clone();
    let server = support::spawn(launch.clone()).await;
    let ours = server.client.list_all_tools().await.unwrap();
    server.stop().await;
    let names = |names: Vec<String>| names.into_iter().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        names(
            tools
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect()
        ),
        names(ours.iter().map(|t| t.name.to_string()).collect()),
        "the Inspector sees the same catalog as rmcp"
    );
    for t in &tools {
        assert!(t["outputSchema"].is_object(), "{}", t["name"]);
        assert!(t["annotations"].is_object(), "{}", t["name"]);
    }
    // A write that fails: the error is readable, nothing reached OrderDesk.
    let out = run_inspector(
        &launch,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "orders_update",
            "--tool-arg",
            "order_id=100001",
            "changes={\"folder_id\":3}",
        ],
    )
    .await;
    let error = error_of(&out.json());
    assert_eq!(error["code"], "INVALID_ARGUMENT", "{}", out.stdout);
    assert!(error["message"].as_str().unwrap().contains("orders_move"));
    assert_eq!(fake.stats().count("PUT /orders/{id}"), 0);
}
