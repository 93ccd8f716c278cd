//! A faithful fake of the [OrderDesk REST API v2](https://apidocs.orderdesk.com/), for
//! end-to-end tests, benchmarks and demos.
//!
//! # Starting one
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use fake_orderdesk::{FakeConfig, FakeOrderDesk};
//!
//! let fake = FakeOrderDesk::start(FakeConfig::default()).await?;
//! // Point the client under test at the fake.
//! println!("{} {} {}", fake.base_url(), fake.store_id(), fake.api_key());
//! # Ok(()) }
//! ```
//!
//! The server listens on `127.0.0.1` (an ephemeral port with [`FakeOrderDesk::start`]) and
//! stops when the [`FakeOrderDesk`] is dropped. The `fake-orderdesk` binary runs the same
//! server standalone and prints the `ORDERDESK_*` variables a client needs.
//!
//! # What it imitates
//!
//! * Every route lives under `/api/v2` and needs the `ORDERDESK-STORE-ID` and
//!   `ORDERDESK-API-KEY` headers of a known store (401 otherwise). One server can hold
//!   several stores ([`FakeOrderDesk::add_store`]), each with its own data and bucket.
//! * A `GET` or `DELETE` that sends a `Content-Type` header or a body is refused with 400,
//!   as OrderDesk does.
//! * A request body without `Content-Length` (`Transfer-Encoding: chunked`) is refused with
//!   `411 Length Required` before it reaches the store, as the proxy in front of OrderDesk
//!   does ([`FakeConfig::reject_chunked`]; the binary's `--allow-chunked` turns it off).
//! * A leaky bucket per store (20 tokens, refilled at 3 per second by default) answers 429
//!   with `X-Retry-After` when empty; every answer carries `X-Tokens-Remaining`.
//! * Reads: `/test`, `/store`, `/orders` (paging, ordering and OrderDesk's filters),
//!   `/orders/{id}`, `/orders/{id}/order-items[/{item}]`, `/orders/{id}/shipments[/{id}]`,
//!   `/inventory-items`, `/inventory-items/{id}`.
//! * Writes: creating (validated), replacing and deleting orders and inventory items, order
//!   items, history notes, shipments, `/batch-shipments`, `/move-orders` (the only way to
//!   change an order's folder) and `/batch-inventory-items`.
//! * Answers use OrderDesk's envelopes: `{"status":"success",...}` with the records under
//!   `order`, `orders`, `inventory_item`..., or `{"status":"error","message":"..."}`.
//!
//! The store is seeded deterministically from [`FakeConfig`]: orders `100001..`, inventory
//! items `5001..`, dates from 2026-01-01 on. Only writes read the system clock.
//!
//! # Faults and counters
//!
//! [`FakeOrderDesk::faults`] switches faults on for the next requests: error statuses,
//! 429s, connections closed without an answer, writes that are applied but answered with an
//! error or not at all, orders edited behind the client's back, and added latency.
//! [`FakeOrderDesk::stats`] counts requests by route template (`"GET /orders/{id}"`) and by
//! outcome, so a test can assert how many calls a client made and how it retried.
//!
//! To break one step of a multi-step client operation, schedule a [`Rule`] with
//! [`Faults::schedule`]: it watches the requests matching a [`Match`] (any, reads, writes or
//! one route template), lets the first `skip` through, then answers the next `times` as its
//! [`Respond`] says (an error status, a 429, a dropped connection, a write applied and then
//! failed, dropped or answered late, or a late answer), optionally with an outside [`Edit`]
//! of the addressed record just before or just after serving it:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use fake_orderdesk::{Edit, FakeConfig, FakeOrderDesk, Match, Respond, Rule};
//!
//! let fake = FakeOrderDesk::start(FakeConfig::default()).await?;
//! // The client reads the order three times, then writes it: the third read is served,
//! // but someone edits the order right after; the write then fails after applying.
//! let reads = Match::Route("GET /orders/{id}".into());
//! let writes = Match::Route("PUT /orders/{id}".into());
//! fake.faults().schedule(Rule::on(reads, Respond::Normal).skip(2).with_edit(Edit::AfterServing));
//! fake.faults().schedule(Rule::on(writes, Respond::FailAfterApply(504)));
//! // ... run the client, then check no outside edit was lost:
//! assert_eq!(fake.external_edits_of(100_001), 1);
//! # Ok(()) }
//! ```
//!
//! # Changes from outside, and webhooks
//!
//! A test changes a store as OrderDesk's own users would, dated by the system clock
//! like the API's writes: [`FakeOrderDesk::edit_order_in`] (an outside edit),
//! [`FakeOrderDesk::cancel_order`] (moved to "Cancelled") and [`FakeOrderDesk::add_order`]
//! (a new order). [`FakeOrderDesk::webhook`] then builds the delivery OrderDesk's "Post
//! Order JSON" rule action would send for an order, signed with the store's key, and
//! [`webhook::post`] sends it to a server under test over loopback.
//!
//! # A real Redis
//!
//! [`redis_server::RedisServer`] is not a fake: it starts a throwaway `redis-server` on a
//! free loopback port (installing Debian's package once when it is missing), for tests of
//! the host's Redis state backend.
//!
//! # A real browser and a real mail server
//!
//! For end-to-end tests of the web console: [`browser::Browser`] drives a headless Chromium
//! over WebDriver (installing Debian's `chromium` and `chromium-driver` once when missing),
//! with helpers that act as a person would (fill a field by its label, click a button by its
//! text, wait for text, screenshots at desktop or phone size, an axe-core accessibility
//! check). [`smtp_sink::SmtpSink`] is an SMTP server on a free loopback port that keeps what
//! it receives, MIME-decoded, for a test to read (the magic link in a sign-up mail).

pub mod browser;
pub mod clock;
mod data;
mod debian;
mod edits;
mod faults;
mod inventory;
mod order_items;
mod orders;
pub mod redis_server;
mod routes;
mod schedule;
mod server;
mod shipments;
pub mod smtp_sink;
mod tenant;
pub mod webhook;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tokio::task::JoinHandle;

pub use faults::{Faults, Stats};
pub use schedule::{Edit, Match, Respond, Rule};

use data::{FOLDERS, StoreData};
use tenant::{Tenant, Tenants};
use webhook::Delivery;

/// The id of the "Cancelled" folder, where [`FakeOrderDesk::cancel_order`] moves an order.
pub const CANCELLED_FOLDER: u64 = FOLDERS[3].0;

/// How the fake store is set up.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The store id clients must send in `ORDERDESK-STORE-ID`.
    pub store_id: String,
    /// The key clients must send in `ORDERDESK-API-KEY`.
    pub api_key: String,
    /// How many orders to seed (ids from 100001).
    pub orders: usize,
    /// How many inventory items to seed (ids from 5001).
    pub products: usize,
    /// Tokens in a full rate-limit bucket.
    pub bucket_capacity: u32,
    /// Tokens the bucket regains per second.
    pub refill_per_sec: f64,
    /// Whether the bucket is enforced; when false every answer reports a full bucket.
    pub rate_limit: bool,
    /// Whether a request body sent without `Content-Length` (that is, with
    /// `Transfer-Encoding: chunked`) is refused, as the proxy in front of OrderDesk does:
    /// `411 Length Required` with the error envelope and `X-Tokens-Remaining`, before the
    /// request reaches the store. Such a request is counted ([`Stats::total`], its route,
    /// [`Stats::status_411`]) but takes no token, is not applied, consumes no fault and does
    /// not count toward any scheduled [`Rule`]. Default `true`; when `false` chunked bodies
    /// are served like any other.
    pub reject_chunked: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            store_id: "10001".into(),
            api_key: "fake-api-key-0123456789".into(),
            orders: 200,
            products: 50,
            bucket_capacity: 20,
            refill_per_sec: 3.0,
            rate_limit: true,
            reject_chunked: true,
        }
    }
}

/// State shared by the server's connections and the [`FakeOrderDesk`] handle.
#[derive(Debug)]
pub(crate) struct Shared {
    config: FakeConfig,
    faults: Faults,
    stats: Mutex<Stats>,
    tenants: Tenants,
}

impl Shared {
    fn new(config: FakeConfig) -> Self {
        let tenants = Tenants::default();
        let data = StoreData::seeded(config.orders, config.products);
        let name = "Fake Store".to_string();
        tenants.insert(Tenant::new(
            &config.store_id,
            &config.api_key,
            name,
            &config,
            data,
        ));
        Self {
            tenants,
            stats: Mutex::new(Stats::default()),
            faults: Faults::default(),
            config,
        }
    }

    pub(crate) fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    /// The store configured in [`FakeConfig`], which always exists.
    pub(crate) fn default_tenant(&self) -> Arc<Tenant> {
        self.tenants
            .get(&self.config.store_id)
            .expect("the default store is never removed")
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test must not wedge the fake for others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake OrderDesk server; dropping it shuts the server down.
#[derive(Debug)]
pub struct FakeOrderDesk {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeOrderDesk {
    /// Starts a server on an ephemeral port of `127.0.0.1`.
    pub async fn start(config: FakeConfig) -> anyhow::Result<FakeOrderDesk> {
        Self::start_on(config, 0).await
    }

    /// Starts a server on `127.0.0.1:port` (0 picks a free port).
    pub async fn start_on(config: FakeConfig, port: u16) -> anyhow::Result<FakeOrderDesk> {
        let listener = server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let task = tokio::spawn(server::run(listener, Arc::clone(&shared)));
        tracing::info!(%addr, "fake OrderDesk listening");
        Ok(FakeOrderDesk { shared, addr, task })
    }

    /// The API's base URL, `http://127.0.0.1:PORT/api/v2`.
    pub fn base_url(&self) -> String {
        format!("{}/api/v2", self.origin())
    }

    /// The server's origin, `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store id clients must send.
    pub fn store_id(&self) -> &str {
        &self.shared.config.store_id
    }

    /// The API key clients must send.
    pub fn api_key(&self) -> &str {
        &self.shared.config.api_key
    }

    /// The server's switchable faults.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    /// Sets every request counter back to zero.
    pub fn reset_stats(&self) {
        *self.shared.stats() = Stats::default();
    }

    /// Fills every store's rate-limit bucket back to capacity.
    pub fn refill_bucket(&self) {
        for tenant in self.shared.tenants.all() {
            tenant.bucket().reset();
        }
    }

    /// Adds another store to the running server, reachable with `store_id` and `api_key`
    /// on the same origin; it gets its own orders, inventory, shipments, history, folders
    /// (the same four as every store) and leaky bucket (set up like the default store's).
    ///
    /// It is seeded like the default store (orders from 100001, items from 5001, same
    /// dates and totals) but tagged with its id so its records are told apart: source ids
    /// `SRC-{store_id}-{order id}`, emails `first.last.{store_id}@example.com`, product
    /// codes `SKU-{store_id}-{item id}`. Adding an id again re-seeds that store.
    ///
    /// # Panics
    ///
    /// If `store_id` is the default store's id.
    pub fn add_store(&self, store_id: &str, api_key: &str, orders: usize, products: usize) {
        assert_ne!(
            store_id, self.shared.config.store_id,
            "add_store: {store_id} is the default store"
        );
        let data = StoreData::seeded_for(Some(store_id), orders, products);
        let name = format!("Fake Store {store_id}");
        let tenant = Tenant::new(store_id, api_key, name, &self.shared.config, data);
        self.shared.tenants.insert(tenant);
    }

    /// The ids of every store on the server, the default one included, ascending.
    pub fn store_ids(&self) -> Vec<String> {
        self.shared
            .tenants
            .all()
            .iter()
            .map(|t| t.id.clone())
            .collect()
    }

    /// Runs `f` on the store's data; `None` for an unknown store.
    fn with_store<T>(&self, store_id: &str, f: impl FnOnce(&StoreData) -> T) -> Option<T> {
        let tenant = self.shared.tenants.get(store_id)?;
        let data = tenant.data();
        Some(f(&data))
    }

    /// Runs `f` on the default store's data.
    fn with_default<T>(&self, f: impl FnOnce(&StoreData) -> T) -> T {
        f(&self.shared.default_tenant().data())
    }

    /// The ids of the seeded orders, ascending (whether or not they were deleted since).
    pub fn order_ids(&self) -> Vec<u64> {
        self.with_default(|s| s.seeded_orders.clone())
    }

    /// The ids of the seeded inventory items, ascending.
    pub fn product_ids(&self) -> Vec<u64> {
        self.with_default(|s| s.seeded_products.clone())
    }

    /// The order with this id as the API would return it, to check what writes did.
    pub fn order(&self, id: u64) -> Option<Value> {
        self.with_default(|s| s.orders.get(&id).cloned())
    }

    /// The inventory item with this id as the API would return it.
    pub fn product(&self, id: u64) -> Option<Value> {
        self.with_default(|s| s.products.get(&id).cloned())
    }

    /// The outside edits the default store's order `order_id` has had
    /// (`order_metadata.external_edits`); 0 when it has none or does not exist. Lets a test
    /// check that a client did not overwrite (lose) someone else's edit.
    pub fn external_edits_of(&self, order_id: u64) -> u64 {
        self.with_default(|s| s.orders.get(&order_id).map_or(0, edits::order_edits))
    }

    /// The outside edits the default store's inventory item `id` has had (its
    /// `external_edits` field); 0 when it has none or does not exist.
    pub fn product_external_edits_of(&self, id: u64) -> u64 {
        self.with_default(|s| s.products.get(&id).map_or(0, edits::product_edits))
    }

    /// The history notes added to an order through the API, oldest first.
    pub fn order_history(&self, id: u64) -> Vec<Value> {
        self.with_default(|s| s.history.get(&id).cloned().unwrap_or_default())
    }

    /// The shipments added to an order through the API, oldest first.
    pub fn shipments(&self, id: u64) -> Vec<Value> {
        self.with_default(|s| s.shipments.get(&id).cloned().unwrap_or_default())
    }

    /// The order with this id in the store `store_id` (`None` for an unknown store).
    pub fn order_in(&self, store_id: &str, id: u64) -> Option<Value> {
        self.with_store(store_id, |s| s.orders.get(&id).cloned())
            .flatten()
    }

    /// The ids the store `store_id` was seeded with, ascending, like
    /// [`FakeOrderDesk::order_ids`] (empty for an unknown store).
    pub fn order_ids_in(&self, store_id: &str) -> Vec<u64> {
        self.with_store(store_id, |s| s.seeded_orders.clone())
            .unwrap_or_default()
    }

    /// Every order the store `store_id` holds now, created ones included, by id.
    pub fn orders_in(&self, store_id: &str) -> Vec<Value> {
        self.with_store(store_id, |s| s.orders.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The ids of the inventory items the store `store_id` was seeded with, ascending.
    pub fn product_ids_in(&self, store_id: &str) -> Vec<u64> {
        self.with_store(store_id, |s| s.seeded_products.clone())
            .unwrap_or_default()
    }

    /// The inventory item with this id in the store `store_id`.
    pub fn product_in(&self, store_id: &str, id: u64) -> Option<Value> {
        self.with_store(store_id, |s| s.products.get(&id).cloned())
            .flatten()
    }

    /// The shipments of an order in the store `store_id`, oldest first.
    pub fn shipments_in(&self, store_id: &str, id: u64) -> Vec<Value> {
        self.with_store(store_id, |s| s.shipments.get(&id).cloned())
            .flatten()
            .unwrap_or_default()
    }

    /// The history notes added to an order in the store `store_id`, oldest first.
    pub fn order_history_in(&self, store_id: &str, id: u64) -> Vec<Value> {
        self.with_store(store_id, |s| s.history.get(&id).cloned())
            .flatten()
            .unwrap_or_default()
    }

    /// Makes the store `store_id` accept `api_key` as well as its own key, as when two
    /// parties hold different keys for one store (its key was rotated, say, and the old one
    /// still works): both pass authentication and each signs webhooks with its own.
    ///
    /// # Panics
    ///
    /// For an unknown store.
    pub fn add_api_key(&self, store_id: &str, api_key: &str) {
        self.tenant(store_id).add_key(api_key);
    }

    /// The store on the server with this id.
    fn tenant(&self, store_id: &str) -> Arc<Tenant> {
        self.shared
            .tenants
            .get(store_id)
            .unwrap_or_else(|| panic!("no store {store_id} on the fake"))
    }

    /// The tag of the store's seed data: none for the default store, else its id.
    fn tag_of<'a>(&self, store_id: &'a str) -> Option<&'a str> {
        (store_id != self.shared.config.store_id).then_some(store_id)
    }

    /// Someone edits order `id` of the store in OrderDesk: `order_metadata.external_edits`
    /// goes up by one and `date_updated` becomes now (see [`Faults::concurrent_edits`] for
    /// the same edit as a fault). Counted in [`Stats::external_edits`]; false (nothing
    /// done) when the store or order does not exist.
    pub fn edit_order_in(&self, store_id: &str, id: u64) -> bool {
        let edited = self.shared.tenants.get(store_id).is_some_and(|tenant| {
            let mut data = tenant.data();
            data.orders
                .get_mut(&id)
                .map(|order| edits::edit_order(order, &clock::now_string()))
                .is_some()
        });
        if edited {
            self.shared.stats().external_edits += 1;
        }
        edited
    }

    /// Someone cancels order `id` of the store in OrderDesk: it moves to the "Cancelled"
    /// folder (id 4) and `date_updated` becomes now, as `/move-orders` does. False when
    /// the store or order does not exist.
    pub fn cancel_order(&self, store_id: &str, id: u64) -> bool {
        self.move_order(store_id, id, CANCELLED_FOLDER)
    }

    /// Someone moves order `id` of the store to folder `folder` (1 New, 2 Prepared, 3 Shipped,
    /// 4 Cancelled) in OrderDesk; `date_updated` becomes now. False when the store, order or folder does
    /// not exist.
    pub fn move_order(&self, store_id: &str, id: u64, folder: u64) -> bool {
        if !data::folder_exists(folder) {
            return false;
        }
        let Some(tenant) = self.shared.tenants.get(store_id) else {
            return false;
        };
        let mut data = tenant.data();
        let Some(order) = data.orders.get_mut(&id) else {
            return false;
        };
        order["folder_id"] = folder.into();
        order["date_updated"] = clock::now_string().into();
        true
    }

    /// A customer places a new order in the store: shaped like a seeded one, in folder
    /// "New", added and updated now; returns its id (the store's next one).
    ///
    /// # Panics
    ///
    /// For an unknown store.
    pub fn add_order(&self, store_id: &str) -> u64 {
        let tag = self.tag_of(store_id);
        self.tenant(store_id)
            .data()
            .add_order(tag, &clock::now_string())
    }

    /// The delivery OrderDesk's "Post Order JSON" rule action sends for the store's order
    /// `id` as it is now: the order as JSON in the form field `order`, the store's id in
    /// `X-ORDER-DESK-STORE-ID`, and in `X-ORDER-DESK-HASH` its HMAC-SHA256 keyed by the
    /// store's own API key. `None` when the store or order does not exist.
    pub fn webhook(&self, store_id: &str, id: u64) -> Option<Delivery> {
        let tenant = self.shared.tenants.get(store_id)?;
        let order = tenant.data().orders.get(&id).cloned()?;
        let json = serde_json::to_string(&order).expect("an order serializes");
        Some(Delivery::signed(store_id, &tenant.api_key, &json))
    }

    /// How many orders of the store `store_id` have exactly this `source_id`: more than one
    /// means a client created a duplicate (OrderDesk accepts duplicates, and so does this
    /// fake). 0 for an unknown store.
    pub fn orders_with_source_id(&self, store_id: &str, source_id: &str) -> usize {
        self.with_store(store_id, |s| {
            s.orders
                .values()
                .filter(|o| match &o["source_id"] {
                    Value::String(s) => s == source_id,
                    Value::Number(n) => n.to_string() == source_id,
                    _ => false,
                })
                .count()
        })
        .unwrap_or(0)
    }
}

impl Drop for FakeOrderDesk {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection.
        self.task.abort();
    }
}
