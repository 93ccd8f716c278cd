//! Tenants the component has told to slow down (`RATE_LIMITED`, retry in N ms), and until
//! when. The component's budget (in the state store) is the truth; this is the host
//! remembering its answer, so a client that keeps calling inside the advised wait is
//! answered here, without a sandbox instance or a state-store round trip for each call
//! (the soak's runaway tenant made ~2,000 refused calls a second, each costing a full
//! instance until this existed).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tenants remembered at once; past it, the ones whose wait is over go, then all.
const MAX_TENANTS: usize = 10_000;

/// The longest wait remembered, whatever the component said.
const LONGEST: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Throttle {
    until: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    /// How long `tenant` must still wait, if it must.
    pub fn remaining(&self, tenant: &str) -> Option<Duration> {
        let until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let left = until.get(tenant)?.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// The component refused a call of `tenant`: retry in `retry_after`.
    pub fn told(&self, tenant: &str, retry_after: Duration) {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if until.len() >= MAX_TENANTS && !until.contains_key(tenant) {
            until.retain(|_, t| *t > now);
            if until.len() >= MAX_TENANTS {
                until.clear();
            }
        }
        until.insert(tenant.to_string(), now + retry_after.min(LONGEST));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_waits_as_told_and_others_do_not() {
        let t = Throttle::default();
        assert_eq!(t.remaining("a"), None);
        t.told("a", Duration::from_millis(200));
        let left = t.remaining("a").expect("a must wait");
        assert!(left <= Duration::from_millis(200) && left > Duration::from_millis(100));
        assert_eq!(t.remaining("b"), None);
        std::thread::sleep(Duration::from_millis(220));
        assert_eq!(t.remaining("a"), None, "the wait is over");
    }

    #[test]
    fn waits_are_capped_and_the_map_stays_bounded() {
        let t = Throttle::default();
        t.told("a", Duration::from_secs(3600));
        assert!(t.remaining("a").unwrap() <= LONGEST);
        for i in 0..MAX_TENANTS + 10 {
            t.told(&format!("t{i}"), Duration::from_millis(1));
        }
        assert!(t.until.lock().unwrap().len() <= MAX_TENANTS);
    }
}
