//! Redis backend (redis-rs over one multiplexed, reconnecting connection): state that any
//! number of host processes share. Every operation is one command, one `MULTI`/`EXEC` or
//! one Lua script, so it is atomic across them; cache and lease expiry run on Redis's clock.
//!
//! Keys, all under [`PREFIX`]:
//! - `kv:{bucket}:{key}`: a durable value; `keys:{bucket}`: the bucket's keys in a sorted
//!   set, all scored 0 so ranges come back in byte order (`list_keys`).
//! - `cache:{bucket}:{key}`: a cache value with native expiry (`PXAT`);
//!   `cache-keys:{bucket}`: its bucket's key index; `cache-expiry`: every cache entry
//!   (`{bucket}:{key}`) by expiry time across all cache buckets. The scripts that write or
//!   list the cache first sweep what expired, then pop the soonest-expiring past the cap.
//! - `lock:{name}`: a lease, the owner as value, with native expiry.

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError, RedisResult, Script, cmd, pipe};
use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::{Backend, Bucket, Keep, Layout, StateError, add_to_counter, ms};

/// Every key this backend writes starts with this.
pub const PREFIX: &str = "orderdesk:";
/// How long connecting, and any one command, may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection attempt of the shared connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts to reconnect after the first one fails, each after a short, growing pause
/// (from [`RECONNECT_PAUSE`], with jitter). While Redis is down, every command waits for
/// the reconnection under way, so this is what an operation costs before it fails: well
/// under a second for a refused connection, a few seconds for an unanswered one. An
/// operation cut off by an outage often runs clean-up operations after it (saving a run,
/// releasing a lease), and all of them together must end inside the call's deadline with
/// the state store's error, not a deadline error.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
const RECONNECT_PAUSE_MAX: Duration = Duration::from_millis(500);
/// The longest lifetime stored (≈ 35 years): keeps Lua's float times exact and `PX` valid.
const LONGEST_MS: u64 = 1 << 40;
/// Compare-and-set rounds an `increment` tries before it reports contention.
const INCREMENT_ROUNDS: usize = 1000;

/// Helpers every cache script starts with (after `local PREFIX = '…'`).
const CACHE_LIB: &str = r#"
local EXPIRY = PREFIX .. 'cache-expiry'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Drop one entry ('bucket:key') from its bucket; the caller drops it from EXPIRY.
local function forget(member)
  local sep = string.find(member, ':', 1, true)
  redis.call('DEL', PREFIX .. 'cache:' .. member)
  redis.call('ZREM', PREFIX .. 'cache-keys:' .. string.sub(member, 1, sep - 1),
    string.sub(member, sep + 1))
end
-- Drop every entry whose time is up (expiry <= now, as in the other backends).
local function sweep(now)
  local gone = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', now)
  for _, member in ipairs(gone) do forget(member) end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', EXPIRY, '-inf', now) end
end
"#;

/// KEYS: value, bucket index. ARGV: value, ttl ms, member, key, cap.
const CACHE_SET: &str = r#"
local now = now_ms()
local at = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', at)
redis.call('ZADD', KEYS[2], 0, ARGV[4])
redis.call('ZADD', EXPIRY, at, ARGV[3])
sweep(now)
local excess = redis.call('ZCARD', EXPIRY) - tonumber(ARGV[5])
if excess > 0 then
  local victims = redis.call('ZPOPMIN', EXPIRY, excess)
  for i = 1, #victims, 2 do forget(victims[i]) end
end
return 1
"#;

/// KEYS: bucket index. ARGV: first and last rank.
const CACHE_LIST: &str = r#"
sweep(now_ms())
return redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
"#;

const CACHE_COUNT: &str = r#"
sweep(now_ms())
return redis.call('ZCARD', EXPIRY)
"#;

/// Set a durable value only if it is still what was read ('' = missing, '=' .. value).
/// KEYS: value, bucket index. ARGV: expected, new value, key.
const COUNTER_CAS: &str = r#"
local current = redis.call('GET', KEYS[1])
local seen = current and ('=' .. current) or ''
if seen ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
return 1
"#;

/// KEYS: lease. ARGV: owner, ttl ms.
const LOCK_ACQUIRE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// KEYS: lease. ARGV: owner, ttl ms.
const LOCK_RENEW: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// KEYS: lease. ARGV: owner.
const LOCK_RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"#;

struct Scripts {
    cache_set: Script,
    cache_list: Script,
    cache_count: Script,
    counter_cas: Script,
    lock_acquire: Script,
    lock_renew: Script,
    lock_release: Script,
}

impl Scripts {
    fn new() -> Self {
        let cache =
            |body: &str| Script::new(&format!("local PREFIX = '{PREFIX}'\n{CACHE_LIB}{body}"));
        Self {
            cache_set: cache(CACHE_SET),
            cache_list: cache(CACHE_LIST),
            cache_count: cache(CACHE_COUNT),
            counter_cas: Script::new(COUNTER_CAS),
            lock_acquire: Script::new(LOCK_ACQUIRE),
            lock_renew: Script::new(LOCK_RENEW),
            lock_release: Script::new(LOCK_RELEASE),
        }
    }
}

pub struct RedisState {
    client: Client,
    /// Connected on first use, so opening needs no async context.
    conn: OnceCell<ConnectionManager>,
    layout: Layout,
    /// The URL's password, raw and decoded, scrubbed from every error.
    secrets: Vec<String>,
    scripts: Scripts,
}

impl RedisState {
    /// Parse `url` and check the server answers (and accepts the credentials) right away,
    /// so a wrong address fails at start-up rather than at the first tool call.
    pub fn open(url: &str, layout: Layout) -> anyhow::Result<Self> {
        let client = parse(url).map_err(anyhow::Error::msg)?;
        let state = Self {
            secrets: secrets(url, Some(&client)),
            client,
            conn: OnceCell::new(),
            layout,
            scripts: Scripts::new(),
        };
        state.ping()?;
        Ok(state)
    }

    /// One blocking round trip on a throwaway connection.
    fn ping(&self) -> Result<(), StateError> {
        let mut conn = self
            .client
            .get_connection_with_timeout(TIMEOUT)
            .map_err(|e| self.fail(e))?;
        conn.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| self.fail(e))?;
        cmd("PING")
            .query::<String>(&mut conn)
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// A redis error as a state error, without the password.
    fn fail(&self, e: RedisError) -> StateError {
        StateError::Other(scrub(format!("redis: {e}"), &self.secrets))
    }

    /// Run `op` on the shared connection, and once more if the connection was refused.
    /// A refusal means nothing was sent, so any operation may be repeated; and it is what
    /// the first command after an outage meets: the error of the reconnection that gave up
    /// while Redis was down, kept until a command asks for a new one. The repeat waits for
    /// that new one, so the first operation after Redis is back succeeds.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StateError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        let conn = self.conn().await?;
        match op(conn.clone()).await {
            Err(e) if e.is_connection_refusal() => op(conn).await,
            other => other,
        }
        .map_err(|e| self.fail(e))
    }

    async fn conn(&self) -> Result<ConnectionManager, StateError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_PAUSE)
            .set_max_delay(RECONNECT_PAUSE_MAX);
        self.conn
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
            .map_err(|e| self.fail(e))
    }

    /// Run a lease script over (KEYS lease; ARGV owner[, ttl ms]); true when it changed
    /// the lease.
    async fn lease(
        &self,
        script: &Script,
        name: &str,
        owner: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StateError> {
        let mut call = script.key(lock_key(name));
        call.arg(owner);
        if let Some(ttl) = ttl {
            call.arg(lease_ms(ttl));
        }
        let call = &call;
        self.run(|mut conn| async move { call.invoke_async::<i64>(&mut conn).await })
            .await
            .map(|changed| changed == 1)
    }
}

/// The client for a `redis://` URL, or why it is not one; the message hides any password.
pub(crate) fn parse(url: &str) -> Result<Client, String> {
    Client::open(url).map_err(|e| {
        let why = scrub(e.to_string(), &secrets(url, None));
        format!("invalid Redis URL {}: {why}", redact(url))
    })
}

/// The password as written in `url` and, once parsed, as sent: what no message may show.
fn secrets(url: &str, client: Option<&Client>) -> Vec<String> {
    let written = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(String::from));
    let sent = client
        .and_then(|c| c.get_connection_info().redis_settings().password())
        .map(String::from);
    let mut all: Vec<String> = written
        .into_iter()
        .chain(sent)
        .filter(|p| !p.is_empty())
        .collect();
    all.dedup();
    all
}

fn scrub(mut message: String, secrets: &[String]) -> String {
    for secret in secrets {
        message = message.replace(secret.as_str(), "***");
    }
    message
}

/// `url` with its password (or, without a `user:` part, its whole user info) as `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

fn value_key(bucket: Bucket, key: &str) -> String {
    match bucket.keep {
        Keep::Durable => format!("{PREFIX}kv:{}:{key}", bucket.name),
        Keep::Cache(_) => format!("{PREFIX}cache:{}:{key}", bucket.name),
    }
}

fn index_key(bucket: Bucket) -> String {
    match bucket.keep {
        Keep::Durable => format!("{PREFIX}keys:{}", bucket.name),
        Keep::Cache(_) => format!("{PREFIX}cache-keys:{}", bucket.name),
    }
}

/// A cache entry's name in `cache-expiry`.
fn member(bucket: Bucket, key: &str) -> String {
    format!("{}:{key}", bucket.name)
}

fn lock_key(name: &str) -> String {
    format!("{PREFIX}lock:{name}")
}

/// A lease's term for `PX`, which must be at least 1 ms.
fn lease_ms(ttl: Duration) -> u64 {
    ms(ttl).clamp(1, LONGEST_MS)
}

#[async_trait]
impl Backend for RedisState {
    async fn get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        // Cache values carry native expiry, so a plain read never sees an expired one.
        let mut get = cmd("GET");
        get.arg(value_key(bucket, key));
        let get = &get;
        self.run(|mut conn| async move { get.query_async(&mut conn).await })
            .await
    }

    async fn exists(&self, bucket: Bucket, key: &str) -> Result<bool, StateError> {
        let mut exists = cmd("EXISTS");
        exists.arg(value_key(bucket, key));
        let exists = &exists;
        self.run(|mut conn| async move { exists.query_async(&mut conn).await })
            .await
    }

    async fn set(&self, bucket: Bucket, key: &str, value: Vec<u8>) -> Result<(), StateError> {
        match bucket.keep {
            Keep::Durable => {
                let mut tx = pipe();
                tx.atomic()
                    .set(value_key(bucket, key), value)
                    .ignore()
                    .zadd(index_key(bucket), key, 0)
                    .ignore();
                let tx = &tx;
                self.run(|mut conn| async move { tx.query_async::<()>(&mut conn).await })
                    .await
            }
            Keep::Cache(ttl) => {
                let mut call = self.scripts.cache_set.key(value_key(bucket, key));
                call.key(index_key(bucket))
                    .arg(value)
                    .arg(ms(ttl).min(LONGEST_MS))
                    .arg(member(bucket, key))
                    .arg(key)
                    .arg(self.layout.cache_max_entries);
                let call = &call;
                self.run(|mut conn| async move { call.invoke_async::<i64>(&mut conn).await })
                    .await
                    .map(drop)
            }
        }
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> Result<(), StateError> {
        let mut tx = pipe();
        tx.atomic()
            .del(value_key(bucket, key))
            .ignore()
            .zrem(index_key(bucket), key)
            .ignore();
        if let Keep::Cache(_) = bucket.keep {
            tx.zrem(format!("{PREFIX}cache-expiry"), member(bucket, key))
                .ignore();
        }
        let tx = &tx;
        self.run(|mut conn| async move { tx.query_async::<()>(&mut conn).await })
            .await
    }

    async fn list_keys(
        &self,
        bucket: Bucket,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<String>, StateError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let first = i64::try_from(offset).unwrap_or(i64::MAX);
        let last = first.saturating_add(i64::from(limit) - 1);
        match bucket.keep {
            Keep::Durable => {
                let mut range = cmd("ZRANGE");
                range.arg(index_key(bucket)).arg(first).arg(last);
                let range = &range;
                self.run(|mut conn| async move { range.query_async(&mut conn).await })
                    .await
            }
            Keep::Cache(_) => {
                let mut call = self.scripts.cache_list.key(index_key(bucket));
                call.arg(first).arg(last);
                let call = &call;
                self.run(|mut conn| async move { call.invoke_async(&mut conn).await })
                    .await
            }
        }
    }

    async fn increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, StateError> {
        if bucket.keep != Keep::Durable {
            return Err(StateError::Other("counters live in durable buckets".into()));
        }
        // Read, add in Rust (full u64 range, the same checks as every backend), then
        // compare-and-set: INCRBY would stop at i64::MAX.
        let (value, index) = (value_key(bucket, key), index_key(bucket));
        let mut get = cmd("GET");
        get.arg(&value);
        let get = &get;
        for _ in 0..INCREMENT_ROUNDS {
            let current: Option<Vec<u8>> = self
                .run(|mut conn| async move { get.query_async(&mut conn).await })
                .await?;
            let next = add_to_counter(current.as_deref(), delta)?;
            if delta == 0 && current.is_some() {
                return Ok(next);
            }
            let expected = current.map_or_else(Vec::new, |v| [&b"="[..], &v].concat());
            let mut call = self.scripts.counter_cas.key(&value);
            call.key(&index)
                .arg(expected)
                .arg(next.to_string())
                .arg(key);
            let call = &call;
            let swapped: i64 = self
                .run(|mut conn| async move { call.invoke_async(&mut conn).await })
                .await?;
            if swapped == 1 {
                return Ok(next);
            }
        }
        Err(StateError::Other(format!(
            "redis: counter too contended ({INCREMENT_ROUNDS} rounds)"
        )))
    }

    async fn lock_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StateError> {
        self.lease(&self.scripts.lock_acquire, name, owner, Some(ttl))
            .await
    }

    async fn lock_renew(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StateError> {
        self.lease(&self.scripts.lock_renew, name, owner, Some(ttl))
            .await
    }

    async fn lock_release(&self, name: &str, owner: &str) -> Result<bool, StateError> {
        self.lease(&self.scripts.lock_release, name, owner, None)
            .await
    }

    async fn cache_entries(&self) -> Result<u64, StateError> {
        let call = self.scripts.cache_count.prepare_invoke();
        let call = &call;
        self.run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use ::redis::ErrorKind;
    use fake_orderdesk::redis_server::RedisServer;

    use super::super::{StateSpec, contract};
    use super::*;

    #[tokio::test]
    async fn contract() {
        let server = RedisServer::start();
        let db = AtomicU32::new(0);
        contract::run(|layout| {
            // Each part of the suite gets a fresh, empty database of the one server.
            let url = format!("{}/{}", server.url(), db.fetch_add(1, Ordering::Relaxed));
            async move { Arc::new(RedisState::open(&url, layout).unwrap()) as Arc<dyn Backend> }
        })
        .await;
    }

    #[tokio::test]
    async fn two_processes_share_locks_and_counters() {
        let server = RedisServer::start();
        contract::two_processes(&server.url(), "state::redis::tests::contender").await;
    }

    /// The other process of `two_processes_share_locks_and_counters`; runs only when that
    /// test starts it.
    #[tokio::test]
    #[ignore = "started by two_processes_share_locks_and_counters"]
    async fn contender() {
        contract::contender().await;
    }

    /// The key layout of the module doc, read back with plain commands; durable state and
    /// live cache entries outlive the backend that wrote them.
    #[tokio::test]
    async fn keys_live_under_the_prefix_with_native_expiry_and_survive_reopening() {
        let server = RedisServer::start();
        let layout = contract::layout(Duration::from_secs(60), 100);
        let state = layout.bucket("state").unwrap();
        let orders = layout.bucket("cache-orders").unwrap();
        let term = Duration::from_secs(30);
        {
            let db = RedisState::open(&server.url(), layout.clone()).unwrap();
            db.set(state, "k", b"v".to_vec()).await.unwrap();
            db.set(orders, "o", b"cached".to_vec()).await.unwrap();
            assert!(db.lock_acquire("l", "me", term).await.unwrap());
        }
        let mut raw = Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let keys: BTreeSet<String> = cmd("KEYS").arg("*").query(&mut raw).unwrap();
        let expected = [
            "kv:state:k",
            "keys:state",
            "cache:cache-orders:o",
            "cache-keys:cache-orders",
            "cache-expiry",
            "lock:l",
        ];
        assert_eq!(
            keys,
            expected.iter().map(|k| format!("{PREFIX}{k}")).collect()
        );
        let mut pttl = |key: &str| {
            cmd("PTTL")
                .arg(format!("{PREFIX}{key}"))
                .query::<i64>(&mut raw)
                .unwrap()
        };
        assert_eq!(pttl("kv:state:k"), -1, "durable values never expire");
        let cached = pttl("cache:cache-orders:o");
        assert!(
            (55_000..=60_000).contains(&cached),
            "native expiry: {cached}"
        );
        let lease = pttl("lock:l");
        assert!((25_000..=30_000).contains(&lease), "lease expiry: {lease}");

        let again = RedisState::open(&server.url(), layout).unwrap();
        assert_eq!(
            again.get(state, "k").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(again.list_keys(state, 0, 10).await.unwrap(), ["k"]);
        assert_eq!(again.list_keys(orders, 0, 10).await.unwrap(), ["o"]);
        assert_eq!(again.cache_entries().await.unwrap(), 1);
        assert!(!again.lock_acquire("l", "other", term).await.unwrap());
    }

    #[tokio::test]
    async fn the_password_never_shows() {
        let server = RedisServer::start();
        let mut raw = Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg("right-pw-9")
            .query::<()>(&mut raw)
            .unwrap();
        let layout = contract::layout(Duration::from_secs(60), 100);
        let url = |pw: &str| format!("redis://:{pw}@127.0.0.1:{}", server.port());

        let refused = RedisState::open(&url("wrong-pw-7"), layout.clone())
            .err()
            .expect("a wrong password is refused");
        let shown = format!("{refused:#}");
        assert!(shown.contains("authentication failed"), "{shown}");
        assert!(!shown.contains("wrong-pw-7"), "{shown}");

        let closed = RedisState::open("redis://:closed-pw-5@127.0.0.1:1", layout.clone())
            .err()
            .expect("nothing listens on port 1");
        assert!(!format!("{closed:#}").contains("closed-pw-5"), "{closed:#}");

        let bad = "redis://:bad-pw-3@127.0.0.1:no-port".parse::<StateSpec>();
        let bad = bad.expect_err("not a URL");
        assert!(bad.contains("invalid Redis URL"), "{bad}");
        assert!(!bad.contains("bad-pw-3"), "{bad}");

        let db = RedisState::open(&url("right-pw-9"), layout).unwrap();
        let state = Bucket {
            name: "state",
            keep: Keep::Durable,
        };
        db.set(state, "k", b"v".to_vec()).await.unwrap();
        let later = db.fail(RedisError::from((
            ErrorKind::Io,
            "lost",
            "while talking to :right-pw-9@".to_string(),
        )));
        assert!(!later.to_string().contains("right-pw-9"), "{later}");

        let spec: StateSpec = url("right-pw-9").parse().unwrap();
        let printed = format!("{spec} {spec:?}");
        assert!(!printed.contains("right-pw-9"), "{printed}");
        assert!(printed.contains(":***@127.0.0.1"), "{printed}");
    }

    /// Redis stopped: every operation fails within a bound, naming Redis; started again:
    /// the very next operation works, with the data (the server persists it) intact.
    #[tokio::test]
    async fn an_outage_fails_operations_quickly_and_the_first_one_after_it_works() {
        let mut server = RedisServer::start_durable();
        let layout = contract::layout(Duration::from_secs(60), 100);
        let state = layout.bucket("state").unwrap();
        let db = RedisState::open(&server.url(), layout).unwrap();
        db.set(state, "k", b"v".to_vec()).await.unwrap();
        server.stop();
        for round in 0..6 {
            let started = std::time::Instant::now();
            let failed = match round % 3 {
                0 => db.get(state, "k").await.map(drop),
                1 => db.set(state, "k2", b"w".to_vec()).await,
                _ => db
                    .lock_acquire("l", "me", Duration::from_secs(5))
                    .await
                    .map(drop),
            }
            .expect_err("Redis is down");
            let took = started.elapsed();
            assert!(failed.to_string().starts_with("redis: "), "{failed}");
            assert!(took < Duration::from_secs(3), "{took:?} to fail: {failed}");
        }
        // Long enough for the reconnection under way to have given up.
        tokio::time::sleep(Duration::from_secs(2)).await;
        server.restart();
        assert_eq!(
            db.get(state, "k").await.unwrap().as_deref(),
            Some(&b"v"[..]),
            "the first operation after the outage"
        );
        assert!(
            db.lock_acquire("l", "me", Duration::from_secs(5))
                .await
                .unwrap()
        );
    }

    #[test]
    fn specs_parse_and_print() {
        let spec: StateSpec = "redis://127.0.0.1:6379/2".parse().unwrap();
        assert_eq!(spec, StateSpec::Redis("redis://127.0.0.1:6379/2".into()));
        assert_eq!(spec.to_string(), "redis://127.0.0.1:6379/2");
        let tls = "rediss://127.0.0.1:6379".parse::<StateSpec>().unwrap_err();
        assert!(tls.contains("TLS"), "{tls}");
        let unknown = "postgres://u:pw@h/db".parse::<StateSpec>().unwrap_err();
        assert!(unknown.contains("redis://"), "{unknown}");
        assert!(!unknown.contains("pw"), "{unknown}");
        assert_eq!(redact("redis://u:p@ss@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://secret@h"), "redis://***@h");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}
