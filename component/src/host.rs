//! The seam between OrderDesk logic and the outside world: one trait the runtime implements.

use std::fmt;

/// HTTP methods OrderDesk accepts (it has no PATCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// An outgoing request. `body` is `None` for bodyless requests, which then carry no
/// `Content-Type` (OrderDesk rejects GETs that declare one); a body always goes out with
/// `Content-Length`, never chunked (some servers and proxies answer 411 to chunked bodies).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Longest wait to connect, for the first byte of the answer, and between bytes.
    pub timeout_ms: u64,
}

impl fmt::Debug for HttpRequest {
    // Headers carry the API key: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request got no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The host's egress policy refused the destination.
    #[error("the host refused the destination")]
    Denied,
    /// The request timed out.
    #[error("timed out")]
    Timeout,
    /// The host refused because the caller cancelled the call: stop, do not retry.
    #[error("the call was cancelled")]
    Cancelled,
    /// DNS, connect, TLS or protocol failure, or the connection dropped mid-answer.
    #[error("{0}")]
    Connection(String),
}

/// The families of cached reads. Each lives in its own evictable bucket with its own
/// lifetime and generation counter, so a write invalidates exactly its family and the
/// backend can expire entries without reading them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// `/orders` and `/orders/{id}`.
    Orders,
    /// `/inventory-items` and `/inventory-items/{id}`.
    Products,
    /// `/store`: settings and folders.
    Store,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Orders, Family::Products, Family::Store];

    /// The endpoint part of cache keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Orders => "orders",
            Family::Products => "inventory-items",
            Family::Store => "store",
        }
    }
}

/// The key-value buckets of `wasi:keyvalue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// Durable: tenants, stores, sync state, audit, intents.
    State,
    /// Evictable: the read-through cache of one family.
    Cache(Family),
}

impl Bucket {
    /// The bucket identifier passed to `wasi:keyvalue/store.open`.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::State => "state",
            Bucket::Cache(Family::Orders) => "cache-orders",
            Bucket::Cache(Family::Products) => "cache-products",
            Bucket::Cache(Family::Store) => "cache-store",
        }
    }
}

/// A key-value failure; callers treat the cache as optional and the state as required.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// A log event as the component writes it to stderr: one JSON object,
/// `{"level": "info", "context": "client", "message": "…"}`.
pub fn log_line(level: Level, context: &str, message: &str) -> String {
    serde_json::json!({ "level": level.as_str(), "context": context, "message": message })
        .to_string()
}

/// Everything the component needs from its runtime.
pub trait Host {
    /// Send one request and read the whole answer.
    fn http(&self, request: &HttpRequest) -> Result<HttpResponse, NetError>;
    fn kv_get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn kv_set(&self, bucket: Bucket, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn kv_delete(&self, bucket: Bucket, key: &str) -> Result<(), KvError>;
    /// Atomically add `delta` and return the new value (a missing key counts as 0).
    fn kv_increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, KvError>;
    /// Take the lock `name` for `owner` for `ttl_ms` if it is free or its lease expired
    /// (`orderdesk:mcp/lock.acquire`); true when `owner` holds it now.
    fn lock_acquire(&self, name: &str, owner: &str, ttl_ms: u64) -> Result<bool, KvError>;
    /// Extend `owner`'s lease; false when it no longer holds the lock.
    fn lock_renew(&self, name: &str, owner: &str, ttl_ms: u64) -> Result<bool, KvError>;
    /// Release the lock if `owner` holds it; false when it did not.
    fn lock_release(&self, name: &str, owner: &str) -> Result<bool, KvError>;
    /// Every configuration value the host gives (`wasi:config` `get-all`: one round trip
    /// per call instead of one per setting).
    fn config_all(&self) -> Vec<(String, String)>;
    /// Wall-clock time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A monotonic clock in microseconds from an arbitrary start (`wasi:clocks/monotonic-
    /// clock`): durations of a call's steps, never wall time.
    fn monotonic_us(&self) -> u64;
    /// Block for `ms` milliseconds (retry back-off).
    fn sleep_ms(&self, ms: u64);
    fn random_u64(&self) -> u64;
    /// `n` bytes from a cryptographically secure source.
    fn random_bytes(&self, n: usize) -> Vec<u8>;
    fn log(&self, level: Level, context: &str, message: &str);

    /// Count one event for the host's metrics: a debug log event in context `metric` whose
    /// message is the JSON object `{"name": name, label: value, …}`. A host with metrics
    /// counts it; any other runtime just logs it.
    fn metric(&self, name: &str, labels: &[(&str, &str)]) {
        let mut event = serde_json::Map::new();
        event.insert("name".into(), name.into());
        for (k, v) in labels {
            event.insert((*k).into(), (*v).into());
        }
        self.log(
            Level::Debug,
            METRIC_CONTEXT,
            &serde_json::Value::Object(event).to_string(),
        );
    }

    /// Report how far the running call has come: an info log event in context `progress`
    /// whose message is `{"progress": done, "total": total, "message": message}`. MCP hosts
    /// forward it as a progress notification when the caller asked for them.
    fn progress(&self, done: u64, total: Option<u64>, message: &str) {
        let event = serde_json::json!({ "progress": done, "total": total, "message": message });
        self.log(Level::Info, PROGRESS_CONTEXT, &event.to_string());
    }
}

/// The log context of [`Host::progress`] events.
pub const PROGRESS_CONTEXT: &str = "progress";

/// The log context of [`Host::metric`] events.
pub const METRIC_CONTEXT: &str = "metric";
