//! The load and soak scenario, shared by `tests/e2e/soak.rs` (about 25 s per backend, the
//! debug binary, in the test command) and `tests/bench/soak.rs` (`just soak`: minutes per
//! backend, the release binary, figures written to `bench/RESULTS.md`).
//!
//! Eight tenants, each with a store of its own on the fake OrderDesk (OrderDesk's bucket on:
//! 20 requests, 3/s), registered with `stores_register`. Each tenant has eight clients
//! (stateless 2026-07-28 and session 2025-11-25 clients, alternately) running a mix of cache
//! hits (`orders_get` on a hot set of two orders), cache misses (`orders_get` on cold ids,
//! `orders_list` at varying offsets), `orders_update` (each update sets a key of
//! `order_metadata` no other update writes) and `orders_create` (with a `source_id` the
//! client makes up and remembers; an answer that leaves the outcome unknown is retried with
//! the same `source_id`). The last tenant is noisy: four times the clients, no think time,
//! retry hints ignored, and it runs only in the second phase, so the quiet tenants' cache
//! hits are timed without it (phase "solo") and with it (phase "noisy").
//!
//! All run long, the fake injects faults through scheduled rules: 429s with `Retry-After`,
//! 5xx on reads and writes, writes applied and then failed or dropped, dropped connections,
//! slow answers and a constant added latency, and outside edits of the orders being read
//! and written. The outside edits are placed where OrderDesk's API lets a client protect
//! them (before a read is served, after a PUT is served, while a refused PUT is waited
//! out); `update.rs` documents the one request-long window it cannot protect (between the
//! update's read and its PUT), which the scenario leaves out so that every loss it finds is one
//! the server should have prevented. Update targets are never read by other calls, so each
//! outside edit of one is seen by the update cycle holding that order's lease.
//!
//! At the end, against the fake's own copy of every store: every acknowledged update's key
//! is there and no update refused outright left its key; every `source_id` is used by at most
//! one order, by exactly one when a create of it succeeded, by none when every answer said
//! nothing was created; the outside edits the fake counted are all still in the orders.
//! The server's RSS and open file descriptors are read at the start (after a warm-up) and
//! at the end. [`Figures::violations`] lists what did not hold.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use fake_orderdesk::redis_server::RedisServer;
use rmcp::RoleClient;
use rmcp::model::{
    CallToolResult, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ServiceExt as _, model::CallToolRequestParams};
use serde_json::{Map, Value, json};

use super::http::{self, HttpServer};
use super::procfs;
use super::{FakeConfig, FakeOrderDesk, Launch, Match, Respond, Rule, create_tenant, fake_with};
use fake_orderdesk::Edit;

/// Tenants, the last of them noisy.
pub const TENANTS: usize = 8;
/// Clients of each quiet tenant.
pub const CLIENTS: usize = 8;
/// Clients of the noisy tenant: four times the others' concurrency.
pub const NOISY_CLIENTS: usize = 4 * CLIENTS;
const NOISY: usize = TENANTS - 1;
/// Seeded orders per store: hot `[0, 2)`, cold `[10, 70)`, update targets `[80, 86)`.
const ORDERS: usize = 120;
const HOT: std::ops::Range<usize> = 0..2;
const COLD: std::ops::Range<usize> = 10..70;
const TARGETS: std::ops::Range<usize> = 80..86;
/// Quiet clients wait 1.5–4.5 s between calls (3 s on average).
const THINK_MS: (u64, u64) = (1_500, 4_500);
/// The per-tenant tool-call budget (5 calls/s, writes cost 2): a quiet tenant's eight
/// clients use about half of it, the noisy tenant far more.
const CALLS_PER_MINUTE: u32 = 300;
const CALL_BURST: u32 = 60;
/// How long a client waits for any answer before calling the outcome unknown.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
/// A call answered later than this outlived the server's 30 s call deadline by far.
const LATE: Duration = Duration::from_secs(40);
/// In-run retries of a create whose outcome was unknown (more in the settle phase).
const CREATE_RETRIES: u32 = 4;
/// Bounds of the assertions: generous, for a loaded 2-core machine.
pub const MAX_P99_RATIO: f64 = 5.0;
pub const MAX_RSS_GROWTH: u64 = 64 * 1024 * 1024;
pub const MAX_FD_GROWTH: u64 = 32;

/// Where state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One `serve` on an SQLite file.
    Sqlite,
    /// Two `serve` processes on one `redis-server`; clients spread over both.
    Redis,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite, one `serve`",
            Backend::Redis => "Redis, two `serve`",
        }
    }

    fn servers(self) -> usize {
        match self {
            Backend::Sqlite => 1,
            Backend::Redis => 2,
        }
    }
}

/// How long each phase lasts.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Quiet tenants only, not timed (RSS and fds are read at its end).
    pub warmup: Duration,
    /// Quiet tenants only: the reference latency.
    pub solo: Duration,
    /// Quiet tenants and the noisy one.
    pub noisy: Duration,
    /// A quiet cache-hit p99 with the noisy tenant below this passes whatever the ratio
    /// ([`MAX_P99_RATIO`]) says: the noisy tenant slows the others, but not much.
    pub p99_fine: Duration,
    /// How often RSS and fds are recorded for the report.
    pub every: Duration,
}

impl Plan {
    /// The test command's version: about 20 s of load per backend, on the debug binary,
    /// maybe beside other test binaries: the p99 bound is doubled.
    pub fn short() -> Plan {
        Plan {
            warmup: Duration::from_secs(2),
            solo: Duration::from_secs(9),
            noisy: Duration::from_secs(10),
            p99_fine: Duration::from_millis(500),
            every: Duration::from_secs(5),
        }
    }

    /// `secs` of load per backend: a fifth without the noisy tenant, the rest with it.
    pub fn long(secs: u64) -> Plan {
        let secs = secs.max(30);
        let solo = (secs / 5).max(8);
        Plan {
            warmup: Duration::from_secs(10),
            solo: Duration::from_secs(solo),
            noisy: Duration::from_secs(secs - solo),
            p99_fine: Duration::from_millis(250),
            every: Duration::from_secs(60),
        }
    }

    pub fn load_secs(&self) -> u64 {
        (self.solo + self.noisy).as_secs()
    }
}

const WARMUP: u8 = 0;
const SOLO: u8 = 1;
const WITH_NOISY: u8 = 2;
const AFTER: u8 = 3;

/// What a client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    HotGet,
    ColdGet,
    List,
    Update,
    Create,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::HotGet,
        Kind::ColdGet,
        Kind::List,
        Kind::Update,
        Kind::Create,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::HotGet => "orders_get, hot set",
            Kind::ColdGet => "orders_get, cold ids",
            Kind::List => "orders_list, varying offset",
            Kind::Update => "orders_update",
            Kind::Create => "orders_create",
        }
    }

    /// Share of calls, in percent. Quiet tenants: mostly hits, few enough upstream
    /// requests that a store uses about two thirds of OrderDesk's 3 requests/s. The noisy
    /// tenant is a runaway agent polling its hot orders, with a little of everything else.
    fn weight(self, noisy: bool) -> u64 {
        match (self, noisy) {
            (Kind::HotGet, false) => 85,
            (Kind::ColdGet, false) => 4,
            (Kind::List, false) => 3,
            (Kind::Update, false) => 5,
            (Kind::Create, false) => 3,
            (Kind::HotGet, true) => 94,
            (Kind::ColdGet, true) => 2,
            (Kind::List, true) => 2,
            (Kind::Update, true) => 1,
            (Kind::Create, true) => 1,
        }
    }
}

/// Marks a code whose answer said `details.write_outcome: "unknown"`.
const OUTCOME_UNKNOWN: &str = " (write outcome unknown)";

/// Codes after which a write may or may not have happened.
fn uncertain(code: &str) -> bool {
    code.ends_with(OUTCOME_UNKNOWN)
        || matches!(
            code,
            "WRITE_OUTCOME_UNKNOWN"
                | "DEADLINE_EXCEEDED"
                | "COMPONENT_TRAPPED"
                | "INTERNAL"
                | "CANCELLED"
                | "TRANSPORT"
                | "CLIENT_TIMEOUT"
        )
}

/// A small deterministic PRNG (splitmix64): no dependency for a few dice.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> usize {
        r.start + self.below((r.end - r.start) as u64) as usize
    }

    fn kind(&mut self, noisy: bool) -> Kind {
        let mut roll = self.below(100);
        for kind in Kind::ALL {
            if roll < kind.weight(noisy) {
                return kind;
            }
            roll -= kind.weight(noisy);
        }
        Kind::HotGet
    }
}

fn store_id(tenant: usize) -> String {
    format!("{}", 71_001 + tenant)
}

fn store_key(tenant: usize) -> String {
    format!("soak-key-{tenant}-9f8e7d6c")
}

/// An rmcp client of either era.
enum Client {
    Stateless(RunningService<RoleClient, ()>),
    Session(RunningService<RoleClient, ClientConfig>),
}

fn transport(url: &str, key: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(key);
    StreamableHttpClientTransport::from_config(config)
}

impl Client {
    async fn connect(url: &str, key: &str, session: bool) -> Result<Client, String> {
        if session {
            let info = ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("soak", "1"),
            )
            .with_protocol_version(ProtocolVersion::V_2025_11_25);
            info.serve(transport(url, key))
                .await
                .map(Client::Session)
                .map_err(|e| e.to_string())
        } else {
            ().serve_with_lifecycle(
                transport(url, key),
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .map(Client::Stateless)
            .map_err(|e| e.to_string())
        }
    }

    async fn call(&self, name: &str, args: Value) -> Result<CallToolResult, ServiceError> {
        let Value::Object(args) = args else {
            unreachable!("arguments are objects")
        };
        let params = CallToolRequestParams::new(name.to_string()).with_arguments(args);
        match self {
            Client::Stateless(c) => c.call_tool(params).await,
            Client::Session(c) => c.call_tool(params).await,
        }
    }

    async fn close(self) {
        let _ = match self {
            Client::Stateless(c) => c.cancel().await,
            Client::Session(c) => c.cancel().await,
        };
    }
}

/// One answer, as a client sees it.
enum Answer {
    Ok(Value),
    Failed {
        code: String,
        retry_after_ms: Option<u64>,
    },
}

async fn ask(client: &Client, name: &str, args: Value) -> Answer {
    match tokio::time::timeout(CLIENT_TIMEOUT, client.call(name, args)).await {
        Err(_) => Answer::Failed {
            code: "CLIENT_TIMEOUT".into(),
            retry_after_ms: None,
        },
        Ok(Err(_)) => Answer::Failed {
            code: "TRANSPORT".into(),
            retry_after_ms: None,
        },
        Ok(Ok(result)) if result.is_error == Some(true) => {
            let error = result
                .content
                .first()
                .and_then(|c| c.as_text())
                .and_then(|t| serde_json::from_str::<Value>(&t.text).ok())
                .map(|v| v["error"].clone())
                .unwrap_or(Value::Null);
            let mut code = error["code"]
                .as_str()
                .unwrap_or("UNPARSED_ERROR")
                .to_string();
            if error["details"]["write_outcome"] == "unknown" && !uncertain(&code) {
                code.push_str(OUTCOME_UNKNOWN);
            }
            Answer::Failed {
                code,
                retry_after_ms: error["details"]["retry_after_ms"].as_u64(),
            }
        }
        Ok(Ok(result)) => Answer::Ok(result.structured_content.unwrap_or(Value::Null)),
    }
}

/// `HH:MM:SS.mmm` of a moment, in UTC (to find a call in the server's log).
fn utc_time_of_day(at: std::time::SystemTime) -> String {
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Flags shared between the conductor and every client (in any runtime).
struct Signals {
    began: Instant,
    phase: AtomicU8,
    stop_quiet: AtomicBool,
    stop_noisy: AtomicBool,
}

/// What one client saw.
#[derive(Default)]
struct ClientLog {
    counts: BTreeMap<(Kind, String), u64>,
    /// Latency (µs) of calls answered from the cache, by the phase they started in.
    hits: [Vec<u32>; 4],
    /// Latency (µs) of every call that got an answer, by kind.
    latency: BTreeMap<Kind, Vec<u32>>,
    updates: Vec<UpdateRec>,
    creates: Vec<CreateRec>,
    reconnects: u64,
    /// Calls answered after more than [`LATE`] (or never): who, what, when.
    late: Vec<String>,
}

struct UpdateRec {
    order_id: u64,
    key: String,
    /// The code of a failure; `None` for a success.
    failure: Option<String>,
}

struct CreateRec {
    source_id: String,
    answers: Vec<String>,
    acked: bool,
}

impl CreateRec {
    /// Whether the client knows what became of it: created, or refused every time.
    fn settled(&self) -> bool {
        self.acked || !self.ever_uncertain()
    }

    fn ever_uncertain(&self) -> bool {
        self.answers.iter().any(|c| uncertain(c))
    }
}

/// Who a client is and where it connects.
#[derive(Clone)]
struct Seat {
    tenant: usize,
    no: usize,
    url: String,
    key: String,
    session: bool,
    tag: &'static str,
}

impl Seat {
    fn noisy(&self) -> bool {
        self.tenant == NOISY
    }
}

fn new_order(source_id: &str) -> Value {
    json!({
        "source_id": source_id,
        "email": "soak.buyer@example.com",
        "shipping": { "first_name": "Kari", "last_name": "Nordmann", "city": "Oslo" },
        "order_items": [{ "name": "Tea", "code": "SKU-5001", "price": 9.5, "quantity": 2 }]
    })
}

async fn client_loop(
    seat: Seat,
    ids: Arc<Vec<u64>>,
    signals: Arc<Signals>,
) -> (ClientLog, Option<Client>) {
    let mut log = ClientLog::default();
    let mut dice = Dice(0x50a4 ^ ((seat.tenant as u64) << 32) ^ seat.no as u64);
    let store = store_id(seat.tenant);
    let mut client = None;
    let mut seq = 0u64;
    let mut pending_creates: Vec<usize> = Vec::new();
    let stop = |s: &Signals| {
        if seat.noisy() {
            s.stop_noisy.load(Ordering::Relaxed)
        } else {
            s.stop_quiet.load(Ordering::Relaxed)
        }
    };
    while !stop(&signals) {
        let Some(c) = client.as_ref() else {
            match Client::connect(&seat.url, &seat.key, seat.session).await {
                Ok(c) => client = Some(c),
                Err(_) => {
                    *log.counts
                        .entry((Kind::HotGet, "CONNECT_FAILED".into()))
                        .or_insert(0) += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            continue;
        };
        seq += 1;
        let retry = pending_creates.pop();
        let kind = if retry.is_some() {
            Kind::Create
        } else {
            dice.kind(seat.noisy())
        };
        let (tool, args, target) = match kind {
            Kind::HotGet | Kind::ColdGet => {
                let range = if kind == Kind::HotGet { HOT } else { COLD };
                let id = ids[dice.range(range)];
                ("orders_get", json!({ "order_id": id, "store": store }), id)
            }
            Kind::List => (
                "orders_list",
                json!({ "limit": 10, "offset": dice.below(100), "store": store }),
                0,
            ),
            Kind::Update => {
                let id = ids[dice.range(TARGETS)];
                let key = format!("{}t{}c{}n{seq}", seat.tag, seat.tenant, seat.no);
                log.updates.push(UpdateRec {
                    order_id: id,
                    key: key.clone(),
                    failure: None,
                });
                (
                    "orders_update",
                    json!({ "order_id": id, "changes": { "order_metadata": { key: seq } },
                            "store": store }),
                    id,
                )
            }
            Kind::Create => {
                let index = retry.unwrap_or_else(|| {
                    log.creates.push(CreateRec {
                        source_id: format!("soak-{}-t{}-c{}-{seq}", seat.tag, seat.tenant, seat.no),
                        answers: Vec::new(),
                        acked: false,
                    });
                    log.creates.len() - 1
                });
                let source_id = &log.creates[index].source_id;
                (
                    "orders_create",
                    json!({ "order": new_order(source_id), "store": store }),
                    index as u64,
                )
            }
        };
        let phase = signals.phase.load(Ordering::Relaxed);
        let started = Instant::now();
        let answer = ask(c, tool, args).await;
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        let took = started.elapsed();
        let mut pause = None;
        let outcome = match &answer {
            Answer::Ok(out) => match kind {
                Kind::HotGet | Kind::ColdGet | Kind::List => {
                    let cache = out["cache"].as_str().unwrap_or("?").to_string();
                    if cache == "hit" {
                        log.hits[usize::from(phase.min(3))].push(micros);
                    }
                    cache
                }
                Kind::Update => "ok".into(),
                Kind::Create => {
                    let rec = &mut log.creates[target as usize];
                    rec.acked = true;
                    rec.answers.push("ok".into());
                    if out["already_existed"] == true {
                        "ok, already existed".into()
                    } else if out["recovered"] == true {
                        "ok, recovered".into()
                    } else {
                        "ok".into()
                    }
                }
            },
            Answer::Failed {
                code,
                retry_after_ms,
            } => {
                match kind {
                    Kind::Update => log.updates.last_mut().unwrap().failure = Some(code.clone()),
                    Kind::Create => {
                        let index = target as usize;
                        let rec = &mut log.creates[index];
                        rec.answers.push(code.clone());
                        // Unknown once, it stays to be found out: ask again, same source_id.
                        let tries = rec.answers.len() as u32;
                        if !rec.settled() && tries <= CREATE_RETRIES {
                            pending_creates.push(index);
                        }
                    }
                    _ => {}
                }
                if code == "TRANSPORT" || code == "CLIENT_TIMEOUT" {
                    // The session may be gone (evicted, or the connection cut): start over.
                    if let Some(c) = client.take() {
                        c.close().await;
                    }
                    log.reconnects += 1;
                }
                pause = *retry_after_ms;
                code.clone()
            }
        };
        if took > LATE {
            log.late.push(format!(
                "tenant {} client {} ({}) {tool} sent at +{:.1} s ({} UTC): {outcome} after {:.1} s",
                seat.tenant,
                seat.no,
                if seat.session { "session" } else { "stateless" },
                started.duration_since(signals.began).as_secs_f64(),
                utc_time_of_day(std::time::SystemTime::now() - took),
                took.as_secs_f64()
            ));
        }
        log.latency.entry(kind).or_default().push(micros);
        *log.counts.entry((kind, outcome)).or_insert(0) += 1;
        if !seat.noisy() {
            // A well-behaved agent thinks, and honours a retry hint.
            let think = THINK_MS.0 + dice.below(THINK_MS.1 - THINK_MS.0);
            let wait = think.max(pause.unwrap_or(0).min(5_000));
            let until = Instant::now() + Duration::from_millis(wait);
            while Instant::now() < until && !stop(&signals) {
                tokio::time::sleep(Duration::from_millis(100).min(until - Instant::now())).await;
            }
        }
    }
    if seat.noisy()
        && let Some(c) = client.take()
    {
        c.close().await;
    }
    // Quiet clients stay connected through the settle phase and the final reading of RSS
    // and fds, as they were at the first reading; the conductor closes them.
    (log, client)
}

/// The server processes under test and what they hold.
struct Servers {
    servers: Vec<HttpServer>,
    _redis: Option<RedisServer>,
    _dir: Option<tempfile::TempDir>,
}

/// CPU use (cores busy on average) of one process in each timed phase.
#[derive(Clone, Debug, Default)]
pub struct Cpu {
    pub solo: f64,
    pub noisy: f64,
}

/// RSS and fds of one server over the run.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub rss_start: u64,
    pub rss_end: u64,
    pub rss_max: u64,
    pub fds_start: u64,
    pub fds_end: u64,
    pub fds_max: u64,
    /// (seconds since the warm-up ended, RSS, fds), every [`Plan::every`].
    pub series: Vec<(u64, u64, u64)>,
}

/// Counts of outcomes per kind, for one group of tenants.
pub type Counts = BTreeMap<(Kind, String), u64>;

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Figures {
    pub backend: Option<Backend>,
    pub plan_load_secs: u64,
    pub quiet: Counts,
    pub noisy: Counts,
    /// Quiet tenants' cache hits: latency without and with the noisy tenant (sorted).
    pub hits_solo: Vec<Duration>,
    pub hits_noisy: Vec<Duration>,
    pub quiet_latency: BTreeMap<Kind, Vec<Duration>>,
    pub noisy_latency: BTreeMap<Kind, Vec<Duration>>,
    pub updates_acked: u64,
    pub updates_lost: Vec<String>,
    pub updates_refused: u64,
    pub updates_refused_but_written: Vec<String>,
    pub updates_unknown: u64,
    pub updates_unknown_written: u64,
    pub creates: u64,
    pub creates_acked: u64,
    pub creates_acked_missing: Vec<String>,
    pub creates_duplicated: Vec<String>,
    pub creates_refused_but_made: Vec<String>,
    pub creates_unknown_at_first: u64,
    pub creates_unresolved: u64,
    pub creates_unresolved_made: u64,
    pub outside_edits: u64,
    pub outside_edits_visible: u64,
    pub upstream_requests: u64,
    pub upstream_429: u64,
    pub upstream_5xx: u64,
    pub upstream_dropped: u64,
    /// `POST /orders` and `PUT /orders/{id}` requests OrderDesk saw.
    pub upstream_writes: u64,
    pub rules_scheduled: BTreeMap<&'static str, u64>,
    pub reconnects: u64,
    /// Calls answered after more than 40 s, or never (the call deadline is 30 s).
    pub late: Vec<String>,
    /// Tool calls each server itself took more than 26 s over (its duration histogram).
    pub server_calls_over_26s: Vec<u64>,
    pub usage: Vec<Usage>,
    /// The servers' CPU use, then this process's (clients and fake).
    pub cpu: Vec<Cpu>,
    pub p99_fine: Duration,
    pub servers_alive: bool,
    pub wall: Duration,
    pub noisy_window: Duration,
    pub noisy_drain: Duration,
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(micros: impl IntoIterator<Item = u32>) -> Vec<Duration> {
    let mut v: Vec<Duration> = micros
        .into_iter()
        .map(|us| Duration::from_micros(u64::from(us)))
        .collect();
    v.sort();
    v
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl Figures {
    pub fn p99_solo(&self) -> Duration {
        percentile(&self.hits_solo, 0.99)
    }

    pub fn p99_noisy(&self) -> Duration {
        percentile(&self.hits_noisy, 0.99)
    }

    pub fn ratio(&self) -> f64 {
        self.p99_noisy().as_secs_f64() / self.p99_solo().as_secs_f64().max(1e-6)
    }

    /// Quiet tenants' cache hits kept their pace with the noisy tenant running.
    pub fn latency_held(&self) -> bool {
        self.ratio() < MAX_P99_RATIO || self.p99_noisy() < self.p99_fine
    }

    pub fn lost_outside_edits(&self) -> i64 {
        self.outside_edits as i64 - self.outside_edits_visible as i64
    }

    fn count(counts: &Counts, code: &str) -> u64 {
        counts
            .iter()
            .filter(|((_, outcome), _)| outcome == code)
            .map(|(_, n)| n)
            .sum()
    }

    /// The noisy tenant's calls per second while it ran.
    pub fn noisy_rate(&self) -> f64 {
        Self::total(&self.noisy) as f64 / self.noisy_window.as_secs_f64().max(1e-3)
    }

    pub fn total(counts: &Counts) -> u64 {
        counts.values().sum()
    }

    /// What did not hold; empty when the run passed.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                v.push(what);
            }
        };
        check(
            self.updates_lost.is_empty(),
            format!(
                "{} acknowledged updates are not in the order: {:?}",
                self.updates_lost.len(),
                first(&self.updates_lost)
            ),
        );
        check(
            self.updates_refused_but_written.is_empty(),
            format!(
                "{} updates answered with an error that says nothing was written were written: {:?}",
                self.updates_refused_but_written.len(),
                first(&self.updates_refused_but_written)
            ),
        );
        check(
            self.lost_outside_edits() == 0,
            format!(
                "outside edits: the fake made {}, the orders show {}",
                self.outside_edits, self.outside_edits_visible
            ),
        );
        check(
            self.creates_duplicated.is_empty(),
            format!("duplicate orders: {:?}", first(&self.creates_duplicated)),
        );
        check(
            self.creates_acked_missing.is_empty(),
            format!(
                "acknowledged creates missing: {:?}",
                first(&self.creates_acked_missing)
            ),
        );
        check(
            self.creates_refused_but_made.is_empty(),
            format!(
                "creates answered 'nothing was created' that created: {:?}",
                first(&self.creates_refused_but_made)
            ),
        );
        let (solo, noisy) = (self.p99_solo(), self.p99_noisy());
        check(
            self.latency_held(),
            format!(
                "quiet tenants' cache-hit p99 went from {} to {} with the noisy tenant \
                 (×{:.2}; bound ×{MAX_P99_RATIO} or {})",
                ms(solo),
                ms(noisy),
                self.ratio(),
                ms(self.p99_fine)
            ),
        );
        check(
            self.hits_solo.len() >= 50 && self.hits_noisy.len() >= 50,
            format!(
                "too few quiet cache hits to compare: {} solo, {} with the noisy tenant",
                self.hits_solo.len(),
                self.hits_noisy.len()
            ),
        );
        check(
            Self::count(&self.quiet, "BUSY") == 0,
            format!(
                "quiet tenants' calls were refused BUSY {} times",
                Self::count(&self.quiet, "BUSY")
            ),
        );
        check(
            Self::count(&self.quiet, "RATE_LIMITED") == 0,
            format!(
                "quiet tenants were rate-limited {} times (their budget is the noisy one's?)",
                Self::count(&self.quiet, "RATE_LIMITED")
            ),
        );
        for (i, u) in self.usage.iter().enumerate() {
            check(
                u.rss_end <= u.rss_start + MAX_RSS_GROWTH,
                format!(
                    "server {i}: RSS grew from {} to {}",
                    mb(u.rss_start),
                    mb(u.rss_end)
                ),
            );
            check(
                u.fds_end <= u.fds_start + MAX_FD_GROWTH,
                format!(
                    "server {i}: open fds grew from {} to {}",
                    u.fds_start, u.fds_end
                ),
            );
        }
        check(self.servers_alive, "a server died during the run".into());
        check(
            self.late.is_empty(),
            format!(
                "{} calls got no answer within {} s, though a call's deadline is 30 s: {:?}",
                self.late.len(),
                LATE.as_secs(),
                first(&self.late)
            ),
        );
        // The run did what it claims: the work and the faults happened.
        check(
            self.updates_acked > 0 && self.creates_acked > 0,
            format!(
                "no acknowledged writes to check: {} updates, {} creates",
                self.updates_acked, self.creates_acked
            ),
        );
        check(
            self.outside_edits > 0 && self.upstream_429 > 0 && self.upstream_5xx > 0,
            format!(
                "the faults did not happen: {} outside edits, {} × 429, {} × 5xx",
                self.outside_edits, self.upstream_429, self.upstream_5xx
            ),
        );
        check(
            Self::count(&self.noisy, "RATE_LIMITED") > 0,
            "the noisy tenant never met its tool-call budget".into(),
        );
        v
    }

    /// A plain-text summary for the test's output.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let backend = self.backend.map_or("?", Backend::label);
        let _ = writeln!(
            out,
            "== soak: {backend}, {} s of load ==",
            self.plan_load_secs
        );
        for (group, counts) in [("quiet", &self.quiet), ("noisy", &self.noisy)] {
            let _ = writeln!(out, "{group} tenants: {} calls", Self::total(counts));
            for kind in Kind::ALL {
                let _ = writeln!(out, "  {:<28} {}", kind.label(), outcomes(counts, kind));
            }
        }
        let _ = writeln!(
            out,
            "quiet cache hits: p50/p99 solo {}/{} (n={}), with noisy {}/{} (n={}), p99 ratio {:.2}",
            ms(percentile(&self.hits_solo, 0.5)),
            ms(self.p99_solo()),
            self.hits_solo.len(),
            ms(percentile(&self.hits_noisy, 0.5)),
            ms(self.p99_noisy()),
            self.hits_noisy.len(),
            self.ratio()
        );
        let _ = writeln!(
            out,
            "updates: {} acked ({} lost), {} refused ({} written anyway), {} unknown ({} written)",
            self.updates_acked,
            self.updates_lost.len(),
            self.updates_refused,
            self.updates_refused_but_written.len(),
            self.updates_unknown,
            self.updates_unknown_written
        );
        let _ = writeln!(
            out,
            "creates: {} source ids, {} acked ({} missing), {} duplicated, {} refused but made, \
             {} unknown at first, {} never settled ({} of them made)",
            self.creates,
            self.creates_acked,
            self.creates_acked_missing.len(),
            self.creates_duplicated.len(),
            self.creates_refused_but_made.len(),
            self.creates_unknown_at_first,
            self.creates_unresolved,
            self.creates_unresolved_made
        );
        let _ = writeln!(
            out,
            "outside edits: {} made, {} visible; upstream: {} requests, {} × 429, {} × 5xx, \
             {} dropped; rules {:?}; client reconnects {}",
            self.outside_edits,
            self.outside_edits_visible,
            self.upstream_requests,
            self.upstream_429,
            self.upstream_5xx,
            self.upstream_dropped,
            self.rules_scheduled,
            self.reconnects
        );
        let _ = writeln!(
            out,
            "calls the servers themselves took over 26 s: {:?}",
            self.server_calls_over_26s
        );
        for late in &self.late {
            let _ = writeln!(out, "late: {late}");
        }
        for (i, u) in self.usage.iter().enumerate() {
            let _ = writeln!(
                out,
                "server {i}: RSS {} → {} (max {}), fds {} → {} (max {})",
                mb(u.rss_start),
                mb(u.rss_end),
                mb(u.rss_max),
                u.fds_start,
                u.fds_end,
                u.fds_max
            );
        }
        for (i, u) in self.usage.iter().enumerate() {
            let series: Vec<String> = u
                .series
                .iter()
                .map(|(t, r, n)| format!("{t}s {:.0}MB/{n}", *r as f64 / 1e6))
                .collect();
            let _ = writeln!(out, "server {i} over time: {}", series.join(", "));
        }
        let cpu: Vec<String> = self
            .cpu
            .iter()
            .map(|c| format!("{:.2} → {:.2}", c.solo, c.noisy))
            .collect();
        let _ = writeln!(
            out,
            "CPU (cores busy) without → with the noisy tenant: servers, then this process: {}; \
             noisy calls {:.0}/s",
            cpu.join(", "),
            self.noisy_rate()
        );
        let _ = writeln!(
            out,
            "wall {:.1} s; noisy tenant ran {:.1} s, then took {:.1} s to finish its calls",
            self.wall.as_secs_f64(),
            self.noisy_window.as_secs_f64(),
            self.noisy_drain.as_secs_f64()
        );
        out
    }
}

fn first(v: &[String]) -> &[String] {
    &v[..v.len().min(5)]
}

/// `hit 1234, miss 56, BUSY 2` for one kind.
pub fn outcomes(counts: &Counts, kind: Kind) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|((k, _), _)| *k == kind)
        .map(|((_, outcome), n)| format!("{outcome} {n}"))
        .collect();
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(", ")
    }
}

/// Start the backend and its servers, with the tenants created and their stores registered.
async fn start(backend: Backend, fake: &FakeOrderDesk) -> (Servers, Vec<String>) {
    let (state, redis, dir) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let state = format!("sqlite:{}", dir.path().join("state.db").display());
            (state, None, Some(dir))
        }
        Backend::Redis => {
            let redis = tokio::task::spawn_blocking(RedisServer::start)
                .await
                .expect("redis-server");
            (redis.url(), Some(redis), None)
        }
    };
    let keys = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            (0..TENANTS)
                .map(|t| create_tenant(&state, &format!("Soak tenant {t}")).1)
                .collect::<Vec<_>>()
        })
        .await
        .expect("tenant create")
    };
    let launch = Launch::for_tenants(fake, &state)
        .arg("--tool-calls-per-minute")
        .arg(CALLS_PER_MINUTE.to_string())
        .arg("--tool-call-burst")
        .arg(CALL_BURST.to_string())
        .arg("--log")
        .arg(std::env::var("ORDERDESK_SOAK_LOG").unwrap_or_else(|_| "warn".into()));
    let mut servers = Vec::new();
    for _ in 0..backend.servers() {
        servers.push(http::serve(&launch).await);
    }
    for (t, key) in keys.iter().enumerate() {
        let client = servers[t % servers.len()].stateless_client(Some(key)).await;
        http::ok(
            &client,
            "stores_register",
            json!({ "store_id": store_id(t), "api_key": store_key(t),
                    "name": format!("Soak shop {t}") }),
        )
        .await;
        let _ = client.cancel().await;
    }
    (
        Servers {
            servers,
            _redis: redis,
            _dir: dir,
        },
        keys,
    )
}

/// Schedules faults on the fake once a second until told to stop.
async fn inject_faults(fake: &FakeOrderDesk, stop: &AtomicBool) -> BTreeMap<&'static str, u64> {
    let get = || Match::Route("GET /orders/{id}".into());
    let put = || Match::Route("PUT /orders/{id}".into());
    let mut scheduled: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut dice = Dice(0xfa17);
    let faults = fake.faults();
    faults.set_latency(Duration::from_millis(10));
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick += 1;
        // Rules for writes wait for a write; keep the backlog bounded.
        if faults.scheduled() < 24 {
            let mut add = |name: &'static str, rule: Rule| {
                faults.schedule(rule);
                *scheduled.entry(name).or_insert(0) += 1;
            };
            let skip = dice.below(6) as u32;
            add(
                "503 on a read",
                Rule::on(Match::Reads, Respond::Status(503)).skip(skip),
            );
            add(
                "outside edit before a GET /orders/{id} is served",
                Rule::on(get(), Respond::Normal).with_edit(Edit::BeforeServing),
            );
            let slow = Duration::from_millis(200 + dice.below(1_000));
            add(
                "slow answer (0.2–1.2 s)",
                Rule::on(Match::Any, Respond::Slow(slow)).skip(skip),
            );
            if tick.is_multiple_of(2) {
                add(
                    "429, Retry-After 1 s",
                    Rule::on(Match::Any, Respond::RateLimited(1)).skip(skip),
                );
                add(
                    "502 on a write (not applied)",
                    Rule::on(Match::Writes, Respond::Status(502)),
                );
            }
            if tick.is_multiple_of(3) {
                add(
                    "504 after a write was applied",
                    Rule::on(Match::Writes, Respond::FailAfterApply(504)),
                );
                add(
                    "outside edit after a PUT is served",
                    Rule::on(put(), Respond::Normal).with_edit(Edit::AfterServing),
                );
            }
            if tick.is_multiple_of(4) {
                add(
                    "dropped connection on a read",
                    Rule::on(Match::Reads, Respond::Drop),
                );
            }
            if tick.is_multiple_of(5) {
                add(
                    "connection dropped after a write was applied",
                    Rule::on(Match::Writes, Respond::DropAfterApply),
                );
                add(
                    "outside edit while a PUT's 429 is waited out",
                    Rule::on(put(), Respond::RateLimited(1)).with_edit(Edit::AfterServing),
                );
            }
        }
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    faults.clear();
    scheduled
}

/// Samples RSS and fds of the servers every second until told to stop: the maxima, and a
/// reading every `every` from the end of the warm-up on.
async fn sample(
    pids: &[u32],
    signals: &Signals,
    every: Duration,
) -> (Vec<(u64, u64)>, Vec<Vec<(u64, u64, u64)>>) {
    let mut max = vec![(0, 0); pids.len()];
    let mut series = vec![Vec::new(); pids.len()];
    let mut timed_since: Option<Instant> = None;
    let mut next = Duration::ZERO;
    while !signals.stop_quiet.load(Ordering::Relaxed) {
        if timed_since.is_none() && signals.phase.load(Ordering::Relaxed) != WARMUP {
            timed_since = Some(Instant::now());
        }
        let due = timed_since.filter(|t| t.elapsed() >= next);
        for ((m, s), &pid) in max.iter_mut().zip(series.iter_mut()).zip(pids) {
            let (r, f) = (procfs::rss(pid).now_kib * 1024, procfs::fds(pid));
            m.0 = m.0.max(r);
            m.1 = m.1.max(f);
            if let Some(t) = due {
                s.push((t.elapsed().as_secs(), r, f));
            }
        }
        if due.is_some() {
            next += every;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    (max, series)
}

/// The noisy tenant's clients, on a thread and runtime of their own (so their load does
/// not delay the timing of the quiet clients' answers in this process).
fn run_noisy(
    seats: Vec<Seat>,
    ids: Arc<Vec<u64>>,
    signals: Arc<Signals>,
) -> tokio::sync::oneshot::Receiver<Vec<ClientLog>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("noisy runtime");
        let logs = runtime.block_on(futures::future::join_all(seats.into_iter().map(
            |seat| async {
                let (log, _closed) = client_loop(seat, ids.clone(), signals.clone()).await;
                log
            },
        )));
        let _ = tx.send(logs);
    });
    rx
}

/// Retry, with the same `source_id`, every create whose outcome is still unknown.
async fn settle_creates(logs: &mut [(Seat, ClientLog)]) {
    let mut clients: HashMap<usize, Client> = HashMap::new();
    for (seat, log) in logs.iter_mut() {
        for rec in log.creates.iter_mut().filter(|r| !r.settled()) {
            for _ in 0..20 {
                if let std::collections::hash_map::Entry::Vacant(slot) = clients.entry(seat.tenant)
                {
                    match Client::connect(&seat.url, &seat.key, false).await {
                        Ok(c) => {
                            slot.insert(c);
                        }
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                    }
                }
                let client = &clients[&seat.tenant];
                let args = json!({ "order": new_order(&rec.source_id),
                                   "store": store_id(seat.tenant) });
                match ask(client, "orders_create", args).await {
                    Answer::Ok(_) => {
                        rec.acked = true;
                        rec.answers.push("ok".into());
                        break;
                    }
                    Answer::Failed {
                        code,
                        retry_after_ms,
                    } => {
                        rec.answers.push(code.clone());
                        if (code == "TRANSPORT" || code == "CLIENT_TIMEOUT")
                            && let Some(c) = clients.remove(&seat.tenant)
                        {
                            c.close().await;
                        }
                        let wait = retry_after_ms.unwrap_or(500).clamp(200, 5_000);
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                }
            }
        }
    }
    for (_, c) in clients {
        c.close().await;
    }
}

/// Waits until the fake has seen no request for `quiet` (the servers finished whatever
/// calls, clean-ups and retries were in flight), at most `limit`.
async fn quiescence(fake: &FakeOrderDesk, quiet: Duration, limit: Duration) {
    let began = Instant::now();
    let mut last = fake.stats().total;
    let mut since = Instant::now();
    while began.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = fake.stats().total;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// Metadata of an order in the fake's own copy.
fn metadata(fake: &FakeOrderDesk, store: &str, id: u64) -> Map<String, Value> {
    fake.order_in(store, id)
        .and_then(|o| o["order_metadata"].as_object().cloned())
        .unwrap_or_default()
}

/// One full run on `backend`.
pub async fn run(backend: Backend, plan: &Plan) -> Figures {
    let began = Instant::now();
    // OrderDesk's bucket stays on (20 requests, 3/s per store), as OrderDesk has it.
    let fake = fake_with(FakeConfig::default()).await;
    for t in 0..TENANTS {
        fake.add_store(&store_id(t), &store_key(t), ORDERS, 5);
    }
    let (servers, keys) = start(backend, &fake).await;
    let pids: Vec<u32> = servers.servers.iter().map(HttpServer::pid).collect();
    let urls: Vec<String> = servers.servers.iter().map(HttpServer::mcp_url).collect();
    let ids = Arc::new(fake.order_ids_in(&store_id(0)));
    assert_eq!(ids.len(), ORDERS);
    let tag = match backend {
        Backend::Sqlite => "s",
        Backend::Redis => "r",
    };
    let seat = |tenant: usize, no: usize| Seat {
        tenant,
        no,
        url: urls[(tenant + no) % urls.len()].clone(),
        key: keys[tenant].clone(),
        session: no % 2 == 1,
        tag,
    };
    let quiet_seats: Vec<Seat> = (0..NOISY)
        .flat_map(|t| (0..CLIENTS).map(move |c| (t, c)))
        .map(|(t, c)| seat(t, c))
        .collect();
    let noisy_seats: Vec<Seat> = (0..NOISY_CLIENTS).map(|c| seat(NOISY, c)).collect();

    let signals = Arc::new(Signals {
        began: Instant::now(),
        phase: AtomicU8::new(WARMUP),
        stop_quiet: AtomicBool::new(false),
        stop_noisy: AtomicBool::new(false),
    });
    let stop_faults = AtomicBool::new(false);
    let mut usage = vec![Usage::default(); pids.len()];
    let mut noisy_window = Duration::ZERO;
    let mut noisy_drain = Duration::ZERO;
    let quiet_clients = futures::future::join_all(
        quiet_seats
            .iter()
            .cloned()
            .map(|s| client_loop(s, ids.clone(), signals.clone())),
    );
    let ticks = procfs::clock_ticks();
    let cpu_of: Vec<String> = pids
        .iter()
        .map(u32::to_string)
        .chain(["self".to_string()])
        .collect();
    let cpu_now = || -> Vec<f64> {
        cpu_of
            .iter()
            .map(|p| procfs::cpu_time(p, ticks).as_secs_f64())
            .collect()
    };
    let mut cpu = vec![Cpu::default(); cpu_of.len()];
    let conductor = async {
        tokio::time::sleep(plan.warmup).await;
        for (u, &pid) in usage.iter_mut().zip(&pids) {
            u.rss_start = procfs::rss(pid).now_kib * 1024;
            u.fds_start = procfs::fds(pid);
        }
        signals.phase.store(SOLO, Ordering::Relaxed);
        let (solo_started, solo_cpu) = (Instant::now(), cpu_now());
        tokio::time::sleep(plan.solo).await;
        signals.phase.store(WITH_NOISY, Ordering::Relaxed);
        let (noisy_started, noisy_cpu) = (Instant::now(), cpu_now());
        let solo_secs = noisy_started.duration_since(solo_started).as_secs_f64();
        let noisy = run_noisy(noisy_seats.clone(), ids.clone(), signals.clone());
        tokio::time::sleep(plan.noisy).await;
        signals.stop_noisy.store(true, Ordering::Relaxed);
        noisy_window = noisy_started.elapsed();
        let end_cpu = cpu_now();
        for (i, c) in cpu.iter_mut().enumerate() {
            c.solo = (noisy_cpu[i] - solo_cpu[i]) / solo_secs;
            c.noisy = (end_cpu[i] - noisy_cpu[i]) / noisy_window.as_secs_f64();
        }
        let stopped = Instant::now();
        let noisy_logs = noisy.await.expect("the noisy tenant's thread");
        noisy_drain = stopped.elapsed();
        signals.phase.store(AFTER, Ordering::Relaxed);
        signals.stop_quiet.store(true, Ordering::Relaxed);
        stop_faults.store(true, Ordering::Relaxed);
        noisy_logs
    };
    let (quiet, noisy_logs, rules, maxima) = tokio::join!(
        quiet_clients,
        conductor,
        inject_faults(&fake, &stop_faults),
        sample(&pids, &signals, plan.every),
    );
    let (quiet_logs, quiet_clients): (Vec<ClientLog>, Vec<Option<Client>>) =
        quiet.into_iter().unzip();
    let mut logs: Vec<(Seat, ClientLog)> = quiet_seats
        .into_iter()
        .zip(quiet_logs)
        .chain(noisy_seats.into_iter().zip(noisy_logs))
        .collect();
    settle_creates(&mut logs).await;
    // The end reading: the quiet clients still connected, as at the start; the noisy
    // tenant gone (its connections closed a moment ago).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (maxima, series) = maxima;
    for (((u, &pid), (rss_max, fds_max)), series) in
        usage.iter_mut().zip(&pids).zip(maxima).zip(series)
    {
        u.series = series;
        u.rss_end = procfs::rss(pid).now_kib * 1024;
        u.fds_end = procfs::fds(pid);
        u.rss_max = rss_max.max(u.rss_end);
        u.fds_max = fds_max.max(u.fds_end);
    }
    for client in quiet_clients.into_iter().flatten() {
        client.close().await;
    }
    let mut servers_alive = true;
    for server in &servers.servers {
        let health = reqwest::get(format!("{}/health", server.base)).await;
        servers_alive &= health.is_ok_and(|r| r.status().is_success());
    }
    quiescence(&fake, Duration::from_secs(1), Duration::from_secs(60)).await;
    let mut server_calls_over_26s = Vec::new();
    for server in &servers.servers {
        let metrics = reqwest::get(format!("{}/metrics", server.base))
            .await
            .ok()
            .map(|r| r.text());
        let text = match metrics {
            Some(text) => text.await.unwrap_or_default(),
            None => String::new(),
        };
        server_calls_over_26s.push(calls_over(&text, 26.3));
    }

    let mut figures = verify(&fake, &logs);
    figures.backend = Some(backend);
    figures.plan_load_secs = plan.load_secs();
    figures.rules_scheduled = rules;
    figures.usage = usage;
    figures.server_calls_over_26s = server_calls_over_26s;
    figures.cpu = cpu;
    figures.p99_fine = plan.p99_fine;
    figures.servers_alive = servers_alive;
    figures.noisy_window = noisy_window;
    figures.noisy_drain = noisy_drain;
    figures.wall = began.elapsed();
    if let Ok(dir) = std::env::var("ORDERDESK_SOAK_DUMP") {
        // Debugging aid: every server's whole log, e.g. with ORDERDESK_SOAK_LOG=info.
        for (i, server) in servers.servers.iter().enumerate() {
            let path = std::path::Path::new(&dir).join(format!("soak-{tag}-server-{i}.log"));
            let _ = std::fs::write(path, server.stderr());
        }
    }
    if !figures.violations().is_empty() {
        for (i, server) in servers.servers.iter().enumerate() {
            let log = server.stderr();
            let tail = &log[log.len().saturating_sub(4_000)..];
            eprintln!("--- server {i} stderr (tail) ---\n{tail}");
        }
    }
    drop(servers);
    figures
}

/// Tool calls slower than `secs` in the server's `tool_call_duration_seconds` histogram:
/// per tool, the `+Inf` bucket less the largest bucket at or below `secs`.
pub fn calls_over(metrics: &str, secs: f64) -> u64 {
    // (largest bound ≤ secs, its count, the +Inf count) per label set but `le`.
    let mut series: HashMap<String, (f64, u64, u64)> = HashMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.split("tool_call_duration_seconds_bucket{").nth(1) else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Some(at) = labels.find("le=\"") else {
            continue;
        };
        let le_and_rest = &labels[at + 4..];
        let le = le_and_rest.split('"').next().unwrap_or_default();
        let key = format!("{}{}", &labels[..at], &le_and_rest[le.len() + 1..]);
        let count = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        let entry = series.entry(key).or_insert((0.0, 0, 0));
        if le == "+Inf" {
            entry.2 = count;
        } else if let Ok(bound) = le.parse::<f64>()
            && bound <= secs
            && bound >= entry.0
        {
            entry.0 = bound;
            entry.1 = count;
        }
    }
    series
        .values()
        .map(|(_, below, all)| all.saturating_sub(*below))
        .sum()
}

/// Checks every client's record against the fake's own copy of the stores.
fn verify(fake: &FakeOrderDesk, logs: &[(Seat, ClientLog)]) -> Figures {
    let mut f = Figures::default();
    let mut orders: HashMap<(usize, u64), Map<String, Value>> = HashMap::new();
    for (seat, log) in logs {
        let store = store_id(seat.tenant);
        let counts = if seat.noisy() {
            &mut f.noisy
        } else {
            &mut f.quiet
        };
        for (k, n) in &log.counts {
            *counts.entry(k.clone()).or_insert(0) += n;
        }
        let latency = if seat.noisy() {
            &mut f.noisy_latency
        } else {
            &mut f.quiet_latency
        };
        for (kind, micros) in &log.latency {
            latency.entry(*kind).or_default().extend(
                micros
                    .iter()
                    .map(|&us| Duration::from_micros(u64::from(us))),
            );
        }
        if !seat.noisy() {
            f.hits_solo
                .extend(sorted(log.hits[usize::from(SOLO)].iter().copied()));
            f.hits_noisy
                .extend(sorted(log.hits[usize::from(WITH_NOISY)].iter().copied()));
        }
        f.reconnects += log.reconnects;
        f.late.extend(log.late.iter().cloned());
        for u in &log.updates {
            let meta = orders
                .entry((seat.tenant, u.order_id))
                .or_insert_with(|| metadata(fake, &store, u.order_id));
            let written = meta.contains_key(&u.key);
            let what = || format!("store {store} order {} key {}", u.order_id, u.key);
            match &u.failure {
                None => {
                    f.updates_acked += 1;
                    if !written {
                        f.updates_lost.push(what());
                    }
                }
                Some(code) if uncertain(code) => {
                    f.updates_unknown += 1;
                    f.updates_unknown_written += u64::from(written);
                }
                Some(code) => {
                    f.updates_refused += 1;
                    if written {
                        f.updates_refused_but_written
                            .push(format!("{} ({code})", what()));
                    }
                }
            }
        }
        for c in &log.creates {
            f.creates += 1;
            let n = fake.orders_with_source_id(&store, &c.source_id);
            let what = || {
                format!(
                    "store {store} source_id {} answers {:?} orders {n}",
                    c.source_id, c.answers
                )
            };
            if n > 1 {
                f.creates_duplicated.push(what());
            }
            if c.ever_uncertain() {
                f.creates_unknown_at_first += 1;
            }
            if c.acked {
                f.creates_acked += 1;
                if n == 0 {
                    f.creates_acked_missing.push(what());
                }
            } else if !c.ever_uncertain() {
                if n > 0 {
                    f.creates_refused_but_made.push(what());
                }
            } else {
                f.creates_unresolved += 1;
                f.creates_unresolved_made += u64::from(n > 0);
            }
        }
    }
    for v in f
        .quiet_latency
        .values_mut()
        .chain(f.noisy_latency.values_mut())
    {
        v.sort();
    }
    f.hits_solo.sort();
    f.hits_noisy.sort();
    let stats = fake.stats();
    f.outside_edits = stats.external_edits;
    f.outside_edits_visible = fake
        .store_ids()
        .iter()
        .flat_map(|s| fake.orders_in(s))
        .map(|o| o["order_metadata"]["external_edits"].as_u64().unwrap_or(0))
        .sum();
    f.upstream_requests = stats.total;
    f.upstream_429 = stats.status_429;
    f.upstream_5xx = stats.status_5xx;
    f.upstream_dropped = stats.dropped;
    f.upstream_writes = stats.count("POST /orders") + stats.count("PUT /orders/{id}");
    f
}
