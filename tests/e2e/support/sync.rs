//! What the webhook and sync tests share: the order mirror read back through
//! `mirror_orders_query`, the fake's own orders to hold it against, webhook posting, and a
//! client that keeps the progress notifications it is sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_orderdesk::webhook::{self, Delivery};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam};
use rmcp::model::{ProgressToken, ProtocolVersion};
use rmcp::service::NotificationContext;
use rmcp::service::RunningService;
use rmcp::{ClientHandler, RoleClient, Service};
use serde_json::{Value, json};

use super::FakeOrderDesk;
use super::http::{HttpServer, ok};

/// The secret every process sharing a state uses to seal unattended API keys.
pub const SECRET: &str = "e2e-unattended-secret-0123456789abcdef";
/// The env var carrying it.
pub const SECRET_ENV: &str = "ORDERDESK_MCP_UNATTENDED_SECRET";
/// A year: the largest lookback, and it covers every seeded order (from 2026-01-01).
pub const YEAR_MINUTES: u64 = 525_600;
/// The "Cancelled" folder of the fake.
pub const CANCELLED: u64 = fake_orderdesk::CANCELLED_FOLDER;

/// An order id given as a JSON number or a numeric string.
pub fn id_of(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not an id: {s}")),
        other => panic!("not an id: {other}"),
    }
}

/// What the mirror and the fake are compared on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub date_updated: String,
    pub folder_id: u64,
}

/// A mirrored order as `mirror_orders_query` lists it.
#[derive(Clone, Debug)]
pub struct Mirrored {
    pub row: Row,
    /// `active` or `cancelled`.
    pub status: String,
    /// `sync` or `webhook`.
    pub via: String,
    pub order: Value,
}

fn row_of(order: &Value) -> Row {
    Row {
        date_updated: order["date_updated"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        folder_id: id_of(&order["folder_id"]),
    }
}

/// Every order of the store's mirror, paged through `mirror_orders_query` by id; panics on
/// an id listed twice or a total that disagrees with the pages.
pub async fn mirror<S: Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    store: Option<&str>,
) -> BTreeMap<u64, Mirrored> {
    let mut out = BTreeMap::new();
    let mut offset = 0;
    loop {
        let mut args = json!({ "limit": 100, "offset": offset, "order_by": "id", "order": "asc" });
        if let Some(store) = store {
            args["store"] = store.into();
        }
        let page = ok(client, "mirror_orders_query", args).await;
        let orders = page["orders"].as_array().expect("orders").clone();
        for entry in &orders {
            let id = id_of(&entry["id"]);
            let mirrored = Mirrored {
                row: row_of(&entry["order"]),
                status: entry["status"].as_str().unwrap_or_default().to_string(),
                via: entry["via"].as_str().unwrap_or_default().to_string(),
                order: entry["order"].clone(),
            };
            assert_eq!(
                entry["date_updated"], entry["order"]["date_updated"],
                "{entry}"
            );
            assert!(out.insert(id, mirrored).is_none(), "{id} listed twice");
        }
        offset += orders.len();
        if page["has_more"] != true || orders.is_empty() {
            let total = page["total_count"].as_u64().expect("total_count") as usize;
            assert_eq!(total, out.len(), "total_count against the pages: {page}");
            return out;
        }
    }
}

/// The store's orders in the fake now, by id.
pub fn fake_rows(fake: &FakeOrderDesk, store: &str) -> BTreeMap<u64, Row> {
    fake.orders_in(store)
        .iter()
        .map(|o| (id_of(&o["id"]), row_of(o)))
        .collect()
}

/// What the mirror should hold of `fake_rows`: every order but those in `skipped` (the
/// cancelled ones it never saw).
pub fn expected_rows(
    fake: &BTreeMap<u64, Row>,
    skipped: &std::collections::BTreeSet<u64>,
) -> BTreeMap<u64, Row> {
    fake.iter()
        .filter(|(id, _)| !skipped.contains(id))
        .map(|(id, row)| (*id, row.clone()))
        .collect()
}

/// The mirror's rows, to compare with [`expected_rows`].
pub fn rows(mirror: &BTreeMap<u64, Mirrored>) -> BTreeMap<u64, Row> {
    mirror.iter().map(|(id, m)| (*id, m.row.clone())).collect()
}

/// Asserts `mirror` holds exactly `expected` (ids, date_updated, folder), each order's
/// status agreeing with its folder; the message names the first differences.
pub fn assert_mirror(mirror: &BTreeMap<u64, Mirrored>, expected: &BTreeMap<u64, Row>) {
    let got = rows(mirror);
    if &got != expected {
        let missing: Vec<u64> = expected
            .keys()
            .filter(|id| !got.contains_key(id))
            .copied()
            .collect();
        let extra: Vec<u64> = got
            .keys()
            .filter(|id| !expected.contains_key(id))
            .copied()
            .collect();
        let differ: Vec<String> = got
            .iter()
            .filter_map(|(id, row)| {
                let want = expected.get(id)?;
                (want != row).then(|| format!("{id}: mirror {row:?}, fake {want:?}"))
            })
            .take(10)
            .collect();
        panic!(
            "the mirror ({} orders) is not the fake ({} orders): missing {} {:?}, extra {} {:?}, differing {:?}",
            got.len(),
            expected.len(),
            missing.len(),
            &missing[..missing.len().min(10)],
            extra.len(),
            &extra[..extra.len().min(10)],
            differ
        );
    }
    for (id, m) in mirror {
        let want = if m.row.folder_id == CANCELLED {
            "cancelled"
        } else {
            "active"
        };
        assert_eq!(m.status, want, "order {id} in folder {}", m.row.folder_id);
    }
}

/// `/webhooks/orderdesk` of a `serve`.
pub fn webhook_url(server: &HttpServer) -> String {
    format!("{}/webhooks/orderdesk", server.base)
}

/// POSTs `delivery` to the server's webhook route: status and body (JSON when it is).
pub async fn deliver(server: &HttpServer, delivery: &Delivery) -> (u16, Value) {
    let (status, body) = webhook::post(&webhook_url(server), delivery)
        .await
        .unwrap_or_else(|e| panic!("posting a webhook: {e}\n{}", server.stderr()));
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, json)
}

/// Polls `check` every 100 ms until it gives `Some`, or panics with `what` after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A session-era client that keeps every progress notification it receives.
#[derive(Clone, Default)]
pub struct ProgressClient {
    seen: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ProgressClient {
    /// The notifications for `token`, in arrival order.
    pub fn for_token(&self, token: &ProgressToken) -> Vec<ProgressNotificationParam> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| &p.progress_token == token)
            .cloned()
            .collect()
    }

    /// How many notifications arrived in all.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl ClientHandler for ProgressClient {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.seen.lock().unwrap().push(params);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("e2e-progress", "1"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }
}

/// A [`ProgressClient`] in a 2025-11-25 session with `server`.
pub async fn progress_client(
    server: &HttpServer,
    bearer: Option<&str>,
) -> (ProgressClient, RunningService<RoleClient, ProgressClient>) {
    let handler = ProgressClient::default();
    let client = rmcp::ServiceExt::serve(handler.clone(), server.transport(bearer))
        .await
        .unwrap_or_else(|e| panic!("initialize failed: {e}\n{}", server.stderr()));
    (handler, client)
}
