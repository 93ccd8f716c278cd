//! `just bench`: start-up and tool-call latency of the real binary over stdio, against the
//! in-process fake OrderDesk. Prints medians (and tails) from one run; asserts nothing.

#[path = "../e2e/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{FakeConfig, Launch, fake_with, spawn};

const STARTS: usize = 7;
const CALLS: usize = 500;

#[tokio::main]
async fn main() {
    let fake = fake_with(FakeConfig {
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await;
    let cache = tempfile::tempdir().unwrap();
    // Measure the server, not the limits: no tool budget, an upstream bucket as large as the
    // fake's (which has rate limiting off).
    let with_cache = Launch::against(&fake)
        .arg("--precompile-cache")
        .arg(cache.path().display().to_string())
        .arg("--tool-calls-per-minute")
        .arg("0")
        .arg("--upstream-burst")
        .arg("100000")
        .arg("--upstream-per-second")
        .arg("100000");

    let cold = start_times(Launch::against(&fake).arg("--no-precompile-cache")).await;
    spawn(with_cache.clone()).await.stop().await; // fills the artifact cache
    let warm = start_times(with_cache.clone()).await;

    let server = spawn(with_cache.clone()).await;
    let args = json!({ "order_id": fake.order_ids()[0].to_string() });
    assert_eq!(server.ok("orders_get", args.clone()).await["cache"], "miss");
    let mut hits = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        let r = server.ok("orders_get", args.clone()).await;
        hits.push(t.elapsed());
        assert_eq!(r["cache"], "hit");
    }
    server.stop().await;

    let uncached = spawn(with_cache.arg("--cache-ttl-orders").arg("0")).await;
    let mut misses = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let id = fake.order_ids()[i % 200].to_string();
        let t = Instant::now();
        uncached.ok("orders_get", json!({ "order_id": id })).await;
        misses.push(t.elapsed());
    }
    uncached.stop().await;

    println!(
        "orderdesk-mcp stdio benchmark (one run; {} starts, {} calls)",
        STARTS, CALLS
    );
    println!("{:<52} {:>10} {:>10}", "measure", "median", "p90");
    row("cold start → initialize, no precompile cache", &cold);
    row("cold start → initialize, precompile cache warm", &warm);
    row("orders_get, cache hit (round trip over stdio)", &hits);
    row(
        "orders_get, cache off (+ fake OrderDesk on loopback)",
        &misses,
    );
    println!(
        "ratio: start without cache / with cache = {:.1}x",
        median(&cold).as_secs_f64() / median(&warm).as_secs_f64()
    );
}

async fn start_times(launch: Launch) -> Vec<Duration> {
    let mut times = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let t = Instant::now();
        let server = spawn(launch.clone()).await;
        times.push(t.elapsed());
        server.stop().await;
    }
    times
}

fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 0.5)
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn row(name: &str, samples: &[Duration]) {
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    println!(
        "{name:<52} {:>10} {:>10}",
        ms(median(samples)),
        ms(percentile(samples, 0.9))
    );
}
