//! One-time links for sign-up, sign-in and invitations, and the sign-up policy.
//!
//! A link's token is 256 random bits (hex), handed to the host to mail and kept only as
//! its SHA-256: `link/{sha256(token)}` holds the purpose, address, name and expiry. A
//! redemption takes a lock on that key and deletes the record before it creates or signs
//! in anyone, so concurrent redemptions of one token make at most one tenant. Each address
//! may ask for `link_requests_per_address` links per 15 minutes (a failure-style bucket
//! charged by every request, known address or not), so the answers never tell whether an
//! address has a tenant.
//!
//! State layout (`state` bucket): `link/{sha256(token)}`, `signup-policy`, and
//! `rl/link/{sha256(address)}/…` (the per-address bucket).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Settings;
use super::tenants::{self, TenantSummary};
use crate::config::LINK_WINDOW_MS;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host};
use crate::kv::{get_json, kv_err, set_json};
use crate::lock::{LEASE_MS, Lease};
use crate::ratelimit::{Failures, Shape};

/// What a link does when followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    SignUp,
    SignIn,
    Invite,
}

/// A link to mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub token: String,
    pub expires_at_ms: u64,
}

/// What a request for a link decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Mail this link.
    Send(Grant),
    /// Send nothing; show the same page as for `Send`.
    Quiet,
    /// Too many links were asked for this address lately.
    TooMany,
}

/// What following a link did.
pub enum Outcome {
    /// A tenant was created: it and its master key (shown once).
    Created(TenantSummary, String),
    /// The tenant with the link's address signed in.
    SignedIn(TenantSummary),
}

/// Who may sign up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignupMode {
    #[default]
    Open,
    InviteOnly,
    Closed,
}

/// The sign-up policy (default: open, any domain).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignupPolicy {
    pub mode: SignupMode,
    /// Lower-case domains; empty: any.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

/// A link as stored (never its token).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkRecord {
    purpose: Purpose,
    email: String,
    name: String,
    expires_at_ms: u64,
}

const POLICY_KEY: &str = "signup-policy";

fn link_key(token: &str) -> String {
    format!(
        "link/{}",
        hex::encode(Sha256::digest(token.trim().as_bytes()))
    )
}

/// The sign-up policy in force.
pub fn policy(host: &dyn Host) -> Result<SignupPolicy, ToolError> {
    Ok(get_json(host, Bucket::State, POLICY_KEY)?.unwrap_or_default())
}

/// Replace the sign-up policy; domains are trimmed, lower-cased and checked
/// (`INVALID_ARGUMENT`: letters, digits, `-` and `.`, with a dot, at most 253 characters).
pub fn set_policy(host: &dyn Host, policy: SignupPolicy) -> Result<(), ToolError> {
    let mut domains = Vec::with_capacity(policy.allowed_domains.len());
    for raw in &policy.allowed_domains {
        let d = raw.trim().trim_start_matches('@').to_lowercase();
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && !d.starts_with(['.', '-'])
            && !d.ends_with(['.', '-'])
            && d.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !ok {
            return Err(ToolError::invalid_argument(
                "allowed_domains",
                format!("{raw:?} is not a domain"),
            ));
        }
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    set_json(
        host,
        Bucket::State,
        POLICY_KEY,
        &SignupPolicy {
            mode: policy.mode,
            allowed_domains: domains,
        },
    )
}

/// Decide on a request for a link (see the module docs). `SIGNUP_CLOSED` when the policy
/// refuses sign-up outright; `INVALID_ARGUMENT` for an address that is not one.
pub fn request(
    host: &dyn Host,
    settings: &Settings,
    purpose: Purpose,
    email: &str,
    name: &str,
) -> Result<Decision, ToolError> {
    let email = tenants::normalise_email(email)?;
    let policy = policy(host)?;
    if purpose == Purpose::SignUp && policy.mode != SignupMode::Open {
        return Err(ToolError::new(
            ErrorCode::SignupClosed,
            "sign-up is closed on this server",
        ));
    }
    let limit = settings.link_requests_per_address.max(1);
    let bucket = Failures::new(
        host,
        &format!("link/{}", hex::encode(Sha256::digest(email.as_bytes()))),
        Shape {
            capacity: limit as f64,
            per_ms: limit as f64 / LINK_WINDOW_MS as f64,
        },
    );
    if bucket.blocked_for_ms()? > 0 {
        return Ok(Decision::TooMany);
    }
    bucket.charge()?;
    let holder = tenants::tenant_of_email(host, &email)?;
    let send = match purpose {
        Purpose::SignUp => holder.is_none() && domain_allowed(&policy, &email),
        Purpose::Invite => holder.is_none(),
        Purpose::SignIn => holder.is_some_and(|t| !t.disabled),
    };
    if !send {
        return Ok(Decision::Quiet);
    }
    let token = hex::encode(host.random_bytes(32));
    let expires_at_ms = host.now_ms().saturating_add(settings.link_ttl_ms);
    let name = match name.trim() {
        "" => email.clone(),
        given => given.to_string(),
    };
    let record = LinkRecord {
        purpose,
        email,
        name,
        expires_at_ms,
    };
    set_json(host, Bucket::State, &link_key(&token), &record)?;
    Ok(Decision::Send(Grant {
        token,
        expires_at_ms,
    }))
}

fn domain_allowed(policy: &SignupPolicy, email: &str) -> bool {
    let domain = email.rsplit('@').next().unwrap_or_default();
    policy.allowed_domains.is_empty() || policy.allowed_domains.iter().any(|d| d == domain)
}

fn invalid() -> ToolError {
    ToolError::new(
        ErrorCode::LinkInvalid,
        "this link is unknown or was already used; ask for a new one",
    )
}

/// Use a link, once: `LINK_INVALID` (unknown or used), `LINK_EXPIRED`, `TENANT_DISABLED`.
/// Sign-up and invitation links create a tenant with the address (`EMAIL_TAKEN` when one
/// got it meanwhile); sign-in links name the address's tenant.
pub fn redeem(host: &dyn Host, token: &str) -> Result<Outcome, ToolError> {
    let key = link_key(token);
    let _lock = Lease::acquire(host, &key, LEASE_MS, 5_000)?.ok_or_else(invalid)?;
    let record: LinkRecord = get_json(host, Bucket::State, &key)?.ok_or_else(invalid)?;
    // Used up before anything is made of it: a second redemption finds nothing.
    host.kv_delete(Bucket::State, &key).map_err(kv_err)?;
    if host.now_ms() >= record.expires_at_ms {
        return Err(ToolError::new(
            ErrorCode::LinkExpired,
            "this link has expired; ask for a new one",
        ));
    }
    let holder = tenants::tenant_of_email(host, &record.email)?;
    match record.purpose {
        Purpose::SignIn => {
            let tenant = holder.ok_or_else(invalid)?;
            if tenant.disabled {
                return Err(ToolError::new(
                    ErrorCode::TenantDisabled,
                    "this tenant is disabled; ask the operator to enable it",
                ));
            }
            Ok(Outcome::SignedIn(tenants::summary(host, tenant)))
        }
        Purpose::SignUp | Purpose::Invite => {
            if holder.is_some() {
                return Err(ToolError::new(
                    ErrorCode::EmailTaken,
                    "this address already has a tenant; sign in instead",
                ));
            }
            let (created, key) = tenants::create(host, &record.name)?;
            tenants::set_email(host, &created.id, &record.email)?;
            let created = tenants::authenticate(host, &key)?.record().clone();
            Ok(Outcome::Created(tenants::summary(host, created), key))
        }
    }
}
