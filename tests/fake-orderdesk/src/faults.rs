//! Switchable faults, request counters and the leaky-bucket rate limiter.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Faults to inject into the next API requests, shared between a test and the server.
///
/// Cloning gives another handle on the same faults. Each API request consumes at most one
/// fault, checked in the order: dropped connection, then 5xx, then 429.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    inner: Arc<Mutex<FaultState>>,
}

#[derive(Debug, Default)]
struct FaultState {
    drop: u32,
    server_error: u32,
    server_error_status: u16,
    rate_limited: u32,
    retry_after_secs: u32,
    latency: Duration,
}

/// The fault one request has been picked to suffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Close the connection without answering.
    Drop,
    /// Answer this status with an error envelope.
    Status(u16),
    /// Answer 429 with this `X-Retry-After`.
    RateLimited(u32),
}

impl Faults {
    /// The next `n` API requests answer `status` (for example 500, 502 or 503) with
    /// `{"status":"error","message":"..."}`. A status outside 100..=999 is sent as 500.
    pub fn fail_next_5xx(&self, n: u32, status: u16) {
        let mut state = self.lock();
        state.server_error = n;
        state.server_error_status = if (100..=999).contains(&status) {
            status
        } else {
            500
        };
    }

    /// The next `n` API requests answer 429 with `X-Retry-After: retry_after_secs`.
    pub fn fail_next_429(&self, n: u32, retry_after_secs: u32) {
        let mut state = self.lock();
        state.rate_limited = n;
        state.retry_after_secs = retry_after_secs;
    }

    /// The next `n` API requests have their connection closed without any HTTP response.
    pub fn drop_next(&self, n: u32) {
        self.lock().drop = n;
    }

    /// Waits `d` before every answer (including dropped ones), until changed or cleared.
    pub fn set_latency(&self, d: Duration) {
        self.lock().latency = d;
    }

    /// Removes every pending fault and the latency.
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }

    /// The latency to add before answering.
    pub(crate) fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// Consumes the fault the current request should suffer, if any.
    pub(crate) fn take(&self) -> Option<Fault> {
        let mut state = self.lock();
        if state.drop > 0 {
            state.drop -= 1;
            Some(Fault::Drop)
        } else if state.server_error > 0 {
            state.server_error -= 1;
            Some(Fault::Status(state.server_error_status))
        } else if state.rate_limited > 0 {
            state.rate_limited -= 1;
            Some(Fault::RateLimited(state.retry_after_secs))
        } else {
            None
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // A panic while holding this lock cannot leave the counters inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A snapshot of the server's request counters.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Every request that reached the API, faulted and unauthorized ones included.
    pub total: u64,
    /// Requests by route template, such as `"GET /orders/{id}"`.
    pub by_route: BTreeMap<String, u64>,
    /// Answers with status 429 (real or injected).
    pub status_429: u64,
    /// Answers with a 5xx status (real or injected).
    pub status_5xx: u64,
    /// Answers with status 401.
    pub status_401: u64,
    /// Connections closed without a response.
    pub dropped: u64,
}

impl Stats {
    /// Requests counted for `route`, such as `"GET /orders"`; 0 when none were.
    pub fn count(&self, route: &str) -> u64 {
        self.by_route.get(route).copied().unwrap_or(0)
    }

    /// Counts a request as it arrives.
    pub(crate) fn record_request(&mut self, route: &str) {
        self.total += 1;
        *self.by_route.entry(route.to_string()).or_insert(0) += 1;
    }

    /// Counts the outcome of a request: `None` for a dropped connection.
    pub(crate) fn record_outcome(&mut self, status: Option<u16>) {
        match status {
            None => self.dropped += 1,
            Some(429) => self.status_429 += 1,
            Some(401) => self.status_401 += 1,
            Some(s) if s >= 500 => self.status_5xx += 1,
            Some(_) => {}
        }
    }
}

/// OrderDesk's per-store leaky bucket: each request takes a token, tokens refill continuously.
#[derive(Debug)]
pub(crate) struct Bucket {
    enabled: bool,
    capacity: f64,
    refill_per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket; with `enabled` false it never runs dry and always reports `capacity`.
    pub(crate) fn new(enabled: bool, capacity: u32, refill_per_sec: f64) -> Self {
        Self {
            enabled,
            capacity: f64::from(capacity),
            refill_per_sec: refill_per_sec.max(0.0),
            tokens: f64::from(capacity),
            last: Instant::now(),
        }
    }

    /// Takes a token: `Ok(tokens left)`, or `Err(seconds until one is available)`.
    pub(crate) fn take(&mut self) -> Result<u32, u32> {
        if !self.enabled {
            return Ok(whole(self.capacity));
        }
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(whole(self.tokens));
        }
        if self.refill_per_sec <= 0.0 {
            // A bucket that never refills: suggest a long wait rather than dividing by zero.
            return Err(3600);
        }
        let wait = ((1.0 - self.tokens) / self.refill_per_sec).ceil().max(1.0);
        Err(whole(wait))
    }

    /// Tokens left, without taking one.
    pub(crate) fn remaining(&mut self) -> u32 {
        if self.enabled {
            self.refill();
        }
        whole(if self.enabled {
            self.tokens
        } else {
            self.capacity
        })
    }

    /// Fills the bucket to capacity.
    pub(crate) fn reset(&mut self) {
        self.tokens = self.capacity;
        self.last = Instant::now();
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let gained = now.duration_since(self.last).as_secs_f64() * self.refill_per_sec;
        self.tokens = (self.tokens + gained).min(self.capacity);
        self.last = now;
    }
}

/// The whole part of a non-negative token count, saturating at `u32::MAX`.
fn whole(x: f64) -> u32 {
    // `as` saturates and maps NaN to 0, which is what a header value needs here.
    x.floor() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order() {
        let faults = Faults::default();
        faults.fail_next_429(1, 7);
        faults.fail_next_5xx(1, 503);
        faults.drop_next(1);
        assert_eq!(faults.take(), Some(Fault::Drop));
        assert_eq!(faults.take(), Some(Fault::Status(503)));
        assert_eq!(faults.take(), Some(Fault::RateLimited(7)));
        assert_eq!(faults.take(), None);
        faults.drop_next(3);
        faults.clear();
        assert_eq!(faults.take(), None);
    }

    #[test]
    fn bucket_runs_dry_and_suggests_a_wait() {
        let mut bucket = Bucket::new(true, 3, 0.5);
        assert_eq!(bucket.take(), Ok(2));
        assert_eq!(bucket.take(), Ok(1));
        assert_eq!(bucket.take(), Ok(0));
        assert_eq!(bucket.take(), Err(2));
        bucket.reset();
        assert_eq!(bucket.remaining(), 3);
        let mut off = Bucket::new(false, 20, 3.0);
        for _ in 0..100 {
            assert_eq!(off.take(), Ok(20));
        }
    }
}
