//! The web console's business behind `orderdesk:mcp/console`: one-time links, the sign-up
//! policy, tenant profiles (disabling a tenant is audited in the operator trail), each
//! store's health, and the traces of calls. Hosts check who may ask; ids here are trusted.

use crate::error::ToolError;
use crate::host::Host;
use crate::services::{audit, links, load_settings, stores, tenants, traces};

pub use crate::services::links::{Decision, Grant, Outcome, Purpose, SignupMode, SignupPolicy};
pub use crate::services::stores::Overview;
pub use crate::services::tenants::Profile;
pub use crate::services::traces::{Trace, TraceFilter, TraceSummary};

/// The operator's audit trail (shared with `admin`).
const ADMIN_TRAIL: &str = "_admin";

/// Ask for a link for `email` (see [`links::request`]).
pub fn link_request(
    host: &dyn Host,
    purpose: Purpose,
    email: &str,
    name: &str,
) -> Result<Decision, ToolError> {
    let settings = load_settings(host)?;
    links::request(host, &settings, purpose, email, name)
}

/// Use a link, once (see [`links::redeem`]).
pub fn link_redeem(host: &dyn Host, token: &str) -> Result<Outcome, ToolError> {
    links::redeem(host, token)
}

/// The sign-up policy in force.
pub fn signup_policy_get(host: &dyn Host) -> Result<SignupPolicy, ToolError> {
    links::policy(host)
}

/// Replace the sign-up policy (audited).
pub fn signup_policy_set(host: &dyn Host, policy: SignupPolicy) -> Result<(), ToolError> {
    let result = links::set_policy(host, policy);
    audit::record_operator_action(
        host,
        &[ADMIN_TRAIL],
        "signup_policy_set",
        "-",
        &result.as_ref().map(|_| ()),
    );
    result
}

/// Every tenant's profile.
pub fn tenant_profiles(host: &dyn Host) -> Result<Vec<Profile>, ToolError> {
    let settings = load_settings(host)?;
    tenants::profiles(host, &settings)
}

/// One tenant's profile; `TENANT_NOT_FOUND`.
pub fn tenant_profile(host: &dyn Host, id: &str) -> Result<Profile, ToolError> {
    let settings = load_settings(host)?;
    tenants::profile(host, &settings, id)
}

/// Disable or enable a tenant, audited in the operator trail and the tenant's own.
pub fn tenant_set_disabled(host: &dyn Host, id: &str, disabled: bool) -> Result<(), ToolError> {
    let result = tenants::set_disabled(host, id, disabled);
    let action = if disabled {
        "tenant_disable"
    } else {
        "tenant_enable"
    };
    let trails: &[&str] = if result.is_ok() {
        &[ADMIN_TRAIL, id]
    } else {
        &[ADMIN_TRAIL]
    };
    audit::record_operator_action(host, trails, action, id, &result.as_ref().map(|_| ()));
    result
}

/// Set the address a tenant's sign-in links go to; `EMAIL_TAKEN` (audited).
pub fn tenant_set_email(host: &dyn Host, id: &str, email: &str) -> Result<(), ToolError> {
    let result = tenants::set_email(host, id, email);
    audit::record_operator_action(
        host,
        &[ADMIN_TRAIL],
        "tenant_set_email",
        id,
        &result.as_ref().map(|_| ()),
    );
    result
}

/// A tenant's stores with their health.
pub fn stores_overview(host: &dyn Host, tenant: &str) -> Result<Vec<Overview>, ToolError> {
    let settings = load_settings(host)?;
    stores::overview(host, &settings, tenant)
}

/// Make a store the tenant's default; `STORE_NOT_FOUND`.
pub fn store_set_default(host: &dyn Host, tenant: &str, store_id: &str) -> Result<(), ToolError> {
    stores::set_default(host, tenant, store_id)
}

/// Set or clear a store's label.
pub fn store_set_label(
    host: &dyn Host,
    tenant: &str,
    store_id: &str,
    label: Option<&str>,
) -> Result<(), ToolError> {
    stores::set_label(host, tenant, store_id, label)
}

/// Recent traces, newest first: one tenant's or (`None`) every tenant's.
pub fn traces(
    host: &dyn Host,
    tenant: Option<&str>,
    filter: &TraceFilter,
) -> Result<Vec<TraceSummary>, ToolError> {
    let settings = load_settings(host)?;
    traces::list(host, &settings, tenant, filter)
}

/// One trace by id, if it is the tenant's (`None`: any tenant's) and still kept.
pub fn trace(host: &dyn Host, tenant: Option<&str>, id: &str) -> Result<Option<Trace>, ToolError> {
    let settings = load_settings(host)?;
    traces::get(host, &settings, tenant, id)
}
