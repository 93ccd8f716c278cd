//! Tenant administration behind `orderdesk:mcp/admin`: each action also lands in the
//! operator's audit trail (tenant `_admin`) and, while the tenant exists, in its own.

use crate::error::ToolError;
use crate::host::Host;
use crate::services::{audit, tenants};

pub use crate::services::tenants::TenantSummary;

/// The audit trail of operator actions.
pub const ADMIN_TRAIL: &str = "_admin";

pub fn create(host: &dyn Host, name: &str) -> Result<(TenantSummary, String), ToolError> {
    let (record, key) = tenants::create(host, name)?;
    audit::record_operator_action(
        host,
        &[ADMIN_TRAIL, &record.id],
        "tenant_create",
        &record.id,
        &Ok(()),
    );
    Ok((tenants::summary(host, record), key))
}

pub fn list(host: &dyn Host) -> Result<Vec<TenantSummary>, ToolError> {
    tenants::list(host)
}

pub fn delete(host: &dyn Host, id: &str) -> Result<(), ToolError> {
    let result = tenants::delete(host, id);
    audit::record_operator_action(
        host,
        &[ADMIN_TRAIL],
        "tenant_delete",
        id,
        &result.as_ref().map(|_| ()),
    );
    result
}

pub fn rotate_key(host: &dyn Host, id: &str, current: &str) -> Result<String, ToolError> {
    let result = tenants::rotate_key(host, id, current);
    let outcome = result.as_ref().map(|_| ());
    audit::record_operator_action(host, &[ADMIN_TRAIL, id], "tenant_rotate_key", id, &outcome);
    result
}

/// The tenant id a key names by its form (the host queues and labels by it; no check).
pub fn tenant_of_key(master_key: &str) -> Option<String> {
    tenants::claimed_by(master_key).map(str::to_string)
}

/// The tenant a master key belongs to, if the key is valid (not audited: it runs for every
/// new HTTP client, and a failure is the caller's 401, not an operator action).
pub fn authenticate(host: &dyn Host, master_key: &str) -> Result<TenantSummary, ToolError> {
    let tenant = tenants::authenticate(host, master_key)?;
    Ok(tenants::summary(host, tenant.record().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;

    #[test]
    fn admin_actions_are_audited_without_secrets() {
        let host = ScriptedHost::configured();
        let (t, key) = create(&host, "Acme").unwrap();
        let new_key = rotate_key(&host, &t.record.id, &key).unwrap();
        assert!(
            rotate_key(&host, &t.record.id, &key).is_err(),
            "the old key is retired"
        );
        delete(&host, &t.record.id).unwrap();
        let (entries, _) = audit::page(&host, ADMIN_TRAIL, 10, None).unwrap();
        let actions: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.tool.as_str(), e.outcome.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("tenant_delete", "ok"),
                ("tenant_rotate_key", "AUTH_REQUIRED"),
                ("tenant_rotate_key", "ok"),
                ("tenant_create", "ok"),
            ]
        );
        let dump = format!("{:?}", host.kv.borrow());
        for k in [&key, &new_key] {
            let secret = k.rsplit('_').next().unwrap();
            assert!(!dump.contains(secret), "a master key secret is stored");
        }
        assert!(list(&host).unwrap().is_empty());
    }

    #[test]
    fn authenticate_names_the_tenant_of_a_valid_key_only() {
        let host = ScriptedHost::configured();
        let (t, key) = create(&host, "Acme").unwrap();
        assert_eq!(authenticate(&host, &key).unwrap().record.id, t.record.id);
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('0') { '1' } else { '0' });
        for bad in [wrong.as_str(), "odmk_nope", ""] {
            let e = authenticate(&host, bad).err().unwrap();
            assert_eq!(e.code.as_str(), "AUTH_REQUIRED", "{bad}");
        }
        let new_key = rotate_key(&host, &t.record.id, &key).unwrap();
        assert!(
            authenticate(&host, &key).is_err(),
            "a rotated key is refused"
        );
        assert!(authenticate(&host, &new_key).is_ok());
    }

    #[test]
    fn the_tenant_of_a_key_is_read_from_its_form_alone() {
        let host = ScriptedHost::configured();
        let (t, key) = create(&host, "Acme").unwrap();
        assert_eq!(tenant_of_key(&key).as_deref(), Some(t.record.id.as_str()));
        // A forged key of the right form names its tenant too: this is no check.
        let forged = format!("odmk_{}_{}", "a".repeat(16), "0".repeat(64));
        assert_eq!(tenant_of_key(&forged).as_deref(), Some("aaaaaaaaaaaaaaaa"));
        let short_secret = format!("odmk_{}_{}", "a".repeat(16), "0".repeat(63));
        let not_hex = format!("odmk_{}_{}", "g".repeat(16), "0".repeat(64));
        let other_prefix = key.replacen("odmk_", "odmx_", 1);
        for bad in [
            short_secret.as_str(),
            &not_hex,
            &other_prefix,
            "odmk_short_x",
            "",
            "Bearer x",
        ] {
            assert_eq!(tenant_of_key(bad), None, "{bad}");
        }
    }
}
