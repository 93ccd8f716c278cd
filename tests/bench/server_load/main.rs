//! `just bench`: throughput, latency, server CPU per call, memory and start-up of the release
//! binary, for cache-hit `orders_get` calls against the in-process fake OrderDesk.
//!
//! 1. HTTP (`serve`): 1, 8 and 64 clients in a closed loop, then 5,000 calls/s offered by 64
//!    clients, stateless (2026-07-28) and in sessions (2025-11-25) — [`load`].
//! 2. stdio: 1, 8 and 64 calls in flight — [`stdio`].
//! 3. Server CPU time per call and memory from `/proc` — [`procfs`].
//! 4. Start → first `tools/list` answer, with the precompile cache cold and warm.
//!
//! Prints a summary and writes `bench/RESULTS.md` (with the goals, marked met or missed);
//! asserts nothing but that calls succeed. About two minutes, release build not counted.

#[path = "../../e2e/support/mod.rs"]
mod support;

mod http_client;
mod load;
mod report;
mod servers;
mod stdio;

use support::procfs;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{FakeConfig, FakeOrderDesk, fake_with};

use http_client::Era;
use report::{HttpRow, Results};

const STARTS: usize = 5;
const CLIENTS: [usize; 3] = [1, 8, 64];
const OFFERED: f64 = 5_000.0;

// One thread for the bench (load generator and fake), so the server keeps the other core.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let began = Instant::now();
    let load_before = report::load_average();
    let ticks = procfs::clock_ticks();
    let fake = fake_with(FakeConfig {
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await;
    let arguments = json!({ "order_id": fake.order_ids()[0].to_string() });
    let cache = tempfile::tempdir().unwrap();

    println!("cold starts ({STARTS} per kind)…");
    let starts = start_times(&fake, cache.path()).await;

    println!("HTTP, stateless…");
    let mut http = Vec::new();
    let upstream_before = fake.stats().total;
    let server = servers::serve(&fake, cache.path(), &[]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_http_idle = procfs::rss(server.pid);
    warm_http(&server, &arguments).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_http_one_call = procfs::rss(server.pid);
    let mut misses = fake.stats().total - upstream_before;
    let mut in_server = None;
    for clients in CLIENTS {
        let before = tool_time(&server.addr).await;
        http.push(http_level(&server, Era::Stateless, clients, None, &arguments, ticks).await);
        if clients == 1 {
            let (after_sum, after_count) = tool_time(&server.addr).await;
            let calls = after_count - before.1;
            in_server = Some(Duration::from_secs_f64(
                (after_sum - before.0) / calls.max(1.0),
            ));
        }
    }
    http.push(
        http_level(
            &server,
            Era::Stateless,
            64,
            Some(OFFERED),
            &arguments,
            ticks,
        )
        .await,
    );
    let rss_http_after_stateless = procfs::rss(server.pid);
    server.kill().await;

    // What the per-call access log costs when it is on: the same 64 clients with successful
    // calls logged too (off at the default filter).
    let before = fake.stats().total;
    let access_log = ["--log", "info,rmcp=warn,orderdesk_mcp::mcp=debug"];
    let server = servers::serve(&fake, cache.path(), &access_log).await;
    warm_http(&server, &arguments).await;
    misses += fake.stats().total - before;
    let logged = http_level(&server, Era::Stateless, 64, None, &arguments, ticks).await;
    server.kill().await;

    // A fresh server, so its first level (64 sessions) shows what sessions alone cost.
    println!("HTTP, sessions…");
    let before = fake.stats().total;
    let server = servers::serve(&fake, cache.path(), &[]).await;
    warm_http(&server, &arguments).await;
    misses += fake.stats().total - before;
    let mut sessions = Vec::new();
    for clients in [64, 1, 8] {
        sessions.push(http_level(&server, Era::Session, clients, None, &arguments, ticks).await);
    }
    let rss_http_64_sessions = sessions[0].outcome.rss_ready;
    sessions.sort_by_key(|r| r.clients);
    http.extend(sessions);
    http.push(http_level(&server, Era::Session, 64, Some(OFFERED), &arguments, ticks).await);
    let rss_http_after_sessions = procfs::rss(server.pid);
    server.kill().await;

    println!("stdio…");
    let before = fake.stats().total;
    let mut server = servers::stdio(&fake, cache.path());
    stdio::initialize(&mut server).await;
    let first = stdio::orders_get(&mut server, &arguments).await;
    assert!(first.contains("\"cache\":\"miss\""), "{first}");
    misses += fake.stats().total - before;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_stdio_one_call = procfs::rss(server.pid);
    let mut stdio_rows = Vec::new();
    for depth in CLIENTS {
        let outcome = stdio::run(&mut server, depth, &arguments, ticks).await;
        println!("  {depth:>2} in flight: {}", summary(&outcome));
        stdio_rows.push((depth, outcome));
    }
    server.kill().await;
    let upstream_requests = fake.stats().total - upstream_before - misses;

    let results = Results {
        http,
        stdio: stdio_rows,
        rss_http_idle,
        rss_http_one_call,
        rss_http_after_stateless,
        rss_http_64_sessions,
        rss_http_after_sessions,
        rss_stdio_one_call,
        logged,
        in_server,
        starts,
        upstream_requests,
        ticks,
        load_before,
        load_after: report::load_average(),
        elapsed: began.elapsed(),
    };
    let path = results.write();
    println!("\n{}", results.markdown());
    println!("written to {}", path.display());
}

/// The server's own measure of `orders_get` (instance + component, from the sandbox slot
/// to the result): the sum in seconds and the count of its duration histogram at `/metrics`.
async fn tool_time(addr: &str) -> (f64, f64) {
    let addr = addr.to_string();
    let text = tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut conn = std::net::TcpStream::connect(&addr).expect("connect for /metrics");
        write!(
            conn,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        text
    })
    .await
    .unwrap();
    let value = |name: &str| -> f64 {
        let prefix = format!("orderdesk_tool_call_duration_seconds_{name}{{tool=\"orders_get\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    (value("sum"), value("count"))
}

/// The first call of the run: fetches the order (a miss) so every later call hits.
async fn warm_http(server: &servers::HttpServer, arguments: &Value) {
    let mut client = http_client::connect(&server.addr, Era::Stateless)
        .await
        .expect("connect");
    let body = client
        .orders_get(arguments)
        .await
        .unwrap_or_else(|e| panic!("orders_get: {e}\n{}", server.stderr_tail()));
    assert!(http_client::contains(&body, br#""cache":"miss""#));
}

async fn http_level(
    server: &servers::HttpServer,
    era: Era,
    clients: usize,
    rate: Option<f64>,
    arguments: &Value,
    ticks: u64,
) -> HttpRow {
    let outcome = load::http(
        &server.addr,
        server.pid,
        era,
        clients,
        rate,
        arguments,
        ticks,
    )
    .await;
    if let Some(e) = &outcome.first_error {
        eprintln!(
            "  errors ({}), first: {e}\n{}",
            outcome.errors,
            server.stderr_tail()
        );
    }
    let load = rate.map_or("closed".into(), |r| format!("{r:.0}/s"));
    println!(
        "  {:<20} {clients:>2} clients, {load:<7}: {}",
        era.label(),
        summary(&outcome)
    );
    HttpRow {
        era,
        clients,
        rate,
        outcome,
    }
}

fn summary(o: &load::Outcome) -> String {
    format!(
        "{:>6.0} calls/s  p50 {:.3} ms  p99 {:.3} ms  server CPU {:.0} µs/call",
        o.rate(),
        o.percentile(0.5).as_secs_f64() * 1e3,
        o.percentile(0.99).as_secs_f64() * 1e3,
        o.server_cpu_per_call().as_secs_f64() * 1e6
    )
}

/// Start → first `tools/list` answer, over stdio and HTTP, with an empty precompile cache
/// directory each time and then with `warm` (filled by the first warm start, not counted).
async fn start_times(
    fake: &FakeOrderDesk,
    warm: &Path,
) -> Vec<(&'static str, bool, Vec<Duration>)> {
    let mut out = Vec::new();
    for transport in ["stdio", "HTTP"] {
        for warmed in [false, true] {
            if warmed {
                start_once(fake, transport, warm).await; // fills the cache
            }
            let mut times = Vec::with_capacity(STARTS);
            for _ in 0..STARTS {
                let empty = tempfile::tempdir().unwrap();
                let dir = if warmed { warm } else { empty.path() };
                times.push(start_once(fake, transport, dir).await);
            }
            let mut sorted = times.clone();
            sorted.sort();
            println!(
                "  {transport:<5} cache {}: median {:.1} ms",
                if warmed { "warm" } else { "cold" },
                sorted[STARTS / 2].as_secs_f64() * 1e3
            );
            out.push((transport, warmed, times));
        }
    }
    out
}

async fn start_once(fake: &FakeOrderDesk, transport: &str, cache: &Path) -> Duration {
    let t = Instant::now();
    if transport == "stdio" {
        let mut server = servers::stdio(fake, cache);
        stdio::initialize(&mut server).await;
        assert!(
            stdio::tools_list(&mut server).await,
            "{}",
            server.stderr_tail()
        );
        let elapsed = t.elapsed();
        server.kill().await;
        elapsed
    } else {
        let server = servers::serve(fake, cache, &[]).await;
        let mut client = http_client::connect(&server.addr, Era::Stateless)
            .await
            .expect("connect");
        client
            .tools_list()
            .await
            .unwrap_or_else(|e| panic!("tools/list: {e}\n{}", server.stderr_tail()));
        let elapsed = t.elapsed();
        server.kill().await;
        elapsed
    }
}
