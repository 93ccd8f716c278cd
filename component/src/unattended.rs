//! Store keys for work no tenant is connected for: background polling and webhook
//! verification.
//!
//! A tenant's store keys are sealed under its master key, which the server never keeps.
//! A store opted in with `sync_configure` therefore gets a second copy of its API key,
//! sealed (AES-256-GCM, bound to tenant and store) under a key derived from the server's
//! **unattended secret** (`wasi:config` `unattended_secret`; the host keeps it in a file
//! of mode 0600 or takes it from its configuration). Nothing is stored in plain text: the
//! state backend holds only ciphertext, the secret lives apart from it. Opting out, deleting
//! the store or the tenant deletes the copy; registering the store again re-wraps it.
//!
//! Rotating the secret: start the server with the new secret and the old one as
//! `unattended_secret_previous`; a copy sealed under the previous secret is re-wrapped
//! under the current one the first time it is opened.
//!
//! State layout: `unattended/{tenant}/{store}` (the sealed copy) and the list
//! `unattended-by-store/{store}` (tenants that opted that OrderDesk store id in, so a
//! webhook finds every registration to verify against).

use serde::{Deserialize, Serialize};

use crate::client::Credentials;
use crate::config::{Secret, Settings};
use crate::crypto;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host, Level};
use crate::kv::{AppendList, get_json, kv_err, set_json};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wrapped {
    /// hex(nonce || AES-256-GCM(api key)), associated data binding tenant and store.
    sealed: String,
    /// Which unattended secret sealed it ([`crypto::secret_id`]).
    secret_id: String,
    wrapped_at_ms: u64,
}

fn record_key(tenant: &str, store_id: &str) -> String {
    format!("unattended/{tenant}/{store_id}")
}

fn by_store<'h>(host: &'h dyn Host, store_id: &str) -> AppendList<'h> {
    AppendList::new(host, format!("unattended-by-store/{store_id}"))
}

fn current_secret(settings: &Settings) -> Result<&Secret, ToolError> {
    settings.unattended_secret.as_ref().ok_or_else(|| {
        ToolError::new(
            ErrorCode::NotConfigured,
            "this server has no unattended secret (setting unattended_secret or its file), so \
             it cannot keep store keys for background sync or webhooks",
        )
    })
}

fn seal(host: &dyn Host, secret: &Secret, tenant: &str, creds: &Credentials) -> Wrapped {
    let nonce: [u8; 12] = host.random_bytes(12).try_into().expect("12 bytes asked");
    Wrapped {
        sealed: crypto::seal(
            &crypto::unattended_key(&secret.0),
            &nonce,
            creds.api_key.0.as_bytes(),
            &crypto::unattended_associated_data(tenant, &creds.store_id),
        ),
        secret_id: crypto::secret_id(&secret.0),
        wrapped_at_ms: host.now_ms(),
    }
}

/// Keep an unattended copy of `creds` for `tenant` (replacing an older one).
pub fn wrap(
    host: &dyn Host,
    settings: &Settings,
    tenant: &str,
    creds: &Credentials,
) -> Result<(), ToolError> {
    let secret = current_secret(settings)?;
    set_json(
        host,
        Bucket::State,
        &record_key(tenant, &creds.store_id),
        &seal(host, secret, tenant, creds),
    )?;
    let registrations = by_store(host, &creds.store_id);
    if !registrations.items()?.iter().any(|t| t == tenant) {
        registrations.push(tenant)?;
    }
    Ok(())
}

/// Re-wrap the copy of a store whose API key changed (a new registration), if it has one.
pub fn rewrap_if_kept(
    host: &dyn Host,
    settings: &Settings,
    tenant: &str,
    creds: &Credentials,
) -> Result<(), ToolError> {
    if exists(host, tenant, &creds.store_id)? {
        wrap(host, settings, tenant, creds)?;
    }
    Ok(())
}

/// Whether `tenant` keeps an unattended copy of the store's key.
pub fn exists(host: &dyn Host, tenant: &str, store_id: &str) -> Result<bool, ToolError> {
    Ok(host
        .kv_get(Bucket::State, &record_key(tenant, store_id))
        .map_err(kv_err)?
        .is_some())
}

/// Delete the unattended copy (opting out, or the store or tenant going away).
pub fn remove(host: &dyn Host, tenant: &str, store_id: &str) -> Result<(), ToolError> {
    host.kv_delete(Bucket::State, &record_key(tenant, store_id))
        .map_err(kv_err)?;
    by_store(host, store_id).remove(tenant)
}

/// The tenants keeping an unattended copy of OrderDesk store `store_id`.
pub fn tenants_of(host: &dyn Host, store_id: &str) -> Result<Vec<String>, ToolError> {
    by_store(host, store_id).items()
}

/// Open `tenant`'s unattended copy of the store's key; `None` when there is none. A copy
/// sealed under `unattended_secret_previous` is re-wrapped under the current secret.
pub fn open(
    host: &dyn Host,
    settings: &Settings,
    tenant: &str,
    store_id: &str,
) -> Result<Option<Credentials>, ToolError> {
    let Some(wrapped) = get_json::<Wrapped>(host, Bucket::State, &record_key(tenant, store_id))?
    else {
        return Ok(None);
    };
    let current = current_secret(settings)?;
    let previous = settings
        .unattended_secret_previous
        .as_ref()
        .filter(|p| crypto::secret_id(&p.0) == wrapped.secret_id);
    let secret = if crypto::secret_id(&current.0) == wrapped.secret_id {
        current
    } else if let Some(previous) = previous {
        previous
    } else {
        return Err(ToolError::new(
            ErrorCode::SyncNotConfigured,
            format!(
                "the unattended key of store {store_id} was sealed under another server secret; \
                 set that one as unattended_secret_previous, or run sync_configure again"
            ),
        ));
    };
    let plain = crypto::open(
        &crypto::unattended_key(&secret.0),
        &wrapped.sealed,
        &crypto::unattended_associated_data(tenant, store_id),
    )
    .map_err(|e| {
        ToolError::new(
            ErrorCode::SyncNotConfigured,
            format!("the unattended key of store {store_id} does not open: {e}"),
        )
    })?;
    let creds = Credentials {
        store_id: store_id.to_string(),
        api_key: Secret(
            String::from_utf8(plain)
                .map_err(|_| ToolError::new(ErrorCode::Internal, "stored API key is not text"))?,
        ),
    };
    if !std::ptr::eq(secret, current) {
        // Re-wrap under the current secret; the old copy stays usable if this fails.
        if let Err(e) = set_json(
            host,
            Bucket::State,
            &record_key(tenant, store_id),
            &seal(host, current, tenant, &creds),
        ) {
            host.log(
                Level::Warn,
                "unattended",
                &format!("store {store_id}: re-wrap under the new secret failed: {e}"),
            );
        }
    }
    Ok(Some(creds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;

    fn settings(host: &ScriptedHost) -> Settings {
        Settings::load(host).unwrap()
    }

    fn creds(store: &str, key: &str) -> Credentials {
        Credentials {
            store_id: store.into(),
            api_key: Secret(key.into()),
        }
    }

    /// The API key `tenant`'s copy of `store` opens to.
    fn opened_key(host: &ScriptedHost, tenant: &str, store: &str) -> String {
        open(host, &settings(host), tenant, store)
            .unwrap()
            .expect("a wrapped copy")
            .api_key
            .0
    }

    fn stored(host: &ScriptedHost, tenant: &str, store: &str) -> Vec<u8> {
        host.kv
            .borrow()
            .get(&("state", record_key(tenant, store)))
            .cloned()
            .expect("a wrapped copy")
    }

    #[test]
    fn a_wrapped_key_opens_for_its_tenant_and_store_only() {
        let mut host = ScriptedHost::configured();
        host.config
            .insert("unattended_secret".into(), "s3cret-s3cret-s3cret".into());
        let s = settings(&host);
        wrap(&host, &s, "t1", &creds("7", "api-key-seven")).unwrap();
        let raw = stored(&host, "t1", "7");
        assert!(!String::from_utf8_lossy(&raw).contains("api-key-seven"));
        assert_eq!(
            open(&host, &s, "t1", "7").unwrap().unwrap().api_key.0,
            "api-key-seven"
        );
        assert_eq!(tenants_of(&host, "7").unwrap(), vec!["t1".to_string()]);
        // The same ciphertext moved to another tenant or store does not open.
        host.kv
            .borrow_mut()
            .insert(("state", record_key("t2", "7")), raw.clone());
        host.kv
            .borrow_mut()
            .insert(("state", record_key("t1", "8")), raw);
        assert!(open(&host, &s, "t2", "7").is_err());
        assert!(open(&host, &s, "t1", "8").is_err());
        assert!(open(&host, &s, "t3", "7").unwrap().is_none());
    }

    #[test]
    fn a_tampered_copy_or_another_secret_does_not_open() {
        let mut host = ScriptedHost::configured();
        host.config
            .insert("unattended_secret".into(), "first-secret".into());
        wrap(&host, &settings(&host), "t", &creds("1", "k")).unwrap();
        let mut raw: Wrapped =
            serde_json::from_slice(&stored(&host, "t", "1")).expect("json record");
        let last = raw.sealed.pop().unwrap();
        raw.sealed.push(if last == '0' { '1' } else { '0' });
        host.kv.borrow_mut().insert(
            ("state", record_key("t", "1")),
            serde_json::to_vec(&raw).unwrap(),
        );
        let e = open(&host, &settings(&host), "t", "1").unwrap_err();
        assert_eq!(e.code, ErrorCode::SyncNotConfigured);

        wrap(&host, &settings(&host), "t", &creds("1", "k")).unwrap();
        host.config
            .insert("unattended_secret".into(), "second-secret".into());
        let e = open(&host, &settings(&host), "t", "1").unwrap_err();
        assert_eq!(e.code, ErrorCode::SyncNotConfigured);
        assert!(!e.message.contains("first-secret"));
    }

    #[test]
    fn a_rotated_secret_re_wraps_on_first_use() {
        let mut host = ScriptedHost::configured();
        host.config.insert("unattended_secret".into(), "old".into());
        wrap(&host, &settings(&host), "t", &creds("1", "k1")).unwrap();
        host.config.insert("unattended_secret".into(), "new".into());
        host.config
            .insert("unattended_secret_previous".into(), "old".into());
        assert_eq!(opened_key(&host, "t", "1"), "k1");
        let now: Wrapped = serde_json::from_slice(&stored(&host, "t", "1")).unwrap();
        assert_eq!(now.secret_id, crypto::secret_id("new"));
        // The previous secret is no longer needed.
        host.config.remove("unattended_secret_previous");
        assert_eq!(opened_key(&host, "t", "1"), "k1");
    }

    #[test]
    fn removing_forgets_the_copy_and_the_registration() {
        let mut host = ScriptedHost::configured();
        host.config.insert("unattended_secret".into(), "x".into());
        let s = settings(&host);
        wrap(&host, &s, "a", &creds("1", "k")).unwrap();
        wrap(&host, &s, "b", &creds("1", "k")).unwrap();
        wrap(&host, &s, "a", &creds("1", "k2")).unwrap();
        assert_eq!(tenants_of(&host, "1").unwrap(), vec!["a", "b"]);
        remove(&host, "a", "1").unwrap();
        assert_eq!(tenants_of(&host, "1").unwrap(), vec!["b"]);
        assert!(open(&host, &s, "a", "1").unwrap().is_none());
        assert!(!exists(&host, "a", "1").unwrap());
    }

    #[test]
    fn without_a_secret_nothing_is_kept() {
        let host = ScriptedHost::configured();
        let e = wrap(&host, &settings(&host), "t", &creds("1", "k")).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotConfigured);
        assert!(!exists(&host, "t", "1").unwrap());
    }
}
