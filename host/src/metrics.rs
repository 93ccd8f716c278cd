//! Prometheus metrics (`GET /metrics`), with the `prometheus-client` crate: one registry
//! for the process, fed by the MCP handler (tool calls), the egress capability (upstream
//! requests), the lock capability (contention), the component's `metric` log events
//! (cache, retries, throttling, lock waits, conflicts), the HTTP server (sessions, auth,
//! webhook deliveries) and the sync scheduler. Labels never carry a key, a tenant secret
//! or customer data, and every label value comes from a closed set (catalog names, routes,
//! codes; anything else is counted as `other`), so no client can add series.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub tool: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolName {
    pub tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub method: String,
    /// The OrderDesk path with ids replaced by `{id}`, e.g. `/orders/{id}/shipments`.
    pub route: String,
    /// The HTTP status, or `error` when no answer came.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub family: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabels {
    pub lane: String,
    pub reason: String,
}

/// `value` when it is one of `allowed`, else `other`.
fn closed(value: &str, allowed: &[&'static str]) -> String {
    allowed
        .iter()
        .find(|a| **a == value)
        .map_or("other", |a| *a)
        .to_string()
}

/// An error code as a label: codes are `UPPER_SNAKE` words of the component's or the
/// sandbox's; anything else (a newer or misbehaving component) is `OTHER`.
pub fn code_label(code: &str) -> &str {
    let well_formed = !code.is_empty()
        && code.len() <= 40
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if well_formed { code } else { "OTHER" }
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 100 µs … ~52 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

pub struct Metrics {
    registry: Registry,
    pub tool_calls: Family<ToolLabels, Counter>,
    pub tool_seconds: Histograms<ToolName>,
    pub upstream_requests: Family<UpstreamLabels, Counter>,
    pub upstream_seconds: Histograms<RouteLabels>,
    pub upstream_429: Counter,
    pub retries: Family<ReasonLabels, Counter>,
    pub throttled: Counter,
    pub cache: Family<CacheLabels, Counter>,
    pub lock_waits: Family<ResultLabels, Counter>,
    pub lock_contended: Counter,
    pub update_conflicts: Counter,
    pub instances_in_use: Gauge,
    pub instances_max: Gauge,
    pub sessions: Gauge,
    pub auth: Family<ResultLabels, Counter>,
    pub webhooks: Family<OutcomeLabels, Counter>,
    pub sync_runs: Family<OutcomeLabels, Counter>,
    pub admission_refused: Family<LaneLabels, Counter>,
    pub connections_open: Gauge,
    pub connections_refused: Family<ReasonLabels, Counter>,
    pub sessions_evicted: Counter,
    pub sessions_refused: Counter,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("orderdesk");
        let m = Self {
            tool_calls: Family::default(),
            tool_seconds: Family::new_with_constructor(latency),
            upstream_requests: Family::default(),
            upstream_seconds: Family::new_with_constructor(latency),
            upstream_429: Counter::default(),
            retries: Family::default(),
            throttled: Counter::default(),
            cache: Family::default(),
            lock_waits: Family::default(),
            lock_contended: Counter::default(),
            update_conflicts: Counter::default(),
            instances_in_use: Gauge::default(),
            instances_max: Gauge::default(),
            sessions: Gauge::default(),
            auth: Family::default(),
            webhooks: Family::default(),
            sync_runs: Family::default(),
            admission_refused: Family::default(),
            connections_open: Gauge::default(),
            connections_refused: Family::default(),
            sessions_evicted: Counter::default(),
            sessions_refused: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "tool_calls",
            "MCP tool calls by tool and outcome (ok or the error code)",
            m.tool_calls.clone(),
        );
        r.register(
            "tool_call_duration_seconds",
            "Tool call duration in the server, by tool",
            m.tool_seconds.clone(),
        );
        r.register(
            "upstream_requests",
            "Requests sent to OrderDesk by method, route and status",
            m.upstream_requests.clone(),
        );
        r.register(
            "upstream_request_duration_seconds",
            "OrderDesk request duration by method and route",
            m.upstream_seconds.clone(),
        );
        r.register(
            "upstream_429_received",
            "429 answers received from OrderDesk",
            m.upstream_429.clone(),
        );
        r.register(
            "upstream_retries",
            "Requests sent again after a 429, a 5xx or no answer",
            m.retries.clone(),
        );
        r.register(
            "upstream_throttled",
            "Requests held back by the store's bucket before sending (429s avoided)",
            m.throttled.clone(),
        );
        r.register(
            "cache_lookups",
            "Read-through cache lookups by family and result (hit, miss)",
            m.cache.clone(),
        );
        r.register(
            "lock_waits",
            "Lock acquisitions that had to wait, by result (waited, timed_out)",
            m.lock_waits.clone(),
        );
        r.register(
            "lock_contended",
            "Lock acquire attempts that found the lock held by someone else",
            m.lock_contended.clone(),
        );
        r.register(
            "update_conflicts",
            "Update cycles redone because the order changed meanwhile",
            m.update_conflicts.clone(),
        );
        r.register(
            "instances_in_use",
            "Component instances running a call now",
            m.instances_in_use.clone(),
        );
        r.register(
            "instances_max",
            "Size of the instance pool",
            m.instances_max.clone(),
        );
        r.register(
            "mcp_sessions",
            "Open MCP sessions (session-era HTTP clients)",
            m.sessions.clone(),
        );
        r.register(
            "http_auth",
            "Bearer checks on /mcp by result (ok, cached, missing, invalid)",
            m.auth.clone(),
        );
        r.register(
            "webhooks",
            "OrderDesk webhook deliveries by outcome (accepted, duplicate, unauthorized, \
             invalid, failed)",
            m.webhooks.clone(),
        );
        r.register(
            "sync_runs",
            "Background polls of one store by outcome (the run's status: done, partial, \
             running, cancelled; or busy, failed)",
            m.sync_runs.clone(),
        );
        r.register(
            "admission_refused",
            "Calls refused an instance (BUSY) by lane and reason (deadline, queue_full)",
            m.admission_refused.clone(),
        );
        r.register(
            "connections_open",
            "Open client connections of serve",
            m.connections_open.clone(),
        );
        r.register(
            "connections_refused",
            "Connections closed at accept by reason (full, per_ip)",
            m.connections_refused.clone(),
        );
        r.register(
            "mcp_sessions_evicted",
            "Sessions ended to make room for a newer one of the same tenant",
            m.sessions_evicted.clone(),
        );
        r.register(
            "mcp_sessions_refused",
            "New sessions refused because the server had its limit open",
            m.sessions_refused.clone(),
        );
        Self { registry, ..m }
    }

    /// The registry in the Prometheus / OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// One tool call; `tool` is a catalog name or `unknown` (the MCP layer makes sure).
    pub fn tool_call(&self, tool: &str, outcome: &str, elapsed: Duration) {
        let outcome = match outcome {
            "ok" | "unknown_tool" => outcome,
            code => code_label(code),
        };
        self.tool_calls
            .get_or_create(&ToolLabels {
                tool: tool.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.tool_seconds
            .get_or_create(&ToolName {
                tool: tool.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn upstream(&self, method: &str, route: &str, status: Option<u16>, elapsed: Duration) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        let method = closed(method, &["GET", "POST", "PUT", "DELETE"]);
        let method = method.as_str();
        if status == "429" {
            self.upstream_429.inc();
        }
        self.upstream_requests
            .get_or_create(&UpstreamLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.upstream_seconds
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A component `metric` event (see the component's `Host::metric`); unknown names and
    /// malformed events are ignored, so a newer component never breaks an older host.
    pub fn component_event(&self, message: &str) -> Option<Counted> {
        let Ok(serde_json::Value::Object(event)) = serde_json::from_str(message) else {
            return None;
        };
        let label = |k: &str, allowed: &[&'static str]| {
            closed(event.get(k).and_then(|v| v.as_str()).unwrap_or(""), allowed)
        };
        match event.get("name").and_then(|v| v.as_str()) {
            Some("cache") => {
                let result = label("result", &["hit", "miss"]);
                let counted = match result.as_str() {
                    "hit" => Some(Counted::CacheHit),
                    "miss" => Some(Counted::CacheMiss),
                    _ => None,
                };
                self.cache
                    .get_or_create(&CacheLabels {
                        family: label("family", &["orders", "inventory-items", "store"]),
                        result,
                    })
                    .inc();
                counted
            }
            Some("upstream_retry") => {
                self.retries
                    .get_or_create(&ReasonLabels {
                        reason: label("reason", &["429", "5xx", "network"]),
                    })
                    .inc();
                None
            }
            Some("upstream_throttled") => {
                self.throttled.inc();
                Some(Counted::Throttled)
            }
            Some("lock") => {
                self.lock_waits
                    .get_or_create(&ResultLabels {
                        result: label("result", &["waited", "timed_out"]),
                    })
                    .inc();
                None
            }
            Some("update_conflict") => {
                self.update_conflicts.inc();
                None
            }
            _ => None,
        }
    }

    pub fn webhook(&self, outcome: &str) {
        self.webhooks
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn sync_run(&self, outcome: &str) {
        self.sync_runs
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn admission_refused(
        &self,
        lane: crate::admission::Lane,
        refused: &crate::admission::Refused,
    ) {
        let reason = match refused {
            crate::admission::Refused::Deadline { .. } => "deadline",
            crate::admission::Refused::QueueFull { .. } => "queue_full",
        };
        self.admission_refused
            .get_or_create(&LaneLabels {
                lane: lane.label().to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn connection_refused(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn auth(&self, result: &str) {
        self.auth
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }
}

/// What a component event counted that the dashboard's history counts too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    CacheHit,
    CacheMiss,
    Throttled,
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// An OrderDesk API path as a metric label: the `/api/v2` prefix dropped, the query
/// dropped, and every segment that is an id (digits, or anything after a collection that
/// names one record) replaced by `{id}`, so labels stay few and carry no data.
pub fn route_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let path = path.strip_prefix("/api/v2").unwrap_or(path);
    let mut out = String::new();
    let mut previous = "";
    for segment in path.split('/').filter(|s| !s.is_empty()).take(6) {
        out.push('/');
        let collection = matches!(
            previous,
            "orders" | "order-items" | "shipments" | "inventory-items"
        );
        if collection || segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{id}");
        } else if segment.len() <= 32
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
        {
            out.push_str(segment);
        } else {
            out.push_str("{other}");
        }
        previous = segment;
    }
    if out.is_empty() { "/".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_hide_ids_and_queries() {
        assert_eq!(route_of("/api/v2/orders?limit=5&search=a@b.c"), "/orders");
        assert_eq!(route_of("/api/v2/orders/12345"), "/orders/{id}");
        assert_eq!(
            route_of("/api/v2/orders/A-1/shipments/77"),
            "/orders/{id}/shipments/{id}"
        );
        assert_eq!(
            route_of("/api/v2/inventory-items/SKU%201"),
            "/inventory-items/{id}"
        );
        assert_eq!(route_of("/api/v2/test"), "/test");
        assert_eq!(route_of("/api/v2/Jane.Doe@x"), "/{other}");
        assert_eq!(route_of(""), "/");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Whatever path a request had, its route label is short and drawn from a small
        /// alphabet, so labels stay few whatever the ids and queries.
        #[test]
        fn route_labels_are_bounded_whatever_the_path(path in "(/[^/]{0,50}){0,12}(\\?.{0,40})?") {
            let route = route_of(&path);
            proptest::prop_assert!(route.split('/').count() <= 7, "{route}");
            proptest::prop_assert!(route.len() <= 7 * 34, "{route}");
            proptest::prop_assert!(route.bytes().all(|b| b.is_ascii_lowercase() || b"/{}-_".contains(&b)), "{route}");
        }

        /// Codes that are not the stable UPPER_SNAKE kind become one `OTHER` series.
        #[test]
        fn code_labels_are_codes_or_other(code in ".{0,60}") {
            let label = code_label(&code);
            proptest::prop_assert!(label == "OTHER" || label == code);
            proptest::prop_assert!(label.len() <= 40);
        }
    }

    #[test]
    fn component_events_count_and_rendering_names_them() {
        let m = Metrics::new();
        m.component_event(r#"{"name":"cache","family":"orders","result":"hit"}"#);
        m.component_event(r#"{"name":"cache","family":"orders","result":"hit"}"#);
        m.component_event(r#"{"name":"upstream_retry","reason":"429"}"#);
        m.component_event("not json");
        m.component_event(r#"{"name":"from_the_future"}"#);
        m.component_event(r#"{"name":"cache","family":"x-client-string","result":"hit"}"#);
        m.tool_call("orders_get", "not a code!", Duration::ZERO);
        m.upstream("GET", "/orders/{id}", Some(429), Duration::from_millis(3));
        m.tool_call("orders_get", "ok", Duration::from_micros(250));
        m.webhook("duplicate");
        m.sync_run("busy");
        let text = m.render();
        assert!(
            text.contains(r#"orderdesk_webhooks_total{outcome="duplicate"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"orderdesk_sync_runs_total{outcome="busy"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"orderdesk_cache_lookups_total{family="orders",result="hit"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"orderdesk_upstream_retries_total{reason="429"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("orderdesk_upstream_429_received_total 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"orderdesk_tool_calls_total{tool="orders_get",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"orderdesk_cache_lookups_total{family="other",result="hit"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"orderdesk_tool_calls_total{tool="orders_get",outcome="OTHER"} 1"#),
            "{text}"
        );
        assert!(!text.contains("client-string"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
