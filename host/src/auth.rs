//! Who an HTTP request comes from: `Authorization: Bearer <key>` on every request.
//!
//! With tenants, the key is a tenant master key. The component verifies it (Argon2id, slow
//! on purpose) once; the answer is then remembered for [`REMEMBER_FOR`] under a keyed hash
//! of the key (HMAC-SHA256 with a secret drawn at start-up, never the key itself), so later
//! requests cost one hash and a map lookup. Wrong keys are remembered too, briefly, so
//! repeating one does not buy an Argon2 run each time. In single-store mode the bearer is
//! the operator's `--auth-token`, compared in constant time; without one (allowed on a
//! loopback address only) requests need no bearer.

use std::collections::HashMap;
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
        })
    }

    /// The principal of a request with this `Authorization` header value.
    pub async fn check(&self, authorization: Option<&str>) -> Result<Principal, Refusal> {
        let bearer = authorization.map(bearer_of).transpose()?;
        match (&self.mode, bearer) {
            (Mode::Token(None), _) => Ok(single_store()),
            (Mode::Token(Some(_)), None) | (Mode::Tenants, None) => {
                crate::metrics::get().auth("missing");
                Err(Refusal::Missing)
            }
            (Mode::Token(Some(token)), Some(given)) => {
                if constant_time_eq(token.as_bytes(), given.as_bytes()) {
                    Ok(single_store())
                } else {
                    crate::metrics::get().auth("invalid");
                    Err(Refusal::Invalid)
                }
            }
            (Mode::Tenants, Some(key)) => self.tenant(key).await,
        }
    }

    async fn tenant(&self, key: &str) -> Result<Principal, Refusal> {
        let fingerprint = self.fingerprint(key);
        let principal = |tenant: String| Principal {
            credential: Some(key.to_string()),
            tenant: Some(tenant),
        };
        if let Some(known) = self.recall(&fingerprint) {
            crate::metrics::get().auth("cached");
            return known.map(principal).ok_or(Refusal::Invalid);
        }
        match self.runtime.tenant_authenticate(key).await {
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

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 6750).
fn bearer_of(header: &str) -> Result<&str, Refusal> {
    let (scheme, token) = header.trim().split_once(' ').ok_or(Refusal::Invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Refusal::Invalid);
    }
    Ok(token)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The tenant id a master key names (`odmk_<id>_<secret>`): not secret, fine for logs.
pub fn tenant_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("odmk_")?;
    let (id, _) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
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
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn tenant_ids_come_from_well_formed_keys_only() {
        let key = format!("odmk_{}_{}", "0123456789abcdef", "f".repeat(64));
        assert_eq!(tenant_of_key(&key), Some("0123456789abcdef"));
        assert_eq!(tenant_of_key("odmk_short_x"), None);
        assert_eq!(tenant_of_key("Bearer x"), None);
    }
}
