//! Acting for a store with no one signed in (webhook deliveries, polling sync): which
//! registrations a delivery is signed for, the store context a background run acts in, and
//! the store key's unattended copy ([`crate::unattended`]), kept while a store is opted in.

use super::sync::{SyncConfig, SyncState};
use super::{Journal, SINGLE_STORE_TENANT, Settings, StoreCtx};
use crate::client::Credentials;
use crate::crypto;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Host, Level};
use crate::unattended;

/// A registration of the store that a webhook delivery is signed for.
#[derive(Debug)]
pub struct Signed {
    /// The tenant id, or [`SINGLE_STORE_TENANT`].
    pub tenant: String,
    /// Folders whose orders count as cancelled in that registration's sync settings.
    pub cancelled_folders: Vec<u64>,
}

/// The registrations of `store_id` whose key signed `body` with `signature` (hex). Every
/// registration is checked, with no early exit.
pub fn signed_registrations(
    host: &dyn Host,
    settings: &Settings,
    store_id: &str,
    body: &[u8],
    signature: &str,
) -> Result<Vec<Signed>, ToolError> {
    let candidates = registrations(host, settings, store_id)?;
    let verified: Vec<bool> = candidates
        .iter()
        .map(|(_, creds, _)| crypto::webhook_signature_matches(&creds.api_key.0, body, signature))
        .collect();
    Ok(candidates
        .into_iter()
        .zip(verified)
        .filter_map(|((tenant, _, cancelled_folders), ok)| {
            ok.then_some(Signed {
                tenant,
                cancelled_folders,
            })
        })
        .collect())
}

/// The registrations a delivery for `store_id` may be signed for: the single-store
/// configuration, and every tenant that opted the store into webhooks.
fn registrations(
    host: &dyn Host,
    settings: &Settings,
    store_id: &str,
) -> Result<Vec<(String, Credentials, Vec<u64>)>, ToolError> {
    let mut out = Vec::new();
    // A misconfigured single store must not stop the tenants' registrations of the store.
    let configured = Credentials::configured(settings).unwrap_or_else(|e| {
        host.log(Level::Warn, "webhook", &e.message);
        None
    });
    if let Some(creds) = configured.filter(|c| c.store_id == store_id) {
        // Opt-in, as for tenants: until sync_configure says webhooks, deliveries are refused.
        let config = SyncState::new(host, SINGLE_STORE_TENANT, store_id).config()?;
        if let Some(config) = config.filter(|c| c.webhooks) {
            out.push((
                SINGLE_STORE_TENANT.to_string(),
                creds,
                config.cancelled_folders,
            ));
        }
    }
    for tenant in unattended::tenants_of(host, store_id)? {
        let Some(config) = SyncState::new(host, &tenant, store_id).config()? else {
            continue;
        };
        if !config.webhooks {
            continue;
        }
        match unattended::open(host, settings, &tenant, store_id) {
            Ok(Some(creds)) => out.push((tenant, creds, config.cancelled_folders)),
            Ok(None) => {}
            Err(e) => host.log(
                Level::Warn,
                "webhook",
                &format!("store {store_id}: a registration's key does not open: {e}"),
            ),
        }
    }
    Ok(out)
}

/// The store context a background run of `tenant`'s store acts in: the configured store's
/// credentials in single-store mode, else the key's unattended copy.
pub fn run_ctx<'a>(
    host: &'a dyn Host,
    settings: &'a Settings,
    tenant: &str,
    store_id: &str,
    journal: &'a Journal<'a>,
) -> Result<StoreCtx<'a>, ToolError> {
    let creds = unattended_creds(host, settings, tenant, store_id)?;
    Ok(StoreCtx {
        host,
        settings,
        tenant: tenant.to_string(),
        creds,
        journal,
    })
}

fn unattended_creds(
    host: &dyn Host,
    settings: &Settings,
    tenant: &str,
    store_id: &str,
) -> Result<Credentials, ToolError> {
    if tenant == SINGLE_STORE_TENANT {
        return match Credentials::configured(settings)? {
            Some(creds) if creds.store_id == store_id => Ok(creds),
            _ => Err(ToolError::new(
                ErrorCode::SyncNotConfigured,
                format!("store {store_id} is not this server's configured store"),
            )),
        };
    }
    unattended::open(host, settings, tenant, store_id)?.ok_or_else(|| {
        ToolError::new(
            ErrorCode::SyncNotConfigured,
            format!(
                "store {store_id} has no key kept for background sync; run sync_configure for it"
            ),
        )
    })
}

/// Opt the store in or out of background polling and webhooks: a tenant's store keeps an
/// unattended copy of its key while either is on, and loses it otherwise (the single store
/// needs none: its key is configured); then `config` is saved.
pub fn configure(sc: &StoreCtx, config: &SyncConfig) -> Result<(), ToolError> {
    let keep_key = (config.enabled || config.webhooks) && sc.tenant != SINGLE_STORE_TENANT;
    if keep_key {
        unattended::wrap(sc.host, sc.settings, &sc.tenant, &sc.creds)?;
    } else {
        unattended::remove(sc.host, &sc.tenant, sc.store_id())?;
    }
    SyncState::new(sc.host, &sc.tenant, sc.store_id()).save_config(config)
}

/// Whether the server keeps an unattended copy of the store's key.
pub fn key_kept(sc: &StoreCtx) -> Result<bool, ToolError> {
    unattended::exists(sc.host, &sc.tenant, sc.store_id())
}
