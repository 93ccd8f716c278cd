//! Load levels: N clients, each on its own connection, calling `orders_get` on a warm order
//! for a warm-up and then a measured window — closed loop (each client sends its next call
//! when the last is answered) or open loop (a fixed total rate, spread evenly over clients).
//! Around the window: the server's CPU time, this process's CPU time, and samples of latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Barrier, watch};

use crate::http_client::{self, Era};
use crate::procfs::{self, Rss};

pub const WARMUP: Duration = Duration::from_secs(1);
pub const MEASURE: Duration = Duration::from_secs(5);

/// What one level measured.
pub struct Outcome {
    /// Latencies of the calls sent in the window, sorted.
    pub samples: Vec<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    pub server_cpu: Duration,
    pub client_cpu: Duration,
    /// Server memory once every client had connected (and, in a session, initialized) and
    /// made one call.
    pub rss_ready: Rss,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.window.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.samples, p)
    }

    pub fn server_cpu_per_call(&self) -> Duration {
        self.server_cpu / self.samples.len().max(1) as u32
    }

    pub fn client_cpu_per_call(&self) -> Duration {
        self.client_cpu / self.samples.len().max(1) as u32
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Window accounting shared by the HTTP and the stdio runs.
pub struct Window {
    pub warm_end: Instant,
    pub end: Instant,
}

impl Window {
    pub fn starting_now() -> Self {
        let warm_end = Instant::now() + WARMUP;
        Window {
            warm_end,
            end: warm_end + MEASURE,
        }
    }

    pub fn counts(&self, sent: Instant) -> bool {
        sent >= self.warm_end && sent < self.end
    }
}

/// `clients` HTTP clients of `era` against `addr`; `rate`: total calls per second (open
/// loop), or `None` for as fast as answers come (closed loop).
pub async fn http(
    addr: &str,
    pid: u32,
    era: Era,
    clients: usize,
    rate: Option<f64>,
    arguments: &Value,
    ticks: u64,
) -> Outcome {
    let ready = Arc::new(Barrier::new(clients + 1));
    let (start_tx, start_rx) = watch::channel(None::<Arc<Window>>);
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let (addr, arguments, ready) = (addr.to_string(), arguments.clone(), ready.clone());
        let mut start_rx = start_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = http_client::connect(&addr, era).await.expect("connect");
            client.orders_get_hit(&arguments).await.expect("first call");
            ready.wait().await;
            let window = start_rx
                .wait_for(|w| w.is_some())
                .await
                .unwrap()
                .clone()
                .unwrap();
            // Open loop: client i sends at its own phase of the common period.
            let period = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
            let mut next = period.map(|p| Instant::now() + p.mul_f64(i as f64 / clients as f64));
            let mut samples = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            loop {
                if let (Some(at), Some(p)) = (next.as_mut(), period) {
                    tokio::time::sleep_until((*at).into()).await;
                    *at += p;
                }
                let sent = Instant::now();
                if sent >= window.end {
                    break;
                }
                let result = client.orders_get_hit(&arguments).await;
                if window.counts(sent) {
                    match result {
                        Ok(()) => samples.push(sent.elapsed()),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            client.close().await;
            (samples, errors, first_error)
        }));
    }
    ready.wait().await;
    let rss_ready = procfs::rss(pid);
    let window = Arc::new(Window::starting_now());
    start_tx.send(Some(window.clone())).unwrap();
    let pid_s = pid.to_string();
    tokio::time::sleep_until(window.warm_end.into()).await;
    let (server0, client0) = (
        procfs::cpu_time(&pid_s, ticks),
        procfs::cpu_time("self", ticks),
    );
    tokio::time::sleep_until(window.end.into()).await;
    let (server1, client1) = (
        procfs::cpu_time(&pid_s, ticks),
        procfs::cpu_time("self", ticks),
    );
    let mut outcome = Outcome {
        samples: Vec::new(),
        errors: 0,
        first_error: None,
        window: MEASURE,
        server_cpu: server1 - server0,
        client_cpu: client1 - client0,
        rss_ready,
    };
    for task in tasks {
        let (samples, errors, first_error) = task.await.unwrap();
        outcome.samples.extend(samples);
        outcome.errors += errors;
        if outcome.first_error.is_none() {
            outcome.first_error = first_error;
        }
    }
    outcome.samples.sort();
    outcome
}
