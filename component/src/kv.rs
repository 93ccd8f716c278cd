//! Small structures over `wasi:keyvalue` that stay correct with many concurrent callers and
//! only `get`/`set`/`delete`/`increment`: append-only lists and leased locks.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host, KvError};

pub fn kv_err(e: KvError) -> ToolError {
    ToolError::new(
        ErrorCode::Internal,
        format!("state storage failed: {}", e.0),
    )
}

pub fn get_json<T: DeserializeOwned>(
    host: &dyn Host,
    bucket: Bucket,
    key: &str,
) -> Result<Option<T>, ToolError> {
    match host.kv_get(bucket, key).map_err(kv_err)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ToolError::new(
                ErrorCode::Internal,
                format!("unreadable state record {key}: {e}"),
            )
        }),
    }
}

pub fn set_json<T: Serialize>(
    host: &dyn Host,
    bucket: Bucket,
    key: &str,
    value: &T,
) -> Result<(), ToolError> {
    let bytes = serde_json::to_vec(value).expect("state records always serialize");
    host.kv_set(bucket, key, &bytes).map_err(kv_err)
}

/// A list whose appends never lose each other: each append takes a slot number from an
/// atomic counter. Entries are strings; removal blanks a slot.
pub struct AppendList<'a> {
    host: &'a dyn Host,
    name: String,
}

impl<'a> AppendList<'a> {
    pub fn new(host: &'a dyn Host, name: impl Into<String>) -> Self {
        Self {
            host,
            name: name.into(),
        }
    }

    pub fn push(&self, value: &str) -> Result<(), ToolError> {
        let slot = self
            .host
            .kv_increment(Bucket::State, &format!("{}/n", self.name), 1)
            .map_err(kv_err)?;
        self.host
            .kv_set(
                Bucket::State,
                &format!("{}/{slot}", self.name),
                value.as_bytes(),
            )
            .map_err(kv_err)
    }

    /// Distinct live entries, oldest first.
    pub fn items(&self) -> Result<Vec<String>, ToolError> {
        let n = self
            .host
            .kv_increment(Bucket::State, &format!("{}/n", self.name), 0)
            .map_err(kv_err)?;
        let mut out: Vec<String> = Vec::new();
        for slot in 1..=n {
            if let Some(bytes) = self
                .host
                .kv_get(Bucket::State, &format!("{}/{slot}", self.name))
                .map_err(kv_err)?
            {
                let value = String::from_utf8_lossy(&bytes).into_owned();
                if !value.is_empty() && !out.contains(&value) {
                    out.push(value);
                }
            }
        }
        Ok(out)
    }

    /// Blank every slot holding `value`.
    pub fn remove(&self, value: &str) -> Result<(), ToolError> {
        let n = self
            .host
            .kv_increment(Bucket::State, &format!("{}/n", self.name), 0)
            .map_err(kv_err)?;
        for slot in 1..=n {
            let key = format!("{}/{slot}", self.name);
            if self
                .host
                .kv_get(Bucket::State, &key)
                .map_err(kv_err)?
                .as_deref()
                == Some(value.as_bytes())
            {
                self.host.kv_delete(Bucket::State, &key).map_err(kv_err)?;
            }
        }
        Ok(())
    }

    /// Forget the whole list.
    pub fn clear(&self) -> Result<(), ToolError> {
        let n = self
            .host
            .kv_increment(Bucket::State, &format!("{}/n", self.name), 0)
            .map_err(kv_err)?;
        for slot in 1..=n {
            self.host
                .kv_delete(Bucket::State, &format!("{}/{slot}", self.name))
                .map_err(kv_err)?;
        }
        self.host
            .kv_delete(Bucket::State, &format!("{}/n", self.name))
            .map_err(kv_err)
    }
}

/// A lock shared by every instance and host on the same state store. Taking it is an
/// atomic increment (the caller that moves the counter from 0 to 1 holds it); a lease
/// lets waiters break a lock whose holder died.
pub struct Lease<'a> {
    host: &'a dyn Host,
    key: String,
}

const LEASE_MS: u64 = 15_000;

impl<'a> Lease<'a> {
    /// Wait up to `wait_ms` for the lock named `name`.
    pub fn acquire(
        host: &'a dyn Host,
        name: &str,
        wait_ms: u64,
    ) -> Result<Option<Self>, ToolError> {
        let key = format!("lock/{name}");
        let lease_key = format!("{key}/lease");
        let deadline = host.now_ms() + wait_ms;
        let mut pause = 5;
        loop {
            let n = host.kv_increment(Bucket::State, &key, 1).map_err(kv_err)?;
            if n == 1 {
                let expires = host.now_ms() + LEASE_MS;
                host.kv_set(Bucket::State, &lease_key, expires.to_string().as_bytes())
                    .map_err(kv_err)?;
                return Ok(Some(Self { host, key }));
            }
            let lease: Option<u64> = host
                .kv_get(Bucket::State, &lease_key)
                .map_err(kv_err)?
                .and_then(|b| String::from_utf8_lossy(&b).parse().ok());
            if lease.is_some_and(|expires| host.now_ms() > expires) {
                // The holder died: break the lock, then compete for it again.
                host.kv_delete(Bucket::State, &lease_key).map_err(kv_err)?;
                host.kv_delete(Bucket::State, &key).map_err(kv_err)?;
                continue;
            }
            if host.now_ms() >= deadline {
                return Ok(None);
            }
            host.sleep_ms(pause + host.random_u64() % (pause + 1));
            pause = (pause * 2).min(50);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let _ = self
            .host
            .kv_delete(Bucket::State, &format!("{}/lease", self.key));
        let _ = self.host.kv_delete(Bucket::State, &self.key);
    }
}
