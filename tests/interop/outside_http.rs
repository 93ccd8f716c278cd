//! `orderdesk-mcp serve` driven over streamable HTTP by clients this project did not write:
//! the official Python SDK in both of its eras (`mcp` 1.x: sessions; 2.x: stateless
//! 2026-07-28 after `server/discover`), and the MCP Inspector CLI (the TypeScript SDK).
//! Each is installed by the tests themselves (pip into venvs under `target/`, npm from
//! `tests/clients/package-lock.json`).

use crate::support;

use std::collections::BTreeSet;

use rmcp::model::ProtocolVersion;
use serde_json::{Value, json};
use support::http::{self, HttpServer};
use support::python::{Sdk, run_client};
use support::{FakeOrderDesk, Launch, Printed, create_tenant, fake, fake_unlimited};

const TOKEN: &str = "outside-http-token-7c1e";

/// Single-store `serve` that wants `Authorization: Bearer TOKEN`.
async fn serve_with_token(fake: &FakeOrderDesk) -> HttpServer {
    http::serve(&Launch::against(fake).arg("--auth-token").arg(TOKEN)).await
}

/// The tool names rmcp's own client lists: the independent source the outside clients'
/// listings are compared with.
async fn tools_by_rmcp(server: &HttpServer) -> BTreeSet<String> {
    let client = server
        .session_client(Some(TOKEN), ProtocolVersion::V_2025_11_25)
        .await;
    let tools = client.list_all_tools().await.unwrap();
    client.cancel().await.unwrap();
    tools.iter().map(|t| t.name.to_string()).collect()
}

fn names(tools: &Value) -> BTreeSet<String> {
    tools
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {tools}"))
        .iter()
        .map(|t| t.as_str().or(t["name"].as_str()).unwrap().to_string())
        .collect()
}

/// What the Python client printed, after checking it connected and called without failing.
fn succeeded(sdk: Sdk, out: &Printed) -> Value {
    let printed = out.json();
    assert!(
        out.success && printed.get("failed").is_none(),
        "{sdk:?}: {}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(
        printed["protocol_version"],
        sdk.protocol_version(),
        "{printed}"
    );
    printed
}

/// `error` of the JSON in an error result's text, after checking it is one.
fn error_of(call: &Value) -> Value {
    assert_eq!(call["isError"], true, "{call}");
    assert!(call["structuredContent"].is_null(), "{call}");
    let text = call["text"][0].as_str().unwrap_or_else(|| panic!("{call}"));
    serde_json::from_str::<Value>(text).expect("error text is JSON")["error"].clone()
}

/// The store ids a `stores_list` result names.
fn store_ids(call: &Value) -> Vec<String> {
    assert_eq!(call["isError"], false, "{call}");
    call["structuredContent"]["stores"]
        .as_array()
        .unwrap_or_else(|| panic!("{call}"))
        .iter()
        .map(|s| s["store_id"].as_str().unwrap().to_string())
        .collect()
}

async fn python_sdk_lists_gets_and_reads_order_not_found(sdk: Sdk) {
    let fake = fake_unlimited().await;
    let server = serve_with_token(&fake).await;
    let id = fake.order_ids()[0];
    let existing = json!({ "order_id": id }).to_string();
    let missing = json!({ "order_id": "999999999" }).to_string();
    let out = run_client(
        sdk,
        &server.mcp_url(),
        &[
            "--bearer",
            TOKEN,
            "--list",
            "--call",
            "orders_get",
            &existing,
            "--call",
            "orders_get",
            &missing,
        ],
    )
    .await;
    let printed = succeeded(sdk, &out);
    if sdk == Sdk::V1 {
        assert_eq!(
            printed["session_id"], true,
            "a session era client got no session"
        );
    }
    assert_eq!(names(&printed["tools"]), tools_by_rmcp(&server).await);

    let got = &printed["calls"][0];
    assert_eq!(got["isError"], false, "{got}");
    let order = &got["structuredContent"]["order"];
    assert_eq!(order["id"], id.to_string(), "{got}");
    assert_eq!(order["email"], fake.order(id).unwrap()["email"]);
    assert_eq!(got["structuredContent"]["cache"], "miss");

    let error = error_of(&printed["calls"][1]);
    assert_eq!(error["code"], "ORDER_NOT_FOUND", "{error}");
    assert_eq!(error["details"]["order_id"], "999999999");
    // One upstream read for each call: the SDK's calls reached OrderDesk, nothing more.
    assert_eq!(fake.stats().count("GET /orders/{id}"), 2);
}

#[tokio::test]
async fn python_sdk_1_sessions_list_get_and_read_order_not_found() {
    python_sdk_lists_gets_and_reads_order_not_found(Sdk::V1).await;
}

#[tokio::test]
async fn python_sdk_2_stateless_lists_gets_and_reads_order_not_found() {
    python_sdk_lists_gets_and_reads_order_not_found(Sdk::V2).await;
}

/// Two tenants, one on each era of the SDK: each registers its own store and sees only it.
#[tokio::test]
async fn python_sdk_tenants_see_only_their_own_stores() {
    let fake = fake().await;
    fake.add_store("30001", "key-a-5e6f7a", 20, 5);
    fake.add_store("30002", "key-b-8b9c0d", 20, 5);
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let (_, key_a) = create_tenant(&state, "Agency A");
    let (_, key_b) = create_tenant(&state, "Agency B");
    let server = http::serve(&Launch::for_tenants(&fake, &state)).await;
    let url = server.mcp_url();
    let (a, b) = (Sdk::V1, Sdk::V2);

    let register_a = json!({ "store_id": "30001", "api_key": "key-a-5e6f7a", "name": "A" });
    let out = run_client(
        a,
        &url,
        &[
            "--bearer",
            &key_a,
            "--call",
            "stores_register",
            &register_a.to_string(),
            "--call",
            "stores_list",
            "{}",
        ],
    )
    .await;
    let printed = succeeded(a, &out);
    assert_eq!(printed["calls"][0]["isError"], false, "{printed}");
    assert_eq!(store_ids(&printed["calls"][1]), ["30001"]);

    let register_b = json!({ "store_id": 30002, "api_key": "key-b-8b9c0d", "name": "B" });
    let out = run_client(
        b,
        &url,
        &[
            "--bearer",
            &key_b,
            "--call",
            "stores_register",
            &register_b.to_string(),
            "--call",
            "stores_list",
            "{}",
        ],
    )
    .await;
    let printed = succeeded(b, &out);
    assert_eq!(printed["calls"][0]["isError"], false, "{printed}");
    assert_eq!(store_ids(&printed["calls"][1]), ["30002"]);

    // A again, after B registered: still only its own store, and B's is not reachable.
    let order_b = fake.order_ids_in("30002")[0];
    let foreign = json!({ "store": "30002", "order_id": order_b }).to_string();
    let out = run_client(
        a,
        &url,
        &[
            "--bearer",
            &key_a,
            "--call",
            "stores_list",
            "{}",
            "--call",
            "orders_get",
            &foreign,
        ],
    )
    .await;
    let printed = succeeded(a, &out);
    assert_eq!(store_ids(&printed["calls"][0]), ["30001"]);
    assert_eq!(error_of(&printed["calls"][1])["code"], "STORE_NOT_FOUND");
    assert_eq!(
        fake.stats().count("GET /orders/{id}"),
        0,
        "B's order was read"
    );
}

/// What a failed run of the Python client reported, after checking it failed.
fn failure(sdk: Sdk, out: &Printed) -> Value {
    let printed = out.json();
    assert!(!out.success, "{sdk:?} should have failed: {}", out.stdout);
    assert!(printed["calls"].as_array().unwrap().is_empty(), "{printed}");
    printed["failed"].clone()
}

#[tokio::test]
async fn python_sdk_without_the_right_bearer_fails_with_401_and_a_foreign_origin_with_403() {
    let fake = fake().await;
    let server = serve_with_token(&fake).await;
    let url = server.mcp_url();
    for sdk in Sdk::ALL {
        let missing = failure(sdk, &run_client(sdk, &url, &["--list"]).await);
        let wrong = failure(
            sdk,
            &run_client(
                sdk,
                &url,
                &["--bearer", "outside-http-token-7c1f", "--list"],
            )
            .await,
        );
        for (failed, hint) in [
            (&missing, "needs `Authorization: Bearer"),
            (&wrong, "not valid"),
        ] {
            assert_eq!(failed["http_status"], 401, "{sdk:?}: {failed}");
            let message = failed["message"].as_str().unwrap();
            match sdk {
                // 1.x raises httpx's status error.
                Sdk::V1 => assert!(message.contains("401 Unauthorized"), "{failed}"),
                // 2.x raises the JSON-RPC error our 401 carries.
                Sdk::V2 => assert!(message.contains(hint), "{failed}"),
            }
        }

        let foreign = failure(
            sdk,
            &run_client(
                sdk,
                &url,
                &[
                    "--bearer",
                    TOKEN,
                    "--header",
                    "Origin=https://evil.example",
                    "--list",
                ],
            )
            .await,
        );
        assert_eq!(foreign["http_status"], 403, "{sdk:?}: {foreign}");
        // The same client with a loopback Origin gets in.
        let local = run_client(
            sdk,
            &url,
            &[
                "--bearer",
                TOKEN,
                "--header",
                "Origin=http://localhost:6274",
                "--list",
            ],
        )
        .await;
        succeeded(sdk, &local);
    }
    assert_eq!(fake.stats().count("GET /orders/{id}"), 0);
}

/// Run the Inspector CLI against `url` over streamable HTTP, with `args` after it.
async fn inspector_http(url: &str, bearer: Option<&str>, args: &[&str]) -> Printed {
    let bin = tokio::task::spawn_blocking(support::inspector)
        .await
        .unwrap();
    // Its catalog and stored OAuth state live under HOME: one of its own per run.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("--cli").arg(url).args(["--transport", "http"]);
    if let Some(key) = bearer {
        cmd.arg("--header")
            .arg(format!("Authorization: Bearer {key}"));
    }
    let run = cmd
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("the Inspector hung: {args:?}"))
        .expect("running the MCP Inspector CLI");
    Printed {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn the_inspector_over_http_lists_calls_and_reads_order_not_found() {
    let fake = fake_unlimited().await;
    let server = serve_with_token(&fake).await;
    let url = server.mcp_url();

    let listed = inspector_http(&url, Some(TOKEN), &["--method", "tools/list"]).await;
    assert!(listed.success, "{}\n{}", listed.stdout, listed.stderr);
    let tools = listed.json()["tools"].clone();
    assert_eq!(names(&tools), tools_by_rmcp(&server).await);

    let id = fake.order_ids()[0];
    let call = |order_id: String| {
        let url = url.clone();
        async move {
            let arg = format!("order_id={order_id}");
            let args = [
                "--method",
                "tools/call",
                "--tool-name",
                "orders_get",
                "--tool-arg",
                &arg,
            ];
            inspector_http(&url, Some(TOKEN), &args).await
        }
    };
    // `order_id=<digits>` goes out as a JSON number.
    let got = call(id.to_string()).await;
    assert!(got.success, "{}\n{}", got.stdout, got.stderr);
    let result = got.json();
    // Validated by the SDK against the tool's outputSchema before it printed it.
    assert_eq!(result["structuredContent"]["order"]["id"], id.to_string());
    assert_eq!(fake.stats().count("GET /orders/{id}"), 1);

    let missing = call("42".into()).await;
    assert!(
        !missing.success,
        "an isError result is a failed run of the CLI"
    );
    assert!(
        !missing.stderr.contains("must have required property"),
        "the SDK rejected the error result against the outputSchema: {}",
        missing.stderr
    );
    let result = missing.json();
    assert_eq!(result["isError"], true, "{}", missing.stdout);
    assert!(result.get("structuredContent").is_none());
    let text = result["content"][0]["text"].as_str().unwrap();
    let error = serde_json::from_str::<Value>(text).unwrap()["error"].clone();
    assert_eq!(error["code"], "ORDER_NOT_FOUND", "{error}");
    assert_eq!(error["details"]["order_id"], "42");

    // No bearer: our 401 reads as an auth challenge, and the CLI gives up, not hangs.
    let refused = inspector_http(&url, None, &["--method", "tools/list"]).await;
    assert!(!refused.success, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("auth") || refused.stdout.contains("auth"),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );
}
