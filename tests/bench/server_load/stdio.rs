//! Cache-hit `orders_get` over stdio, spoken as raw newline-delimited JSON-RPC (no SDK on
//! the client side, so the client's own cost stays small): `depth` requests in flight, a
//! new one written as each answer arrives (1 = sequential).

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::http_client::contains;
use crate::load::{Outcome, Window};
use crate::procfs;
use crate::servers::StdioServer;

async fn write(server: &mut StdioServer, message: &Value) {
    let mut line = message.to_string();
    line.push('\n');
    server
        .stdin
        .write_all(line.as_bytes())
        .await
        .expect("writing to the server's stdin");
}

/// The next answer (a line with an `id`), skipping notifications and requests.
async fn answer(server: &mut StdioServer) -> (u64, String) {
    loop {
        let line = server.stdout.next_line().await.unwrap().unwrap_or_else(|| {
            panic!(
                "the stdio server closed stdout; stderr:\n{}",
                server.stderr_tail()
            )
        });
        let message: Value = serde_json::from_str(&line).expect("a JSON-RPC line");
        if message.get("method").is_none()
            && let Some(id) = message["id"].as_u64()
        {
            return (id, line);
        }
    }
}

/// `initialize` + `notifications/initialized`, as a client does before anything else.
pub async fn initialize(server: &mut StdioServer) {
    let init = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": { "name": "bench", "version": "1" } } });
    write(server, &init).await;
    let (_, line) = answer(server).await;
    assert!(line.contains("\"result\""), "initialize: {line}");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    write(server, &initialized).await;
}

/// One `tools/list`; true when it lists tools.
pub async fn tools_list(server: &mut StdioServer) -> bool {
    write(
        server,
        &json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }),
    )
    .await;
    answer(server).await.1.contains("\"tools\":[")
}

fn call(id: u64, arguments: &Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": "orders_get", "arguments": arguments } })
}

/// One call, expected to be a cache hit: the warm-up of the order.
pub async fn orders_get(server: &mut StdioServer, arguments: &Value) -> String {
    write(server, &call(2, arguments)).await;
    answer(server).await.1
}

/// Calls with `depth` in flight for the warm-up and the window (on an initialized server).
pub async fn run(server: &mut StdioServer, depth: usize, arguments: &Value, ticks: u64) -> Outcome {
    let pid = server.pid.to_string();
    let rss_ready = procfs::rss(server.pid);
    let window = Window::starting_now();
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut next_id = 1000u64;
    for _ in 0..depth {
        sent_at.insert(next_id, Instant::now());
        write(server, &call(next_id, arguments)).await;
        next_id += 1;
    }
    let (mut cpu0, mut cpu1) = (None, None);
    let mut outcome = Outcome {
        samples: Vec::new(),
        errors: 0,
        first_error: None,
        window: window.end - window.warm_end,
        server_cpu: Default::default(),
        client_cpu: Default::default(),
        rss_ready,
    };
    while !sent_at.is_empty() {
        let (id, line) = answer(server).await;
        let now = Instant::now();
        let sent = sent_at.remove(&id).expect("an answer to a call in flight");
        if window.counts(sent) {
            if contains(line.as_bytes(), br#""cache":"hit""#) {
                outcome.samples.push(now - sent);
            } else {
                outcome.errors += 1;
                outcome.first_error.get_or_insert(line);
            }
        }
        if cpu0.is_none() && now >= window.warm_end {
            cpu0 = Some((
                procfs::cpu_time(&pid, ticks),
                procfs::cpu_time("self", ticks),
            ));
        }
        if cpu1.is_none() && now >= window.end {
            cpu1 = Some((
                procfs::cpu_time(&pid, ticks),
                procfs::cpu_time("self", ticks),
            ));
        }
        if now < window.end {
            sent_at.insert(next_id, Instant::now());
            write(server, &call(next_id, arguments)).await;
            next_id += 1;
        }
    }
    let ((s0, c0), (s1, c1)) = (cpu0.unwrap(), cpu1.unwrap());
    outcome.server_cpu = s1 - s0;
    outcome.client_cpu = c1 - c0;
    outcome.samples.sort();
    outcome
}
