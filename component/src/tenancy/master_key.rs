//! Master keys: their form, the verifier a tenant record keeps, and checking a bearer.
//!
//! A record keeps a salted HMAC-SHA256 verifier. Master keys carry 256 random bits, so one
//! fast hash protects them as well as a password hash would, and a bad bearer costs one
//! HMAC. Records written by older versions hold an Argon2id PHC string instead: those are
//! checked with Argon2 (failed checks draw on a small per-tenant bucket, so bad bearers
//! cannot burn CPU) and, once their key checks out, upgraded in place under the tenant
//! lock, unless a rotation got there first.

use super::{Tenant, TenantRecord, auth_required, get_tenant, tenant_key, try_tenant_lock};
use crate::config::Secret;
use crate::crypto::{self, KeyHashKind};
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host, Level};
use crate::kv::{get_json, set_json};
use crate::ratelimit::{Failures, LEGACY_AUTH_FAILURES};

/// `odmk_{tenant id}_{64 hex}`: the tenant id travels in the key, so verifying is one
/// lookup and one hash, never a scan.
pub(super) fn new_master_key(host: &dyn Host, tenant_id: &str) -> String {
    format!("odmk_{tenant_id}_{}", hex::encode(host.random_bytes(32)))
}

/// The tenant id in a key of the master-key form (not a check of the key).
pub fn tenant_id_of(master_key: &str) -> Option<&str> {
    let rest = master_key.strip_prefix("odmk_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && secret.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(id)
}

/// A fresh verifier of `master_key`, under a new random salt.
pub(super) fn key_hash(host: &dyn Host, master_key: &str) -> String {
    let salt: [u8; 16] = host.random_bytes(16).try_into().expect("16 bytes asked");
    crypto::keyed_master_key_hash(master_key, &salt)
}

/// Check a master key and name its tenant: one record read and one HMAC (for a legacy
/// record, one Argon2 run, after which the record holds an HMAC verifier).
pub fn authenticate(host: &dyn Host, master_key: &str) -> Result<Tenant, ToolError> {
    authenticate_with(host, master_key, &crypto::verify_master_key)
}

/// [`authenticate`] with the legacy Argon2 check given, so tests can count its runs.
fn authenticate_with(
    host: &dyn Host,
    master_key: &str,
    argon2: &dyn Fn(&str, &str) -> bool,
) -> Result<Tenant, ToolError> {
    let invalid = || auth_required("the master key is not valid");
    let id = tenant_id_of(master_key).ok_or_else(invalid)?;
    let mut record: TenantRecord =
        get_json(host, Bucket::State, &tenant_key(id))?.ok_or_else(invalid)?;
    match crypto::key_hash_kind(&record.key_hash) {
        KeyHashKind::Keyed => {
            if !crypto::verify_keyed_master_key(master_key, &record.key_hash) {
                return Err(invalid());
            }
        }
        KeyHashKind::LegacyArgon2id => {
            check_legacy(host, master_key, &record, argon2)?;
            record = upgrade(host, master_key, record);
        }
        KeyHashKind::Unknown => return Err(invalid()),
    }
    if record.disabled {
        return Err(ToolError::new(
            ErrorCode::TenantDisabled,
            "this tenant is disabled; ask the operator to enable it",
        ));
    }
    Ok(Tenant {
        id: record.id.clone(),
        master_key: Secret(master_key.to_string()),
        record,
    })
}

/// Argon2 against a legacy verifier, refused without running while the tenant's bucket of
/// failed checks is full. Concurrent bad bearers may each slip one run past a bucket about
/// to fill; the bucket then stays shut for as long as they overdrew it.
fn check_legacy(
    host: &dyn Host,
    master_key: &str,
    record: &TenantRecord,
    argon2: &dyn Fn(&str, &str) -> bool,
) -> Result<(), ToolError> {
    let failures = Failures::new(host, &format!("auth/{}", record.id), LEGACY_AUTH_FAILURES);
    let blocked_ms = failures.blocked_for_ms()?;
    if blocked_ms > 0 {
        return Err(auth_required(&format!(
            "too many failed attempts for this tenant; try again in {} s",
            blocked_ms.div_ceil(1000)
        ))
        .with_details(serde_json::json!({ "retry_after_ms": blocked_ms })));
    }
    if argon2(master_key, &record.key_hash) {
        return Ok(());
    }
    failures.charge()?;
    Err(auth_required("the master key is not valid"))
}

/// Replace the legacy verifier of `seen` (whose key just checked out) with an HMAC one.
/// Best effort: on any hitch the record stays as it is and the next check tries again.
/// Returns the record as it now stands.
fn upgrade(host: &dyn Host, master_key: &str, seen: TenantRecord) -> TenantRecord {
    match try_upgrade(host, master_key, &seen) {
        Ok(Some(upgraded)) => upgraded,
        Ok(None) => seen,
        Err(e) => {
            host.log(
                Level::Warn,
                "tenancy",
                &format!("tenant {}: master key verifier not upgraded: {e}", seen.id),
            );
            seen
        }
    }
}

/// Under the tenant lock, rewrite the record only if it is still the one checked (same
/// key version and verifier), so an upgrade never undoes a rotation. `None`: left alone.
fn try_upgrade(
    host: &dyn Host,
    master_key: &str,
    seen: &TenantRecord,
) -> Result<Option<TenantRecord>, ToolError> {
    // Never wait: rotation holds this lock while it authenticates the current key.
    let Some(_lock) = try_tenant_lock(host, &seen.id, 0)? else {
        return Ok(None);
    };
    let current = get_tenant(host, &seen.id)?;
    if current.key_version != seen.key_version || current.key_hash != seen.key_hash {
        return Ok(None);
    }
    let upgraded = TenantRecord {
        key_hash: key_hash(host, master_key),
        ..current
    };
    set_json(host, Bucket::State, &tenant_key(&seen.id), &upgraded)?;
    // Older versions cached verified keys under `auth/{sha256(key)}`; nothing reads it now.
    let _ = host.kv_delete(
        Bucket::State,
        &format!("auth/{}", crypto::fingerprint(master_key)),
    );
    host.log(
        Level::Info,
        "tenancy",
        &format!(
            "tenant {}: master key verifier upgraded from Argon2id to HMAC-SHA256",
            seen.id
        ),
    );
    Ok(Some(upgraded))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::super::{create_tenant, rotate_key};
    use super::*;
    use crate::error::ErrorCode;
    use crate::testing::ScriptedHost;

    /// Turn a tenant's record into one an older version wrote (Argon2id verifier).
    fn make_legacy(host: &ScriptedHost, id: &str, key: &str) -> TenantRecord {
        let mut record = get_tenant(host, id).unwrap();
        record.key_hash = crypto::hash_master_key(key, &[9; 16]).unwrap();
        set_json(host, Bucket::State, &tenant_key(id), &record).unwrap();
        record
    }

    /// The real Argon2 check, counting its runs.
    fn counting(runs: &Cell<u32>) -> impl Fn(&str, &str) -> bool + '_ {
        move |key, phc| {
            runs.set(runs.get() + 1);
            crypto::verify_master_key(key, phc)
        }
    }

    fn one_char_off(key: &str, at: usize) -> String {
        let mut bytes = key.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_new_tenant_keeps_an_hmac_verifier_and_no_argon2_string() {
        let host = ScriptedHost::configured();
        let (record, key) = create_tenant(&host, "Acme").unwrap();
        let stored = get_tenant(&host, &record.id).unwrap();
        assert!(stored.key_hash.starts_with("hmac-sha256$"), "{stored:?}");
        assert_eq!(crypto::key_hash_kind(&stored.key_hash), KeyHashKind::Keyed);
        let dump = format!("{:?}", host.kv.borrow());
        assert!(!dump.contains("argon2"), "{dump}");
        let runs = Cell::new(0);
        authenticate_with(&host, &key, &counting(&runs)).unwrap();
        assert_eq!(runs.get(), 0, "Argon2 never runs for a new record");
        assert!(
            host.trace.borrow().iter().all(|op| !op.contains("/auth/")),
            "no verification cache is read or written: {:?}",
            host.trace.borrow()
        );
    }

    #[test]
    fn a_key_verifies_and_a_one_character_change_does_not() {
        let host = ScriptedHost::configured();
        let (record, key) = create_tenant(&host, "Acme").unwrap();
        assert_eq!(authenticate(&host, &key).unwrap().id, record.id);
        // Every position of the secret part, and one of the tenant id.
        for at in (22..key.len()).chain([5]) {
            let e = authenticate(&host, &one_char_off(&key, at)).unwrap_err();
            assert_eq!(e.code, ErrorCode::AuthRequired, "{at}");
        }
    }

    #[test]
    fn a_legacy_record_verifies_once_with_argon2_and_then_holds_an_hmac_verifier() {
        let host = ScriptedHost::configured();
        let (record, key) = create_tenant(&host, "Acme").unwrap();
        authenticate(&host, &key)
            .unwrap()
            .save_store(&host, "7", "k7", "Seven", None)
            .unwrap();
        let legacy = make_legacy(&host, &record.id, &key);
        // What an older version left beside it: its 12-hour verification cache entry.
        let cached = format!("auth/{}", crypto::fingerprint(&key));
        host.kv_set(Bucket::State, &cached, b"{}").unwrap();
        let runs = Cell::new(0);
        let argon2 = counting(&runs);

        let tenant = authenticate_with(&host, &key, &argon2).unwrap();
        assert_eq!(runs.get(), 1);
        let upgraded = get_tenant(&host, &record.id).unwrap();
        assert_eq!(
            crypto::key_hash_kind(&upgraded.key_hash),
            KeyHashKind::Keyed
        );
        assert_eq!(upgraded.key_version, legacy.key_version);
        assert_eq!(upgraded.hkdf_salt, legacy.hkdf_salt);
        assert_eq!(tenant.record().key_hash, upgraded.key_hash);
        assert!(host.kv_get(Bucket::State, &cached).unwrap().is_none());
        let store = tenant.resolve(&host, "7").unwrap();
        assert_eq!(tenant.credentials(&store).unwrap().api_key.0, "k7");

        // From now on: the HMAC, never Argon2; still the right key only.
        authenticate_with(&host, &key, &argon2).unwrap();
        let e = authenticate_with(&host, &one_char_off(&key, 40), &argon2).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthRequired);
        assert_eq!(runs.get(), 1);
    }

    #[test]
    fn an_upgrade_racing_a_rotation_never_overwrites_the_rotated_record() {
        let host = ScriptedHost::configured();
        let (record, old) = create_tenant(&host, "Acme").unwrap();
        let stale = make_legacy(&host, &record.id, &old);
        // The rotation authenticates the legacy key under the tenant lock: no upgrade (and
        // no wait) inside it.
        let new = rotate_key(&host, &record.id, &old).unwrap();
        assert!(
            host.sleeps.borrow().is_empty(),
            "{:?}",
            host.sleeps.borrow()
        );
        let rotated = get_tenant(&host, &record.id).unwrap();
        assert_eq!(rotated.key_version, stale.key_version + 1);

        // The upgrade of the check made before the rotation lands after it.
        assert!(try_upgrade(&host, &old, &stale).unwrap().is_none());
        let after = get_tenant(&host, &record.id).unwrap();
        assert_eq!(after.key_hash, rotated.key_hash);
        assert_eq!(after.key_version, rotated.key_version);
        assert!(
            authenticate(&host, &old).is_err(),
            "the old key stays retired"
        );
        authenticate(&host, &new).unwrap();

        // Same version, other verifier (another instance upgraded first): left alone too.
        let mut other = after.clone();
        other.key_hash = crypto::hash_master_key(&new, &[5; 16]).unwrap();
        assert!(try_upgrade(&host, &new, &other).unwrap().is_none());
        assert_eq!(
            get_tenant(&host, &record.id).unwrap().key_hash,
            after.key_hash
        );
    }

    #[test]
    fn a_legacy_key_still_signs_in_while_the_tenant_lock_is_taken() {
        let host = ScriptedHost::configured();
        let (record, key) = create_tenant(&host, "Acme").unwrap();
        make_legacy(&host, &record.id, &key);
        let _held = try_tenant_lock(&host, &record.id, 0).unwrap().unwrap();
        authenticate(&host, &key).unwrap();
        let still = get_tenant(&host, &record.id).unwrap();
        assert_eq!(
            crypto::key_hash_kind(&still.key_hash),
            KeyHashKind::LegacyArgon2id,
            "upgraded later, not waited for"
        );
        assert!(host.sleeps.borrow().is_empty());
    }

    #[test]
    fn failed_legacy_checks_stop_running_argon2_until_the_bucket_refills() {
        let host = ScriptedHost::configured();
        let (record, key) = create_tenant(&host, "Acme").unwrap();
        make_legacy(&host, &record.id, &key);
        let runs = Cell::new(0);
        let argon2 = counting(&runs);
        let wrong = one_char_off(&key, 30);
        for attempt in 1..=5 {
            let e = authenticate_with(&host, &wrong, &argon2).unwrap_err();
            assert_eq!(e.code, ErrorCode::AuthRequired);
            assert_eq!(e.message, "the master key is not valid");
            assert_eq!(runs.get(), attempt);
        }
        // The bucket is full: bad and good keys alike are refused without Argon2.
        for bearer in [&wrong, &key] {
            let e = authenticate_with(&host, bearer, &argon2).unwrap_err();
            assert_eq!(e.code, ErrorCode::AuthRequired);
            assert!(!e.retryable);
            assert_eq!(
                e.message,
                "too many failed attempts for this tenant; try again in 2 s"
            );
            assert_eq!(e.details["retry_after_ms"], 2_000);
        }
        assert_eq!(runs.get(), 5);
        // Other tenants are untouched.
        let (_, other) = create_tenant(&host, "Other").unwrap();
        authenticate_with(&host, &other, &argon2).unwrap();

        host.now.set(host.now.get() + 2_000);
        authenticate_with(&host, &key, &argon2).unwrap();
        assert_eq!(runs.get(), 6);
        // Upgraded: wrong keys now cost an HMAC and draw on no bucket.
        for _ in 0..10 {
            let e = authenticate_with(&host, &wrong, &argon2).unwrap_err();
            assert_eq!(e.message, "the master key is not valid");
        }
        assert_eq!(runs.get(), 6);
        authenticate_with(&host, &key, &argon2).unwrap();
    }
}
