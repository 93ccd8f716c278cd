//! Faults of the parts we run, against the real binary: the Redis server stopped and
//! started again under writes and a sync (two `serve` on it), the SQLite file's disk
//! filling up, and one of two `serve` on Redis killed with SIGKILL mid-write. Each time the
//! calls must answer (never hang), fail with an error that names the state store, the
//! servers must recover by themselves once the part is back, and nothing acknowledged may
//! be lost or done twice. Thresholds are generous bounds, never tight timings.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_orderdesk::redis_server::RedisServer;
use rmcp::RoleClient;
use rmcp::service::RunningService;
use serde_json::{Value, json};
use support::http::{self, HttpServer, ok};
use support::sync::{
    CANCELLED, SECRET, SECRET_ENV, YEAR_MINUTES, assert_mirror, expected_rows, fake_rows, mirror,
};
use support::{
    Edit, FakeConfig, FakeOrderDesk, Launch, Match, Respond, Rule, call_tool, create_tenant,
    fake_with,
};

/// Longest any call may take: the 30 s call deadline, plus slack for a loaded machine.
const CALL_BOUND: Duration = Duration::from_secs(45);
/// How long the orphaned leases of calls cut off by a fault may hold a record: the
/// component's 60 s update lease, plus slack.
const LEASE_BOUND: Duration = Duration::from_secs(100);

/// What a tool call answers while the state store is down: the component maps every
/// `wasi:keyvalue` and lock failure to `STATE_UNAVAILABLE` ("state storage failed: …" /
/// "lock backend failed: …"), retryable when no write went out (a call made entirely
/// during the outage never gets as far as a write).
const OUTAGE_CODE: &str = "STATE_UNAVAILABLE";
const OUTAGE_RETRYABLE: bool = true;

type Client = RunningService<RoleClient, ()>;

/// How one call ended.
#[derive(Clone, Debug)]
enum Outcome {
    /// A successful result's structured content.
    Ok(Value),
    /// A tool error's `error` object.
    Failed(Value),
    /// No MCP result at all (a JSON-RPC or transport error).
    Broken(String),
    /// No answer within [`CALL_BOUND`].
    Hung,
}

impl Outcome {
    fn error(&self) -> Option<&Value> {
        match self {
            Outcome::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// One call, as a worker saw it.
#[derive(Clone, Debug)]
struct Record {
    instance: usize,
    tool: &'static str,
    /// What it was about: `order:key` for an update, the source_id for a create.
    subject: String,
    started: Instant,
    ended: Instant,
    outcome: Outcome,
}

/// `tools/call`, timed and bounded by [`CALL_BOUND`].
async fn timed(client: &Client, tool: &str, args: Value) -> (Instant, Instant, Outcome) {
    let started = Instant::now();
    let answer = tokio::time::timeout(CALL_BOUND, call_tool(client, tool, args)).await;
    let outcome = match answer {
        Err(_) => Outcome::Hung,
        Ok(Err(e)) => Outcome::Broken(e.to_string()),
        Ok(Ok(result)) if result.is_error == Some(true) => {
            let text = result.content[0].as_text().map(|t| t.text.clone());
            let body: Value = text
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            Outcome::Failed(body["error"].clone())
        }
        Ok(Ok(result)) => Outcome::Ok(result.structured_content.unwrap_or_default()),
    };
    (started, Instant::now(), outcome)
}

/// Every call the workers made.
#[derive(Clone, Default)]
struct Ledger(Arc<Mutex<Vec<Record>>>);

impl Ledger {
    fn push(&self, record: Record) {
        self.0.lock().unwrap().push(record);
    }

    fn all(&self) -> Vec<Record> {
        self.0.lock().unwrap().clone()
    }

    /// Calls that started after `t` (on `instance`, if given) and succeeded.
    fn successes_since(&self, t: Instant, instance: Option<usize>) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.started >= t && instance.is_none_or(|i| r.instance == i))
            .filter(|r| matches!(r.outcome, Outcome::Ok(_)))
            .count()
    }

    /// Calls that started after `t` and have ended.
    fn ended_since(&self, t: Instant) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.started >= t)
            .count()
    }
}

/// An order as `orders_create` gets it, with `source_id`.
fn new_order(source_id: &str) -> Value {
    json!({
        "source_id": source_id,
        "email": "buyer@example.com",
        "shipping": { "first_name": "Kari", "last_name": "Nordmann", "city": "Oslo" },
        "order_items": [{ "name": "Tea", "code": "SKU-5001", "price": 9.5, "quantity": 2 }]
    })
}

/// A worker updating `orders` in turn through `client` until `stop`, each update adding a
/// key of its own to `order_metadata`.
async fn updater(
    (instance, worker): (usize, usize),
    client: Arc<Client>,
    store: String,
    orders: Vec<u64>,
    stop: Arc<AtomicBool>,
    ledger: Ledger,
) {
    let mut seq = 0;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let order = orders[(worker * 3 + seq) % orders.len()];
        let key = format!("i{instance}w{worker}s{seq}");
        let args = json!({
            "store": store, "order_id": order,
            "changes": { "order_metadata": { key.clone(): seq } }
        });
        let (started, ended, outcome) = timed(&client, "orders_update", args).await;
        let failed = !matches!(outcome, Outcome::Ok(_));
        ledger.push(Record {
            instance,
            tool: "orders_update",
            subject: format!("{order}:{key}"),
            started,
            ended,
            outcome,
        });
        // A pace any agent keeps; slower after a failure.
        let pause = if failed { 200 } else { 20 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// A worker creating orders with source ids of its own through `client`: a failed create
/// is sent again with the same source_id until it succeeds (as a client that was told the
/// outcome is unknown does), so it must never make two orders. Stops after a success once
/// `stop` is set, when a call gets no MCP answer at all, or at `give_up`.
async fn creator(
    (instance, worker): (usize, usize),
    client: Arc<Client>,
    store: String,
    stop: Arc<AtomicBool>,
    give_up: Instant,
    ledger: Ledger,
) {
    let mut n = 0;
    loop {
        let source_id = format!("FLT-{instance}-{worker}-{n}");
        let args = json!({ "store": store, "order": new_order(&source_id) });
        let (started, ended, outcome) = timed(&client, "orders_create", args).await;
        let created = matches!(outcome, Outcome::Ok(_));
        // No MCP answer: the server is gone (the caller settles what was in flight).
        let gone = matches!(outcome, Outcome::Broken(_) | Outcome::Hung);
        ledger.push(Record {
            instance,
            tool: "orders_create",
            subject: source_id,
            started,
            ended,
            outcome,
        });
        if created {
            n += 1;
            if stop.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stop.load(Ordering::SeqCst) {
                return;
            }
        } else {
            if gone || Instant::now() > give_up {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `GET /ready` of `server`: its status and how long it took to answer.
async fn ready(server: &HttpServer) -> (u16, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(CALL_BOUND, reqwest::get(format!("{}/ready", server.base)))
        .await
        .expect("/ready hung")
        .expect("/ready answers");
    (answer.status().as_u16(), started.elapsed())
}

/// Polls `check` every 200 ms until it holds, or panics with `what` after `within`.
async fn until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether `error` is the state store's outage as the component reports it.
fn is_outage(error: &Value) -> bool {
    let message = error["message"].as_str().unwrap_or_default();
    error["code"] == OUTAGE_CODE
        && (message.starts_with("state storage failed") || message.starts_with("lock backend"))
}

/// The metadata keys each order of `store` holds in the fake.
fn metadata_keys(fake: &FakeOrderDesk, store: &str) -> BTreeMap<u64, BTreeSet<String>> {
    fake.orders_in(store)
        .iter()
        .map(|o| {
            let id = support::sync::id_of(&o["id"]);
            let keys = o["order_metadata"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            (id, keys)
        })
        .collect()
}

/// Every acknowledged update is in the fake, every acknowledged create is there exactly
/// once, and no source_id that was tried exists twice.
fn assert_nothing_lost(fake: &FakeOrderDesk, store: &str, records: &[Record]) {
    let keys = metadata_keys(fake, store);
    let mut lost = Vec::new();
    let mut acked_updates = 0;
    for r in records.iter().filter(|r| r.tool == "orders_update") {
        if let Outcome::Ok(_) = r.outcome {
            acked_updates += 1;
            let (order, key) = r.subject.split_once(':').unwrap();
            let order: u64 = order.parse().unwrap();
            if !keys.get(&order).is_some_and(|k| k.contains(key)) {
                lost.push(r.subject.clone());
            }
        }
    }
    assert!(lost.is_empty(), "acknowledged updates lost: {lost:?}");
    let tried: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.tool == "orders_create")
        .map(|r| r.subject.as_str())
        .collect();
    let acked: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.tool == "orders_create" && matches!(r.outcome, Outcome::Ok(_)))
        .map(|r| r.subject.as_str())
        .collect();
    let unsettled: Vec<&&str> = tried.difference(&acked).collect();
    assert!(
        unsettled.is_empty(),
        "creates never acknowledged after the fault was over: {unsettled:?}"
    );
    let wrong: Vec<(String, usize)> = tried
        .iter()
        .map(|s| (s.to_string(), fake.orders_with_source_id(store, s)))
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "source ids not present exactly once: {wrong:?}"
    );
    eprintln!(
        "nothing lost: {acked_updates} acknowledged updates, {} acknowledged creates",
        acked.len()
    );
}

/// No call hung or broke the protocol, and every call answered within [`CALL_BOUND`].
fn assert_all_answered(records: &[Record]) {
    for r in records {
        let (tool, instance) = (r.tool, r.instance);
        match &r.outcome {
            Outcome::Hung => panic!("{tool} on instance {instance} hung: {r:?}"),
            Outcome::Broken(why) => {
                panic!("{tool} on instance {instance} got no tool result: {why}")
            }
            Outcome::Ok(_) | Outcome::Failed(_) => {}
        }
        assert!(r.ended - r.started <= CALL_BOUND, "{r:?}");
    }
}

/// A summary of outcomes by tool and code, for the log.
fn tally(records: &[Record]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        let what = match &r.outcome {
            Outcome::Ok(_) => "ok".to_string(),
            Outcome::Failed(e) => e["code"].as_str().unwrap_or("?").to_string(),
            Outcome::Broken(_) => "broken".into(),
            Outcome::Hung => "hung".into(),
        };
        *out.entry(format!("{} {what}", r.tool)).or_insert(0) += 1;
    }
    out
}

fn assert_no_panic(servers: &[&HttpServer]) {
    for server in servers {
        let stderr = server.stderr();
        assert!(!stderr.contains("panicked"), "a server panicked:\n{stderr}");
    }
}

/// The store the writers work on, and the one the sync polls (no writes there, so its
/// mirror must equal the fake exactly).
const WRITES: (&str, &str) = ("40001", "key-w-1a2b3c");
const SYNCED: (&str, &str) = ("40002", "key-s-4d5e6f");

#[tokio::test]
async fn redis_stopped_and_restarted_under_writes_and_a_sync_loses_nothing() {
    let mut redis = RedisServer::start_durable();
    let fake = fake_with(FakeConfig {
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await;
    fake.add_store(WRITES.0, WRITES.1, 40, 5);
    fake.add_store(SYNCED.0, SYNCED.1, 2_000, 5);
    let state = redis.url();
    let (_, key) = create_tenant(&state, "Faults");
    let launch = Launch::for_tenants(&fake, &state)
        .unthrottled()
        .arg("--sync-tick-secs")
        .arg("0");
    let servers = [
        http::serve_with_env(&launch, &[(SECRET_ENV, SECRET)]).await,
        http::serve_with_env(&launch, &[(SECRET_ENV, SECRET)]).await,
    ];
    let clients = [
        Arc::new(servers[0].stateless_client(Some(&key)).await),
        Arc::new(servers[1].stateless_client(Some(&key)).await),
    ];
    for (id, api_key) in [WRITES, SYNCED] {
        ok(
            &clients[0],
            "stores_register",
            json!({ "store_id": id, "api_key": api_key, "name": format!("shop {id}") }),
        )
        .await;
    }
    ok(
        &clients[0],
        "sync_configure",
        json!({ "store": SYNCED.0, "enabled": true, "interval_minutes": 60,
                "lookback_minutes": YEAR_MINUTES, "batch_size": 50, "webhooks": false }),
    )
    .await;

    // Writers on both instances: two updaters and one creator each.
    let orders: Vec<u64> = fake_rows(&fake, WRITES.0)
        .into_iter()
        .filter(|(_, row)| row.folder_id != CANCELLED)
        .map(|(id, _)| id)
        .take(8)
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Ledger::default();
    let give_up = Instant::now() + Duration::from_secs(150);
    let mut workers = Vec::new();
    for (instance, client) in clients.iter().enumerate() {
        for worker in 0..2 {
            workers.push(tokio::spawn(updater(
                (instance, worker),
                client.clone(),
                WRITES.0.to_string(),
                orders.clone(),
                stop.clone(),
                ledger.clone(),
            )));
        }
        workers.push(tokio::spawn(creator(
            (instance, 9),
            client.clone(),
            WRITES.0.to_string(),
            stop.clone(),
            give_up,
            ledger.clone(),
        )));
    }
    let began = Instant::now();
    until(Duration::from_secs(90), "writes before the outage", || {
        let n = ledger.successes_since(began, None);
        async move { n >= 20 }
    })
    .await;

    // A sync of the other store, on instance 1, stopped in the middle by the outage.
    let sync_client = clients[1].clone();
    let sync = tokio::spawn(async move {
        timed(&sync_client, "sync_trigger", json!({ "store": SYNCED.0 })).await
    });
    let pages_before = fake.stats().count_in(SYNCED.0, "GET /orders");
    until(Duration::from_secs(90), "the sync's first pages", || {
        let n = fake.stats().count_in(SYNCED.0, "GET /orders");
        async move { n >= pages_before + 3 }
    })
    .await;

    // The outage.
    redis.stop();
    let stopped = Instant::now();
    eprintln!("redis stopped {:?} into the load", stopped - began);
    for server in &servers {
        let (status, took) = ready(server).await;
        assert_eq!(status, 503, "/ready while the state store is down");
        eprintln!("/ready 503 in {took:?}");
    }
    // Long enough for every worker to have had a call fail: each worker's next call
    // starts after the stop.
    until(
        Duration::from_secs(60),
        "calls failing in the outage",
        || {
            let n = ledger.ended_since(stopped);
            async move { n >= 12 && stopped.elapsed() >= Duration::from_secs(5) }
        },
    )
    .await;
    let (sync_started, sync_ended, sync_outcome) = sync.await.unwrap();
    assert!(sync_ended - sync_started <= CALL_BOUND);
    let sync_error = sync_outcome
        .error()
        .unwrap_or_else(|| panic!("the sync was not cut off by the outage: {sync_outcome:?}"));
    assert!(is_outage(sync_error), "{sync_error}");

    let restarting = Instant::now();
    redis.restart();
    let restarted = Instant::now();
    eprintln!("redis down for {:?}", restarted - stopped);

    // Recovery by itself: /ready, then successful writes through both instances.
    for server in &servers {
        until(
            Duration::from_secs(30),
            "/ready 200 after the restart",
            || async { ready(server).await.0 == 200 },
        )
        .await;
    }
    for instance in 0..2 {
        until(LEASE_BOUND, "writes succeed again", || {
            let n = ledger.successes_since(restarted, Some(instance));
            async move { n >= 10 }
        })
        .await;
    }
    // Every order takes updates again (leases orphaned by the outage have expired).
    let mut settled = BTreeSet::new();
    let wanted = orders.len();
    until(LEASE_BOUND, "every order updated after the restart", || {
        for r in ledger.all() {
            if r.started >= restarted
                && r.tool == "orders_update"
                && let Outcome::Ok(_) = r.outcome
            {
                settled.insert(r.subject.split_once(':').unwrap().0.to_string());
            }
        }
        let n = settled.len();
        async move { n >= wanted }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    let records = ledger.all();
    eprintln!("outcomes: {:?}", tally(&records));
    // The failures, as seconds from the stop: start, duration, instance, call, error.
    for r in records.iter().filter(|r| r.ended >= stopped) {
        if let Some(error) = r.outcome.error() {
            let (sign, at) = if r.started < stopped {
                ("-", stopped - r.started)
            } else {
                ("", r.started - stopped)
            };
            eprintln!(
                "{sign}{:.1}s +{:.1}s i{} {} {}: {} {}",
                at.as_secs_f64(),
                (r.ended - r.started).as_secs_f64(),
                r.instance,
                r.tool,
                r.subject,
                error["code"],
                error["message"]
            );
        }
    }
    assert_all_answered(&records);

    // Calls made entirely while the state store was down failed as an outage.
    let in_outage: Vec<&Record> = records
        .iter()
        .filter(|r| r.started >= stopped && r.ended <= restarting)
        .collect();
    assert!(in_outage.len() >= 6, "{in_outage:?}");
    for r in &in_outage {
        let error = r
            .outcome
            .error()
            .unwrap_or_else(|| panic!("succeeded without its state store: {r:?}"));
        assert!(is_outage(error), "{r:?}");
        assert_eq!(error["retryable"], OUTAGE_RETRYABLE, "{r:?}");
    }
    // Calls made after the restart failed only for leases the outage left behind.
    for r in records.iter().filter(|r| r.started >= restarted) {
        if let Some(error) = r.outcome.error() {
            assert_eq!(error["code"], "CONCURRENT_UPDATE", "{r:?}");
            assert_eq!(error["retryable"], true, "{r:?}");
        }
    }
    assert_nothing_lost(&fake, WRITES.0, &records);

    // The sync, triggered again, completes the mirror.
    let resumed = Instant::now();
    let report = loop {
        let (_, _, outcome) =
            timed(&clients[0], "sync_trigger", json!({ "store": SYNCED.0 })).await;
        match outcome {
            Outcome::Ok(report) if report["status"] == "done" => break report,
            Outcome::Ok(report) => assert_eq!(report["status"], "running", "{report}"),
            Outcome::Failed(e) => assert_eq!(e["code"], "SYNC_BUSY", "{e}"),
            other => panic!("sync_trigger: {other:?}"),
        }
        assert!(resumed.elapsed() < LEASE_BOUND, "the sync never completed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("sync after the restart: {report}");
    let never_seen: BTreeSet<u64> = fake_rows(&fake, SYNCED.0)
        .into_iter()
        .filter(|(_, row)| row.folder_id == CANCELLED)
        .map(|(id, _)| id)
        .collect();
    assert_mirror(
        &mirror(&clients[1], Some(SYNCED.0)).await,
        &expected_rows(&fake_rows(&fake, SYNCED.0), &never_seen),
    );
    for server in &servers {
        assert_eq!(ready(server).await.0, 200);
    }
    assert_no_panic(&[&servers[0], &servers[1]]);
}

/// One command to the Redis server on `port`, its reply as text: a bulk or simple string,
/// an integer, or an array's items (in order), flattened.
fn redis_command(port: u16, args: &[&str]) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("redis");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    fn read(reader: &mut impl BufRead, out: &mut Vec<String>) {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" | ":" => out.push(rest.to_string()),
            "-" => panic!("redis error: {rest}"),
            "$" => {
                let len: i64 = rest.parse().unwrap();
                if len >= 0 {
                    let mut data = vec![0u8; len as usize + 2];
                    reader.read_exact(&mut data).unwrap();
                    data.truncate(len as usize);
                    out.push(String::from_utf8(data).unwrap());
                }
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                for _ in 0..n.max(0) {
                    read(reader, out);
                }
            }
            other => panic!("unexpected RESP reply {other}{rest}"),
        }
    }
    let mut out = Vec::new();
    read(&mut reader, &mut out);
    out
}

/// The ids of the store's orders that have an update lease in Redis now.
fn leased_orders(port: u16, store: &str) -> BTreeSet<u64> {
    let prefix = format!("orderdesk:lock:order/{store}/");
    redis_command(port, &["KEYS", &format!("{prefix}*")])
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix)?.parse().ok())
        .collect()
}

/// Outside edits for every `every`-th `GET /orders/{id}` (in all, `count` of them), each
/// made just before the read is served, so that read shows it: an edit can land before an
/// update's read (and must be kept by the merge), never in the one-request window between
/// the read and the PUT that OrderDesk's API cannot close.
fn schedule_outside_edits(fake: &FakeOrderDesk, every: u32, count: u32) {
    for k in 1..=count {
        fake.faults().schedule(
            Rule::on(Match::Route("GET /orders/{id}".into()), Respond::Normal)
                .skip(k * every - 1)
                .with_edit(Edit::BeforeServing),
        );
    }
}

/// Every outside edit the fake made to the store's orders is still in them: the sum of
/// their `order_metadata.external_edits` counters is the number of edits made.
fn assert_outside_edits_kept(fake: &FakeOrderDesk, store: &str) {
    let made = fake.stats().external_edits;
    let kept: u64 = fake
        .orders_in(store)
        .iter()
        .map(|o| o["order_metadata"]["external_edits"].as_u64().unwrap_or(0))
        .sum();
    assert!(made > 0, "the fake made no outside edit");
    assert_eq!(kept, made, "outside edits were overwritten");
    eprintln!("outside edits: {made} made, all kept");
}

#[tokio::test]
async fn one_of_two_servers_killed_mid_write_leaves_no_lock_loss_or_duplicate() {
    let redis = RedisServer::start();
    let fake = fake_with(FakeConfig {
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await;
    fake.add_store(WRITES.0, WRITES.1, 40, 5);
    let state = redis.url();
    let (_, key) = create_tenant(&state, "Kill");
    let launch = Launch::for_tenants(&fake, &state).unthrottled();
    let mut a = http::serve(&launch).await;
    let b = http::serve(&launch).await;
    let (client_a, client_b) = (
        Arc::new(a.stateless_client(Some(&key)).await),
        Arc::new(b.stateless_client(Some(&key)).await),
    );
    ok(
        &client_a,
        "stores_register",
        json!({ "store_id": WRITES.0, "api_key": WRITES.1, "name": "shop" }),
    )
    .await;
    schedule_outside_edits(&fake, 11, 60);
    let orders: Vec<u64> = fake.order_ids_in(WRITES.0).into_iter().take(6).collect();

    // Four updaters and a creator through A, two updaters and a creator through B, all on
    // the same orders.
    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let ledger = Ledger::default();
    let give_up = Instant::now() + Duration::from_secs(150);
    let mut on_a = Vec::new();
    for worker in 0..4 {
        on_a.push(tokio::spawn(updater(
            (0, worker),
            client_a.clone(),
            WRITES.0.to_string(),
            orders.clone(),
            stop_a.clone(),
            ledger.clone(),
        )));
    }
    on_a.push(tokio::spawn(creator(
        (0, 9),
        client_a.clone(),
        WRITES.0.to_string(),
        stop_a.clone(),
        give_up,
        ledger.clone(),
    )));
    let mut on_b = Vec::new();
    for worker in 0..2 {
        on_b.push(tokio::spawn(updater(
            (1, worker),
            client_b.clone(),
            WRITES.0.to_string(),
            orders.clone(),
            stop_b.clone(),
            ledger.clone(),
        )));
    }
    on_b.push(tokio::spawn(creator(
        (1, 9),
        client_b.clone(),
        WRITES.0.to_string(),
        stop_b.clone(),
        give_up,
        ledger.clone(),
    )));
    let began = Instant::now();
    until(Duration::from_secs(120), "writes through both", || {
        let (on_a, on_b) = (
            ledger.successes_since(began, Some(0)),
            ledger.successes_since(began, Some(1)),
        );
        async move { on_a >= 40 && on_b >= 10 }
    })
    .await;

    // Slow answers, so that each of A's updaters is inside an update (holding its lease)
    // when A dies.
    fake.faults().set_latency(Duration::from_millis(150));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A's workers start no call from here on (the ones in flight stay in flight), so every
    // call of A's that breaks was under way when A died.
    stop_a.store(true, Ordering::SeqCst);
    let status = a.kill().await;
    let killed = Instant::now();
    fake.faults().set_latency(Duration::ZERO);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    let orphaned = leased_orders(redis.port(), WRITES.0);
    eprintln!(
        "A killed {:?} into the load; leased orders: {orphaned:?}",
        killed - began
    );
    assert!(!orphaned.is_empty(), "A held no lease when it died");
    // A's workers see their connection die: an error, never a hang.
    for worker in on_a {
        tokio::time::timeout(CALL_BOUND, worker)
            .await
            .expect("a call to the killed server hung")
            .unwrap();
    }

    // The creates A had in flight are retried through B with the same source_id.
    let records = ledger.all();
    let acked: BTreeSet<String> = records
        .iter()
        .filter(|r| r.tool == "orders_create" && matches!(r.outcome, Outcome::Ok(_)))
        .map(|r| r.subject.clone())
        .collect();
    let unsettled: BTreeSet<String> = records
        .iter()
        .filter(|r| r.instance == 0 && r.tool == "orders_create" && !acked.contains(&r.subject))
        .map(|r| r.subject.clone())
        .collect();
    for source_id in &unsettled {
        loop {
            let args = json!({ "store": WRITES.0, "order": new_order(source_id) });
            let (started, ended, outcome) = timed(&client_b, "orders_create", args).await;
            let done = matches!(outcome, Outcome::Ok(_));
            ledger.push(Record {
                instance: 1,
                tool: "orders_create",
                subject: source_id.clone(),
                started,
                ended,
                outcome,
            });
            if done {
                break;
            }
            assert!(killed.elapsed() < LEASE_BOUND, "{source_id} never created");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // B updates every order again, the ones A's leases held included, once they expire.
    let wanted = orders.len();
    let mut settled = BTreeSet::new();
    until(LEASE_BOUND, "B updates every order after the kill", || {
        for r in ledger.all() {
            if r.instance == 1
                && r.started >= killed
                && r.tool == "orders_update"
                && let Outcome::Ok(_) = r.outcome
            {
                settled.insert(r.subject.split_once(':').unwrap().0.to_string());
            }
        }
        let n = settled.len();
        async move { n >= wanted }
    })
    .await;
    eprintln!(
        "B updated every order {:?} after the kill",
        killed.elapsed()
    );
    stop_b.store(true, Ordering::SeqCst);
    for worker in on_b {
        worker.await.unwrap();
    }

    let records = ledger.all();
    eprintln!("outcomes: {:?}", tally(&records));
    for r in &records {
        assert!(r.ended - r.started <= CALL_BOUND, "{r:?}");
        match (&r.outcome, r.instance) {
            (Outcome::Ok(_), _) => {}
            // A's calls in flight when it died: no answer, their outcome unknown.
            (Outcome::Broken(_), 0) => assert!(r.started < killed, "{r:?}"),
            // B waited for a lease the dead A held, and gave up: nothing was written.
            (Outcome::Failed(e), 1) => {
                assert_eq!(e["code"], "CONCURRENT_UPDATE", "{r:?}");
                assert_eq!(e["retryable"], true, "{r:?}");
            }
            _ => panic!("unexpected: {r:?}"),
        }
    }
    let waited = records
        .iter()
        .filter(|r| r.instance == 1 && r.outcome.error().is_some())
        .count();
    eprintln!("B's calls that waited out a dead lease: {waited}");
    assert_nothing_lost(&fake, WRITES.0, &records);
    assert_outside_edits_kept(&fake, WRITES.0);
    assert!(
        leased_orders(redis.port(), WRITES.0).is_empty(),
        "a lease outlived the load"
    );
    assert_eq!(ready(&b).await.0, 200);
    assert_no_panic(&[&a, &b]);
}

/// A tmpfs of `size_kib` mounted over a directory; unmounted when dropped (on a panic too).
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    /// Mount one over `dir`; `None` (and why, on stderr) when this process may not.
    fn mount(dir: &std::path::Path, size_kib: u64) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: filling a disk needs a tmpfs mount, which needs root");
            return None;
        }
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k,mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            other => {
                eprintln!(
                    "SKIPPED: mounting a tmpfs on {} failed: {other:?}",
                    dir.display()
                );
                None
            }
        }
    }

    /// Write `path` until the file system is full; how many bytes went in.
    fn fill(&self, path: &std::path::Path) -> u64 {
        use std::io::Write;
        let mut file = std::fs::File::create(path).unwrap();
        let mut written = 0;
        for chunk in [64 * 1024, 4096, 512, 64, 1] {
            let block = vec![0u8; chunk];
            while file
                .write_all(&block)
                .and_then(|()| file.sync_data())
                .is_ok()
            {
                written += chunk as u64;
            }
        }
        written
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |args: &[&str]| {
            std::process::Command::new("umount")
                .args(args)
                .arg(&self.dir)
                .status()
                .is_ok_and(|s| s.success())
        };
        // A process that still has a file open there makes a plain unmount fail.
        if !umount(&[]) && !umount(&["-l"]) {
            eprintln!("could not unmount {}", self.dir.display());
        }
    }
}

/// `PRAGMA integrity_check` of the SQLite file at `db`, opened read-only.
fn integrity(db: &std::path::Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Whether `error` is the SQLite store's "disk full", explained.
fn is_disk_full(error: &Value) -> bool {
    let message = error["message"].as_str().unwrap_or_default();
    error["code"] == OUTAGE_CODE
        && (message.starts_with("state storage failed") || message.starts_with("lock backend"))
        && message.contains("full")
}

#[tokio::test]
async fn a_full_disk_under_the_sqlite_file_fails_calls_clearly_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("disk");
    std::fs::create_dir(&mnt).unwrap();
    let Some(disk) = Tmpfs::mount(&mnt, 8 * 1024) else {
        return;
    };
    let fake = fake_with(FakeConfig {
        rate_limit: false,
        ..FakeConfig::default()
    })
    .await;
    let db = mnt.join("state.db");
    let launch = Launch::against(&fake)
        .state(format!("sqlite:{}", db.display()))
        .unthrottled()
        .arg("--sync-tick-secs")
        .arg("0");
    let server = http::serve_with_env(&launch, &[(SECRET_ENV, SECRET)]).await;
    let client = server.stateless_client(None).await;
    ok(
        &client,
        "sync_configure",
        json!({ "enabled": true, "interval_minutes": 45, "webhooks": false }),
    )
    .await;
    let ids = fake.order_ids();
    let ledger = Ledger::default();
    let record = |tool: &'static str, subject: String, (started, ended, outcome)| {
        ledger.push(Record {
            instance: 0,
            tool,
            subject,
            started,
            ended,
            outcome,
        });
    };
    // Some of everything while there is room.
    for (i, id) in ids.iter().take(5).enumerate() {
        let key = format!("before{i}");
        let args = json!({ "order_id": id, "changes": { "order_metadata": { key.clone(): i } } });
        record(
            "orders_update",
            format!("{id}:{key}"),
            timed(&client, "orders_update", args).await,
        );
        let source_id = format!("DF-before-{i}");
        let args = json!({ "order": new_order(&source_id) });
        record(
            "orders_create",
            source_id,
            timed(&client, "orders_create", args).await,
        );
    }
    assert_eq!(
        ledger.successes_since(Instant::now() - Duration::from_secs(600), None),
        10
    );

    // The disk fills up.
    let filler = mnt.join("filler");
    let filled = disk.fill(&filler);
    eprintln!("filler: {filled} bytes; the disk is full");
    let full = Instant::now();
    let mut failures = 0;
    // Reads that miss the cache, updates, creates and a sync, three at a time.
    let calls: Vec<(&'static str, String, Value)> = ids[10..70]
        .iter()
        .enumerate()
        .map(|(i, id)| match i % 4 {
            0 => ("orders_get", id.to_string(), json!({ "order_id": id })),
            1 => {
                let key = format!("full{i}");
                let changes = json!({ "order_metadata": { key.clone(): i } });
                let args = json!({ "order_id": id, "changes": changes });
                ("orders_update", format!("{id}:{key}"), args)
            }
            2 => {
                let source_id = format!("DF-full-{i}");
                let args = json!({ "order": new_order(&source_id) });
                ("orders_create", source_id, args)
            }
            _ => ("sync_trigger", String::new(), json!({})),
        })
        .collect();
    for batch in calls.chunks(3) {
        let answers = futures::future::join_all(
            batch
                .iter()
                .map(|(tool, _, args)| timed(&client, tool, args.clone())),
        )
        .await;
        for ((tool, subject, _), answer) in batch.iter().zip(answers) {
            if let Outcome::Failed(error) = &answer.2 {
                assert!(is_disk_full(error), "{tool}: {error}");
                if failures == 0 {
                    eprintln!("on a full disk, {tool}: {error}");
                }
                failures += 1;
                // A write refused for want of its lease never reached OrderDesk.
                let message = error["message"].as_str().unwrap_or_default();
                if *tool == "orders_create" && message.starts_with("lock backend") {
                    assert_eq!(fake.orders_with_source_id(fake.store_id(), subject), 0);
                }
            }
            record(tool, subject.clone(), answer);
        }
        if failures >= 12 {
            break;
        }
    }
    let records = ledger.all();
    eprintln!("on a full disk: {:?}", tally(&records));
    assert!(
        failures >= 12,
        "calls kept succeeding on a full disk: {:?}",
        tally(&records)
    );
    // The server keeps serving, and says how it is.
    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // /ready probes the backend with a read, which a full disk still serves.
    let (status, took) = ready(&server).await;
    eprintln!("/ready on a full disk: {status} in {took:?}");
    assert!(
        [200, 503].contains(&status),
        "/ready on a full disk: {status}"
    );
    assert_eq!(
        integrity(&db),
        "ok",
        "the state file while the disk is full"
    );

    // Room again: calls succeed, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    eprintln!("disk full for {:?}", freed - full);
    let mut i = 0;
    until(Duration::from_secs(90), "an update succeeds again", || {
        i += 1;
        let id = ids[100 + i % 20];
        let key = format!("after{i}");
        let args = json!({ "order_id": id, "changes": { "order_metadata": { key.clone(): i } } });
        let client = &client;
        let ledger = ledger.clone();
        async move {
            let (started, ended, outcome) = timed(client, "orders_update", args).await;
            let done = matches!(outcome, Outcome::Ok(_));
            ledger.push(Record {
                instance: 0,
                tool: "orders_update",
                subject: format!("{id}:{key}"),
                started,
                ended,
                outcome,
            });
            done
        }
    })
    .await;
    // Creates that failed are sent again with their source_id: one order each.
    let records = ledger.all();
    let acked: BTreeSet<String> = records
        .iter()
        .filter(|r| r.tool == "orders_create" && matches!(r.outcome, Outcome::Ok(_)))
        .map(|r| r.subject.clone())
        .collect();
    for r in records.iter().filter(|r| r.tool == "orders_create") {
        if !acked.contains(&r.subject) {
            let args = json!({ "order": new_order(&r.subject) });
            record(
                "orders_create",
                r.subject.clone(),
                timed(&client, "orders_create", args).await,
            );
        }
    }
    for (i, id) in ids.iter().skip(150).take(5).enumerate() {
        let key = format!("later{i}");
        let args = json!({ "order_id": id, "changes": { "order_metadata": { key.clone(): i } } });
        record(
            "orders_update",
            format!("{id}:{key}"),
            timed(&client, "orders_update", args).await,
        );
        record(
            "orders_get",
            id.to_string(),
            timed(&client, "orders_get", json!({ "order_id": id })).await,
        );
    }
    let records = ledger.all();
    eprintln!("outcomes: {:?}", tally(&records));
    assert_all_answered(&records);
    for r in records.iter().filter(|r| r.started >= freed) {
        assert!(
            matches!(r.outcome, Outcome::Ok(_)) || r.ended < freed + Duration::from_secs(5),
            "failed after the disk had room again: {r:?}"
        );
    }
    let recent = records.iter().rev().take(10);
    for r in recent {
        assert!(matches!(r.outcome, Outcome::Ok(_)), "{r:?}");
    }
    assert_nothing_lost(&fake, fake.store_id(), &records);
    // What was stored before the disk filled is intact, and the sync completes the mirror.
    let status = ok(&client, "sync_status", json!({})).await;
    assert_eq!(status["config"]["interval_minutes"], 45, "{status}");
    let report = ok(
        &client,
        "sync_trigger",
        json!({ "lookback_minutes": YEAR_MINUTES }),
    )
    .await;
    // On a slow machine the run outlasts its share of the call and goes on in the
    // background; it must then finish there.
    if report["status"] == "running" {
        until(Duration::from_secs(120), "the sync finishes", || {
            let client = &client;
            async move {
                let status = ok(client, "sync_status", json!({})).await;
                status["running"] == false && status["last_run"]["status"] == "done"
            }
        })
        .await;
    } else {
        assert_eq!(report["status"], "done", "{report}");
    }
    let never_seen: BTreeSet<u64> = fake_rows(&fake, fake.store_id())
        .into_iter()
        .filter(|(_, row)| row.folder_id == CANCELLED)
        .map(|(id, _)| id)
        .collect();
    assert_mirror(
        &mirror(&client, None).await,
        &expected_rows(&fake_rows(&fake, fake.store_id()), &never_seen),
    );
    assert_eq!(ready(&server).await.0, 200);
    assert_no_panic(&[&server]);
    let (exit, _) = server.terminate().await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        integrity(&db),
        "ok",
        "the state file after the server stopped"
    );
    drop(disk);
}
