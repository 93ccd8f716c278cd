//! Switchable faults, request counters and the leaky-bucket rate limiter.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::Method;

use crate::schedule::{Action, Respond, Rule, Schedule};

/// Faults to inject into the next API requests, shared between a test and the server.
///
/// Cloning gives another handle on the same faults. Each API request (except one refused
/// with 411 for a chunked body, see [`FakeConfig::reject_chunked`](crate::FakeConfig)) is
/// first shown to the rules of [`Faults::schedule`]; when a rule acts on it, that rule
/// alone decides what happens and no one-shot fault is consumed (even for
/// [`Respond::Normal`]). Otherwise it consumes at most one one-shot fault, checked in the
/// order: dropped connection, then 5xx, then 429, then (for writes only: `POST`, `PUT`,
/// `DELETE`) dropped after applying, then failed after applying.
/// [`Faults::set_latency`] and [`Faults::concurrent_edits`] stay on until changed or cleared,
/// and apply to every request, the ones rules act on included.
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
    drop_after_apply: u32,
    fail_after_apply: u32,
    fail_after_apply_status: u16,
    latency: Duration,
    edit_every: u32,
    gets_since_edit: u32,
    schedule: Schedule,
}

/// The status to inject: `status` when it is one, 500 otherwise.
fn valid_status(status: u16) -> u16 {
    if (100..=999).contains(&status) {
        status
    } else {
        500
    }
}

impl Faults {
    /// The next `n` API requests answer `status` (for example 500, 502 or 503) with
    /// `{"status":"error","message":"..."}`. A status outside 100..=999 is sent as 500.
    pub fn fail_next_5xx(&self, n: u32, status: u16) {
        let mut state = self.lock();
        state.server_error = n;
        state.server_error_status = valid_status(status);
    }

    /// The next `n` write requests (`POST`, `PUT`, `DELETE`) are processed normally (an
    /// order really is created or changed) and then answered `status` (for example 500, 502
    /// or 504) with an error envelope instead of the real answer, as when a gateway times
    /// out after the backend committed. A status outside 100..=999 is sent as 500. Reads
    /// are not affected and do not consume it.
    pub fn fail_after_apply_next(&self, n: u32, status: u16) {
        let mut state = self.lock();
        state.fail_after_apply = n;
        state.fail_after_apply_status = valid_status(status);
    }

    /// The next `n` write requests are processed normally and then their connection is
    /// closed without any HTTP response.
    pub fn drop_after_apply_next(&self, n: u32) {
        self.lock().drop_after_apply = n;
    }

    /// Simulates someone else editing orders: after every `every`-th successfully served
    /// `GET /orders/{id}` (in any store; 0 turns this off), once its answer has been
    /// produced, the fake edits that order: `order_metadata.external_edits` goes up by one
    /// (starting at 1) and `date_updated` becomes now, so the client's copy is stale.
    /// [`Stats::external_edits`] counts these edits. Stays on until changed or cleared.
    pub fn concurrent_edits(&self, every: u32) {
        let mut state = self.lock();
        state.edit_every = every;
        state.gets_since_edit = 0;
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

    /// Schedules `rule` after the rules already scheduled; it stays until spent or until
    /// [`Faults::clear`].
    ///
    /// Rules watch every API request (in any store, unauthorized ones included) but the
    /// ones refused with 411. Each request is shown to every scheduled rule, in the order
    /// they were scheduled:
    ///
    /// * a rule whose [`Rule::matching`] does not match ignores it;
    /// * a matching rule still skipping counts it toward its `skip`, **whether or
    ///   not another rule acts on the request**, so `skip: k` always means "the first `k`
    ///   matching requests after scheduling are not mine";
    /// * the first (earliest scheduled) matching rule that is done skipping acts on it,
    ///   using up one of its `times`; a later rule that is also done skipping is
    ///   left unchanged and waits for the next matching request.
    ///
    /// A rule is removed once it has acted `times` times (one with `times` 0 is never
    /// kept). A request a rule acts on consumes no one-shot fault
    /// ([`Faults::fail_next_5xx`] and the like); the others fall through to them.
    ///
    /// ```
    /// # async fn demo() -> anyhow::Result<()> {
    /// use fake_orderdesk::{Edit, FakeConfig, FakeOrderDesk, Match, Respond, Rule};
    ///
    /// let fake = FakeOrderDesk::start(FakeConfig::default()).await?;
    /// // Read, read, read, write: the write gets a 429 and someone edits the order while
    /// // the client waits it out.
    /// fake.faults().schedule(
    ///     Rule::on(Match::Route("PUT /orders/{id}".into()), Respond::RateLimited(2))
    ///         .with_edit(Edit::AfterServing),
    /// );
    /// # Ok(()) }
    /// ```
    pub fn schedule(&self, rule: Rule) {
        self.lock().schedule.push(rule);
    }

    /// How many scheduled rules are not spent yet.
    pub fn scheduled(&self) -> usize {
        self.lock().schedule.len()
    }

    /// Removes every pending fault, every scheduled rule, the latency and
    /// [`Faults::concurrent_edits`].
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }

    /// The latency to add before answering.
    pub(crate) fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// Counts a served `GET /orders/{id}`: whether an external edit of that order is due.
    pub(crate) fn external_edit_due(&self) -> bool {
        let mut state = self.lock();
        if state.edit_every == 0 {
            return false;
        }
        state.gets_since_edit += 1;
        if state.gets_since_edit >= state.edit_every {
            state.gets_since_edit = 0;
            true
        } else {
            false
        }
    }

    /// Decides what happens to the current request (`route` is its template): the action
    /// of the first scheduled rule acting on it, else the one-shot fault it consumes, else
    /// `None` (serve normally).
    pub(crate) fn action(&self, method: &Method, route: &str) -> Option<Action> {
        let mut state = self.lock();
        if let Some(action) = state.schedule.pick(method, route) {
            return Some(action);
        }
        let write = [Method::POST, Method::PUT, Method::DELETE].contains(method);
        state.take(write).map(|respond| Action {
            respond,
            edit: None,
        })
    }

    /// Consumes the one-shot fault the current request should suffer, if any; `write` is
    /// whether it is a `POST`, `PUT` or `DELETE`.
    #[cfg(test)]
    fn take(&self, write: bool) -> Option<Respond> {
        self.lock().take(write)
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // A panic while holding this lock cannot leave the counters inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FaultState {
    /// Consumes the one-shot fault a request should suffer, if any.
    fn take(&mut self, write: bool) -> Option<Respond> {
        if self.drop > 0 {
            self.drop -= 1;
            Some(Respond::Drop)
        } else if self.server_error > 0 {
            self.server_error -= 1;
            Some(Respond::Status(self.server_error_status))
        } else if self.rate_limited > 0 {
            self.rate_limited -= 1;
            Some(Respond::RateLimited(self.retry_after_secs))
        } else if write && self.drop_after_apply > 0 {
            self.drop_after_apply -= 1;
            Some(Respond::DropAfterApply)
        } else if write && self.fail_after_apply > 0 {
            self.fail_after_apply -= 1;
            Some(Respond::FailAfterApply(self.fail_after_apply_status))
        } else {
            None
        }
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
    /// Answers with status 411: request bodies sent without `Content-Length` (chunked),
    /// refused while [`FakeConfig::reject_chunked`](crate::FakeConfig::reject_chunked) is on.
    pub status_411: u64,
    /// Connections closed without a response.
    pub dropped: u64,
    /// Requests by authorized store id (the store whose id and key the request carried),
    /// faulted ones included.
    pub by_store: BTreeMap<String, u64>,
    /// Requests by authorized store id and route template.
    pub by_store_route: BTreeMap<(String, String), u64>,
    /// Records edited behind the client's back, by [`Faults::concurrent_edits`] or by the
    /// outside edits of scheduled rules ([`Rule::with_edit`]); skipped edits (of a record
    /// that does not exist) are not counted.
    pub external_edits: u64,
}

impl Stats {
    /// Requests counted for `route`, such as `"GET /orders"`; 0 when none were.
    pub fn count(&self, route: &str) -> u64 {
        self.by_route.get(route).copied().unwrap_or(0)
    }

    /// Requests counted for `route` in the store `store_id`; 0 when none were.
    pub fn count_in(&self, store_id: &str, route: &str) -> u64 {
        self.by_store_route
            .get(&(store_id.to_string(), route.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Counts a request as it arrives, under its store when its credentials are valid.
    pub(crate) fn record_request(&mut self, route: &str, store: Option<&str>) {
        self.total += 1;
        *self.by_route.entry(route.to_string()).or_insert(0) += 1;
        if let Some(store) = store {
            *self.by_store.entry(store.to_string()).or_insert(0) += 1;
            *self
                .by_store_route
                .entry((store.to_string(), route.to_string()))
                .or_insert(0) += 1;
        }
    }

    /// Counts the outcome of a request: `None` for a dropped connection.
    pub(crate) fn record_outcome(&mut self, status: Option<u16>) {
        match status {
            None => self.dropped += 1,
            Some(429) => self.status_429 += 1,
            Some(401) => self.status_401 += 1,
            Some(411) => self.status_411 += 1,
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
        assert_eq!(faults.take(false), Some(Respond::Drop));
        assert_eq!(faults.take(false), Some(Respond::Status(503)));
        assert_eq!(faults.take(false), Some(Respond::RateLimited(7)));
        assert_eq!(faults.take(false), None);
        faults.drop_next(3);
        faults.clear();
        assert_eq!(faults.take(false), None);
    }

    #[test]
    fn write_faults_wait_for_a_write() {
        let faults = Faults::default();
        faults.fail_after_apply_next(1, 1000);
        faults.drop_after_apply_next(1);
        faults.fail_next_429(1, 2);
        assert_eq!(faults.take(true), Some(Respond::RateLimited(2)));
        assert_eq!(faults.take(false), None);
        assert_eq!(faults.take(true), Some(Respond::DropAfterApply));
        assert_eq!(faults.take(true), Some(Respond::FailAfterApply(500)));
        assert_eq!(faults.take(true), None);
    }

    #[test]
    fn rules_come_before_one_shot_faults() {
        use crate::schedule::Match;
        let faults = Faults::default();
        faults.fail_next_5xx(1, 503);
        faults.schedule(Rule::on(Match::Writes, Respond::Normal));
        let respond = |m: Method| faults.action(&m, "X /").map(|a| a.respond);
        assert_eq!(respond(Method::PUT), Some(Respond::Normal));
        assert_eq!(respond(Method::PUT), Some(Respond::Status(503)));
        assert_eq!(respond(Method::PUT), None);
        faults.schedule(Rule::on(Match::Any, Respond::Drop));
        assert_eq!(faults.scheduled(), 1);
        faults.clear();
        assert_eq!(faults.scheduled(), 0);
        assert_eq!(respond(Method::GET), None);
    }

    #[test]
    fn external_edits_every_nth_get() {
        let faults = Faults::default();
        assert!(!faults.external_edit_due());
        faults.concurrent_edits(3);
        let due: Vec<bool> = (0..6).map(|_| faults.external_edit_due()).collect();
        assert_eq!(due, [false, false, true, false, false, true]);
        faults.clear();
        assert!(!faults.external_edit_due());
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
