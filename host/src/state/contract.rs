//! One behaviour suite every backend must pass: buckets, counters, cache expiry and cap,
//! leases (owner, expiry, renewal, compare-and-delete), mutual exclusion under contention,
//! and the same lock and counters shared by two processes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Backend, Bucket, Keep, Layout, StateSpec};

const STATE: Bucket = Bucket {
    name: "state",
    keep: Keep::Durable,
};

/// A layout whose cache buckets keep entries for `ttl`, `cap` of them in all.
pub fn layout(ttl: Duration, cap: u64) -> Layout {
    Layout::new(ttl, ttl, ttl, cap)
}

fn cache(layout: &Layout) -> Bucket {
    layout.bucket("cache-orders").unwrap()
}

/// Run the whole suite; `make` opens a fresh, empty backend with the given layout.
pub async fn run<F, Fut>(make: F)
where
    F: Fn(Layout) -> Fut,
    Fut: Future<Output = Arc<dyn Backend>>,
{
    let long = layout(Duration::from_secs(60), 10);
    kv_basics(make(long.clone()).await).await;
    counters(make(long.clone()).await).await;
    cache_cap(make(long.clone()).await, &long).await;
    let short = layout(Duration::from_millis(300), 100);
    cache_expiry(make(short.clone()).await, &short).await;
    leases(make(long.clone()).await).await;
    mutual_exclusion(make(long).await).await;
}

async fn kv_basics(kv: Arc<dyn Backend>) {
    assert_eq!(kv.get(STATE, "a").await.unwrap(), None);
    kv.set(STATE, "a", b"1".to_vec()).await.unwrap();
    assert_eq!(
        kv.get(STATE, "a").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert!(kv.exists(STATE, "a").await.unwrap());
    kv.set(STATE, "a", b"3".to_vec()).await.unwrap();
    assert_eq!(
        kv.get(STATE, "a").await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    kv.delete(STATE, "a").await.unwrap();
    assert!(!kv.exists(STATE, "a").await.unwrap());
    kv.delete(STATE, "never-there").await.unwrap();
    for i in 0..5 {
        kv.set(STATE, &format!("k{i}"), b"v".to_vec())
            .await
            .unwrap();
    }
    let first = kv.list_keys(STATE, 0, 3).await.unwrap();
    let rest = kv.list_keys(STATE, 3, 10).await.unwrap();
    assert_eq!([first, rest].concat(), ["k0", "k1", "k2", "k3", "k4"]);
}

async fn counters(kv: Arc<dyn Backend>) {
    assert_eq!(kv.increment(STATE, "n", 1).await.unwrap(), 1);
    assert_eq!(kv.increment(STATE, "n", 41).await.unwrap(), 42);
    assert_eq!(kv.increment(STATE, "n", 0).await.unwrap(), 42);
    kv.set(STATE, "text", b"hello".to_vec()).await.unwrap();
    assert!(kv.increment(STATE, "text", 1).await.is_err());
    kv.set(STATE, "max", u64::MAX.to_string().into_bytes())
        .await
        .unwrap();
    assert!(kv.increment(STATE, "max", 1).await.is_err());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let kv = kv.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    kv.increment(STATE, "shared", 1).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(kv.increment(STATE, "shared", 0).await.unwrap(), 400);
}

async fn cache_cap(kv: Arc<dyn Backend>, layout: &Layout) {
    let orders = cache(layout);
    let store = layout.bucket("cache-store").unwrap();
    // The same key in a durable and a cache bucket are two entries.
    kv.set(STATE, "x", b"durable".to_vec()).await.unwrap();
    kv.set(orders, "x", b"cached".to_vec()).await.unwrap();
    assert_eq!(
        kv.get(STATE, "x").await.unwrap().as_deref(),
        Some(&b"durable"[..])
    );
    for i in 0..25 {
        kv.set(
            if i % 2 == 0 { orders } else { store },
            &format!("e{i}"),
            vec![1],
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(kv.cache_entries().await.unwrap(), 10, "the cap holds");
    assert!(
        kv.get(orders, "e24").await.unwrap().is_some(),
        "the newest stays"
    );
    assert!(
        kv.get(orders, "e0").await.unwrap().is_none(),
        "the oldest went first"
    );
    assert!(kv.get(orders, "x").await.unwrap().is_none());
    assert!(
        kv.get(STATE, "x").await.unwrap().is_some(),
        "durable entries are not capped"
    );
    assert!(
        kv.increment(orders, "n", 1).await.is_err(),
        "no counters in the cache"
    );
}

async fn cache_expiry(kv: Arc<dyn Backend>, layout: &Layout) {
    let orders = cache(layout);
    kv.set(orders, "soon", b"v".to_vec()).await.unwrap();
    kv.set(STATE, "soon", b"v".to_vec()).await.unwrap();
    assert!(kv.get(orders, "soon").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(kv.get(orders, "soon").await.unwrap(), None, "expired");
    assert!(!kv.exists(orders, "soon").await.unwrap());
    assert!(kv.list_keys(orders, 0, 10).await.unwrap().is_empty());
    assert_eq!(kv.cache_entries().await.unwrap(), 0);
    assert!(
        kv.get(STATE, "soon").await.unwrap().is_some(),
        "state never expires"
    );
}

async fn leases(kv: Arc<dyn Backend>) {
    let long = Duration::from_secs(60);
    assert!(kv.lock_acquire("l", "a", long).await.unwrap());
    assert!(!kv.lock_acquire("l", "b", long).await.unwrap(), "held by a");
    assert!(
        kv.lock_acquire("l", "a", long).await.unwrap(),
        "a may extend its own"
    );
    assert!(
        !kv.lock_renew("l", "b", long).await.unwrap(),
        "only the owner renews"
    );
    assert!(kv.lock_renew("l", "a", long).await.unwrap());
    assert!(
        !kv.lock_release("l", "b").await.unwrap(),
        "only the owner releases"
    );
    assert!(!kv.lock_acquire("l", "b", long).await.unwrap(), "still a's");
    assert!(kv.lock_release("l", "a").await.unwrap());
    assert!(!kv.lock_release("l", "a").await.unwrap(), "released once");
    assert!(kv.lock_acquire("l", "b", long).await.unwrap(), "free again");
    assert!(
        kv.lock_acquire("other", "a", long).await.unwrap(),
        "locks are independent"
    );

    // A holder that dies leaves the lock for at most its lease.
    let short = Duration::from_millis(200);
    assert!(kv.lock_acquire("e", "dead", short).await.unwrap());
    assert!(!kv.lock_acquire("e", "next", short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        kv.lock_acquire("e", "next", long).await.unwrap(),
        "expired lease taken over"
    );
    assert!(
        !kv.lock_renew("e", "dead", long).await.unwrap(),
        "the late holder cannot renew"
    );
    assert!(
        !kv.lock_release("e", "dead").await.unwrap(),
        "nor release the next holder's"
    );
    assert!(
        !kv.lock_acquire("e", "third", long).await.unwrap(),
        "still next's"
    );

    // Renewal keeps a lease alive past its first term.
    assert!(kv.lock_acquire("r", "a", short).await.unwrap());
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(kv.lock_renew("r", "a", short).await.unwrap());
    }
    assert!(
        !kv.lock_acquire("r", "b", short).await.unwrap(),
        "renewed, not expired"
    );
}

/// Read-modify-write of a plain value under the lock: any overlap loses an update.
async fn guarded_increments(kv: &dyn Backend, owner: &str, times: u32) {
    for _ in 0..times {
        while !kv
            .lock_acquire("mutex", owner, Duration::from_secs(10))
            .await
            .unwrap()
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let current: u64 = kv
            .get(STATE, "guarded")
            .await
            .unwrap()
            .map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap());
        // Hold the lock a moment, so an intruder would read the same value.
        tokio::time::sleep(Duration::from_millis(1)).await;
        kv.set(STATE, "guarded", (current + 1).to_string().into_bytes())
            .await
            .unwrap();
        assert!(kv.lock_release("mutex", owner).await.unwrap());
    }
}

async fn mutual_exclusion(kv: Arc<dyn Backend>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move { guarded_increments(kv.as_ref(), &format!("t{i}"), 25).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let total = kv.get(STATE, "guarded").await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&total), "200", "no update was lost");
}

const SPEC_ENV: &str = "ORDERDESK_CONTRACT_SPEC";
const ROUNDS: u32 = 60;

/// Two processes on one backend: this test process and a child (the same test binary
/// running `contender_test`) contend for one lock and one counter.
pub async fn two_processes(spec: &str, contender_test: &str) {
    let kv = open(spec);
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", contender_test, "--ignored"])
        .env(SPEC_ENV, spec)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Start together, so the two really contend.
    while kv.get(STATE, "contender-ran").await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    guarded_increments(kv.as_ref(), "parent", ROUNDS).await;
    for _ in 0..ROUNDS {
        kv.increment(STATE, "counted", 1).await.unwrap();
    }
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the other process failed");
    let guarded = kv.get(STATE, "guarded").await.unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&guarded),
        (2 * ROUNDS).to_string(),
        "the lock excluded the other process"
    );
    assert_eq!(
        kv.increment(STATE, "counted", 0).await.unwrap(),
        u64::from(2 * ROUNDS),
        "increments are atomic across processes"
    );
    let ran = kv.get(STATE, "contender-ran").await.unwrap();
    assert_eq!(ran.as_deref(), Some(&b"yes"[..]), "the child really ran");
}

/// The child's half of [`two_processes`]; does nothing unless started by it.
pub async fn contender() {
    let Ok(spec) = std::env::var(SPEC_ENV) else {
        return;
    };
    let kv = open(&spec);
    kv.set(STATE, "contender-ran", b"yes".to_vec())
        .await
        .unwrap();
    guarded_increments(kv.as_ref(), "child", ROUNDS).await;
    for _ in 0..ROUNDS {
        kv.increment(STATE, "counted", 1).await.unwrap();
    }
}

fn open(spec: &str) -> Arc<dyn Backend> {
    let spec: StateSpec = spec.parse().unwrap();
    super::open(&spec, layout(Duration::from_secs(60), 100), None).unwrap()
}
