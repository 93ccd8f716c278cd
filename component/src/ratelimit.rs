//! Rate limits kept in the shared `state` bucket, so every instance and host agrees:
//! an upstream leaky bucket per OrderDesk store (so agents never push OrderDesk into 429s),
//! a tool-call token bucket per tenant, and buckets charged only by failures (failed
//! legacy master-key checks).
//!
//! All are GCRA-style: an atomic counter of admitted cost plus a base point
//! `(admitted, time)`; the bucket level is `admitted since base − rate × elapsed`. When the
//! level would go negative the base moves forward, which caps the credit idle time buys.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host, HttpResponse, Level};
use crate::kv::{get_json, kv_err, set_json};

/// A bucket's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// How much may go at once.
    pub capacity: f64,
    /// Refill per millisecond.
    pub per_ms: f64,
}

impl Shape {
    /// A store's bucket of `burst` requests refilling at `per_second` (OrderDesk: 20 and
    /// 3/s); we keep 10% in reserve for the store's other API users.
    pub fn orderdesk(burst: u64, per_second: u64) -> Self {
        let burst = burst.max(1) as f64;
        Self {
            capacity: (burst * 0.9).floor().max(1.0),
            per_ms: per_second.max(1) as f64 / 1000.0,
        }
    }
}

/// OrderDesk's documented bucket.
pub fn upstream_default() -> Shape {
    Shape::orderdesk(20, 3)
}

/// Below this many `X-Tokens-Remaining`, pause new requests until the bucket refills.
const TOKENS_RESERVE: f64 = 3.0;

/// Never sleep longer than this for the upstream bucket inside one call.
const MAX_WAIT_MS: u64 = 20_000;

#[derive(Debug, Serialize, Deserialize)]
struct Base {
    admitted: u64,
    at_ms: u64,
}

struct Gcra<'a> {
    host: &'a dyn Host,
    prefix: String,
    shape: Shape,
}

impl Gcra<'_> {
    fn counter(&self) -> String {
        format!("{}/n", self.prefix)
    }

    fn base_key(&self) -> String {
        format!("{}/base", self.prefix)
    }

    /// The level the bucket had just before the caller's `position` (cost units admitted
    /// before it), rebasing when the bucket has fully drained.
    fn level_before(&self, position: u64, now: u64) -> Result<f64, ToolError> {
        let base: Base = match get_json(self.host, Bucket::State, &self.base_key())? {
            Some(b) => b,
            None => {
                let b = Base {
                    admitted: position,
                    at_ms: now,
                };
                set_json(self.host, Bucket::State, &self.base_key(), &b)?;
                b
            }
        };
        let admitted = position as f64 - base.admitted as f64;
        let leaked = now.saturating_sub(base.at_ms) as f64 * self.shape.per_ms;
        let level = admitted - leaked;
        if level < 0.0 {
            let rebased = Base {
                admitted: position,
                at_ms: now,
            };
            set_json(self.host, Bucket::State, &self.base_key(), &rebased)?;
            return Ok(0.0);
        }
        Ok(level)
    }

    /// How long until `cost` more fits (0: it fits now). Charges nothing.
    fn wait_for(&self, cost: u64) -> Result<u64, ToolError> {
        let position = self
            .host
            .kv_increment(Bucket::State, &self.counter(), 0)
            .map_err(kv_err)?;
        let level = self.level_before(position, self.host.now_ms())?;
        let over = level + cost as f64 - self.shape.capacity;
        Ok(if over > 0.0 {
            (over / self.shape.per_ms).ceil() as u64
        } else {
            0
        })
    }

    fn charge(&self, cost: u64) -> Result<(), ToolError> {
        self.host
            .kv_increment(Bucket::State, &self.counter(), cost)
            .map(drop)
            .map_err(kv_err)
    }
}

/// Whose upstream bucket a client draws from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// A store whose credentials are known to work (registered, or configured): the one
    /// bucket every caller of that store shares, mirroring OrderDesk's.
    Store(String),
    /// Credentials nobody has verified yet (`stores_register` checking a key): a small
    /// bucket of the tenant's own, so junk attempts never drain a real store's bucket nor
    /// pause it through `X-Tokens-Remaining`.
    Unverified { tenant: String },
}

/// The bucket of unverified credentials: a few checks, then one every few seconds.
pub const UNVERIFIED: Shape = Shape {
    capacity: 3.0,
    per_ms: 1.0 / 5_000.0,
};

/// An upstream bucket.
pub struct Upstream<'a> {
    gcra: Gcra<'a>,
    /// Whether OrderDesk's `X-Tokens-Remaining` may pause this bucket.
    observes: bool,
}

impl<'a> Upstream<'a> {
    pub fn new(host: &'a dyn Host, account: &Account, shape: Shape) -> Self {
        let (prefix, shape, observes) = match account {
            Account::Store(id) => (format!("rl/upstream/{id}"), shape, true),
            Account::Unverified { tenant } => (format!("rl/verify/{tenant}"), UNVERIFIED, false),
        };
        Self {
            gcra: Gcra {
                host,
                prefix,
                shape,
            },
            observes,
        }
    }

    /// This bucket, admitting only while more than `reserve` tokens stay free: the same
    /// shared counter with a smaller capacity, so the others keep `reserve` for themselves.
    pub fn leaving(mut self, reserve: u64) -> Self {
        let shape = &mut self.gcra.shape;
        shape.capacity = (shape.capacity - reserve as f64).max(1.0);
        self
    }

    fn pause_key(&self) -> String {
        format!("{}/pause", self.gcra.prefix)
    }

    /// Take `n` slots at once, sleeping until the last is due, so the `n` requests that
    /// follow go out back to back. Returns how long it slept.
    pub fn acquire(&self, n: u64) -> Result<u64, ToolError> {
        let host = self.gcra.host;
        let n = n.max(1);
        let position = host
            .kv_increment(Bucket::State, &self.gcra.counter(), n)
            .map_err(kv_err)?
            - n;
        let now = host.now_ms();
        let level = self.gcra.level_before(position, now)?;
        let shape = self.gcra.shape;
        let mut wait = ((level + n as f64 - shape.capacity) / shape.per_ms)
            .max(0.0)
            .ceil() as u64;
        let pause: Option<u64> = host
            .kv_get(Bucket::State, &self.pause_key())
            .map_err(kv_err)?
            .and_then(|b| String::from_utf8_lossy(&b).parse().ok());
        if let Some(until) = pause {
            wait = wait.max(until.saturating_sub(now));
        }
        let wait = wait.min(MAX_WAIT_MS);
        if wait > 0 {
            host.metric("upstream_throttled", &[]);
            host.log(
                Level::Debug,
                "ratelimit",
                &format!("upstream slots due in {wait} ms"),
            );
            host.sleep_ms(wait);
        }
        Ok(wait)
    }

    /// Learn from OrderDesk's own count: when few tokens remain (other clients of the
    /// store use them too), hold new requests until the bucket refills.
    pub fn observe(&self, response: &HttpResponse) {
        if !self.observes {
            return;
        }
        let host = self.gcra.host;
        let remaining = response
            .header("X-Tokens-Remaining")
            .and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(r) = remaining.filter(|r| *r < TOKENS_RESERVE) {
            let until = host.now_ms() + ((TOKENS_RESERVE - r) / self.gcra.shape.per_ms) as u64;
            let _ = host.kv_set(
                Bucket::State,
                &self.pause_key(),
                until.to_string().as_bytes(),
            );
        }
    }
}

/// Tokens a store's upstream bucket holds now, as this server counts them (`capacity`
/// less what was admitted and has not leaked yet); read only, nothing is charged or
/// rebased. `None` when the store has never been called.
pub fn upstream_tokens(host: &dyn Host, store_id: &str, shape: Shape) -> Option<f64> {
    let prefix = format!("rl/upstream/{store_id}");
    let position = host
        .kv_increment(Bucket::State, &format!("{prefix}/n"), 0)
        .ok()?;
    let base: Base = get_json(host, Bucket::State, &format!("{prefix}/base")).ok()??;
    let admitted = position as f64 - base.admitted as f64;
    let leaked = host.now_ms().saturating_sub(base.at_ms) as f64 * shape.per_ms;
    Some((shape.capacity - (admitted - leaked).max(0.0)).max(0.0))
}

/// The tool-call bucket of one tenant: `per_minute` refill, `burst` capacity.
pub fn admit_tool_call(
    host: &dyn Host,
    tenant: &str,
    cost: u64,
    per_minute: u64,
    burst: u64,
) -> Result<(), ToolError> {
    if per_minute == 0 {
        return Ok(()); // disabled
    }
    let gcra = Gcra {
        host,
        prefix: format!("rl/tools/{tenant}"),
        shape: Shape {
            capacity: burst as f64,
            per_ms: per_minute as f64 / 60_000.0,
        },
    };
    let retry_after_ms = gcra.wait_for(cost)?;
    if retry_after_ms > 0 {
        return Err(ToolError::new(
            ErrorCode::RateLimited,
            format!("too many tool calls for this tenant; retry in {retry_after_ms} ms"),
        )
        .with_details(serde_json::json!({ "retry_after_ms": retry_after_ms })));
    }
    gcra.charge(cost)
}

/// Failed legacy (Argon2id) master-key checks of one tenant: five, then one more every
/// 2 s, so bad bearers cannot turn Argon2 into a CPU sink.
pub const LEGACY_AUTH_FAILURES: Shape = Shape {
    capacity: 5.0,
    per_ms: 1.0 / 2_000.0,
};

/// A bucket charged after the fact, by failures only: successes cost nothing, and once
/// failures fill it the guarded work is refused until it drains.
pub struct Failures<'a> {
    gcra: Gcra<'a>,
}

impl<'a> Failures<'a> {
    /// The bucket `rl/{name}` of `shape`.
    pub fn new(host: &'a dyn Host, name: &str, shape: Shape) -> Self {
        Self {
            gcra: Gcra {
                host,
                prefix: format!("rl/{name}"),
                shape,
            },
        }
    }

    /// How long until one more failure fits (0: the guarded work may run now).
    pub fn blocked_for_ms(&self) -> Result<u64, ToolError> {
        self.gcra.wait_for(1)
    }

    /// Count one failure.
    pub fn charge(&self) -> Result<(), ToolError> {
        self.gcra.charge(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;

    #[test]
    fn upstream_burst_then_three_per_second() {
        let host = ScriptedHost::configured();
        let limiter = Upstream::new(&host, &Account::Store("s1".into()), upstream_default());
        let waits: Vec<u64> = (0..24).map(|_| limiter.acquire(1).unwrap()).collect();
        assert!(waits[..18].iter().all(|w| *w == 0), "burst: {waits:?}");
        // After the burst, each request waits about a third of a second (the clock moves
        // with each sleep in the scripted host).
        for w in &waits[18..] {
            assert!((300..=400).contains(w), "{waits:?}");
        }
    }

    #[test]
    fn idle_time_refills_but_never_beyond_capacity() {
        let host = ScriptedHost::configured();
        let limiter = Upstream::new(&host, &Account::Store("s1".into()), upstream_default());
        for _ in 0..18 {
            limiter.acquire(1).unwrap();
        }
        host.now.set(host.now.get() + 3_600_000);
        let waits: Vec<u64> = (0..20).map(|_| limiter.acquire(1).unwrap()).collect();
        assert!(waits[..18].iter().all(|w| *w == 0), "{waits:?}");
        assert!(
            waits[18] > 0,
            "an hour idle still buys only one bucket: {waits:?}"
        );
    }

    #[test]
    fn low_tokens_remaining_pauses_new_requests() {
        let host = ScriptedHost::configured();
        let limiter = Upstream::new(&host, &Account::Store("s1".into()), upstream_default());
        let response = HttpResponse {
            status: 200,
            headers: vec![("X-Tokens-Remaining".into(), "0".into())],
            body: Vec::new(),
        };
        limiter.observe(&response);
        assert_eq!(limiter.acquire(1).unwrap(), 1000);
    }

    #[test]
    fn stores_have_separate_buckets() {
        let host = ScriptedHost::configured();
        for _ in 0..18 {
            Upstream::new(&host, &Account::Store("a".into()), upstream_default())
                .acquire(1)
                .unwrap();
        }
        assert_eq!(
            Upstream::new(&host, &Account::Store("b".into()), upstream_default())
                .acquire(1)
                .unwrap(),
            0
        );
    }

    #[test]
    fn reserving_two_slots_waits_once_for_both() {
        let host = ScriptedHost::configured();
        let limiter = Upstream::new(&host, &Account::Store("s1".into()), upstream_default());
        for _ in 0..17 {
            assert_eq!(limiter.acquire(1).unwrap(), 0);
        }
        // One slot left of 18: two together wait for the second to refill (1/3 s).
        let wait = limiter.acquire(2).unwrap();
        assert!((300..=400).contains(&wait), "{wait}");
    }

    #[test]
    fn unverified_credentials_never_touch_the_store_bucket() {
        let host = ScriptedHost::configured();
        let junk = Upstream::new(
            &host,
            &Account::Unverified { tenant: "t".into() },
            upstream_default(),
        );
        for _ in 0..10 {
            junk.acquire(1).unwrap();
        }
        junk.observe(&HttpResponse {
            status: 401,
            headers: vec![("X-Tokens-Remaining".into(), "0".into())],
            body: Vec::new(),
        });
        let real = Upstream::new(&host, &Account::Store("7".into()), upstream_default());
        assert_eq!(
            real.acquire(1).unwrap(),
            0,
            "the store's bucket is untouched"
        );
        assert!(
            host.sleeps.borrow().iter().sum::<u64>() >= 30_000,
            "junk attempts are throttled on their own bucket"
        );
    }

    #[test]
    fn tool_bucket_refuses_with_a_retry_hint_and_charges_writes_double() {
        let host = ScriptedHost::configured();
        for _ in 0..5 {
            admit_tool_call(&host, "t", 2, 60, 10).unwrap();
        }
        let err = admit_tool_call(&host, "t", 1, 60, 10).unwrap_err();
        assert_eq!(err.code, ErrorCode::RateLimited);
        assert_eq!(err.details["retry_after_ms"], 1000);
        admit_tool_call(&host, "other", 1, 60, 10).unwrap();
        host.now.set(host.now.get() + 1000);
        admit_tool_call(&host, "t", 1, 60, 10).unwrap();
    }

    #[test]
    fn a_failure_bucket_blocks_after_its_capacity_and_drains_with_time() {
        let host = ScriptedHost::configured();
        let failures = Failures::new(&host, "auth/t", LEGACY_AUTH_FAILURES);
        for _ in 0..5 {
            assert_eq!(failures.blocked_for_ms().unwrap(), 0);
            failures.charge().unwrap();
        }
        assert_eq!(failures.blocked_for_ms().unwrap(), 2_000);
        assert_eq!(
            Failures::new(&host, "auth/u", LEGACY_AUTH_FAILURES)
                .blocked_for_ms()
                .unwrap(),
            0,
            "per name"
        );
        host.now.set(host.now.get() + 2_000);
        assert_eq!(failures.blocked_for_ms().unwrap(), 0);
        failures.charge().unwrap();
        assert_eq!(failures.blocked_for_ms().unwrap(), 2_000);
    }
}
