//! Console sign-ins, kept in the state backend so they survive a restart and work on every
//! instance that shares it.
//!
//! The browser holds a 256-bit random token in an `HttpOnly`, `SameSite=Strict` cookie
//! (`Secure`, under the `__Host-` prefix, when the public URL is https). The backend holds
//! only the token's SHA-256 as the record's name, and in the record: who signed in, when it
//! ends, the session's CSRF token and, once the tenant has given it, the tenant's master key
//! sealed with AES-256-GCM under a key derived from the cookie's token (HKDF-SHA256). So the
//! state store alone never yields a master key, and a session signed in by an e-mailed link
//! can read but must be unlocked with the key before it acts on a store.
//!
//! Each tenant keeps at most [`MAX_PER_TENANT`] sessions (the oldest go first), and every
//! one of them can be ended at once ([`Sessions::end_all`]): when the tenant is disabled,
//! deleted or its key rotated.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::state::{Backend, Bucket, Keep, StateError};

/// Sessions one tenant (or the operator) may hold at once.
pub const MAX_PER_TENANT: usize = 10;

const STATE: Bucket = Bucket {
    name: "state",
    keep: Keep::Durable,
};

/// Who a session is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    Tenant { id: String },
    Operator,
}

impl Principal {
    /// The index the principal's sessions are listed under.
    fn index_key(&self) -> String {
        match self {
            Principal::Tenant { id } => format!("console/sessions/tenant/{id}"),
            Principal::Operator => "console/sessions/operator".to_string(),
        }
    }
}

/// A session record as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    principal: Principal,
    csrf: String,
    created_ms: u64,
    expires_ms: u64,
    /// hex(nonce ‖ AES-256-GCM(master key)), under the cookie-derived key.
    #[serde(default)]
    sealed_key: Option<String>,
    /// For the operator: SHA-256 of the token it signed in with, so changing the token
    /// ends its sessions.
    #[serde(default)]
    operator_token: Option<String>,
}

/// A live session, read with its cookie.
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
    /// The tenant's master key, when the session has been given it.
    pub master_key: Option<String>,
    pub expires_ms: u64,
    token: String,
    operator_token: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("principal", &self.principal)
            .field("unlocked", &self.master_key.is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The cookie value; only for setting the cookie again.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The tenant's id, when it is a tenant's session.
    pub fn tenant(&self) -> Option<&str> {
        match &self.principal {
            Principal::Tenant { id } => Some(id),
            Principal::Operator => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("state store: {0}")]
    State(#[from] StateError),
    #[error("a session record could not be read or sealed")]
    Corrupt,
}

/// The sessions of this server.
pub struct Sessions {
    backend: std::sync::Arc<dyn Backend>,
    lifetime: Duration,
}

impl Sessions {
    pub fn new(backend: std::sync::Arc<dyn Backend>, lifetime: Duration) -> Self {
        Self { backend, lifetime }
    }

    /// How long a sign-in lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Start a session for `principal`; `master_key` is sealed into it when given. Returns
    /// the session with its fresh cookie token.
    pub async fn start(
        &self,
        principal: Principal,
        master_key: Option<&str>,
        operator_token: Option<&str>,
    ) -> Result<Session, SessionError> {
        let token = random_hex(32);
        let now = now_ms();
        let id = record_id(&token);
        let record = Record {
            principal: principal.clone(),
            csrf: random_hex(32),
            created_ms: now,
            expires_ms: now + self.lifetime.as_millis() as u64,
            sealed_key: master_key.map(|k| seal(&token, &id, k)).transpose()?,
            operator_token: operator_token.map(sha256_hex),
        };
        self.write(&id, &record).await?;
        self.index_add(&principal, &id).await?;
        Ok(Session {
            principal,
            csrf: record.csrf,
            master_key: master_key.map(str::to_string),
            expires_ms: record.expires_ms,
            token,
            operator_token: record.operator_token,
        })
    }

    /// The live session `token` names, if any (an expired one is deleted).
    pub async fn open(&self, token: &str) -> Result<Option<Session>, SessionError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let id = record_id(token);
        let Some(bytes) = self.backend.get(STATE, &id).await? else {
            return Ok(None);
        };
        let record: Record = serde_json::from_slice(&bytes).map_err(|_| SessionError::Corrupt)?;
        if record.expires_ms <= now_ms() {
            self.backend.delete(STATE, &id).await?;
            return Ok(None);
        }
        let master_key = match &record.sealed_key {
            Some(sealed) => Some(unseal(token, &id, sealed)?),
            None => None,
        };
        Ok(Some(Session {
            principal: record.principal,
            csrf: record.csrf,
            master_key,
            expires_ms: record.expires_ms,
            token: token.to_string(),
            operator_token: record.operator_token,
        }))
    }

    /// Whether an operator session was started with `token` (the one configured now).
    pub fn operator_token_matches(session: &Session, token: &str) -> bool {
        session.operator_token.as_deref().is_some_and(|h| {
            orderdesk_mcp_shapes::constant_time_eq(h.as_bytes(), sha256_hex(token).as_bytes())
        })
    }

    /// Seal `master_key` into the session (unlock), or remove it (`None`).
    pub async fn set_key(
        &self,
        session: &Session,
        master_key: Option<&str>,
    ) -> Result<(), SessionError> {
        let id = record_id(&session.token);
        let Some(bytes) = self.backend.get(STATE, &id).await? else {
            return Ok(());
        };
        let mut record: Record =
            serde_json::from_slice(&bytes).map_err(|_| SessionError::Corrupt)?;
        record.sealed_key = master_key
            .map(|k| seal(&session.token, &id, k))
            .transpose()?;
        self.write(&id, &record).await
    }

    /// End one session (sign out).
    pub async fn end(&self, session: &Session) -> Result<(), SessionError> {
        self.backend
            .delete(STATE, &record_id(&session.token))
            .await?;
        Ok(())
    }

    /// End every session of `principal` but `keep` (its record id's token).
    pub async fn end_all(
        &self,
        principal: &Principal,
        keep: Option<&Session>,
    ) -> Result<(), SessionError> {
        let kept = keep.map(|s| record_id(&s.token));
        let index = self.index(principal).await?;
        for (id, _) in &index {
            if Some(id) != kept.as_ref() {
                self.backend.delete(STATE, id).await?;
            }
        }
        let left: Vec<(String, u64)> = index
            .into_iter()
            .filter(|(id, _)| Some(id) == kept.as_ref())
            .collect();
        self.write_index(principal, &left).await
    }

    async fn write(&self, id: &str, record: &Record) -> Result<(), SessionError> {
        let bytes = serde_json::to_vec(record).map_err(|_| SessionError::Corrupt)?;
        self.backend.set(STATE, id, bytes).await?;
        Ok(())
    }

    async fn index(&self, principal: &Principal) -> Result<Vec<(String, u64)>, SessionError> {
        Ok(
            match self.backend.get(STATE, &principal.index_key()).await? {
                Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                None => Vec::new(),
            },
        )
    }

    async fn write_index(
        &self,
        principal: &Principal,
        index: &[(String, u64)],
    ) -> Result<(), SessionError> {
        let bytes = serde_json::to_vec(index).map_err(|_| SessionError::Corrupt)?;
        self.backend
            .set(STATE, &principal.index_key(), bytes)
            .await?;
        Ok(())
    }

    /// List `id` under its principal; past [`MAX_PER_TENANT`], the oldest sessions end.
    async fn index_add(&self, principal: &Principal, id: &str) -> Result<(), SessionError> {
        let mut index = self.index(principal).await?;
        let now = now_ms();
        index.push((id.to_string(), now));
        // Drop the ones that have ended by themselves (their record is gone or expired).
        let mut live = Vec::with_capacity(index.len());
        for (sid, created) in index {
            let alive = created + self.lifetime.as_millis() as u64 > now
                && self.backend.exists(STATE, &sid).await?;
            if alive {
                live.push((sid, created));
            }
        }
        while live.len() > MAX_PER_TENANT {
            let (oldest, _) = live.remove(0);
            self.backend.delete(STATE, &oldest).await?;
        }
        self.write_index(principal, &live).await
    }
}

fn record_id(token: &str) -> String {
    format!("console/session/{}", sha256_hex(token))
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    hex::encode(bytes)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn cipher(token: &str) -> Aes256Gcm {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"orderdesk-mcp console session"), token.as_bytes());
    let mut key = [0u8; 32];
    hk.expand(b"master key seal v1", &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(&key.into())
}

fn seal(token: &str, record: &str, master_key: &str) -> Result<String, SessionError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|_| SessionError::Corrupt)?;
    let sealed = cipher(token)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: master_key.as_bytes(),
                aad: record.as_bytes(),
            },
        )
        .map_err(|_| SessionError::Corrupt)?;
    Ok(hex::encode([nonce.as_slice(), &sealed].concat()))
}

fn unseal(token: &str, record: &str, sealed: &str) -> Result<String, SessionError> {
    let bytes = hex::decode(sealed).map_err(|_| SessionError::Corrupt)?;
    if bytes.len() < 12 + 16 {
        return Err(SessionError::Corrupt);
    }
    let (nonce, body) = bytes.split_at(12);
    let plain = cipher(token)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: record.as_bytes(),
            },
        )
        .map_err(|_| SessionError::Corrupt)?;
    String::from_utf8(plain).map_err(|_| SessionError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Layout;
    use crate::state::memory::MemoryState;

    fn sessions() -> (Sessions, std::sync::Arc<dyn Backend>) {
        let backend: std::sync::Arc<dyn Backend> = std::sync::Arc::new(MemoryState::new(layout()));
        (
            Sessions::new(backend.clone(), Duration::from_secs(3600)),
            backend,
        )
    }

    fn layout() -> Layout {
        let d = Duration::from_secs(60);
        Layout::new(d, d, d, 100)
    }

    fn tenant(id: &str) -> Principal {
        Principal::Tenant { id: id.into() }
    }

    #[tokio::test]
    async fn a_session_opens_with_its_cookie_only_and_the_store_never_holds_the_key() {
        let (s, backend) = sessions();
        let key = "odmk_0123456789abcdef_secretsecretsecret";
        let started = s.start(tenant("t1"), Some(key), None).await.unwrap();
        let opened = s.open(started.token()).await.unwrap().unwrap();
        assert_eq!(opened.principal, tenant("t1"));
        assert_eq!(opened.master_key.as_deref(), Some(key));
        assert_eq!(opened.csrf, started.csrf);
        // A different token of the right form opens nothing.
        let other = random_hex(32);
        assert!(s.open(&other).await.unwrap().is_none());
        assert!(s.open("short").await.unwrap().is_none());
        // Nothing in the store holds the key or the cookie token.
        let keys = backend.list_keys(STATE, 0, 100).await.unwrap();
        for k in keys {
            let v = backend.get(STATE, &k).await.unwrap().unwrap();
            let v = String::from_utf8_lossy(&v);
            assert!(
                !v.contains("secretsecret") && !k.contains(started.token()),
                "{k}: {v}"
            );
            assert!(!v.contains(started.token()), "{k}");
        }
    }

    #[tokio::test]
    async fn a_record_moved_to_another_cookie_does_not_unseal() {
        let (s, backend) = sessions();
        let a = s.start(tenant("t1"), Some("key-a"), None).await.unwrap();
        let b = s.start(tenant("t1"), None, None).await.unwrap();
        // Copy A's record over B's: B's cookie cannot open A's sealed key.
        let ra = backend
            .get(STATE, &record_id(a.token()))
            .await
            .unwrap()
            .unwrap();
        backend.set(STATE, &record_id(b.token()), ra).await.unwrap();
        assert!(matches!(
            s.open(b.token()).await,
            Err(SessionError::Corrupt)
        ));
    }

    #[tokio::test]
    async fn sessions_end_one_by_one_all_at_once_and_past_the_cap() {
        let (s, _) = sessions();
        let first = s.start(tenant("t1"), None, None).await.unwrap();
        let mut later = Vec::new();
        for _ in 0..MAX_PER_TENANT {
            later.push(s.start(tenant("t1"), None, None).await.unwrap());
        }
        assert!(
            s.open(first.token()).await.unwrap().is_none(),
            "the oldest went"
        );
        let other = s.start(tenant("t2"), None, None).await.unwrap();
        s.end_all(&tenant("t1"), Some(&later[0])).await.unwrap();
        assert!(s.open(later[0].token()).await.unwrap().is_some(), "kept");
        assert!(s.open(later[1].token()).await.unwrap().is_none());
        assert!(
            s.open(other.token()).await.unwrap().is_some(),
            "another tenant's"
        );
        s.end(&later[0]).await.unwrap();
        assert!(s.open(later[0].token()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_expired_session_is_gone() {
        let backend: std::sync::Arc<dyn Backend> = std::sync::Arc::new(MemoryState::new(layout()));
        let s = Sessions::new(backend, Duration::from_millis(1));
        let started = s.start(tenant("t1"), None, None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(s.open(started.token()).await.unwrap().is_none());
    }
}
