//! Tenant administration behind `orderdesk:mcp/admin`: each action also lands in the
//! operator's audit trail (tenant `_admin`) and, while the tenant exists, in its own.

use crate::audit::{self, AuditEntry};
use crate::error::ToolError;
use crate::host::Host;
use crate::kv::AppendList;
use crate::tenancy::{self, TenantRecord};

/// The audit trail of operator actions.
pub const ADMIN_TRAIL: &str = "_admin";

/// A tenant with its store count.
pub struct TenantSummary {
    pub record: TenantRecord,
    pub stores: u32,
}

fn summary(host: &dyn Host, record: TenantRecord) -> TenantSummary {
    let stores = AppendList::new(host, format!("stores/{}", record.id))
        .items()
        .map_or(0, |s| s.len() as u32);
    TenantSummary { record, stores }
}

fn note(
    host: &dyn Host,
    trails: &[&str],
    action: &str,
    tenant_id: &str,
    outcome: &Result<(), &ToolError>,
) {
    for trail in trails {
        audit::record(
            host,
            AuditEntry {
                seq: 0,
                at_ms: host.now_ms(),
                tenant: trail.to_string(),
                store: None,
                tool: action.to_string(),
                target: Some(tenant_id.to_string()),
                outcome: match outcome {
                    Ok(()) => "ok".into(),
                    Err(e) => e.code.as_str().into(),
                },
                request_id: format!("admin-{}", hex::encode(host.random_bytes(6))),
                note: None,
            },
        );
    }
}

pub fn create(host: &dyn Host, name: &str) -> Result<(TenantSummary, String), ToolError> {
    let (record, key) = tenancy::create_tenant(host, name)?;
    note(
        host,
        &[ADMIN_TRAIL, &record.id],
        "tenant_create",
        &record.id,
        &Ok(()),
    );
    Ok((summary(host, record), key))
}

pub fn list(host: &dyn Host) -> Result<Vec<TenantSummary>, ToolError> {
    Ok(tenancy::list_tenants(host)?
        .into_iter()
        .map(|r| summary(host, r))
        .collect())
}

pub fn delete(host: &dyn Host, id: &str) -> Result<(), ToolError> {
    let result = forget_stores(host, id)
        .and_then(|()| tenancy::delete_tenant(host, id))
        .and_then(|()| audit::clear(host, id));
    note(
        host,
        &[ADMIN_TRAIL],
        "tenant_delete",
        id,
        &result.as_ref().map(|_| ()),
    );
    result
}

/// What the server keeps about each of the tenant's stores beside the registry.
fn forget_stores(host: &dyn Host, id: &str) -> Result<(), ToolError> {
    tenancy::get_tenant(host, id)?;
    let mut stores = crate::kv::AppendList::new(host, format!("stores/{id}")).items()?;
    for (tenant, store_id) in crate::services::sync::configured_targets(host)? {
        if tenant == id && !stores.contains(&store_id) {
            stores.push(store_id);
        }
    }
    for store_id in stores {
        crate::services::stores::forget_local(host, id, &store_id)?;
    }
    Ok(())
}

pub fn rotate_key(host: &dyn Host, id: &str, current: &str) -> Result<String, ToolError> {
    let result = tenancy::rotate_key(host, id, current);
    let outcome = result.as_ref().map(|_| ());
    note(host, &[ADMIN_TRAIL, id], "tenant_rotate_key", id, &outcome);
    result
}

/// The tenant a master key belongs to, if the key is valid (not audited: it runs for every
/// new HTTP client, and a failure is the caller's 401, not an operator action).
pub fn authenticate(host: &dyn Host, master_key: &str) -> Result<TenantSummary, ToolError> {
    let tenant = tenancy::authenticate(host, master_key)?;
    Ok(summary(host, tenant.record().clone()))
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
        let (entries, _) = audit::list(&host, ADMIN_TRAIL, 10, None).unwrap();
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
}
