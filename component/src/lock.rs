//! Leases over the host's `orderdesk:mcp/lock`: a named lock held by a random owner token
//! for a limited time, renewed while the holder works and released only by its owner.
//! A holder that dies leaves nothing behind for longer than its lease.

use crate::error::{ErrorCode, ToolError};
use crate::host::{Host, KvError};
use crate::trace;

/// How long a lease lasts without renewal. Longer than any single step of an update
/// (one upstream request, or one rate-limit wait), so a live holder renews it in time.
pub const LEASE_MS: u64 = 60_000;

fn lock_err(e: KvError) -> ToolError {
    ToolError::new(
        ErrorCode::StateUnavailable,
        format!("lock backend failed: {}", e.0),
    )
}

/// A held lock. Dropping it releases it (only if still ours).
pub struct Lease<'a> {
    host: &'a dyn Host,
    name: String,
    owner: String,
    ttl_ms: u64,
    renewed_at_ms: u64,
    /// Opened when the lock was taken, for the trace's `held` step.
    held: trace::Span,
}

impl std::fmt::Debug for Lease<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("name", &self.name).finish()
    }
}

impl<'a> Lease<'a> {
    /// Wait up to `wait_ms` for the lock `name`; `None` when it stayed taken.
    pub fn acquire(
        host: &'a dyn Host,
        name: &str,
        ttl_ms: u64,
        wait_ms: u64,
    ) -> Result<Option<Self>, ToolError> {
        let owner = hex::encode(host.random_bytes(16));
        let span = trace::start(host);
        let deadline = host.now_ms().saturating_add(wait_ms);
        let mut pause = 5;
        let mut waited = false;
        loop {
            let now = host.now_ms();
            if host.lock_acquire(name, &owner, ttl_ms).map_err(lock_err)? {
                if waited {
                    host.metric("lock", &[("result", "waited")]);
                }
                span.end(
                    host,
                    trace::kind::LOCK,
                    || format!("{name} acquired"),
                    None,
                    || Some(serde_json::json!({ "waited": waited })),
                );
                return Ok(Some(Self {
                    host,
                    name: name.to_string(),
                    owner,
                    ttl_ms,
                    renewed_at_ms: now,
                    held: trace::start(host),
                }));
            }
            if now >= deadline {
                host.metric("lock", &[("result", "timed_out")]);
                span.end(
                    host,
                    trace::kind::LOCK,
                    || format!("{name} timed out"),
                    None,
                    || Some(serde_json::json!({ "wait_ms": wait_ms })),
                );
                return Ok(None);
            }
            waited = true;
            host.sleep_ms((pause + host.random_u64() % (pause + 1)).min(deadline - now));
            pause = (pause * 2).min(100);
        }
    }

    /// Make sure the lease is still ours and has most of its time left: renews it once a
    /// quarter of its lifetime has passed. `Ok(false)` when it was lost (expired and maybe
    /// taken): the holder must not write under it.
    pub fn keep(&mut self) -> Result<bool, ToolError> {
        let now = self.host.now_ms();
        if now.saturating_sub(self.renewed_at_ms) < self.ttl_ms / 4 {
            return Ok(true);
        }
        let held = self
            .host
            .lock_renew(&self.name, &self.owner, self.ttl_ms)
            .map_err(lock_err)?;
        if held {
            self.renewed_at_ms = now;
        }
        Ok(held)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Release-if-owner: a lease that expired and was taken by someone else stays theirs.
        let _ = self.host.lock_release(&self.name, &self.owner);
        let name = &self.name;
        self.held.end(
            self.host,
            trace::kind::LOCK,
            || format!("{name} held"),
            None,
            || None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;

    #[test]
    fn one_holder_at_a_time_and_release_frees_it() {
        let host = ScriptedHost::configured();
        let a = Lease::acquire(&host, "x", 1_000, 0).unwrap().unwrap();
        assert!(Lease::acquire(&host, "x", 1_000, 0).unwrap().is_none());
        assert!(Lease::acquire(&host, "y", 1_000, 0).unwrap().is_some());
        drop(a);
        assert!(Lease::acquire(&host, "x", 1_000, 0).unwrap().is_some());
    }

    #[test]
    fn a_waiter_gets_the_lock_when_the_dead_holders_lease_expires() {
        let host = ScriptedHost::configured();
        let dead = Lease::acquire(&host, "x", 1_000, 0).unwrap().unwrap();
        std::mem::forget(dead); // the holder crashed: no release
        let waiter = Lease::acquire(&host, "x", 1_000, 5_000).unwrap();
        assert!(waiter.is_some());
        let waited: u64 = host.sleeps.borrow().iter().sum();
        assert!((1_000..2_000).contains(&waited), "waited {waited} ms");
    }

    #[test]
    fn a_late_holder_neither_renews_nor_releases_the_next_holders_lock() {
        let host = ScriptedHost::configured();
        let mut slow = Lease::acquire(&host, "x", 1_000, 0).unwrap().unwrap();
        host.now.set(host.now.get() + 1_500); // slow's lease expired
        let next = Lease::acquire(&host, "x", 1_000, 0).unwrap().unwrap();
        assert!(!slow.keep().unwrap(), "the expired lease is lost");
        drop(slow); // must not delete `next`'s lock
        assert_eq!(host.locks.borrow()["x"].0, next.owner);
        assert!(Lease::acquire(&host, "x", 1_000, 0).unwrap().is_none());
    }

    #[test]
    fn keep_renews_once_a_quarter_has_passed() {
        let host = ScriptedHost::configured();
        let mut lease = Lease::acquire(&host, "x", 1_000, 0).unwrap().unwrap();
        let expiry = || host.locks.borrow()["x"].1;
        let first = expiry();
        host.now.set(host.now.get() + 100);
        assert!(lease.keep().unwrap());
        assert_eq!(expiry(), first, "too early to renew");
        host.now.set(host.now.get() + 200);
        assert!(lease.keep().unwrap());
        assert_eq!(expiry(), host.now.get() + 1_000, "renewed");
        // Renewed in time, the lease outlives its first term.
        host.now.set(first + 200);
        assert!(Lease::acquire(&host, "x", 1_000, 0).unwrap().is_none());
    }
}
