//! Settings read from `wasi:config`, under the keys and with the defaults of the shared
//! table in `orderdesk-settings` (the host fills them from flags, env and TOML).

use orderdesk_settings::{self as keys, Setting};

use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Family, Host};
use crate::ratelimit::Shape;
use crate::retry::RetryPolicy;

/// Cache lifetimes per family, in milliseconds (0 turns a family's cache off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    pub orders_ms: u64,
    pub products_ms: u64,
    pub store_ms: u64,
}

impl Ttls {
    /// How long a family's reads are kept.
    pub fn of(&self, family: Family) -> u64 {
        match family {
            Family::Orders => self.orders_ms,
            Family::Products => self.products_ms,
            Family::Store => self.store_ms,
        }
    }
}

/// Everything configurable, parsed once per call.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_url: String,
    pub store_id: Option<String>,
    /// Never printed: `Secret` hides itself from Debug.
    pub api_key: Option<Secret>,
    pub ttls: Ttls,
    pub retry: RetryPolicy,
    /// How long one upstream request may wait for a connection or the next bytes.
    pub upstream_timeout_ms: u64,
    /// Per-tenant tool-call refill (0 disables the limit).
    pub tool_calls_per_minute: u64,
    /// Per-tenant tool-call burst.
    pub tool_call_burst: u64,
    /// The store's OrderDesk bucket, which the client-side limiter mirrors.
    pub upstream: Shape,
    /// Wraps the keys of stores opted into background sync and webhooks.
    pub unattended_secret: Option<Secret>,
    /// The secret before the last change; copies sealed under it are re-wrapped.
    pub unattended_secret_previous: Option<Secret>,
    /// Upstream tokens the background poller leaves for interactive calls.
    pub sync_reserve_tokens: u64,
    /// The host's wall-clock limit for one call, in milliseconds (long tools budget by it).
    pub call_timeout_ms: u64,
    /// How long a one-time link stays valid, in milliseconds.
    pub link_ttl_ms: u64,
    /// Links one address may ask for per [`crate::config::LINK_WINDOW_MS`].
    pub link_requests_per_address: u64,
    /// Traces kept per tenant (0: tracing off).
    pub trace_keep: u64,
    /// How old a trace may get before it is no longer shown, in milliseconds.
    pub trace_max_age_ms: u64,
}

/// The window the per-address link limit counts in.
pub const LINK_WINDOW_MS: u64 = 15 * 60_000;

/// A string that never appears in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Settings {
    /// All settings, read from the host in one round trip.
    pub fn load(host: &dyn Host) -> Result<Self, ToolError> {
        let given = Given::new(host.config_all());
        let host = &given;
        let retry = RetryPolicy {
            base_ms: number(host, &keys::RETRY_BASE_MS)?,
            max_retry_after_ms: number(host, &keys::RETRY_MAX_WAIT_MS)?,
            ..RetryPolicy::default()
        };
        let api_url = text(host, &keys::API_URL).unwrap_or_default();
        Ok(Self {
            api_url: api_url.trim_end_matches('/').to_string(),
            store_id: text(host, &keys::STORE_ID),
            api_key: text(host, &keys::API_KEY).map(Secret),
            ttls: Ttls {
                orders_ms: number(host, &keys::CACHE_TTL_ORDERS)?.saturating_mul(1000),
                products_ms: number(host, &keys::CACHE_TTL_PRODUCTS)?.saturating_mul(1000),
                store_ms: number(host, &keys::CACHE_TTL_STORE)?.saturating_mul(1000),
            },
            retry,
            upstream_timeout_ms: number(host, &keys::UPSTREAM_TIMEOUT_MS)?,
            tool_calls_per_minute: number(host, &keys::TOOL_CALLS_PER_MINUTE)?,
            tool_call_burst: number(host, &keys::TOOL_CALL_BURST)?,
            upstream: Shape::orderdesk(
                number(host, &keys::UPSTREAM_BURST)?,
                number(host, &keys::UPSTREAM_PER_SECOND)?,
            ),
            unattended_secret: text(host, &keys::UNATTENDED_SECRET).map(Secret),
            unattended_secret_previous: text(host, &keys::UNATTENDED_SECRET_PREVIOUS).map(Secret),
            sync_reserve_tokens: number(host, &keys::SYNC_RESERVE_TOKENS)?,
            call_timeout_ms: number(host, &keys::CALL_TIMEOUT_SECS)?.saturating_mul(1000),
            link_ttl_ms: number(host, &keys::LINK_TTL_MINUTES)?.saturating_mul(60_000),
            link_requests_per_address: number(host, &keys::LINK_REQUESTS_PER_ADDRESS)?,
            trace_keep: number(host, &keys::TRACE_KEEP)?,
            trace_max_age_ms: number(host, &keys::TRACE_MAX_AGE_MINUTES)?.saturating_mul(60_000),
        })
    }
}

/// The `wasi:keyvalue` bucket identifier of `bucket`: its setting (`state_bucket`,
/// `cache_bucket_orders`, …), else the default name. Unlike other settings, an empty value
/// counts: wasmtime's CLI serves only the bucket `""`.
pub fn bucket_name(given: &[(String, String)], bucket: Bucket) -> String {
    let setting = match bucket {
        Bucket::State => &keys::STATE_BUCKET,
        Bucket::Cache(Family::Orders) => &keys::CACHE_BUCKET_ORDERS,
        Bucket::Cache(Family::Products) => &keys::CACHE_BUCKET_PRODUCTS,
        Bucket::Cache(Family::Store) => &keys::CACHE_BUCKET_STORE,
    };
    given
        .iter()
        .find(|(k, _)| k == setting.key)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| setting.default.unwrap_or(bucket.name()).to_string())
}

/// The pairs the host gave, sorted by key once: each setting is then a binary search,
/// with no map built (every call loads the settings afresh).
struct Given(Vec<(String, String)>);

impl Given {
    fn new(mut pairs: Vec<(String, String)>) -> Self {
        // Stable: of pairs with the same key, the last one given stays last.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Self(pairs)
    }

    /// The value given for `key`; when a key comes twice, the last one wins.
    fn get(&self, key: &str) -> Option<&str> {
        let end = self.0.partition_point(|(k, _)| k.as_str() <= key);
        self.0[..end]
            .last()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The configured value, else the table's default; empty counts as unset.
fn text(given: &Given, setting: &Setting) -> Option<String> {
    given
        .get(setting.key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(|| setting.default.map(str::to_string))
}

fn number(given: &Given, setting: &Setting) -> Result<u64, ToolError> {
    let raw = text(given, setting).unwrap_or_else(|| "0".into());
    setting
        .check(&raw)
        .and_then(|()| {
            raw.parse()
                .map_err(|_| format!("{} is not a number", setting.key))
        })
        .map_err(|e| ToolError::new(ErrorCode::NotConfigured, format!("setting {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;

    #[test]
    fn defaults_come_from_the_shared_table() {
        let host = ScriptedHost::default();
        let s = Settings::load(&host).unwrap();
        assert_eq!(s.api_url, "https://app.orderdesk.me/api/v2");
        assert_eq!(s.ttls.orders_ms, 15_000);
        assert_eq!(s.ttls.store_ms, 3_600_000);
        assert_eq!(s.retry.max_retry_after_ms, 10_000);
        assert_eq!(s.tool_call_burst, 240);
        assert!(s.store_id.is_none());
        assert_eq!(s.link_ttl_ms, 15 * 60_000);
        assert_eq!(s.link_requests_per_address, 3);
        assert_eq!(s.trace_keep, 200);
        assert_eq!(s.trace_max_age_ms, 1440 * 60_000);
    }

    #[test]
    fn bucket_names_are_settings_and_may_be_empty() {
        let none: Vec<(String, String)> = Vec::new();
        assert_eq!(bucket_name(&none, Bucket::State), "state");
        assert_eq!(
            bucket_name(&none, Bucket::Cache(Family::Products)),
            "cache-products"
        );
        let cli = vec![
            ("state_bucket".to_string(), String::new()),
            ("cache_bucket_orders".to_string(), "orders".to_string()),
        ];
        assert_eq!(bucket_name(&cli, Bucket::State), "");
        assert_eq!(bucket_name(&cli, Bucket::Cache(Family::Orders)), "orders");
        assert_eq!(
            bucket_name(&cli, Bucket::Cache(Family::Store)),
            "cache-store"
        );
    }

    #[test]
    fn configured_values_win_and_bad_ones_are_named() {
        let mut host = ScriptedHost::default();
        host.config.insert("cache_ttl_orders".into(), "2".into());
        host.config.insert("retry_max_wait_ms".into(), "500".into());
        let s = Settings::load(&host).unwrap();
        assert_eq!(s.ttls.orders_ms, 2_000);
        assert_eq!(s.retry.max_retry_after_ms, 500);
        host.config.insert("upstream_burst".into(), "lots".into());
        let e = Settings::load(&host).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotConfigured);
        assert!(e.message.contains("upstream_burst"), "{}", e.message);
    }

    #[test]
    fn each_key_reads_as_a_map_of_the_pairs_would_have_it() {
        let given: Vec<(String, String)> = [
            ("b", "1"),
            ("a", "x"),
            ("b", "2"),
            ("c", "3"),
            ("b", "last"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // What Settings::load read before: a map, in which the last of a repeated key wins.
        let map: std::collections::BTreeMap<_, _> = given.clone().into_iter().collect();
        let sorted = Given::new(given);
        for key in ["a", "b", "c", "0", "bb", "z", ""] {
            assert_eq!(sorted.get(key), map.get(key).map(String::as_str), "{key}");
        }
        assert_eq!(sorted.get("b"), Some("last"));
        assert_eq!(Given::new(Vec::new()).get("a"), None);
    }
}
