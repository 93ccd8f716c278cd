//! Settings read from `wasi:config`: OrderDesk base URL, single-store credentials, TTLs,
//! retry tuning. Keys are snake_case; the host fills them from flags, env and TOML.

use crate::error::{ErrorCode, ToolError};
use crate::host::Host;
use crate::retry::RetryPolicy;

/// OrderDesk's production API base.
pub const DEFAULT_API_URL: &str = "https://app.orderdesk.me/api/v2";

/// Configuration keys the component reads.
pub mod keys {
    pub const API_URL: &str = "api_url";
    pub const STORE_ID: &str = "store_id";
    pub const API_KEY: &str = "api_key";
    pub const TTL_ORDERS_S: &str = "cache_ttl_orders_s";
    pub const TTL_PRODUCTS_S: &str = "cache_ttl_products_s";
    pub const TTL_STORE_S: &str = "cache_ttl_store_s";
    pub const RETRY_BASE_MS: &str = "retry_base_ms";
    pub const RETRY_MAX_WAIT_MS: &str = "retry_max_wait_ms";
    pub const TOOL_CALLS_PER_MINUTE: &str = "tool_calls_per_minute";
    pub const TOOL_CALL_BURST: &str = "tool_call_burst";
    pub const UPSTREAM_BURST: &str = "upstream_burst";
    pub const UPSTREAM_PER_SECOND: &str = "upstream_per_second";
}

/// Cache lifetimes per endpoint family, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    pub orders_ms: u64,
    pub products_ms: u64,
    pub store_ms: u64,
}

impl Default for Ttls {
    fn default() -> Self {
        Self {
            orders_ms: 15_000,
            products_ms: 60_000,
            store_ms: 3_600_000,
        }
    }
}

/// Everything configurable, parsed once per call.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_url: String,
    pub store_id: Option<String>,
    /// Never printed: `Settings` derives Debug only through `Secret`.
    pub api_key: Option<Secret>,
    pub ttls: Ttls,
    pub retry: RetryPolicy,
    /// Per-tenant tool-call refill (0 disables the limit).
    pub tool_calls_per_minute: u64,
    /// Per-tenant tool-call burst.
    pub tool_call_burst: u64,
    /// The store's OrderDesk bucket, which the client-side limiter mirrors.
    pub upstream: crate::ratelimit::Shape,
}

/// A string that never appears in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Settings {
    pub fn load(host: &dyn Host) -> Result<Self, ToolError> {
        let defaults = Ttls::default();
        let mut retry = RetryPolicy::default();
        retry.base_ms = number(host, keys::RETRY_BASE_MS, retry.base_ms)?;
        retry.max_retry_after_ms = number(host, keys::RETRY_MAX_WAIT_MS, retry.max_retry_after_ms)?;
        let api_url = non_empty(host, keys::API_URL).unwrap_or_else(|| DEFAULT_API_URL.into());
        Ok(Self {
            api_url: api_url.trim_end_matches('/').to_string(),
            store_id: non_empty(host, keys::STORE_ID),
            api_key: non_empty(host, keys::API_KEY).map(Secret),
            ttls: Ttls {
                orders_ms: number(host, keys::TTL_ORDERS_S, defaults.orders_ms / 1000)? * 1000,
                products_ms: number(host, keys::TTL_PRODUCTS_S, defaults.products_ms / 1000)?
                    * 1000,
                store_ms: number(host, keys::TTL_STORE_S, defaults.store_ms / 1000)? * 1000,
            },
            retry,
            tool_calls_per_minute: number(host, keys::TOOL_CALLS_PER_MINUTE, 120)?,
            tool_call_burst: number(host, keys::TOOL_CALL_BURST, 240)?,
            upstream: crate::ratelimit::Shape::orderdesk(
                number(host, keys::UPSTREAM_BURST, 20)?,
                number(host, keys::UPSTREAM_PER_SECOND, 3)?,
            ),
        })
    }
}

fn non_empty(host: &dyn Host, key: &str) -> Option<String> {
    host.config(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn number(host: &dyn Host, key: &str, default: u64) -> Result<u64, ToolError> {
    match non_empty(host, key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ToolError::new(
                ErrorCode::NotConfigured,
                format!("setting {key} must be a whole number, got {v:?}"),
            )
        }),
    }
}
