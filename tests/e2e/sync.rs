//! Polling sync end to end: `sync_configure`, `sync_trigger` and the `sync --once` CLI
//! page a 2,000-order fake store into the mirror, which is held against the fake's own
//! orders after each round of outside changes (edits, cancellations, new orders), with the
//! run's counts and the lifetime stats checked to the order; a dry run writes nothing; a
//! `sync --once` killed with SIGKILL mid-run is resumed by the next; two `serve` on one
//! Redis poll a store once per interval; progress notifications and cancellation of
//! `sync_trigger`. The fake keeps OrderDesk's bucket (20, 3/s) and must never answer 429.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::{Duration, Instant};

use fake_orderdesk::redis_server::RedisServer;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotification, CancelledNotificationParam,
    ClientNotification, ClientRequest, ServerResult,
};
use rmcp::service::{PeerRequestOptions, RunningService};
use rmcp::{RoleClient, Service};
use serde_json::{Value, json};
use support::http::{self, HttpServer, ok};
use support::sync::{
    CANCELLED, SECRET, SECRET_ENV, YEAR_MINUTES, assert_mirror, eventually, expected_rows,
    fake_rows, id_of, mirror, progress_client,
};
use support::{BIN, FakeConfig, FakeOrderDesk, Launch, fake_with, shared_precompile_cache};

const ORDERS: usize = 2_000;

/// A fake with `orders` orders and OrderDesk's real bucket.
async fn store_of(orders: usize) -> FakeOrderDesk {
    fake_with(FakeConfig {
        orders,
        ..FakeConfig::default()
    })
    .await
}

/// `serve` for the fake's store on `state`, the shared secret set, and `extra`.
async fn serve(fake: &FakeOrderDesk, state: &str, extra: &[&str]) -> HttpServer {
    let mut launch = Launch::against(fake).state(state);
    for arg in extra {
        launch = launch.arg(*arg);
    }
    http::serve_with_env(&launch, &[(SECRET_ENV, SECRET)]).await
}

/// The seeded orders in the Cancelled folder: a sync skips them (never mirrored).
fn seeded_cancelled(fake: &FakeOrderDesk) -> BTreeSet<u64> {
    fake_rows(fake, fake.store_id())
        .into_iter()
        .filter(|(_, row)| row.folder_id == CANCELLED)
        .map(|(id, _)| id)
        .collect()
}

/// The counts of a run report as a map, for readable comparisons.
fn counts(report: &Value) -> BTreeMap<String, u64> {
    let counts = report["counts"].as_object().expect("counts");
    [
        "polled",
        "created",
        "updated",
        "cancelled",
        "skipped",
        "already_synced",
    ]
    .iter()
    .map(|k| {
        let n = counts.get(*k).and_then(Value::as_u64);
        (
            k.to_string(),
            n.unwrap_or_else(|| panic!("{k} in {report}")),
        )
    })
    .collect()
}

fn expect(
    polled: u64,
    created: u64,
    updated: u64,
    cancelled: u64,
    skipped: u64,
) -> BTreeMap<String, u64> {
    let already = polled - created - updated - cancelled - skipped;
    [
        ("polled", polled),
        ("created", created),
        ("updated", updated),
        ("cancelled", cancelled),
        ("skipped", skipped),
        ("already_synced", already),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Lifetime stats, checked against their invariant.
async fn stats<S: Service<RoleClient>>(client: &RunningService<RoleClient, S>) -> Value {
    let out = ok(client, "sync_stats", json!({})).await;
    let s = &out["stats"];
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert_eq!(
        n("total_polled"),
        n("already_synced") + n("newly_synced") + n("updated") + n("cancelled") + n("skipped"),
        "total_polled = already_synced + newly_synced + updated + cancelled + skipped: {s}"
    );
    s.clone()
}

/// `sync_trigger`, which must finish the whole window in one call.
async fn trigger<S: Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    fake: &FakeOrderDesk,
    args: Value,
) -> Value {
    let before = fake.stats().count("GET /orders");
    let report = ok(client, "sync_trigger", args).await;
    assert_eq!(report["status"], "done", "{report}");
    assert_eq!(report["has_more"], false, "{report}");
    let pages = fake.stats().count("GET /orders") - before;
    assert_eq!(
        report["pages"], pages,
        "pages reported against requests: {report}"
    );
    // No request for an empty page: the run stops at OrderDesk's count.
    let polled = report["counts"]["polled"].as_u64().unwrap();
    let batch = report["batch_size"].as_u64().unwrap();
    assert_eq!(pages, polled.div_ceil(batch), "{report}");
    report
}

/// Active orders, in id order, that none of `taken` holds.
fn active(fake: &FakeOrderDesk, taken: &BTreeSet<u64>, n: usize) -> Vec<u64> {
    fake_rows(fake, fake.store_id())
        .into_iter()
        .filter(|(id, row)| row.folder_id != CANCELLED && !taken.contains(id))
        .map(|(id, _)| id)
        .take(n)
        .collect()
}

#[tokio::test]
async fn syncs_mirror_the_store_and_count_exactly_what_changed() {
    let fake = store_of(ORDERS).await;
    let store = fake.store_id().to_string();
    let server = serve(&fake, "memory", &["--sync-tick-secs", "0"]).await;
    let client = server.stateless_client(None).await;
    let configured = ok(
        &client,
        "sync_configure",
        json!({ "enabled": true, "interval_minutes": 60, "lookback_minutes": YEAR_MINUTES,
                "batch_size": 100, "webhooks": false }),
    )
    .await;
    assert_eq!(configured["config"]["batch_size"], 100, "{configured}");
    assert_eq!(
        configured["config"]["cancelled_folders"],
        json!([4]),
        "{configured}"
    );
    let mut never_seen = seeded_cancelled(&fake);
    assert_eq!(
        never_seen.len(),
        ORDERS / 4,
        "every fourth seeded order is cancelled"
    );

    // First run: every active order is created, every cancelled one skipped.
    let first = trigger(&client, &fake, json!({})).await;
    let total = ORDERS as u64;
    let skipped = never_seen.len() as u64;
    assert_eq!(
        counts(&first),
        expect(total, total - skipped, 0, 0, skipped),
        "{first}"
    );
    assert_eq!(first["dry_run"], false);
    assert!(
        first["window_start"].as_str().unwrap() < "2026-01-01 00:00:00",
        "{first}"
    );
    assert_mirror(
        &mirror(&client, None).await,
        &expected_rows(&fake_rows(&fake, &store), &never_seen),
    );
    let s = stats(&client).await;
    assert_eq!(s["newly_synced"], total - skipped, "{s}");
    assert_eq!(s["skipped"], skipped, "{s}");
    assert_eq!(s["total_polled"], total, "{s}");
    assert_eq!(s["runs"], 1, "{s}");

    // Outside changes: edits, cancellations, new orders, a cancelled order revived, and an
    // edit of one that stays cancelled (skipped again).
    let mut taken = BTreeSet::new();
    let edited = active(&fake, &taken, 7);
    taken.extend(&edited);
    let cancelled = active(&fake, &taken, 4);
    taken.extend(&cancelled);
    for id in &edited {
        assert!(fake.edit_order_in(&store, *id));
    }
    for id in &cancelled {
        assert!(fake.cancel_order(&store, *id));
    }
    let added: Vec<u64> = (0..5).map(|_| fake.add_order(&store)).collect();
    let revived = *never_seen.iter().next().unwrap();
    assert!(fake.move_order(&store, revived, 1));
    never_seen.remove(&revived);
    let still_cancelled = *never_seen.iter().next().unwrap();
    assert!(fake.edit_order_in(&store, still_cancelled));

    let second = trigger(&client, &fake, json!({})).await;
    let polled = total + 5;
    let want = expect(polled, 6, 7, 4, never_seen.len() as u64);
    assert_eq!(counts(&second), want, "{second}");
    let mirrored = mirror(&client, None).await;
    assert_mirror(
        &mirrored,
        &expected_rows(&fake_rows(&fake, &store), &never_seen),
    );
    for id in &cancelled {
        assert_eq!(mirrored[id].status, "cancelled", "{id} stays, cancelled");
    }
    for id in added.iter().chain([&revived]) {
        assert_eq!(mirrored[id].order, fake.order(*id).unwrap());
    }
    let s = stats(&client).await;
    assert_eq!(s["newly_synced"], total - skipped + 6, "{s}");
    assert_eq!(s["updated"], 7, "{s}");
    assert_eq!(s["cancelled"], 4, "{s}");
    assert_eq!(s["total_polled"], total + polled, "{s}");
    assert_eq!(s["runs"], 2, "{s}");

    // A dry run reports the next changes and writes nothing.
    let dry_edits = active(&fake, &taken, 2);
    taken.extend(&dry_edits);
    let dry_cancel = active(&fake, &taken, 1);
    for id in &dry_edits {
        fake.edit_order_in(&store, *id);
    }
    fake.cancel_order(&store, dry_cancel[0]);
    let dry_added = fake.add_order(&store);
    let status_before = ok(&client, "sync_status", json!({})).await;
    let stats_before = stats(&client).await;
    let mirror_before = mirror(&client, None).await;
    let dry = trigger(&client, &fake, json!({ "dry_run": true })).await;
    assert_eq!(dry["dry_run"], true);
    let dry_want = expect(polled + 1, 1, 2, 1, never_seen.len() as u64);
    assert_eq!(counts(&dry), dry_want, "{dry}");
    let changes: BTreeMap<u64, String> = dry["changes"]
        .as_array()
        .expect("a dry run lists its changes")
        .iter()
        .map(|c| (id_of(&c["id"]), c["change"].as_str().unwrap().to_string()))
        .collect();
    let mut listed_changes: BTreeMap<u64, String> = changes
        .iter()
        .filter(|(_, c)| c.as_str() != "skipped")
        .map(|(id, c)| (*id, c.clone()))
        .collect();
    assert!(
        !changes.values().any(|c| c == "already_synced"),
        "unchanged orders are no change: {changes:?}"
    );
    let mut want_changes: BTreeMap<u64, String> = dry_edits
        .iter()
        .map(|id| (*id, "updated".to_string()))
        .collect();
    want_changes.insert(dry_cancel[0], "cancelled".into());
    if changes.len() < 100 {
        want_changes.insert(dry_added, "created".into());
    } else {
        // The list stops at 100: the new order (the highest id) may be past it.
        listed_changes.remove(&dry_added);
    }
    assert_eq!(listed_changes, want_changes, "{dry}");
    assert_eq!(
        stats(&client).await,
        stats_before,
        "a dry run changed the stats"
    );
    let status_after = ok(&client, "sync_status", json!({})).await;
    assert_eq!(
        status_after["last_run"]["run_id"], status_before["last_run"]["run_id"],
        "a dry run left a run record: {status_after}"
    );
    let mirror_after = mirror(&client, None).await;
    assert_eq!(
        support::sync::rows(&mirror_after),
        support::sync::rows(&mirror_before),
        "a dry run wrote to the mirror"
    );

    // The real run then applies exactly what the dry run announced.
    let third = trigger(&client, &fake, json!({})).await;
    assert_eq!(counts(&third), dry_want, "{third}");
    assert_mirror(
        &mirror(&client, None).await,
        &expected_rows(&fake_rows(&fake, &store), &never_seen),
    );
    assert_eq!(stats(&client).await["runs"], 3);
    assert_eq!(fake.stats().status_429, 0, "the poller overdrew the bucket");
}

/// `orderdesk-mcp sync …` on `state` for the fake's store.
fn sync_command(fake: &FakeOrderDesk, state: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ORDERDESK_MCP_LOG", "info,component=debug")
        .env("ORDERDESK_RETRY_BASE_MS", "40")
        .env("ORDERDESK_STORE_ID", fake.store_id())
        .env("ORDERDESK_API_KEY", fake.api_key())
        .env(SECRET_ENV, SECRET)
        .arg("sync")
        .args(args)
        .args(["--api-url", &fake.base_url(), "--state", state])
        .arg("--precompile-cache")
        .arg(shared_precompile_cache())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run_sync(fake: &FakeOrderDesk, state: &str, args: &[&str]) -> Output {
    sync_command(fake, state, args).output().await.unwrap()
}

/// The one report line `sync --once` printed for the store.
fn report_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sync --once failed: {stderr}\n{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one JSON line per target: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {}", lines[0]))
}

#[tokio::test]
async fn sync_once_runs_from_the_cli_and_a_killed_run_is_resumed() {
    let fake = store_of(ORDERS).await;
    let store = fake.store_id().to_string();
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let never_seen = seeded_cancelled(&fake);

    // Configured through the server; the server polls nothing (no scheduler).
    let server = serve(&fake, &state, &["--sync-tick-secs", "0"]).await;
    let client = server.stateless_client(None).await;
    ok(
        &client,
        "sync_configure",
        json!({ "enabled": true, "lookback_minutes": YEAR_MINUTES, "batch_size": 50 }),
    )
    .await;
    drop(client);
    server.terminate().await;

    let missing = run_sync(&fake, &state, &["--once", "--store", "99999"]).await;
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("99999"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let before = fake.stats().count("GET /orders");
    let dry = report_of(&run_sync(&fake, &state, &["--once", "--dry-run"]).await);
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["status"], "done", "{dry}");
    let skipped = never_seen.len() as u64;
    assert_eq!(
        counts(&dry),
        expect(ORDERS as u64, ORDERS as u64 - skipped, 0, 0, skipped)
    );
    assert_eq!(
        dry["pages"],
        fake.stats().count("GET /orders") - before,
        "{dry}"
    );

    // A slow OrderDesk makes the run take seconds; SIGKILL it a dozen pages in.
    fake.faults().set_latency(Duration::from_millis(150));
    let mut child = sync_command(&fake, &state, &["--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = fake.stats().count("GET /orders");
    eventually(
        Duration::from_secs(60),
        "the sync to page a dozen times",
        || async { (fake.stats().count("GET /orders") >= started + 12).then_some(()) },
    )
    .await;
    child.start_kill().unwrap();
    let killed = child.wait().await.unwrap();
    assert!(!killed.success(), "killed mid-run");
    let paged = fake.stats().count("GET /orders") - started;
    assert!(
        paged < 40,
        "the run was over before the kill ({paged} pages)"
    );
    fake.faults().clear();

    // The next `sync --once` may find the dead run's lease held until it lapses; then it
    // completes the window.
    let killed_at = Instant::now();
    let deadline = killed_at + Duration::from_secs(180);
    let resumed = loop {
        let out = run_sync(&fake, &state, &["--once"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let busy = stderr.contains("SYNC_BUSY") || stderr.contains("another instance is polling");
        if out.status.success() || !busy {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "the dead run's lock never lapsed: {stderr}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let report = report_of(&resumed);
    println!("resumed {:?} after the kill: {report}", killed_at.elapsed());
    assert_eq!(report["status"], "done", "{report}");
    assert_eq!(report["dry_run"], false);
    // Resumed, not restarted: the run's pages are the window's 40, and OrderDesk served at
    // most the page in flight at the kill twice.
    assert_eq!(report["pages"], 40, "{report}");
    let served = fake.stats().count("GET /orders") - started;
    assert!(served <= 41, "{served} pages served for a 40-page window");

    // The mirror is the fake: nothing lost, nothing twice.
    let server = serve(&fake, &state, &["--sync-tick-secs", "0"]).await;
    let client = server.stateless_client(None).await;
    let mirrored = mirror(&client, None).await;
    assert_mirror(
        &mirrored,
        &expected_rows(&fake_rows(&fake, &store), &never_seen),
    );
    let s = stats(&client).await;
    assert_eq!(
        s["newly_synced"],
        ORDERS as u64 - skipped,
        "each order created once across the killed and the resumed run: {s}"
    );
    // A later run finds nothing new.
    let again = report_of(&run_sync(&fake, &state, &["--once"]).await);
    assert_eq!(
        counts(&again),
        expect(ORDERS as u64, 0, 0, 0, skipped),
        "{again}"
    );
    assert_eq!(fake.stats().status_429, 0, "the poller overdrew the bucket");
}

#[tokio::test]
async fn two_servers_on_one_redis_poll_a_store_once_per_interval() {
    let redis = RedisServer::start();
    let fake = store_of(200).await;
    let store = fake.store_id().to_string();
    let state = redis.url();
    let tick = ["--sync-tick-secs", "1"];
    let one = serve(&fake, &state, &tick).await;
    let two = serve(&fake, &state, &tick).await;
    let a = one.stateless_client(None).await;
    let b = two.stateless_client(None).await;
    assert_eq!(fake.stats().count("GET /orders"), 0);

    let configured_at = Instant::now();
    ok(
        &a,
        "sync_configure",
        json!({ "enabled": true, "interval_minutes": 1, "lookback_minutes": YEAR_MINUTES,
                "batch_size": 100, "webhooks": false }),
    )
    .await;
    // The first run comes with the next tick of either server.
    let first = eventually(Duration::from_secs(30), "a first scheduled run", || async {
        let status = ok(&b, "sync_status", json!({})).await;
        (status["running"] == false && status["last_run"]["status"] == "done")
            .then(|| status["last_run"].clone())
    })
    .await;
    let pages = first["pages"].as_u64().unwrap();
    assert!(pages >= 2, "{first}");
    assert_eq!(
        fake.stats().count("GET /orders"),
        pages,
        "one poller's pages: {first}"
    );

    // Two servers ticking every second, for most of the interval: no second run.
    tokio::time::sleep(Duration::from_secs(40).saturating_sub(configured_at.elapsed())).await;
    assert_eq!(
        fake.stats().count("GET /orders"),
        pages,
        "a second poller ran within the interval"
    );
    assert_eq!(stats(&a).await["runs"], 1);

    // The next interval brings exactly one more run.
    let second = eventually(
        Duration::from_secs(60),
        "a second scheduled run",
        || async {
            let status = ok(&a, "sync_status", json!({})).await;
            (status["running"] == false && status["last_run"]["run_id"] != first["run_id"])
                .then(|| status["last_run"].clone())
        },
    )
    .await;
    assert!(
        configured_at.elapsed() >= Duration::from_secs(59),
        "the second run came before the interval was over"
    );
    assert_eq!(second["status"], "done", "{second}");
    let both = pages + second["pages"].as_u64().unwrap();
    assert_eq!(fake.stats().count("GET /orders"), both, "{second}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        fake.stats().count("GET /orders"),
        both,
        "a run after the second"
    );
    assert_eq!(stats(&b).await["runs"], 2);
    assert_mirror(
        &mirror(&b, None).await,
        &expected_rows(&fake_rows(&fake, &store), &seeded_cancelled(&fake)),
    );
    assert_eq!(fake.stats().status_429, 0, "the pair overdrew the bucket");
}

/// `tools/call sync_trigger` sent without waiting: its handle (for progress and cancel).
async fn start_trigger<S: Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    args: Value,
) -> rmcp::service::RequestHandle<RoleClient> {
    let Value::Object(args) = args else {
        unreachable!()
    };
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new("sync_trigger").with_arguments(args),
    ));
    client
        .peer()
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .expect("sending sync_trigger")
}

#[tokio::test]
async fn sync_trigger_reports_progress_and_stops_when_cancelled() {
    let fake = store_of(ORDERS).await;
    let store = fake.store_id().to_string();
    let server = serve(&fake, "memory", &["--sync-tick-secs", "0"]).await;
    let (progress, client) = progress_client(&server, None).await;
    let args = json!({ "lookback_minutes": YEAR_MINUTES, "batch_size": 100 });

    // Cancelled a few pages in (a slow OrderDesk keeps it running that long).
    fake.faults().set_latency(Duration::from_millis(250));
    let handle = start_trigger(&client, args.clone()).await;
    let token = handle.progress_token.clone();
    eventually(
        Duration::from_secs(60),
        "progress of the first pages",
        || async { (progress.for_token(&token).len() >= 3).then_some(()) },
    )
    .await;
    let cancel = CancelledNotification::new(CancelledNotificationParam::new(
        Some(handle.id.clone()),
        Some("the test cancels".into()),
    ));
    client
        .peer()
        .send_notification(ClientNotification::CancelledNotification(cancel))
        .await
        .unwrap();
    let cancelled_at = fake.stats().count("GET /orders");
    // A server may answer a cancelled request or not; an answer must say it was cancelled.
    if let Ok(Ok(answer)) = tokio::time::timeout(Duration::from_secs(10), handle.rx).await {
        match answer {
            Ok(ServerResult::CallToolResult(result)) => {
                let text = result.content[0].as_text().unwrap().text.clone();
                if result.is_error == Some(true) {
                    assert!(text.contains("CANCELLED"), "{text}");
                } else {
                    let report = result.structured_content.unwrap();
                    assert_eq!(report["status"], "cancelled", "{report}");
                }
            }
            // rmcp settles a request its client cancelled itself, with no answer.
            Err(rmcp::service::ServiceError::Cancelled { .. }) => {}
            other => panic!("sync_trigger answered {other:?}"),
        }
    }
    let status = eventually(Duration::from_secs(20), "the run to stop", || async {
        let status = ok(&client, "sync_status", json!({})).await;
        (status["running"] == false).then_some(status)
    })
    .await;
    let stopped = fake.stats().count("GET /orders");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        fake.stats().count("GET /orders"),
        stopped,
        "the run went on paging"
    );
    assert!(
        stopped <= cancelled_at + 2,
        "pages after the cancel: {cancelled_at} then {stopped}"
    );
    assert!(stopped < 20, "the run was not cut short");
    if !status["last_run"].is_null() {
        assert_eq!(status["last_run"]["status"], "cancelled", "{status}");
    }
    // What was mirrored is the fake's, and the stats agree with it.
    let fake_now = fake_rows(&fake, &store);
    let mirrored = mirror(&client, None).await;
    assert!(!mirrored.is_empty(), "pages before the cancel were kept");
    for (id, m) in &mirrored {
        assert_eq!(Some(&m.row), fake_now.get(id), "order {id}");
    }
    let s = stats(&client).await;
    assert_eq!(s["newly_synced"], mirrored.len() as u64, "{s}");
    fake.faults().clear();

    // A run to the end sends a progress notification per page, rising.
    let handle = start_trigger(&client, args).await;
    let token = handle.progress_token.clone();
    let answer = handle.await_response().await.expect("sync_trigger");
    let ServerResult::CallToolResult(result) = answer else {
        panic!("{answer:?}")
    };
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let report = result.structured_content.unwrap();
    assert_eq!(report["status"], "done", "{report}");
    let pages = report["pages"].as_u64().unwrap() as usize;
    let events = eventually(
        Duration::from_secs(5),
        "a notification per page",
        || async {
            let events = progress.for_token(&token);
            (events.len() >= pages).then_some(events)
        },
    )
    .await;
    assert!(
        events.windows(2).all(|w| w[1].progress > w[0].progress),
        "progress rises: {events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(
        last.total,
        Some(last.progress),
        "the last page ends it: {last:?}"
    );
    for event in &events {
        if let Some(total) = event.total {
            assert!(event.progress <= total, "{event:?}");
        }
    }
    assert_mirror(
        &mirror(&client, None).await,
        &expected_rows(&fake_rows(&fake, &store), &seeded_cancelled(&fake)),
    );
    assert_eq!(fake.stats().status_429, 0, "the poller overdrew the bucket");
}
