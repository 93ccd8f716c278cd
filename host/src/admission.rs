//! Fair, bounded admission to the sandbox's instance pool.
//!
//! Every component call holds one pooled instance while it runs, and a call may wait inside
//! its instance (for its store's upstream budget, a 429's `Retry-After`, a lock, a slow
//! answer). So the pool is the resource callers compete for, and waiting for it is where
//! one caller could starve another. Admission is split into [`Lane`]s with capacities of
//! their own (tool calls, bearer checks, webhook deliveries, background work such as polls
//! and the clean-up after a timed-out call), so no kind of traffic takes another's
//! instances. Within a lane:
//!
//! 1. a **per-store gate**: at most `per_store` instances per (tenant, store); further calls
//!    for that store wait in front of the pool, holding nothing. A burst on one store
//!    therefore occupies a few instances, however long its calls wait for the store's
//!    upstream budget inside them, and never the instances other stores need;
//! 2. a **per-tenant cap** (`per_tenant`) on instances, so one tenant's stores together
//!    leave the rest of the lane to the others;
//! 3. **fair turns**: waiting calls queue per tenant (at most `queue_per_tenant`, beyond
//!    which a call is refused at once), and when an instance frees up the tenants with
//!    waiters are served in turn, the oldest admissible call of each;
//! 4. a **deadline**: a call that cannot start before its deadline is refused with a
//!    `retry_after_ms` hint ([`Refused`]); it never waits without bound.
//!
//! The bookkeeping is a few counters behind one short-held mutex per lane; an admitted call
//! costs a lock, two map lookups and, on release, a scan of the tenants waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The kinds of work that get instances of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// MCP tool calls (and `tools/list` at start-up).
    Calls,
    /// Bearer checks of HTTP requests, before anyone is known.
    Auth,
    /// OrderDesk webhook deliveries (anyone may send them; the HMAC is checked inside).
    Webhooks,
    /// Polls, the clean-up after abandoned calls, operator commands.
    Background,
}

const LANES: usize = 4;

impl Lane {
    pub const ALL: [Lane; LANES] = [Lane::Calls, Lane::Auth, Lane::Webhooks, Lane::Background];

    fn index(self) -> usize {
        match self {
            Lane::Calls => 0,
            Lane::Auth => 1,
            Lane::Webhooks => 2,
            Lane::Background => 3,
        }
    }

    /// A fixed label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Lane::Calls => "calls",
            Lane::Auth => "auth",
            Lane::Webhooks => "webhooks",
            Lane::Background => "background",
        }
    }
}

/// The bounds of one lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneLimits {
    /// Instances the lane may hold at once.
    pub capacity: usize,
    /// Instances one tenant (or key) may hold at once.
    pub per_tenant: usize,
    /// Instances one store of a tenant may hold at once.
    pub per_store: usize,
    /// Calls one tenant may have waiting; more are refused at once.
    pub queue_per_tenant: usize,
}

impl LaneLimits {
    /// Limits with every value at least 1 and the caps no larger than the lane.
    fn sane(self) -> Self {
        let capacity = self.capacity.max(1);
        let per_tenant = self.per_tenant.clamp(1, capacity);
        Self {
            capacity,
            per_tenant,
            per_store: self.per_store.clamp(1, per_tenant),
            queue_per_tenant: self.queue_per_tenant,
        }
    }
}

/// What a call asks for: a lane, and whose it is. Keys are cut to [`MAX_KEY_CHARS`], so a
/// client-chosen string never grows the bookkeeping.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub lane: Lane,
    pub tenant: String,
    pub store: String,
}

/// The longest tenant or store key kept.
pub const MAX_KEY_CHARS: usize = 64;

impl Ticket {
    pub fn new(lane: Lane, tenant: &str, store: &str) -> Self {
        let cut = |s: &str| s.chars().take(MAX_KEY_CHARS).collect::<String>();
        Self {
            lane,
            tenant: cut(tenant),
            store: cut(store),
        }
    }
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the server is busy: no instance came free before the call's deadline")]
    Deadline { retry_after_ms: u64 },
    #[error("the server is busy: too many calls of this tenant are waiting already")]
    QueueFull { retry_after_ms: u64 },
}

impl Refused {
    pub fn retry_after_ms(&self) -> u64 {
        match self {
            Refused::Deadline { retry_after_ms } | Refused::QueueFull { retry_after_ms } => {
                *retry_after_ms
            }
        }
    }
}

/// One lane's books.
#[derive(Debug)]
struct LaneState {
    limits: LaneLimits,
    in_use: usize,
    tenants: HashMap<Arc<str>, TenantState>,
    /// Tenants with waiting calls, in the order they are served.
    turns: VecDeque<Arc<str>>,
    next_waiter: u64,
    /// Exponentially weighted mean of how long an instance is held, for retry hints.
    mean_hold_ms: f64,
}

#[derive(Debug, Default)]
struct TenantState {
    in_use: usize,
    stores: HashMap<Arc<str>, usize>,
    queue: VecDeque<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    store: Arc<str>,
    grant: oneshot::Sender<()>,
}

impl TenantState {
    fn store_in_use(&self, store: &str) -> usize {
        self.stores.get(store).copied().unwrap_or(0)
    }

    fn idle(&self) -> bool {
        self.in_use == 0 && self.queue.is_empty()
    }
}

impl LaneState {
    fn new(limits: LaneLimits) -> Self {
        Self {
            limits: limits.sane(),
            in_use: 0,
            tenants: HashMap::new(),
            turns: VecDeque::new(),
            next_waiter: 0,
            mean_hold_ms: 50.0,
        }
    }

    /// Whether a call of `tenant` for `store` may start now without passing anyone it
    /// should wait behind (an earlier call for the same store).
    fn admits_now(&self, tenant: &str, store: &str) -> bool {
        if self.in_use >= self.limits.capacity {
            return false;
        }
        match self.tenants.get(tenant) {
            None => true,
            Some(t) => {
                t.in_use < self.limits.per_tenant
                    && t.store_in_use(store) < self.limits.per_store
                    && !t.queue.iter().any(|w| &*w.store == store)
            }
        }
    }

    fn take(&mut self, tenant: &Arc<str>, store: &Arc<str>) {
        let t = self.tenants.entry(tenant.clone()).or_default();
        t.in_use += 1;
        *t.stores.entry(store.clone()).or_default() += 1;
        self.in_use += 1;
    }

    fn give_back(&mut self, tenant: &str, store: &str) {
        self.in_use = self.in_use.saturating_sub(1);
        if let Some(t) = self.tenants.get_mut(tenant) {
            t.in_use = t.in_use.saturating_sub(1);
            if let Some(n) = t.stores.get_mut(store) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    t.stores.remove(store);
                }
            }
            if t.idle() {
                self.tenants.remove(tenant);
            }
        }
    }

    /// Hand free instances to waiting calls, tenants in turn.
    fn dispatch(&mut self) {
        while self.in_use < self.limits.capacity {
            let limits = self.limits;
            let served = self.turns.iter().position(|name| {
                self.tenants.get(name).is_some_and(|t| {
                    t.in_use < limits.per_tenant
                        && t.queue
                            .iter()
                            .any(|w| t.store_in_use(&w.store) < limits.per_store)
                })
            });
            let Some(at) = served else { return };
            let name = self.turns.remove(at).expect("position is in range");
            let t = self.tenants.get_mut(&name).expect("tenants in turns exist");
            let pos = t
                .queue
                .iter()
                .position(|w| t.store_in_use(&w.store) < limits.per_store)
                .expect("checked above");
            let waiter = t.queue.remove(pos).expect("position is in range");
            let more = !t.queue.is_empty();
            self.take(&name, &waiter.store);
            if waiter.grant.send(()).is_err() {
                // Nobody waits for it any more (the caller went away): undo.
                self.give_back(&name, &waiter.store);
            }
            if more {
                self.turns.push_back(name);
            }
        }
    }

    fn remove_waiter(&mut self, tenant: &str, id: u64) -> bool {
        let Some(t) = self.tenants.get_mut(tenant) else {
            return false;
        };
        let Some(pos) = t.queue.iter().position(|w| w.id == id) else {
            return false;
        };
        t.queue.remove(pos);
        if t.queue.is_empty() {
            self.turns.retain(|n| &**n != tenant);
        }
        if t.idle() {
            self.tenants.remove(tenant);
        }
        true
    }

    /// A hint for when a refused call might get in: about one turn of its tenant's queue.
    fn retry_hint(&self, tenant: &str) -> u64 {
        let queued = self.tenants.get(tenant).map_or(0, |t| t.queue.len());
        let rounds = 1 + queued / self.limits.per_tenant.max(1);
        ((self.mean_hold_ms * rounds as f64) as u64).clamp(50, 30_000)
    }

    fn held_for(&mut self, held: Duration) {
        let ms = held.as_secs_f64() * 1000.0;
        self.mean_hold_ms = self.mean_hold_ms * 0.9 + ms * 0.1;
    }
}

/// The admission books of every lane.
#[derive(Debug)]
pub struct Admission {
    lanes: [Mutex<LaneState>; LANES],
}

/// Lane capacities and caps, as the settings give them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub calls: LaneLimits,
    pub auth: LaneLimits,
    pub webhooks: LaneLimits,
    pub background: LaneLimits,
}

impl Limits {
    /// Instances all lanes may hold together: the size the instance pool must have.
    pub fn total(&self) -> usize {
        [self.calls, self.auth, self.webhooks, self.background]
            .iter()
            .map(|l| l.sane().capacity)
            .sum()
    }
}

impl Admission {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            lanes: [
                Mutex::new(LaneState::new(limits.calls)),
                Mutex::new(LaneState::new(limits.auth)),
                Mutex::new(LaneState::new(limits.webhooks)),
                Mutex::new(LaneState::new(limits.background)),
            ],
        })
    }

    fn lane(&self, lane: Lane) -> MutexGuard<'_, LaneState> {
        self.lanes[lane.index()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for an instance of `ticket`'s lane until `deadline`. The permit gives it back
    /// when dropped. Dropping this future while it waits leaves nothing behind.
    pub async fn enter(
        self: &Arc<Self>,
        ticket: Ticket,
        deadline: Instant,
    ) -> Result<Permit, Refused> {
        let tenant: Arc<str> = ticket.tenant.into();
        let store: Arc<str> = ticket.store.into();
        let lane = ticket.lane;
        let permit = |admission: &Arc<Self>| Permit {
            admission: admission.clone(),
            lane,
            tenant: tenant.clone(),
            store: store.clone(),
            since: Instant::now(),
        };
        let (grant, granted) = oneshot::channel();
        let id = {
            let mut books = self.lane(lane);
            if books.admits_now(&tenant, &store) {
                books.take(&tenant, &store);
                return Ok(permit(self));
            }
            let queue_cap = books.limits.queue_per_tenant;
            let queued = books.tenants.get(&*tenant).map_or(0, |t| t.queue.len());
            if queued >= queue_cap {
                return Err(Refused::QueueFull {
                    retry_after_ms: books.retry_hint(&tenant),
                });
            }
            books.next_waiter += 1;
            let id = books.next_waiter;
            let t = books.tenants.entry(tenant.clone()).or_default();
            t.queue.push_back(Waiter {
                id,
                store: store.clone(),
                grant,
            });
            if !books.turns.contains(&tenant) {
                books.turns.push_back(tenant.clone());
            }
            id
        };
        let mut waiting = Waiting {
            admission: self.clone(),
            lane,
            tenant: tenant.clone(),
            store: store.clone(),
            id,
            granted,
            done: false,
        };
        let outcome = tokio::time::timeout_at(deadline.into(), &mut waiting.granted).await;
        if let Ok(Ok(())) = outcome {
            waiting.done = true;
            return Ok(permit(self));
        }
        // Out of time: leave the queue, unless the grant raced the timer (then give the
        // instance back: the caller has no time left to use it).
        let mut books = self.lane(lane);
        waiting.done = true;
        if !books.remove_waiter(&tenant, id) && waiting.granted.try_recv().is_ok() {
            books.give_back(&tenant, &store);
            books.dispatch();
        }
        Err(Refused::Deadline {
            retry_after_ms: books.retry_hint(&tenant),
        })
    }

    /// Instances in use and the capacity of `lane`.
    pub fn usage(&self, lane: Lane) -> (usize, usize) {
        let books = self.lane(lane);
        (books.in_use, books.limits.capacity)
    }

    /// Calls waiting for an instance of `lane`.
    pub fn waiting(&self, lane: Lane) -> usize {
        self.lane(lane)
            .tenants
            .values()
            .map(|t| t.queue.len())
            .sum()
    }
}

/// A call waiting for its grant; leaves the queue (or gives a late grant back) if dropped.
struct Waiting {
    admission: Arc<Admission>,
    lane: Lane,
    tenant: Arc<str>,
    store: Arc<str>,
    id: u64,
    granted: oneshot::Receiver<()>,
    done: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut books = self.admission.lane(self.lane);
        if !books.remove_waiter(&self.tenant, self.id) && self.granted.try_recv().is_ok() {
            books.give_back(&self.tenant, &self.store);
            books.dispatch();
        }
    }
}

/// An instance of a lane, held until dropped.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    lane: Lane,
    tenant: Arc<str>,
    store: Arc<str>,
    since: Instant,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut books = self.admission.lane(self.lane);
        books.held_for(self.since.elapsed());
        books.give_back(&self.tenant, &self.store);
        books.dispatch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(capacity: usize, per_tenant: usize, per_store: usize, queue: usize) -> Limits {
        let lane = LaneLimits {
            capacity,
            per_tenant,
            per_store,
            queue_per_tenant: queue,
        };
        Limits {
            calls: lane,
            auth: lane,
            webhooks: lane,
            background: lane,
        }
    }

    fn ticket(tenant: &str, store: &str) -> Ticket {
        Ticket::new(Lane::Calls, tenant, store)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_store_holds_at_most_its_share_and_other_stores_and_tenants_go_past() {
        let admission = Admission::new(limits(8, 4, 2, 100));
        let a1: Vec<Permit> = vec![
            admission.enter(ticket("a", "1"), soon()).await.unwrap(),
            admission.enter(ticket("a", "1"), soon()).await.unwrap(),
        ];
        // A third call for store a/1 waits in front of the pool, holding nothing...
        let queued = tokio::spawn({
            let admission = admission.clone();
            async move { admission.enter(ticket("a", "1"), soon()).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(admission.usage(Lane::Calls).0, 2);
        assert_eq!(admission.waiting(Lane::Calls), 1);
        // ...while another store of the same tenant and another tenant get in at once.
        let a2 = admission.enter(ticket("a", "2"), soon()).await.unwrap();
        let b = admission.enter(ticket("b", "9"), soon()).await.unwrap();
        assert_eq!(admission.usage(Lane::Calls).0, 4);
        drop(a1);
        queued.await.unwrap().unwrap();
        drop((a2, b));
    }

    #[tokio::test]
    async fn a_tenant_never_holds_more_than_its_cap() {
        let admission = Admission::new(limits(8, 3, 3, 100));
        let mut held = Vec::new();
        for store in ["1", "2", "3"] {
            held.push(admission.enter(ticket("a", store), soon()).await.unwrap());
        }
        let late = admission
            .enter(ticket("a", "4"), Instant::now() + Duration::from_millis(50))
            .await;
        assert!(matches!(late, Err(Refused::Deadline { .. })), "{late:?}");
        assert!(admission.enter(ticket("b", "1"), soon()).await.is_ok());
    }

    #[tokio::test]
    async fn waiting_tenants_are_served_in_turn() {
        let admission = Admission::new(limits(1, 1, 1, 100));
        let first = admission.enter(ticket("a", "1"), soon()).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Tenant a queues three calls before b and c queue one each.
        for (tenant, store) in [("a", "1"), ("a", "2"), ("a", "3"), ("b", "1"), ("c", "1")] {
            let (admission, order) = (admission.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let permit = admission
                    .enter(ticket(tenant, store), soon())
                    .await
                    .unwrap();
                order.lock().unwrap().push(tenant);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(permit);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["a", "b", "c", "a", "a"]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_with_a_hint() {
        let admission = Admission::new(limits(1, 1, 1, 1));
        let _held = admission.enter(ticket("a", "1"), soon()).await.unwrap();
        let waiting = tokio::spawn({
            let admission = admission.clone();
            async move { admission.enter(ticket("a", "1"), soon()).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let refused = admission
            .enter(ticket("a", "1"), soon())
            .await
            .err()
            .unwrap();
        assert!(matches!(refused, Refused::QueueFull { .. }));
        assert!(refused.retry_after_ms() >= 50);
        assert!(started.elapsed() < Duration::from_secs(1));
        waiting.abort();
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_nothing_behind() {
        let admission = Admission::new(limits(1, 1, 1, 100));
        let held = admission.enter(ticket("a", "1"), soon()).await.unwrap();
        let gone = tokio::spawn({
            let admission = admission.clone();
            async move { admission.enter(ticket("b", "1"), soon()).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(admission.waiting(Lane::Calls), 1);
        gone.abort();
        let _ = gone.await;
        assert_eq!(admission.waiting(Lane::Calls), 0);
        drop(held);
        assert_eq!(admission.usage(Lane::Calls).0, 0);
        // The instance went to nobody: the next caller gets it at once.
        let next = admission
            .enter(ticket("c", "1"), Instant::now() + Duration::from_millis(10))
            .await;
        assert!(next.is_ok());
        assert!(admission.lane(Lane::Calls).tenants.len() == 1);
    }

    #[tokio::test]
    async fn lanes_do_not_share_instances() {
        let admission = Admission::new(limits(1, 1, 1, 10));
        let _call = admission.enter(ticket("a", "1"), soon()).await.unwrap();
        let auth = admission
            .enter(
                Ticket::new(Lane::Auth, "a", "1"),
                Instant::now() + Duration::from_millis(10),
            )
            .await;
        assert!(auth.is_ok());
    }

    /// The books' own invariants: nothing over a cap, counts that add up.
    fn check_books(admission: &Admission) {
        let books = admission.lane(Lane::Calls);
        let l = books.limits;
        assert!(books.in_use <= l.capacity);
        let total: usize = books.tenants.values().map(|t| t.in_use).sum();
        assert_eq!(total, books.in_use);
        for t in books.tenants.values() {
            assert!(t.in_use <= l.per_tenant);
            assert_eq!(t.stores.values().sum::<usize>(), t.in_use);
            assert!(t.stores.values().all(|n| *n <= l.per_store && *n > 0));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 128,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Any interleaving of arrivals and departures keeps every cap, and once every
        /// permit is back the books are empty.
        #[test]
        fn caps_hold_and_the_books_empty_under_any_interleaving(
            ops in proptest::collection::vec((0u8..4, 0u8..3, proptest::prelude::any::<bool>()), 1..80),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            runtime.block_on(async {
                let admission = Admission::new(limits(5, 3, 2, 4));
                let mut held: Vec<Permit> = Vec::new();
                for (tenant, store, leave) in ops {
                    if leave && !held.is_empty() {
                        held.remove(usize::from(tenant) % held.len());
                    } else {
                        let t = ticket(&format!("t{tenant}"), &format!("s{store}"));
                        let soon = Instant::now() + Duration::from_millis(1);
                        if let Ok(permit) = admission.enter(t, soon).await {
                            held.push(permit);
                        }
                    }
                    check_books(&admission);
                }
                held.clear();
                let books = admission.lane(Lane::Calls);
                assert_eq!(books.in_use, 0);
                assert!(books.tenants.is_empty() && books.turns.is_empty());
            });
        }
    }

    #[test]
    fn client_chosen_keys_are_cut() {
        let t = Ticket::new(Lane::Calls, &"x".repeat(10_000), &"y".repeat(10_000));
        assert_eq!(t.tenant.len(), MAX_KEY_CHARS);
        assert_eq!(t.store.len(), MAX_KEY_CHARS);
    }
}
