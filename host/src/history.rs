//! A short history of this process's counters per tenant, for the console's dashboard: the
//! same events `/metrics` counts (tool calls by outcome with their latency, cache hits and
//! misses, upstream requests and 429s received, requests held back by the upstream bucket,
//! webhook deliveries, sync runs), recorded at the same places, kept per minute for the last
//! hour and per hour for the last day.
//!
//! Bounded: at most [`MAX_TENANTS`] series (the least recently active goes first), each a
//! fixed ring of 60 + 24 slots. It is this instance's view; with several instances each
//! shows its own (`/metrics` is per instance too).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Series kept at once.
pub const MAX_TENANTS: usize = 1_000;
/// The series of events that belong to no tenant (webhook deliveries as they arrive).
pub const SERVER: &str = "";

/// Upper bounds (ms) of the latency histogram's buckets; the last catches the rest.
const LATENCY_BOUNDS_MS: [u64; 13] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000,
];

/// One slot's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub calls_ok: u64,
    pub calls_failed: u64,
    pub latency: [u64; LATENCY_BOUNDS_MS.len() + 1],
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub upstream: u64,
    pub upstream_429: u64,
    pub throttled: u64,
    pub webhooks: u64,
    pub sync_runs: u64,
}

impl Counts {
    /// Add `other`'s counts to these.
    pub fn add(&mut self, other: &Counts) {
        self.calls_ok += other.calls_ok;
        self.calls_failed += other.calls_failed;
        for (a, b) in self.latency.iter_mut().zip(other.latency) {
            *a += b;
        }
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
        self.upstream += other.upstream;
        self.upstream_429 += other.upstream_429;
        self.throttled += other.throttled;
        self.webhooks += other.webhooks;
        self.sync_runs += other.sync_runs;
    }

    /// The latency (ms) under which `q` of the calls answered: the upper bound of the
    /// histogram bucket it falls in. `None` without calls.
    pub fn percentile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(
                    LATENCY_BOUNDS_MS
                        .get(i)
                        .copied()
                        .unwrap_or(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1] * 2),
                );
            }
        }
        None
    }

    pub fn calls(&self) -> u64 {
        self.calls_ok + self.calls_failed
    }
}

/// A ring of `N` slots of `width` each.
#[derive(Debug, Clone)]
struct Ring<const N: usize> {
    /// The slot index (time / width) each slot holds.
    at: [u64; N],
    counts: Box<[Counts; N]>,
}

impl<const N: usize> Ring<N> {
    fn new() -> Self {
        Self {
            at: [u64::MAX; N],
            counts: Box::new(std::array::from_fn(|_| Counts::default())),
        }
    }

    fn slot(&mut self, index: u64) -> &mut Counts {
        let i = (index % N as u64) as usize;
        if self.at[i] != index {
            self.at[i] = index;
            self.counts[i] = Counts::default();
        }
        &mut self.counts[i]
    }

    /// The `N` slots ending at `last`, oldest first (missing ones empty).
    fn window(&self, last: u64) -> Vec<(u64, Counts)> {
        (0..N as u64)
            .rev()
            .filter_map(|back| last.checked_sub(back))
            .map(|index| {
                let i = (index % N as u64) as usize;
                let counts = if self.at[i] == index {
                    self.counts[i].clone()
                } else {
                    Counts::default()
                };
                (index, counts)
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Series {
    minutes: Ring<60>,
    hours: Ring<24>,
    last_seen: u64,
}

/// One chart's points: (start of the slot, ms since the epoch; its counts).
pub type Points = Vec<(u64, Counts)>;

#[derive(Default)]
pub struct History {
    series: Mutex<HashMap<Arc<str>, Series>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl History {
    /// Count one event for `tenant` now.
    pub fn record(&self, tenant: &str, event: impl FnOnce(&mut Counts)) {
        self.record_at(tenant, now_ms(), event);
    }

    fn record_at(&self, tenant: &str, at_ms: u64, event: impl FnOnce(&mut Counts)) {
        let mut one = Counts::default();
        event(&mut one);
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        // The common case, a known series, allocates nothing.
        if let Some(s) = series.get_mut(tenant) {
            s.last_seen = at_ms;
            s.minutes.slot(at_ms / 60_000).add(&one);
            s.hours.slot(at_ms / 3_600_000).add(&one);
            return;
        }
        if series.len() >= MAX_TENANTS {
            // The least recently active series makes room.
            if let Some(oldest) = series
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
            {
                series.remove(&oldest);
            }
        }
        let s = series.entry(Arc::from(tenant)).or_insert_with(|| Series {
            minutes: Ring::new(),
            hours: Ring::new(),
            last_seen: at_ms,
        });
        s.last_seen = at_ms;
        s.minutes.slot(at_ms / 60_000).add(&one);
        s.hours.slot(at_ms / 3_600_000).add(&one);
    }

    /// The last hour per minute and the last day per hour, summed over `tenants` (every
    /// series, the server's own included, when `None`).
    pub fn window(&self, tenants: Option<&[&str]>) -> (Points, Points) {
        self.window_at(tenants, now_ms())
    }

    fn window_at(&self, tenants: Option<&[&str]>, at_ms: u64) -> (Points, Points) {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut minutes: Points = Vec::new();
        let mut hours: Points = Vec::new();
        let picked: Vec<&Series> = match tenants {
            Some(ids) => ids.iter().filter_map(|id| series.get(*id)).collect(),
            None => series.values().collect(),
        };
        let empty = Series {
            minutes: Ring::new(),
            hours: Ring::new(),
            last_seen: 0,
        };
        for (i, s) in picked.into_iter().chain([&empty]).enumerate() {
            let m = s.minutes.window(at_ms / 60_000);
            let h = s.hours.window(at_ms / 3_600_000);
            if i == 0 {
                minutes = m;
                hours = h;
            } else {
                for (a, (_, b)) in minutes.iter_mut().zip(m) {
                    a.1.add(&b);
                }
                for (a, (_, b)) in hours.iter_mut().zip(h) {
                    a.1.add(&b);
                }
            }
        }
        let scale = |points: Points, width: u64| {
            points
                .into_iter()
                .map(|(index, c)| (index * width, c))
                .collect()
        };
        (scale(minutes, 60_000), scale(hours, 3_600_000))
    }

    /// Calls `tenant` made since midnight UTC.
    pub fn calls_today(&self, tenant: &str) -> u64 {
        let now = now_ms();
        let midnight = now - now % 86_400_000;
        let (_, hours) = self.window_at(Some(&[tenant]), now);
        hours
            .iter()
            .filter(|(at, _)| *at >= midnight)
            .map(|(_, c)| c.calls())
            .sum()
    }
}

/// The process's history.
pub fn get() -> &'static History {
    static HISTORY: LazyLock<History> = LazyLock::new(History::default);
    &HISTORY
}

/// A tool call's latency as a histogram count.
pub fn latency(counts: &mut Counts, elapsed: Duration) {
    let ms = elapsed.as_millis() as u64;
    let i = LATENCY_BOUNDS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(LATENCY_BOUNDS_MS.len());
    counts.latency[i] += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_land_in_their_minute_and_hour_and_old_ones_fall_out() {
        let h = History::default();
        let t0 = 490_000 * 3_600_000;
        h.record_at("a", t0, |c| c.calls_ok += 1);
        h.record_at("a", t0 + 61_000, |c| c.calls_failed += 1);
        h.record_at("b", t0, |c| c.calls_ok += 5);
        let (m, hours) = h.window_at(Some(&["a"]), t0 + 61_000);
        assert_eq!(m.len(), 60);
        assert_eq!(m[59].1.calls_failed, 1);
        assert_eq!(m[58].1.calls_ok, 1);
        assert_eq!(m[59].0, t0 + 60_000, "slot start");
        assert_eq!(hours[23].1.calls(), 2, "b is not a's");
        let (m, _) = h.window_at(None, t0 + 61_000);
        assert_eq!(m[58].1.calls_ok, 6, "every tenant");
        // An hour later the minute slots are empty, the hour slot still counts.
        let (m, hours) = h.window_at(Some(&["a"]), t0 + 3_700_000);
        assert!(m.iter().all(|(_, c)| c.calls() == 0));
        assert_eq!(hours[22].1.calls(), 2);
        // A day later nothing is left.
        let (_, hours) = h.window_at(Some(&["a"]), t0 + 25 * 3_600_000);
        assert!(hours.iter().all(|(_, c)| c.calls() == 0));
    }

    #[test]
    fn a_reused_slot_starts_from_zero() {
        let h = History::default();
        h.record_at("a", 0, |c| c.upstream += 3);
        h.record_at("a", 60 * 60_000, |c| c.upstream += 1);
        let (m, _) = h.window_at(Some(&["a"]), 60 * 60_000);
        assert_eq!(m.iter().map(|(_, c)| c.upstream).sum::<u64>(), 1);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut c = Counts::default();
        for ms in [1, 1, 3, 3, 3, 40, 40, 40, 40, 900] {
            latency(&mut c, Duration::from_millis(ms));
        }
        assert_eq!(c.percentile_ms(0.5), Some(5), "the 5th of 10 is 3 ms");
        assert_eq!(c.percentile_ms(0.6), Some(50), "the 6th is 40 ms");
        assert_eq!(c.percentile_ms(0.95), Some(1_000));
        assert_eq!(Counts::default().percentile_ms(0.5), None);
    }

    #[test]
    fn the_number_of_series_is_bounded() {
        let h = History::default();
        for i in 0..MAX_TENANTS + 5 {
            h.record_at(&format!("t{i}"), i as u64, |c| c.calls_ok += 1);
        }
        assert_eq!(h.series.lock().unwrap().len(), MAX_TENANTS);
        assert!(
            !h.series.lock().unwrap().contains_key("t0"),
            "the oldest went"
        );
    }
}
