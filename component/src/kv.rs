//! JSON records and append-only lists over `wasi:keyvalue`, correct with many concurrent
//! callers using only `get`/`set`/`delete`/`increment`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host, KvError};

pub fn kv_err(e: KvError) -> ToolError {
    ToolError::new(
        ErrorCode::StateUnavailable,
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
