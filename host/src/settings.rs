//! Settings from flags, environment and a TOML file (in that order of precedence), and
//! the values handed to the component through `wasi:config`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::kv::StateSpec;

pub const DEFAULT_API_URL: &str = "https://app.orderdesk.me/api/v2";

/// Options shared by every serving command. Each flag also reads an environment variable
/// and a key of the same name (snake_case) in the `--config` TOML file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// OrderDesk store id (Store Settings → API in OrderDesk).
    #[arg(long, env = "ORDERDESK_STORE_ID")]
    pub store_id: Option<String>,

    /// OrderDesk API key for that store. Prefer the environment variable: flags show up in
    /// process listings.
    #[arg(long, env = "ORDERDESK_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// OrderDesk API base URL; the component may reach this origin and no other.
    /// [default: https://app.orderdesk.me/api/v2]
    #[arg(long, env = "ORDERDESK_API_URL")]
    pub api_url: Option<String>,

    /// Where state and cache live: `sqlite:PATH` or `memory`.
    /// [default: sqlite:<data dir>/orderdesk-mcp/state.db]
    #[arg(long, env = "ORDERDESK_MCP_STATE")]
    pub state: Option<String>,

    /// Load this component build instead of the embedded one.
    #[arg(long, env = "ORDERDESK_MCP_COMPONENT")]
    pub component: Option<PathBuf>,

    /// Directory for the compiled-component cache. [default: <cache dir>/orderdesk-mcp]
    #[arg(long, env = "ORDERDESK_MCP_PRECOMPILE_CACHE")]
    pub precompile_cache: Option<PathBuf>,

    /// Compile the component on every start instead of caching the compiled artifact.
    #[arg(long, env = "ORDERDESK_MCP_NO_PRECOMPILE_CACHE")]
    pub no_precompile_cache: bool,

    /// Wall-clock limit per tool call, in seconds. [default: 30]
    #[arg(long, env = "ORDERDESK_MCP_CALL_TIMEOUT_SECS")]
    pub call_timeout_secs: Option<u64>,

    /// Linear-memory cap per component instance, in MiB. [default: 64]
    #[arg(long, env = "ORDERDESK_MCP_MEMORY_LIMIT_MB")]
    pub memory_limit_mb: Option<u64>,

    /// Tool calls that may run at once (the instance pool size). [default: 32]
    #[arg(long, env = "ORDERDESK_MCP_MAX_INSTANCES")]
    pub max_instances: Option<u32>,

    /// Cache lifetime of order reads, in seconds (0 disables). [default: 15]
    #[arg(long, env = "ORDERDESK_CACHE_TTL_ORDERS")]
    pub cache_ttl_orders: Option<u64>,

    /// Cache lifetime of inventory reads, in seconds. [default: 60]
    #[arg(long, env = "ORDERDESK_CACHE_TTL_PRODUCTS")]
    pub cache_ttl_products: Option<u64>,

    /// Cache lifetime of store settings, in seconds. [default: 3600]
    #[arg(long, env = "ORDERDESK_CACHE_TTL_STORE")]
    pub cache_ttl_store: Option<u64>,

    /// Tool calls each tenant may make per minute (0 = unlimited). [default: 120]
    #[arg(long, env = "ORDERDESK_MCP_TOOL_CALLS_PER_MINUTE")]
    pub tool_calls_per_minute: Option<u64>,

    /// Tool-call burst per tenant; writes cost 2. [default: 240]
    #[arg(long, env = "ORDERDESK_MCP_TOOL_CALL_BURST")]
    pub tool_call_burst: Option<u64>,

    /// OrderDesk's per-store bucket size, mirrored by the client-side limiter. [default: 20]
    #[arg(long, env = "ORDERDESK_UPSTREAM_BURST")]
    pub upstream_burst: Option<u64>,

    /// OrderDesk's per-store refill rate, requests per second. [default: 3]
    #[arg(long, env = "ORDERDESK_UPSTREAM_PER_SECOND")]
    pub upstream_per_second: Option<u64>,

    /// First back-off step after a 5xx or network error, in ms. [default: 250]
    #[arg(long, env = "ORDERDESK_RETRY_BASE_MS", hide = true)]
    pub retry_base_ms: Option<u64>,
}

/// The `--config` TOML file: the same keys as the flags, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub store_id: Option<String>,
    pub api_key: Option<String>,
    pub api_url: Option<String>,
    pub state: Option<String>,
    pub component: Option<PathBuf>,
    pub precompile_cache: Option<PathBuf>,
    pub no_precompile_cache: Option<bool>,
    pub call_timeout_secs: Option<u64>,
    pub memory_limit_mb: Option<u64>,
    pub max_instances: Option<u32>,
    pub cache_ttl_orders: Option<u64>,
    pub cache_ttl_products: Option<u64>,
    pub cache_ttl_store: Option<u64>,
    pub retry_base_ms: Option<u64>,
    pub tool_calls_per_minute: Option<u64>,
    pub tool_call_burst: Option<u64>,
    pub upstream_burst: Option<u64>,
    pub upstream_per_second: Option<u64>,
    pub log: Option<String>,
    pub log_format: Option<LogFormat>,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    Json,
    /// Human-readable lines.
    Text,
}

/// Fully resolved settings.
#[derive(Clone)]
pub struct Settings {
    pub store_id: Option<String>,
    pub api_key: Option<String>,
    pub api_url: String,
    pub state: StateSpec,
    pub component: Option<PathBuf>,
    pub precompile_cache: Option<PathBuf>,
    pub call_timeout: Duration,
    pub memory_limit_bytes: usize,
    pub max_instances: u32,
    pub cache_ttl_orders: Option<u64>,
    pub cache_ttl_products: Option<u64>,
    pub cache_ttl_store: Option<u64>,
    pub retry_base_ms: Option<u64>,
    pub tool_calls_per_minute: Option<u64>,
    pub tool_call_burst: Option<u64>,
    pub upstream_burst: Option<u64>,
    pub upstream_per_second: Option<u64>,
}

impl std::fmt::Debug for Settings {
    // The API key never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("store_id", &self.store_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("api_url", &self.api_url)
            .field("state", &self.state.to_string())
            .field("component", &self.component)
            .field("precompile_cache", &self.precompile_cache)
            .field("call_timeout", &self.call_timeout)
            .field("memory_limit_bytes", &self.memory_limit_bytes)
            .field("max_instances", &self.max_instances)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Flags and env (already merged by clap) win over the file, which wins over defaults.
    pub fn resolve(args: ServeArgs, file: FileConfig) -> anyhow::Result<Self> {
        let state = match args.state.or(file.state) {
            Some(s) => s.parse::<StateSpec>().map_err(anyhow::Error::msg)?,
            None => StateSpec::Sqlite(default_state_path()?),
        };
        let no_cache = args.no_precompile_cache || file.no_precompile_cache.unwrap_or(false);
        let precompile_cache = if no_cache {
            None
        } else {
            args.precompile_cache
                .or(file.precompile_cache)
                .or_else(|| dirs::cache_dir().map(|d| d.join("orderdesk-mcp")))
        };
        let memory_mb = args.memory_limit_mb.or(file.memory_limit_mb).unwrap_or(64);
        anyhow::ensure!(
            (8..=4096).contains(&memory_mb),
            "memory_limit_mb must be 8-4096, got {memory_mb}"
        );
        let timeout = args
            .call_timeout_secs
            .or(file.call_timeout_secs)
            .unwrap_or(30);
        anyhow::ensure!(timeout >= 1, "call_timeout_secs must be at least 1");
        let api_url = args
            .api_url
            .or(file.api_url)
            .unwrap_or_else(|| DEFAULT_API_URL.into());
        Ok(Self {
            store_id: non_empty(args.store_id.or(file.store_id)),
            api_key: non_empty(args.api_key.or(file.api_key)),
            api_url: api_url.trim_end_matches('/').to_string(),
            state,
            component: args.component.or(file.component),
            precompile_cache,
            call_timeout: Duration::from_secs(timeout),
            memory_limit_bytes: (memory_mb * 1024 * 1024) as usize,
            max_instances: args
                .max_instances
                .or(file.max_instances)
                .unwrap_or(32)
                .max(1),
            cache_ttl_orders: args.cache_ttl_orders.or(file.cache_ttl_orders),
            cache_ttl_products: args.cache_ttl_products.or(file.cache_ttl_products),
            cache_ttl_store: args.cache_ttl_store.or(file.cache_ttl_store),
            retry_base_ms: args.retry_base_ms.or(file.retry_base_ms),
            tool_calls_per_minute: args.tool_calls_per_minute.or(file.tool_calls_per_minute),
            tool_call_burst: args.tool_call_burst.or(file.tool_call_burst),
            upstream_burst: args.upstream_burst.or(file.upstream_burst),
            upstream_per_second: args.upstream_per_second.or(file.upstream_per_second),
        })
    }

    /// The `wasi:config` values the component reads (keys match `component/src/config.rs`).
    pub fn component_config(&self) -> Vec<(String, String)> {
        let mut vars = vec![("api_url".to_string(), self.api_url.clone())];
        let optional = [
            ("store_id", self.store_id.clone()),
            ("api_key", self.api_key.clone()),
            (
                "cache_ttl_orders_s",
                self.cache_ttl_orders.map(|v| v.to_string()),
            ),
            (
                "cache_ttl_products_s",
                self.cache_ttl_products.map(|v| v.to_string()),
            ),
            (
                "cache_ttl_store_s",
                self.cache_ttl_store.map(|v| v.to_string()),
            ),
            ("retry_base_ms", self.retry_base_ms.map(|v| v.to_string())),
            (
                "tool_calls_per_minute",
                self.tool_calls_per_minute.map(|v| v.to_string()),
            ),
            (
                "tool_call_burst",
                self.tool_call_burst.map(|v| v.to_string()),
            ),
            ("upstream_burst", self.upstream_burst.map(|v| v.to_string())),
            (
                "upstream_per_second",
                self.upstream_per_second.map(|v| v.to_string()),
            ),
        ];
        vars.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v))),
        );
        vars
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn default_state_path() -> anyhow::Result<PathBuf> {
    let dir = dirs::data_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/share")))
        .context("no data directory for the default state file; pass --state")?;
    Ok(dir.join("orderdesk-mcp").join("state.db"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_defaults_fill_the_rest() {
        let args = ServeArgs {
            store_id: Some("1".into()),
            state: Some("memory".into()),
            ..Default::default()
        };
        let file: FileConfig = toml::from_str(
            "store_id = \"2\"\napi_key = \"k\"\ncall_timeout_secs = 5\nstate = \"sqlite:/x\"",
        )
        .unwrap();
        let s = Settings::resolve(args, file).unwrap();
        assert_eq!(s.store_id.as_deref(), Some("1"));
        assert_eq!(s.api_key.as_deref(), Some("k"));
        assert_eq!(s.state, StateSpec::Memory);
        assert_eq!(s.call_timeout, Duration::from_secs(5));
        assert_eq!(s.api_url, DEFAULT_API_URL);
        assert_eq!(s.memory_limit_bytes, 64 << 20);
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("stor_id = \"1\"").is_err());
    }

    #[test]
    fn debug_output_hides_the_key() {
        let args = ServeArgs {
            api_key: Some("super-secret-key".into()),
            state: Some("memory".into()),
            ..Default::default()
        };
        let s = Settings::resolve(args, FileConfig::default()).unwrap();
        assert!(!format!("{s:?}").contains("super-secret-key"));
    }
}
