//! `just bench` (last part): polling sync and webhook intake of the release binary, against
//! the in-process fake OrderDesk.
//!
//! 1. Sync: `sync_trigger` over a 10,000-order store with OrderDesk's real bucket (20
//!    tokens, 3 per second) and batch_size 100 (100 pages): wall time, the share of the 3
//!    req/s limit used, and the 429s received.
//! 2. Webhooks: 8 senders post signed deliveries (each order's content changed, so each is
//!    accepted, verified, stored and mirrored) to `serve` for 5 s: deliveries per second
//!    and latency.
//!
//! Writes its own section of `bench/RESULTS.md` (between `<!-- bench:sync_load -->`
//! markers, which the server_load bench keeps when it rewrites the file) and asserts nothing
//! but that calls succeed. About a minute, release build not counted.

#[path = "../e2e/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fake_orderdesk::webhook::{Delivery, post};
use serde_json::{Value, json};
use support::http::{self, HttpServer, ok};
use support::sync::{SECRET, SECRET_ENV, YEAR_MINUTES, webhook_url};
use support::{FakeConfig, FakeOrderDesk, Launch, fake_with};

const ORDERS: usize = 10_000;
const BATCH: u64 = 100;
const BURST: u64 = 20;
const PER_SECOND: f64 = 3.0;
const SENDERS: usize = 8;
const WEBHOOK_WINDOW: Duration = Duration::from_secs(5);
const GOAL_SHARE: f64 = 0.90;
const COMMAND: &str = "cargo bench -p orderdesk-mcp --bench sync_load";
const BEGIN: &str = "<!-- bench:sync_load -->";
const END: &str = "<!-- /bench:sync_load -->";

struct SyncRun {
    wall: Duration,
    requests: u64,
    list_requests: u64,
    status_429: u64,
    report: Value,
}

impl SyncRun {
    /// Requests beyond the burst over what 3/s allows in the wall time.
    fn share(&self) -> f64 {
        self.requests.saturating_sub(BURST) as f64 / (PER_SECOND * self.wall.as_secs_f64())
    }
}

struct WebhookRun {
    accepted: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    upstream: u64,
}

// One thread for the bench (senders and fake), so the server keeps the other core.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let began = Instant::now();
    let fake = fake_with(FakeConfig {
        orders: ORDERS,
        ..FakeConfig::default()
    })
    .await;
    // The default backend: an SQLite file (the mirror and the events are durable writes).
    let dir = tempfile::tempdir().expect("temp dir");
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let launch = Launch::against(&fake)
        .state(state)
        .arg("--sync-tick-secs")
        .arg("0")
        .arg("--call-timeout-secs")
        .arg("600")
        .arg("--log")
        .arg("warn");
    let server = http::serve_with_env(&launch, &[(SECRET_ENV, SECRET)]).await;
    let client = server.stateless_client(None).await;

    println!("sync of {ORDERS} orders, batch {BATCH}, bucket {BURST} + {PER_SECOND}/s…");
    let sync = sync_run(&fake, &client).await;
    println!(
        "  {:.1} s, {} requests, {:.0} % of 3 req/s, {} × 429",
        sync.wall.as_secs_f64(),
        sync.requests,
        sync.share() * 100.0,
        sync.status_429
    );

    println!(
        "webhooks, {SENDERS} senders for {} s…",
        WEBHOOK_WINDOW.as_secs()
    );
    ok(
        &client,
        "sync_configure",
        json!({ "enabled": false, "webhooks": true }),
    )
    .await;
    let hooks = webhooks(&fake, &server).await;
    println!(
        "  {:.0} accepted/s, {} failed",
        hooks.accepted as f64 / hooks.elapsed.as_secs_f64(),
        hooks.failed
    );
    let section = markdown(&sync, &hooks, began.elapsed());
    let path = write(&section);
    println!("\n{section}\nwritten to {}", path.display());
}

async fn sync_run<S: rmcp::Service<rmcp::RoleClient>>(
    fake: &FakeOrderDesk,
    client: &rmcp::service::RunningService<rmcp::RoleClient, S>,
) -> SyncRun {
    // A full bucket and clean counters: the run starts as a scheduled one would.
    fake.refill_bucket();
    fake.reset_stats();
    let started = Instant::now();
    let report = ok(
        client,
        "sync_trigger",
        json!({ "lookback_minutes": YEAR_MINUTES, "batch_size": BATCH, "max_pages": 100 }),
    )
    .await;
    let wall = started.elapsed();
    let stats = fake.stats();
    SyncRun {
        wall,
        requests: stats.total,
        list_requests: stats.count("GET /orders"),
        status_429: stats.status_429,
        report,
    }
}

/// Delivery `i`: order `i % ORDERS` with `i` in its metadata, so every body differs.
fn delivery(fake: &FakeOrderDesk, ids: &[u64], i: usize) -> Delivery {
    let mut order = fake.order(ids[i % ids.len()]).unwrap();
    order["order_metadata"]["bench_delivery"] = i.into();
    let json = serde_json::to_string(&order).unwrap();
    Delivery::signed(fake.store_id(), fake.api_key(), &json)
}

async fn webhooks(fake: &FakeOrderDesk, server: &HttpServer) -> WebhookRun {
    let ids = Rc::new(fake.order_ids());
    let url = Rc::new(webhook_url(server));
    // Warm-up: one delivery per sender, not counted.
    let next = Rc::new(AtomicUsize::new(0));
    for _ in 0..SENDERS {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (status, body) = post(&url, &delivery(fake, &ids, i)).await.unwrap();
        assert_eq!(status, 200, "{body}\n{}", server.stderr());
    }
    let upstream_before = fake.stats().total;
    let started = Instant::now();
    let deadline = started + WEBHOOK_WINDOW;
    let senders = (0..SENDERS).map(|_| {
        let (ids, url, next) = (ids.clone(), url.clone(), next.clone());
        async move {
            let (mut accepted, mut failed, mut latencies) = (0, 0, Vec::new());
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                // Built before the clock starts: it is OrderDesk's work, not the server's.
                let delivery = delivery(fake, &ids, i);
                let sent = Instant::now();
                match post(&url, &delivery).await {
                    Ok((200, body)) if body.contains("\"accepted\"") => {
                        accepted += 1;
                        latencies.push(sent.elapsed());
                    }
                    _ => failed += 1,
                }
            }
            (accepted, failed, latencies)
        }
    });
    let results = futures::future::join_all(senders).await;
    let elapsed = started.elapsed();
    let mut run = WebhookRun {
        accepted: 0,
        failed: 0,
        elapsed,
        latencies: Vec::new(),
        upstream: fake.stats().total - upstream_before,
    };
    for (accepted, failed, latencies) in results {
        run.accepted += accepted;
        run.failed += failed;
        run.latencies.extend(latencies);
    }
    run.latencies.sort();
    run
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn mark(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}

fn markdown(sync: &SyncRun, hooks: &WebhookRun, elapsed: Duration) -> String {
    let mut out = String::new();
    let share = sync.share();
    let counts = &sync.report["counts"];
    let rate = hooks.accepted as f64 / hooks.elapsed.as_secs_f64();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(out, "## Polling sync and webhook intake\n");
    let _ = writeln!(
        out,
        "Written by `{COMMAND}` (`just bench` runs it last); the rest of this file is \
         server_load's, which keeps this section when it rewrites the file.\n"
    );
    let _ = writeln!(out, "| goal | measured | |\n|---|---|---|");
    let _ = writeln!(
        out,
        "| sync uses ≥ {:.0} % of OrderDesk's 3 req/s | {:.1} % | {} |",
        GOAL_SHARE * 100.0,
        share * 100.0,
        mark(share >= GOAL_SHARE)
    );
    let _ = writeln!(
        out,
        "| no 429 from OrderDesk during the sync | {} | {} |\n",
        sync.status_429,
        mark(sync.status_429 == 0)
    );
    let _ = writeln!(
        out,
        "| sync of {ORDERS} orders | |\n|---|---:|\n\
         | wall time of `sync_trigger` | {:.1} s |\n\
         | requests to OrderDesk (of them `GET /orders`) | {} ({}) |\n\
         | pages (report) / status / has_more | {} / {} / {} |\n\
         | counts: polled, created, skipped | {}, {}, {} |\n\
         | share of 3 req/s: (requests − {BURST}) / (3 × wall) | {:.1} % |\n\
         | 429 answers | {} |\n",
        sync.wall.as_secs_f64(),
        sync.requests,
        sync.list_requests,
        sync.report["pages"],
        sync.report["status"].as_str().unwrap_or("?"),
        sync.report["has_more"],
        counts["polled"],
        counts["created"],
        counts["skipped"],
        share * 100.0,
        sync.status_429
    );
    let _ = writeln!(
        out,
        "| webhooks, {SENDERS} senders, {} s | |\n|---|---:|\n\
         | accepted per second (verify + store + mirror) | {rate:.0} |\n\
         | accepted / failed | {} / {} |\n\
         | latency p50 / p90 / p99 / max | {} / {} / {} / {} |\n\
         | requests to OrderDesk meanwhile | {} |\n",
        WEBHOOK_WINDOW.as_secs(),
        hooks.accepted,
        hooks.failed,
        ms(percentile(&hooks.latencies, 0.50)),
        ms(percentile(&hooks.latencies, 0.90)),
        ms(percentile(&hooks.latencies, 0.99)),
        ms(hooks.latencies.last().copied().unwrap_or_default()),
        hooks.upstream
    );
    let _ = writeln!(
        out,
        "Method: the release binary as `serve`, single store, state in an SQLite file (the default backend), default \
         upstream pacing (burst {BURST}, {PER_SECOND}/s, sync reserve tokens at their \
         default), `--call-timeout-secs 600`, `--sync-tick-secs 0`, `--log warn`; the fake \
         has OrderDesk's bucket ({BURST} tokens, {PER_SECOND}/s), filled and its counters \
         zeroed just before the call. One `sync_trigger` (lookback a year, batch {BATCH}, \
         max_pages 100) covers the whole store; every fourth seeded order is in the \
         Cancelled folder and skipped. Webhooks: the store opted in (`webhooks: true`, \
         polling off); each sender (this process, one tokio thread) posts one delivery at a \
         time on a new loopback connection, as OrderDesk does; every delivery carries a \
         different order body (a counter in `order_metadata`), so none is a duplicate. \
         Bench run {:.0} s.",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(out, "{END}");
    out
}

/// Replaces this bench's section of `bench/RESULTS.md` (or appends it).
fn write(section: &str) -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("bench/RESULTS.md");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let kept = match (old.find(BEGIN), old.find(END)) {
        (Some(begin), Some(end)) if end > begin => {
            format!(
                "{}{}",
                &old[..begin],
                &old[end + END.len()..].trim_start_matches('\n')
            )
        }
        _ => old,
    };
    let mut text = kept.trim_end().to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(section);
    std::fs::write(&path, text).unwrap();
    path
}
