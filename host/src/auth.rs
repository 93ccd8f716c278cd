//! Who an HTTP request comes from: `Authorization: Bearer <key>` on every request.
//!
//! With tenants, the key is a tenant master key. The component verifies it (a keyed
//! SHA-256, since master keys are 256 random bits) in an instance of the auth lane, queued
//! under the tenant id the key names, so bad bearers never take the instances tool calls
//! use. The answer is then remembered for [`REMEMBER_FOR`] under a keyed hash of the key
//! (HMAC-SHA256 with a secret drawn at start-up, never the key itself), so later requests
//! cost one hash and a map lookup. Wrong keys are remembered too, briefly, and each client
//! address may fail only so often ([`FAILURES_BURST`], then one per
//! [`FAILURE_REFILL`]) before its unknown bearers are refused with 429 unchecked. In
//! single-store mode the bearer is the operator's `--auth-token`, compared in constant
//! time; without one (allowed on a loopback address only) requests need no bearer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::runtime::Runtime;

/// How long a verified master key is trusted before the component checks it again.
pub const REMEMBER_FOR: Duration = Duration::from_secs(300);
/// How long a refused key is refused without asking the component.
const REFUSE_FOR: Duration = Duration::from_secs(30);
/// Most keys remembered at once; beyond, expired entries go, then everything.
const MAX_REMEMBERED: usize = 10_000;
/// Failed bearer checks a client address may have before it must slow down.
pub const FAILURES_BURST: f64 = 20.0;
/// How often an address earns one more failed check.
pub const FAILURE_REFILL: Duration = Duration::from_secs(3);
/// Client addresses tracked at once; beyond, the ones that have fully recovered go first.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// The identity a request carries into the MCP handler (as a request extension).
#[derive(Clone)]
pub struct Principal {
    /// The master key to present as `caller.credential`; `None` in single-store mode.
    pub credential: Option<String>,
    /// The tenant's id, for logs and session isolation; `None` in single-store mode.
    pub tenant: Option<String>,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this server needs `Authorization: Bearer <key>`")]
    Missing,
    #[error("the bearer key is not valid")]
    Invalid,
    #[error("the key could not be checked right now; try again")]
    Unavailable,
    #[error("too many failed bearer checks from this address; retry in {0} s")]
    TooManyFailures(u64),
}

/// How requests are authenticated.
pub enum Mode {
    /// Bearer = tenant master key.
    Tenants,
    /// Single-store mode: bearer = this token, or no bearer at all when `None`.
    Token(Option<String>),
}

struct Remembered {
    tenant: Option<String>,
    until: Instant,
}

pub struct Authenticator {
    mode: Mode,
    runtime: Arc<Runtime>,
    secret: [u8; 32],
    remembered: Mutex<HashMap<[u8; 32], Remembered>>,
    failures: Mutex<Failures>,
}

/// Failed checks per client address: a token bucket each (tokens = failures allowed).
#[derive(Default)]
struct Failures {
    by_address: HashMap<IpAddr, (f64, Instant)>,
}

impl Failures {
    fn tokens(&mut self, ip: IpAddr, now: Instant) -> f64 {
        let (tokens, at) = self
            .by_address
            .get(&ip)
            .copied()
            .unwrap_or((FAILURES_BURST, now));
        let refilled =
            now.saturating_duration_since(at).as_secs_f64() / FAILURE_REFILL.as_secs_f64();
        (tokens + refilled).min(FAILURES_BURST)
    }

    /// Seconds until `ip` may fail again, or `None` when it may now.
    fn blocked(&mut self, ip: IpAddr, now: Instant) -> Option<u64> {
        let tokens = self.tokens(ip, now);
        (tokens < 1.0).then(|| ((1.0 - tokens) * FAILURE_REFILL.as_secs_f64()).ceil() as u64)
    }

    fn failed(&mut self, ip: IpAddr, now: Instant) {
        let tokens = self.tokens(ip, now) - 1.0;
        if self.by_address.len() >= MAX_TRACKED_ADDRESSES && !self.by_address.contains_key(&ip) {
            let full = Duration::from_secs_f64(FAILURES_BURST * FAILURE_REFILL.as_secs_f64());
            self.by_address
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < full);
            if self.by_address.len() >= MAX_TRACKED_ADDRESSES {
                self.by_address.clear();
            }
        }
        self.by_address.insert(ip, (tokens.max(0.0), now));
    }
}

impl Authenticator {
    pub fn new(mode: Mode, runtime: Arc<Runtime>) -> anyhow::Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Self {
            mode,
            runtime,
            secret,
            remembered: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
        })
    }

    /// The principal of a request with this `Authorization` header value, from `peer`.
    pub async fn check(
        &self,
        authorization: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<Principal, Refusal> {
        let bearer = authorization.map(bearer_of).transpose()?;
        let checked = self.check_bearer(bearer, peer).await;
        if let (Err(Refusal::Invalid), Some(ip)) = (&checked, peer) {
            self.failures().failed(ip, Instant::now());
        }
        checked
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn check_bearer(
        &self,
        bearer: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<Principal, Refusal> {
        match (&self.mode, bearer) {
            (Mode::Token(None), _) => Ok(single_store()),
            (Mode::Token(Some(_)), None) | (Mode::Tenants, None) => {
                crate::metrics::get().auth("missing");
                Err(Refusal::Missing)
            }
            (Mode::Token(Some(token)), Some(given)) => {
                if orderdesk_mcp_shapes::constant_time_eq(token.as_bytes(), given.as_bytes()) {
                    Ok(single_store())
                } else {
                    crate::metrics::get().auth("invalid");
                    Err(Refusal::Invalid)
                }
            }
            (Mode::Tenants, Some(key)) => self.tenant(key, peer).await,
        }
    }

    async fn tenant(&self, key: &str, peer: Option<IpAddr>) -> Result<Principal, Refusal> {
        let fingerprint = self.fingerprint(key);
        let principal = |tenant: String| Principal {
            credential: Some(key.to_string()),
            tenant: Some(tenant),
        };
        if let Some(known) = self.recall(&fingerprint) {
            crate::metrics::get().auth("cached");
            return known.map(principal).ok_or(Refusal::Invalid);
        }
        // A key not known good costs a check: only for addresses that have not failed
        // too often lately.
        if let Some(ip) = peer
            && let Some(wait) = self.failures().blocked(ip, Instant::now())
        {
            crate::metrics::get().auth("throttled");
            return Err(Refusal::TooManyFailures(wait));
        }
        let claimed = self.runtime.tenant_of_key(key).await;
        let claimed = claimed.as_deref().unwrap_or("-");
        match self.runtime.tenant_authenticate(key, claimed).await {
            Ok(Ok(info)) => {
                crate::metrics::get().auth("ok");
                self.remember(fingerprint, Some(info.id.clone()), REMEMBER_FOR);
                Ok(principal(info.id))
            }
            Ok(Err(e)) if e.code == "AUTH_REQUIRED" => {
                crate::metrics::get().auth("invalid");
                self.remember(fingerprint, None, REFUSE_FOR);
                Err(Refusal::Invalid)
            }
            // A real key of a disabled tenant: refused, and not remembered, so that
            // enabling the tenant again takes effect at once.
            Ok(Err(e)) if e.code == "TENANT_DISABLED" => {
                crate::metrics::get().auth("disabled");
                Err(Refusal::Invalid)
            }
            Ok(Err(e)) => {
                tracing::warn!(code = e.code, "checking a bearer key failed: {}", e.message);
                Err(Refusal::Unavailable)
            }
            Err(e) => {
                tracing::warn!("checking a bearer key failed in the sandbox: {e}");
                Err(Refusal::Unavailable)
            }
        }
    }

    fn fingerprint(&self, key: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(key.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// `Some(Some(tenant))` for a remembered good key, `Some(None)` for a remembered bad one.
    fn recall(&self, fingerprint: &[u8; 32]) -> Option<Option<String>> {
        let map = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        map.get(fingerprint)
            .filter(|r| r.until > Instant::now())
            .map(|r| r.tenant.clone())
    }

    fn remember(&self, fingerprint: [u8; 32], tenant: Option<String>, ttl: Duration) {
        let mut map = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_REMEMBERED {
            let now = Instant::now();
            map.retain(|_, r| r.until > now);
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
        }
        map.insert(
            fingerprint,
            Remembered {
                tenant,
                until: Instant::now() + ttl,
            },
        );
    }

    /// Forget every remembered check naming `tenant` (it was disabled, deleted or its key
    /// rotated): its next request is checked again.
    pub fn forget_tenant(&self, tenant: &str) {
        let mut map = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, r| r.tenant.as_deref() != Some(tenant));
    }

    /// Whether requests must carry a bearer (for `WWW-Authenticate` and start-up checks).
    pub fn required(&self) -> bool {
        !matches!(self.mode, Mode::Token(None))
    }
}

fn single_store() -> Principal {
    Principal {
        credential: None,
        tenant: None,
    }
}

/// The token of `Bearer <token>` ([`orderdesk_mcp_shapes::bearer`]), or `Invalid`.
pub(crate) fn bearer_of(header: &str) -> Result<&str, Refusal> {
    orderdesk_mcp_shapes::bearer(header).ok_or(Refusal::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing_follows_rfc_6750() {
        assert_eq!(bearer_of("Bearer abc"), Ok("abc"));
        assert_eq!(bearer_of("bearer   abc "), Ok("abc"));
        assert_eq!(bearer_of("Basic abc"), Err(Refusal::Invalid));
        assert_eq!(bearer_of("Bearer"), Err(Refusal::Invalid));
        assert_eq!(bearer_of("Bearer  "), Err(Refusal::Invalid));
    }

    #[test]
    fn an_address_that_keeps_failing_must_slow_down_and_recovers() {
        let mut f = Failures::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..FAILURES_BURST as usize {
            assert_eq!(f.blocked(ip, t0), None);
            f.failed(ip, t0);
        }
        let wait = f.blocked(ip, t0).expect("blocked after the burst");
        assert_eq!(wait, FAILURE_REFILL.as_secs());
        assert_eq!(f.blocked(other, t0), None, "addresses are counted apart");
        assert_eq!(f.blocked(ip, t0 + FAILURE_REFILL), None);
    }
}
