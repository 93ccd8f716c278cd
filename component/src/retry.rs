//! Retry schedules for reads: 429 waits what OrderDesk asks; 5xx and network failures back
//! off exponentially with jitter; at most `max_tries` attempts in all.

/// How one attempt ended, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// 429: OrderDesk's bucket is empty; it may say how long to wait (milliseconds).
    RateLimited { retry_after_ms: Option<u64> },
    /// 5xx.
    ServerError,
    /// No response at all.
    Network,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this many milliseconds, then try again.
    RetryAfter(u64),
    /// Stop and report the failure.
    GiveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_tries: u32,
    /// First back-off step for 5xx and network errors.
    pub base_ms: u64,
    /// Ceiling for one back-off step.
    pub max_backoff_ms: u64,
    /// The longest `X-Retry-After` we are willing to sleep through inside one tool call;
    /// beyond it the call fails with `OD_API_429` and the caller decides.
    pub max_retry_after_ms: u64,
    /// Attempts in all when every failure is a 429 (which OrderDesk answers before doing
    /// anything, so even writes may repeat); `None` means `max_tries`.
    pub rate_limit_tries: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_tries: 3,
            base_ms: 250,
            max_backoff_ms: 4_000,
            max_retry_after_ms: 10_000,
            rate_limit_tries: None,
        }
    }
}

impl RetryPolicy {
    /// Decide after attempt number `tries_done` (1-based) failed with `attempt`.
    /// `entropy` is any random number; it only spreads the back-off.
    pub fn decide(&self, tries_done: u32, attempt: Attempt, entropy: u64) -> Decision {
        let limit = match attempt {
            Attempt::RateLimited { .. } => self.rate_limit_tries.unwrap_or(self.max_tries),
            _ => self.max_tries,
        };
        if tries_done >= limit {
            return Decision::GiveUp;
        }
        match attempt {
            Attempt::RateLimited { retry_after_ms } => {
                // Without a hint, one second is roughly three refilled tokens.
                let wait = retry_after_ms.unwrap_or(1_000);
                if wait > self.max_retry_after_ms {
                    Decision::GiveUp
                } else {
                    Decision::RetryAfter(wait)
                }
            }
            Attempt::ServerError | Attempt::Network => {
                Decision::RetryAfter(self.backoff(tries_done, entropy))
            }
        }
    }

    /// The same policy, allowing `tries` attempts for 429s.
    pub fn with_rate_limit_retries(self, tries: u32) -> Self {
        Self {
            rate_limit_tries: Some(tries),
            ..self
        }
    }

    /// "Equal jitter": half the exponential step is fixed, the other half random, so waits
    /// grow with each try yet concurrent clients do not retry in lockstep.
    pub fn backoff(&self, tries_done: u32, entropy: u64) -> u64 {
        let exp = self
            .base_ms
            .saturating_mul(1u64 << (tries_done.saturating_sub(1)).min(20))
            .min(self.max_backoff_ms);
        let half = exp / 2;
        half + if half == 0 { 0 } else { entropy % (half + 1) }
    }
}

/// Parse OrderDesk's `X-Retry-After` (or the standard `Retry-After`) seconds into ms.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_jitter_bounds() {
        let p = RetryPolicy::default();
        for entropy in [0, 1, 7, 99, u64::MAX] {
            let first = p.backoff(1, entropy);
            let second = p.backoff(2, entropy);
            assert!((125..=250).contains(&first), "first {first}");
            assert!((250..=500).contains(&second), "second {second}");
        }
        assert_eq!(p.backoff(1, 0), 125);
        assert_eq!(p.backoff(1, 125), 250);
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy::default();
        for tries in [6, 10, 40, u32::MAX] {
            assert!(p.backoff(tries, u64::MAX) <= p.max_backoff_ms);
        }
    }

    #[test]
    fn three_tries_then_give_up() {
        let p = RetryPolicy::default();
        assert!(matches!(
            p.decide(1, Attempt::ServerError, 3),
            Decision::RetryAfter(_)
        ));
        assert!(matches!(
            p.decide(2, Attempt::Network, 3),
            Decision::RetryAfter(_)
        ));
        assert_eq!(p.decide(3, Attempt::ServerError, 3), Decision::GiveUp);
    }

    #[test]
    fn rate_limit_waits_what_orderdesk_asks() {
        let p = RetryPolicy::default();
        let limited = Attempt::RateLimited {
            retry_after_ms: Some(2_000),
        };
        assert_eq!(p.decide(1, limited, 12345), Decision::RetryAfter(2_000));
        let no_hint = Attempt::RateLimited {
            retry_after_ms: None,
        };
        assert_eq!(p.decide(1, no_hint, 0), Decision::RetryAfter(1_000));
    }

    #[test]
    fn rate_limit_longer_than_allowed_gives_up() {
        let p = RetryPolicy::default();
        let long = Attempt::RateLimited {
            retry_after_ms: Some(60_000),
        };
        assert_eq!(p.decide(1, long, 0), Decision::GiveUp);
    }

    #[test]
    fn writes_retry_only_rate_limits() {
        let p = RetryPolicy {
            max_tries: 1,
            ..RetryPolicy::default()
        }
        .with_rate_limit_retries(3);
        assert_eq!(p.decide(1, Attempt::ServerError, 0), Decision::GiveUp);
        assert_eq!(p.decide(1, Attempt::Network, 0), Decision::GiveUp);
        let limited = Attempt::RateLimited {
            retry_after_ms: Some(500),
        };
        assert_eq!(p.decide(1, limited, 0), Decision::RetryAfter(500));
        assert_eq!(p.decide(3, limited, 0), Decision::GiveUp);
    }

    #[test]
    fn retry_after_header_parsing() {
        assert_eq!(parse_retry_after("2"), Some(2_000));
        assert_eq!(parse_retry_after(" 0.5 "), Some(500));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
    }
}
