//! Every setting of orderdesk-mcp, defined once.
//!
//! A [`Setting`] names its key (the TOML key and the `wasi:config` key, snake_case), its
//! environment variable, its default and who reads it. The long flag is the key with `-`
//! for `_`. Both sides use this table and nothing else:
//!
//! 1. The host builds its CLI (`--flag`, env, `--help` text and defaults) and its TOML
//!    reader from [`ALL`], resolves each value (flag > env > file > default) and hands the
//!    settings the component reads ([`Reader::Component`], [`Reader::Both`]) to it through
//!    `wasi:config`, under [`Setting::key`].
//! 2. The component reads the same keys through `wasi:config` and falls back to the same
//!    [`Setting::default`].
//!
//! Adding a setting is one entry here plus the code that uses it.

/// What a setting's value is; the host checks it before anything starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// Text that never appears in logs, `--help` env listings or debug output.
    Secret,
    /// A whole number within `min..=max`.
    Count { min: u64, max: u64 },
    /// A file or directory path.
    Path,
    /// On when given (`true`/`false` in TOML and env).
    Flag,
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
}

/// Who reads a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Only the host (sandbox, storage, transport).
    Host,
    /// Only the component, through `wasi:config`.
    Component,
    /// Both: the host also uses the value (e.g. cache lifetimes for storage expiry).
    Both,
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// TOML key and `wasi:config` key; the long flag is this with `-` for `_`.
    pub key: &'static str,
    /// Environment variable.
    pub env: &'static str,
    /// The default, as text; `None` when unset by default (or computed by the host, see
    /// `help`).
    pub default: Option<&'static str>,
    pub kind: Kind,
    pub reader: Reader,
    /// One or two sentences for `--help` and the README.
    pub help: &'static str,
    /// Left out of `--help` (tuning knobs for tests and benchmarks).
    pub hidden: bool,
}

impl Setting {
    /// The long flag, without the leading dashes.
    pub fn flag(&self) -> String {
        self.key.replace('_', "-")
    }

    /// Whether the component reads it through `wasi:config`.
    pub fn for_component(&self) -> bool {
        matches!(self.reader, Reader::Component | Reader::Both)
    }

    /// Parse `raw` as this setting's kind; the message names the setting.
    pub fn check(&self, raw: &str) -> Result<(), String> {
        match self.kind {
            Kind::Text | Kind::Secret | Kind::Path => Ok(()),
            Kind::Count { min, max } => match raw.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                Ok(n) => Err(format!("{} must be {min}-{max}, got {n}", self.key)),
                Err(_) => Err(format!("{} must be a whole number, got {raw:?}", self.key)),
            },
            Kind::Flag => parse_flag(raw)
                .map(drop)
                .ok_or_else(|| format!("{} must be true or false, got {raw:?}", self.key)),
            Kind::Choice(words) if words.contains(&raw.trim()) => Ok(()),
            Kind::Choice(words) => Err(format!(
                "{} must be one of {}, got {raw:?}",
                self.key,
                words.join(", ")
            )),
        }
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
pub fn parse_flag(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

const fn setting(
    key: &'static str,
    env: &'static str,
    default: Option<&'static str>,
    kind: Kind,
    reader: Reader,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        env,
        default,
        kind,
        reader,
        help,
        hidden: false,
    }
}

const fn hidden(s: Setting) -> Setting {
    Setting { hidden: true, ..s }
}

const fn count(min: u64, max: u64) -> Kind {
    Kind::Count { min, max }
}

const ANY: Kind = count(0, u64::MAX);

// --- OrderDesk and the single store -------------------------------------------------------

pub const STORE_ID: Setting = setting(
    "store_id",
    "ORDERDESK_STORE_ID",
    None,
    Kind::Text,
    Reader::Component,
    "OrderDesk store id (Store Settings -> API in OrderDesk), for single-store mode.",
);
pub const API_KEY: Setting = setting(
    "api_key",
    "ORDERDESK_API_KEY",
    None,
    Kind::Secret,
    Reader::Component,
    "OrderDesk API key of that store. Prefer the environment variable: flags show up in \
     process listings. Never logged.",
);
pub const API_URL: Setting = setting(
    "api_url",
    "ORDERDESK_API_URL",
    Some("https://app.orderdesk.me/api/v2"),
    Kind::Text,
    Reader::Both,
    "OrderDesk API base URL; the component may reach this origin and no other.",
);
pub const UPSTREAM_TIMEOUT_MS: Setting = setting(
    "upstream_timeout_ms",
    "ORDERDESK_UPSTREAM_TIMEOUT_MS",
    Some("15000"),
    count(100, 600_000),
    Reader::Component,
    "How long to wait for OrderDesk to connect, start answering, or send the next bytes, \
     in milliseconds.",
);
pub const UPSTREAM_BURST: Setting = setting(
    "upstream_burst",
    "ORDERDESK_UPSTREAM_BURST",
    Some("20"),
    count(1, 1_000_000),
    Reader::Component,
    "OrderDesk's per-store bucket size, mirrored by the client-side limiter.",
);
pub const UPSTREAM_PER_SECOND: Setting = setting(
    "upstream_per_second",
    "ORDERDESK_UPSTREAM_PER_SECOND",
    Some("3"),
    count(1, 1_000_000),
    Reader::Component,
    "OrderDesk's per-store refill rate, requests per second.",
);
pub const RETRY_BASE_MS: Setting = hidden(setting(
    "retry_base_ms",
    "ORDERDESK_RETRY_BASE_MS",
    Some("250"),
    count(1, 60_000),
    Reader::Component,
    "First back-off step after a 5xx or a network error, in milliseconds.",
));
pub const RETRY_MAX_WAIT_MS: Setting = setting(
    "retry_max_wait_ms",
    "ORDERDESK_RETRY_MAX_WAIT_MS",
    Some("10000"),
    ANY,
    Reader::Component,
    "The longest OrderDesk-advised 429 wait (X-Retry-After) one call sits out, in \
     milliseconds; past it the call answers OD_API_429.",
);

// --- Cache --------------------------------------------------------------------------------

pub const CACHE_TTL_ORDERS: Setting = setting(
    "cache_ttl_orders",
    "ORDERDESK_CACHE_TTL_ORDERS",
    Some("15"),
    ANY,
    Reader::Both,
    "Cache lifetime of order reads, in seconds (0 turns caching of orders off).",
);
pub const CACHE_TTL_PRODUCTS: Setting = setting(
    "cache_ttl_products",
    "ORDERDESK_CACHE_TTL_PRODUCTS",
    Some("60"),
    ANY,
    Reader::Both,
    "Cache lifetime of inventory reads, in seconds.",
);
pub const CACHE_TTL_STORE: Setting = setting(
    "cache_ttl_store",
    "ORDERDESK_CACHE_TTL_STORE",
    Some("3600"),
    ANY,
    Reader::Both,
    "Cache lifetime of store settings and folders, in seconds.",
);
pub const CACHE_MAX_ENTRIES: Setting = setting(
    "cache_max_entries",
    "ORDERDESK_CACHE_MAX_ENTRIES",
    Some("10000"),
    count(1, 100_000_000),
    Reader::Host,
    "Most cached reads kept at once; past it the entries closest to expiry go first.",
);

// --- Limits -------------------------------------------------------------------------------

pub const TOOL_CALLS_PER_MINUTE: Setting = setting(
    "tool_calls_per_minute",
    "ORDERDESK_MCP_TOOL_CALLS_PER_MINUTE",
    Some("120"),
    ANY,
    Reader::Component,
    "Tool calls each tenant may make per minute (0 = unlimited).",
);
pub const TOOL_CALL_BURST: Setting = setting(
    "tool_call_burst",
    "ORDERDESK_MCP_TOOL_CALL_BURST",
    Some("240"),
    count(1, u64::MAX),
    Reader::Component,
    "Tool-call burst per tenant; writes cost 2.",
);

// --- Sandbox and storage ------------------------------------------------------------------

pub const STATE: Setting = setting(
    "state",
    "ORDERDESK_MCP_STATE",
    None,
    Kind::Text,
    Reader::Host,
    "Where state and cache live: `sqlite:PATH`, `memory`, or \
     `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (shared by several processes; keys under \
     `orderdesk:`, the password is never logged). \
     [default: sqlite:<data dir>/orderdesk-mcp/state.db]",
);
/// The `wasi:keyvalue` bucket names the component opens. Only embedders change them (e.g.
/// wasmtime's CLI serves just the bucket `""`); this host serves whatever they say.
pub const STATE_BUCKET: Setting = hidden(setting(
    "state_bucket",
    "ORDERDESK_MCP_STATE_BUCKET",
    Some("state"),
    Kind::Text,
    Reader::Both,
    "The key-value bucket of durable state (tenants, stores, sync, audit).",
));
pub const CACHE_BUCKET_ORDERS: Setting = hidden(setting(
    "cache_bucket_orders",
    "ORDERDESK_MCP_CACHE_BUCKET_ORDERS",
    Some("cache-orders"),
    Kind::Text,
    Reader::Both,
    "The evictable key-value bucket of cached order reads.",
));
pub const CACHE_BUCKET_PRODUCTS: Setting = hidden(setting(
    "cache_bucket_products",
    "ORDERDESK_MCP_CACHE_BUCKET_PRODUCTS",
    Some("cache-products"),
    Kind::Text,
    Reader::Both,
    "The evictable key-value bucket of cached inventory reads.",
));
pub const CACHE_BUCKET_STORE: Setting = hidden(setting(
    "cache_bucket_store",
    "ORDERDESK_MCP_CACHE_BUCKET_STORE",
    Some("cache-store"),
    Kind::Text,
    Reader::Both,
    "The evictable key-value bucket of cached store settings.",
));
pub const COMPONENT: Setting = setting(
    "component",
    "ORDERDESK_MCP_COMPONENT",
    None,
    Kind::Path,
    Reader::Host,
    "Load this build of the component instead of the embedded one.",
);
pub const PRECOMPILE_CACHE: Setting = setting(
    "precompile_cache",
    "ORDERDESK_MCP_PRECOMPILE_CACHE",
    None,
    Kind::Path,
    Reader::Host,
    "Directory for the compiled-component cache. [default: <cache dir>/orderdesk-mcp]",
);
pub const NO_PRECOMPILE_CACHE: Setting = setting(
    "no_precompile_cache",
    "ORDERDESK_MCP_NO_PRECOMPILE_CACHE",
    None,
    Kind::Flag,
    Reader::Host,
    "Compile the component on every start instead of caching the compiled artifact.",
);
pub const CALL_TIMEOUT_SECS: Setting = setting(
    "call_timeout_secs",
    "ORDERDESK_MCP_CALL_TIMEOUT_SECS",
    Some("30"),
    count(1, 3600),
    Reader::Both,
    "Wall-clock limit per tool call, in seconds (`sync_trigger` budgets its pages by it).",
);
pub const MEMORY_LIMIT_MB: Setting = setting(
    "memory_limit_mb",
    "ORDERDESK_MCP_MEMORY_LIMIT_MB",
    Some("64"),
    count(8, 4096),
    Reader::Host,
    "Linear-memory cap per component instance, in MiB.",
);
pub const MAX_INSTANCES: Setting = setting(
    "max_instances",
    "ORDERDESK_MCP_MAX_INSTANCES",
    Some("32"),
    count(1, 10_000),
    Reader::Host,
    "Tool calls that may hold a sandbox instance at once; more wait, fairly shared between \
     tenants and bounded by the call deadline (BUSY past it). Bearer checks, webhook \
     deliveries and background work have small pools of their own beside it.",
);
pub const MAX_CALLS_PER_TENANT: Setting = setting(
    "max_calls_per_tenant",
    "ORDERDESK_MCP_MAX_CALLS_PER_TENANT",
    Some("8"),
    count(1, 10_000),
    Reader::Host,
    "With tenants: instances one tenant's tool calls may hold at once; its further calls \
     wait in its own queue, and waiting tenants are served in turn. (In single-store mode \
     the one tenant may use the whole pool.)",
);
pub const MAX_CALLS_PER_STORE: Setting = setting(
    "max_calls_per_store",
    "ORDERDESK_MCP_MAX_CALLS_PER_STORE",
    Some("4"),
    count(1, 10_000),
    Reader::Host,
    "With tenants: instances the calls on one store may hold at once; more wait in front \
     of the pool, holding nothing, so a burst on one store never takes what others need.",
);
pub const MAX_QUEUED_CALLS: Setting = setting(
    "max_queued_calls",
    "ORDERDESK_MCP_MAX_QUEUED_CALLS",
    Some("64"),
    count(0, 1_000_000),
    Reader::Host,
    "Tool calls one tenant may have waiting for an instance; more get BUSY at once.",
);
pub const EGRESS_ALLOW: Setting = hidden(setting(
    "egress_allow",
    "ORDERDESK_MCP_EGRESS_ALLOW",
    None,
    Kind::Text,
    Reader::Host,
    "Comma-separated origins the component may reach. [default: the origin of api_url]",
));

pub const STATE_FAIL_AFTER_WRITES: Setting = hidden(setting(
    "state_fail_after_writes",
    "ORDERDESK_MCP_STATE_FAIL_AFTER_WRITES",
    None,
    ANY,
    Reader::Host,
    "Fault injection for tests: every state write after the first N fails.",
));

// --- HTTP (`serve`) ------------------------------------------------------------------------

pub const LISTEN: Setting = setting(
    "listen",
    "ORDERDESK_MCP_LISTEN",
    Some("127.0.0.1:8080"),
    Kind::Text,
    Reader::Host,
    "Address `serve` listens on (MCP at /mcp, OrderDesk webhooks at /webhooks/orderdesk, \
     plus /health, /ready, /metrics).",
);
pub const AUTH_TOKEN: Setting = setting(
    "auth_token",
    "ORDERDESK_MCP_AUTH_TOKEN",
    None,
    Kind::Secret,
    Reader::Host,
    "Single-store mode over HTTP: the bearer token every request must carry. Required \
     unless `listen` is a loopback address. (With tenants, the bearer is a master key.)",
);
pub const ALLOWED_ORIGINS: Setting = setting(
    "allowed_origins",
    "ORDERDESK_MCP_ALLOWED_ORIGINS",
    Some("http://localhost:*,http://127.0.0.1:*,http://[::1]:*"),
    Kind::Text,
    Reader::Host,
    "Comma-separated browser origins allowed on /mcp (`scheme://host:port`, `:*` for any \
     port); a request with any other `Origin` gets 403. Requests without `Origin` pass.",
);
pub const ALLOWED_HOSTS: Setting = setting(
    "allowed_hosts",
    "ORDERDESK_MCP_ALLOWED_HOSTS",
    None,
    Kind::Text,
    Reader::Host,
    "Comma-separated `Host` names /mcp answers (DNS-rebinding guard). \
     [default: loopback names on a loopback address, any host otherwise]",
);
pub const MAX_BODY_BYTES: Setting = setting(
    "max_body_bytes",
    "ORDERDESK_MCP_MAX_BODY_BYTES",
    Some("2097152"),
    count(1024, 64 << 20),
    Reader::Host,
    "Largest request body accepted on /mcp; larger ones get 413.",
);
pub const CLIENT_TIMEOUT_SECS: Setting = setting(
    "client_timeout_secs",
    "ORDERDESK_MCP_CLIENT_TIMEOUT_SECS",
    Some("30"),
    count(1, 3600),
    Reader::Host,
    "A client must send a request's headers, and then its body, within this many seconds.",
);
pub const MAX_CONNECTIONS: Setting = setting(
    "max_connections",
    "ORDERDESK_MCP_MAX_CONNECTIONS",
    Some("1024"),
    count(1, 1_000_000),
    Reader::Host,
    "`serve`: open client connections at most (also kept below the open-file limit); more \
     are answered 503 and closed.",
);
pub const MAX_CONNECTIONS_PER_IP: Setting = setting(
    "max_connections_per_ip",
    "ORDERDESK_MCP_MAX_CONNECTIONS_PER_IP",
    Some("128"),
    count(1, 1_000_000),
    Reader::Host,
    "`serve`: open connections from one client address at most (behind a proxy, raise it \
     to max_connections).",
);
pub const MAX_SESSIONS: Setting = setting(
    "max_sessions",
    "ORDERDESK_MCP_MAX_SESSIONS",
    Some("1000"),
    count(1, 1_000_000),
    Reader::Host,
    "`serve`: open MCP sessions (session-era clients) at most; a new one past it gets 503.",
);
pub const MAX_SESSIONS_PER_TENANT: Setting = setting(
    "max_sessions_per_tenant",
    "ORDERDESK_MCP_MAX_SESSIONS_PER_TENANT",
    Some("50"),
    count(1, 1_000_000),
    Reader::Host,
    "`serve` with tenants: open MCP sessions per tenant; a new one past it ends that \
     tenant's least recently used session. (In single-store mode max_sessions applies.)",
);
pub const SESSION_IDLE_SECS: Setting = setting(
    "session_idle_secs",
    "ORDERDESK_MCP_SESSION_IDLE_SECS",
    Some("300"),
    count(1, 86_400),
    Reader::Host,
    "`serve`: an MCP session with no request for this many seconds ends.",
);
pub const METRICS_TOKEN: Setting = setting(
    "metrics_token",
    "ORDERDESK_MCP_METRICS_TOKEN",
    None,
    Kind::Secret,
    Reader::Host,
    "`serve`: the bearer token GET /metrics must carry. Never logged. [default: none, \
     /metrics is open to anyone who passes the Host check]",
);
pub const METRICS_LISTEN: Setting = setting(
    "metrics_listen",
    "ORDERDESK_MCP_METRICS_LISTEN",
    None,
    Kind::Text,
    Reader::Host,
    "`serve`: serve /metrics on this address instead of `listen` (e.g. a private \
     interface for Prometheus).",
);
pub const SHUTDOWN_GRACE_SECS: Setting = setting(
    "shutdown_grace_secs",
    "ORDERDESK_MCP_SHUTDOWN_GRACE_SECS",
    Some("20"),
    count(0, 3600),
    Reader::Host,
    "On SIGTERM or Ctrl-C, how long in-flight tool calls may run before `serve` exits.",
);

// --- Console and sign-up (`serve`) --------------------------------------------------------

pub const PUBLIC_URL: Setting = setting(
    "public_url",
    "ORDERDESK_MCP_PUBLIC_URL",
    None,
    Kind::Text,
    Reader::Host,
    "`serve`: the address people and agents reach this server at (e.g. \
     https://mcp.example.com), used in e-mailed links and the console's connection \
     snippets; session cookies are `Secure` when it is https. [default: http://<listen>]",
);
pub const ADMIN_TOKEN: Setting = setting(
    "admin_token",
    "ORDERDESK_MCP_ADMIN_TOKEN",
    None,
    Kind::Secret,
    Reader::Host,
    "`serve`: the operator token that signs in to the console's operator pages (tenants, \
     sign-up policy, server status). Never logged. [default: read from admin_token_file; \
     without either, there are no operator pages]",
);
pub const ADMIN_TOKEN_FILE: Setting = setting(
    "admin_token_file",
    "ORDERDESK_MCP_ADMIN_TOKEN_FILE",
    None,
    Kind::Path,
    Reader::Host,
    "File holding the operator token (first line); refused when group or others can read it.",
);
pub const CONSOLE_SESSION_HOURS: Setting = setting(
    "console_session_hours",
    "ORDERDESK_MCP_CONSOLE_SESSION_HOURS",
    Some("12"),
    count(1, 720),
    Reader::Host,
    "`serve`: a console sign-in lasts this many hours (sessions live in the state store, \
     so they survive a restart and work on every instance).",
);
pub const SMTP_URL: Setting = setting(
    "smtp_url",
    "ORDERDESK_MCP_SMTP_URL",
    None,
    Kind::Text,
    Reader::Host,
    "`serve`: the mail server for sign-up and sign-in links: `smtps://host[:port]` (TLS, \
     default port 465), `smtp://host[:port]` (STARTTLS required, default 587), or \
     `smtp+plain://host:port` (no encryption; loopback only). [default: none, sign-up off]",
);
pub const SMTP_USER: Setting = setting(
    "smtp_user",
    "ORDERDESK_MCP_SMTP_USER",
    None,
    Kind::Text,
    Reader::Host,
    "`serve`: the SMTP login, if the mail server wants one.",
);
pub const SMTP_PASSWORD: Setting = setting(
    "smtp_password",
    "ORDERDESK_MCP_SMTP_PASSWORD",
    None,
    Kind::Secret,
    Reader::Host,
    "`serve`: the SMTP password. Never logged.",
);
pub const MAIL_FROM: Setting = setting(
    "mail_from",
    "ORDERDESK_MCP_MAIL_FROM",
    None,
    Kind::Text,
    Reader::Host,
    "`serve`: the From address of the mail it sends, e.g. `OrderDesk MCP <mcp@example.com>`. \
     Required with `smtp_url`.",
);
pub const MAIL_LOG: Setting = setting(
    "mail_log",
    "ORDERDESK_MCP_MAIL_LOG",
    None,
    Kind::Flag,
    Reader::Host,
    "`serve`, development only: write each mail (links included) to the log instead of \
     sending it, so sign-up works with no mail server.",
);

// --- Polling sync and webhooks -------------------------------------------------------------

pub const UNATTENDED_SECRET: Setting = setting(
    "unattended_secret",
    "ORDERDESK_MCP_UNATTENDED_SECRET",
    None,
    Kind::Secret,
    Reader::Component,
    "Server secret that seals the API keys of stores opted into polling sync or webhooks, \
     so they work with no tenant connected. Every instance sharing a state store needs the \
     same one. Never logged. [default: read from unattended_secret_file]",
);
pub const UNATTENDED_SECRET_FILE: Setting = setting(
    "unattended_secret_file",
    "ORDERDESK_MCP_UNATTENDED_SECRET_FILE",
    None,
    Kind::Path,
    Reader::Host,
    "File holding the unattended secret; created (32 random bytes, hex, mode 0600) when \
     missing; refused when group or others can read it. [default: <state file>.unattended-key \
     with SQLite, <data dir>/orderdesk-mcp/unattended.key with Redis, none (a per-process \
     secret) with memory]",
);
pub const UNATTENDED_SECRET_PREVIOUS: Setting = setting(
    "unattended_secret_previous",
    "ORDERDESK_MCP_UNATTENDED_SECRET_PREVIOUS",
    None,
    Kind::Secret,
    Reader::Component,
    "After changing the unattended secret, the old one: keys sealed under it are re-sealed \
     under the new one on first use. Never logged.",
);
pub const SYNC_TICK_SECS: Setting = setting(
    "sync_tick_secs",
    "ORDERDESK_MCP_SYNC_TICK_SECS",
    Some("30"),
    count(0, 3600),
    Reader::Host,
    "How often `serve`, `stdio` and `sync` look for stores due a poll, in seconds \
     (0 = no polling in this process).",
);
pub const SYNC_TIMEOUT_SECS: Setting = setting(
    "sync_timeout_secs",
    "ORDERDESK_MCP_SYNC_TIMEOUT_SECS",
    Some("900"),
    count(1, 86_400),
    Reader::Host,
    "Wall-clock limit of one background poll of one store, in seconds.",
);
pub const SYNC_RESERVE_TOKENS: Setting = setting(
    "sync_reserve_tokens",
    "ORDERDESK_MCP_SYNC_RESERVE_TOKENS",
    Some("4"),
    count(0, 1000),
    Reader::Component,
    "Upstream bucket tokens a poll leaves untouched for interactive tool calls.",
);
pub const WEBHOOK_MAX_BODY_BYTES: Setting = setting(
    "webhook_max_body_bytes",
    "ORDERDESK_MCP_WEBHOOK_MAX_BODY_BYTES",
    Some("1048576"),
    count(1024, 64 << 20),
    Reader::Host,
    "Largest webhook delivery accepted on /webhooks/orderdesk; larger ones get 413.",
);

// --- Console: one-time links and traces ----------------------------------------------------

pub const LINK_TTL_MINUTES: Setting = setting(
    "link_ttl_minutes",
    "ORDERDESK_MCP_LINK_TTL_MINUTES",
    Some("15"),
    count(1, 10_080),
    Reader::Component,
    "How long a one-time sign-up, sign-in or invitation link stays valid, in minutes.",
);
pub const LINK_REQUESTS_PER_ADDRESS: Setting = setting(
    "link_requests_per_address",
    "ORDERDESK_MCP_LINK_REQUESTS_PER_ADDRESS",
    Some("3"),
    count(1, 1000),
    Reader::Component,
    "One-time links one e-mail address may ask for per 15 minutes; more are refused \
     (nothing is sent).",
);
pub const TRACE_KEEP: Setting = setting(
    "trace_keep",
    "ORDERDESK_MCP_TRACE_KEEP",
    Some("200"),
    count(0, 100_000),
    Reader::Component,
    "Traced calls kept per tenant (the newest; 0 turns tracing off).",
);
pub const TRACE_MAX_AGE_MINUTES: Setting = setting(
    "trace_max_age_minutes",
    "ORDERDESK_MCP_TRACE_MAX_AGE_MINUTES",
    Some("1440"),
    count(1, 525_600),
    Reader::Component,
    "Traces older than this many minutes are no longer shown and are deleted as they are met.",
);

// --- Logs ---------------------------------------------------------------------------------

pub const LOG: Setting = setting(
    "log",
    "ORDERDESK_MCP_LOG",
    Some("info,rmcp=warn"),
    Kind::Text,
    Reader::Host,
    "Log filter (`tracing` syntax), e.g. `info` or `orderdesk_mcp=debug,component=debug`. \
     The MCP SDK and the HTTP stack never log below info: their debug output carries keys. \
     Failed tool calls log at info, successful ones at debug (`orderdesk_mcp::mcp=debug`).",
);
pub const LOG_FORMAT: Setting = setting(
    "log_format",
    "ORDERDESK_MCP_LOG_FORMAT",
    Some("json"),
    Kind::Choice(&["json", "text"]),
    Reader::Host,
    "Log line format; logs always go to stderr.",
);

/// Every setting, in the order `--help` and the README list them.
pub const ALL: &[Setting] = &[
    STORE_ID,
    API_KEY,
    API_URL,
    STATE,
    STATE_BUCKET,
    CACHE_BUCKET_ORDERS,
    CACHE_BUCKET_PRODUCTS,
    CACHE_BUCKET_STORE,
    CACHE_TTL_ORDERS,
    CACHE_TTL_PRODUCTS,
    CACHE_TTL_STORE,
    CACHE_MAX_ENTRIES,
    TOOL_CALLS_PER_MINUTE,
    TOOL_CALL_BURST,
    UPSTREAM_BURST,
    UPSTREAM_PER_SECOND,
    UPSTREAM_TIMEOUT_MS,
    RETRY_MAX_WAIT_MS,
    RETRY_BASE_MS,
    COMPONENT,
    PRECOMPILE_CACHE,
    NO_PRECOMPILE_CACHE,
    CALL_TIMEOUT_SECS,
    MEMORY_LIMIT_MB,
    MAX_INSTANCES,
    MAX_CALLS_PER_TENANT,
    MAX_CALLS_PER_STORE,
    MAX_QUEUED_CALLS,
    EGRESS_ALLOW,
    STATE_FAIL_AFTER_WRITES,
    LISTEN,
    AUTH_TOKEN,
    ALLOWED_ORIGINS,
    ALLOWED_HOSTS,
    MAX_BODY_BYTES,
    CLIENT_TIMEOUT_SECS,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_IP,
    MAX_SESSIONS,
    MAX_SESSIONS_PER_TENANT,
    SESSION_IDLE_SECS,
    METRICS_TOKEN,
    METRICS_LISTEN,
    SHUTDOWN_GRACE_SECS,
    PUBLIC_URL,
    ADMIN_TOKEN,
    ADMIN_TOKEN_FILE,
    CONSOLE_SESSION_HOURS,
    SMTP_URL,
    SMTP_USER,
    SMTP_PASSWORD,
    MAIL_FROM,
    MAIL_LOG,
    UNATTENDED_SECRET,
    UNATTENDED_SECRET_FILE,
    UNATTENDED_SECRET_PREVIOUS,
    SYNC_TICK_SECS,
    SYNC_TIMEOUT_SECS,
    SYNC_RESERVE_TOKENS,
    WEBHOOK_MAX_BODY_BYTES,
    LINK_TTL_MINUTES,
    LINK_REQUESTS_PER_ADDRESS,
    TRACE_KEEP,
    TRACE_MAX_AGE_MINUTES,
    LOG,
    LOG_FORMAT,
];

/// The setting with this key.
pub fn by_key(key: &str) -> Option<&'static Setting> {
    ALL.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_env_vars_are_unique_and_well_formed() {
        let mut keys: Vec<&str> = ALL.iter().map(|s| s.key).collect();
        let mut envs: Vec<&str> = ALL.iter().map(|s| s.env).collect();
        keys.sort();
        keys.dedup();
        envs.sort();
        envs.dedup();
        assert_eq!(keys.len(), ALL.len());
        assert_eq!(envs.len(), ALL.len());
        for s in ALL {
            assert!(
                s.key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                s.key
            );
            assert!(s.env.starts_with("ORDERDESK_"), "{}", s.env);
            if let Some(d) = s.default {
                s.check(d)
                    .unwrap_or_else(|e| panic!("default of {}: {e}", s.key));
            }
        }
    }

    #[test]
    fn values_are_checked_against_their_kind() {
        assert!(MEMORY_LIMIT_MB.check("64").is_ok());
        assert!(MEMORY_LIMIT_MB.check("4").unwrap_err().contains("8-4096"));
        assert!(CACHE_TTL_ORDERS.check("soon").is_err());
        assert!(NO_PRECOMPILE_CACHE.check("yes").is_ok());
        assert!(NO_PRECOMPILE_CACHE.check("maybe").is_err());
        assert!(LOG_FORMAT.check("text").is_ok());
        assert!(LOG_FORMAT.check("xml").unwrap_err().contains("json, text"));
        assert_eq!(by_key("api_url"), Some(&API_URL));
        assert_eq!(API_URL.flag(), "api-url");
    }
}
