//! What a tool handler may use: the caller's principal, the store it acts on (turned into
//! a service [`StoreCtx`]), and the connection state it asks the host to keep.

use std::cell::RefCell;

use super::Caller;
use super::args::StoreRef;
use crate::client::Credentials;
use crate::config::Settings;
use crate::error::{ErrorCode, ToolError};
use crate::host::Host;
use crate::services::{Journal, SINGLE_STORE_TENANT, StoreCtx};
use crate::tenancy::Tenant;

/// Who the call acts for.
pub enum Principal {
    /// No master key: the store configured through `wasi:config`.
    SingleStore,
    Tenant(Tenant),
}

impl Principal {
    /// The tenant id, or `_` in single-store mode.
    pub fn tenant_id(&self) -> &str {
        match self {
            Principal::Tenant(t) => &t.id,
            Principal::SingleStore => SINGLE_STORE_TENANT,
        }
    }
}

/// Connection state a call hands back to the host (mirrors the `bind-*` fields of
/// `orderdesk:mcp/types.tool-output`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bind {
    pub credential: Option<String>,
    pub default_store: Option<String>,
}

pub struct Ctx<'a> {
    pub host: &'a dyn Host,
    pub caller: &'a Caller,
    pub settings: &'a Settings,
    pub principal: Principal,
    pub journal: &'a Journal<'a>,
    bind: RefCell<Bind>,
}

const NO_STORE_HINT: &str = "no store given and no default store: pass `store` (id or name), \
call stores_use to pick a default, or register one with stores_register (after \
tenant_use_master_key). In single-store mode, start the server with --store-id and --api-key";

impl<'a> Ctx<'a> {
    pub fn new(
        host: &'a dyn Host,
        caller: &'a Caller,
        settings: &'a Settings,
        principal: Principal,
        journal: &'a Journal<'a>,
    ) -> Self {
        Self {
            host,
            caller,
            settings,
            principal,
            journal,
            bind: RefCell::new(Bind::default()),
        }
    }

    /// The tenant id, or `_` in single-store mode.
    pub fn tenant(&self) -> &str {
        self.principal.tenant_id()
    }

    /// The bound tenant, or `AUTH_REQUIRED`.
    pub fn require_tenant(&self) -> Result<&Tenant, ToolError> {
        match &self.principal {
            Principal::Tenant(t) => Ok(t),
            Principal::SingleStore => Err(ToolError::new(
                ErrorCode::AuthRequired,
                "this tool needs a tenant: call tenant_use_master_key first (or send the \
                 master key as a bearer token over HTTP)",
            )),
        }
    }

    /// The store a call acts on: `wanted` (id or name), else this connection's default,
    /// else the tenant's.
    pub fn store(&self, wanted: Option<&StoreRef>) -> Result<StoreCtx<'_>, ToolError> {
        let wanted = wanted.map(StoreRef::as_str);
        let creds = match &self.principal {
            Principal::SingleStore => self.configured_store(wanted)?,
            Principal::Tenant(tenant) => {
                let id = match wanted {
                    Some(w) => w.to_string(),
                    None => match &self.caller.default_store {
                        Some(d) => d.clone(),
                        None => tenant.default_store(self.host)?.ok_or_else(|| {
                            ToolError::new(ErrorCode::StoreNotFound, NO_STORE_HINT)
                        })?,
                    },
                };
                let record = tenant.resolve(self.host, &id)?;
                tenant.credentials(&record)?
            }
        };
        self.journal.note(Some(&creds.store_id), &creds.store_id);
        Ok(StoreCtx {
            host: self.host,
            settings: self.settings,
            tenant: self.tenant().to_string(),
            creds,
            journal: self.journal,
        })
    }

    fn configured_store(&self, wanted: Option<&str>) -> Result<Credentials, ToolError> {
        let configured = Credentials::configured(self.settings)?
            .ok_or_else(|| ToolError::new(ErrorCode::StoreNotFound, NO_STORE_HINT))?;
        if let Some(w) = wanted.filter(|w| *w != configured.store_id) {
            return Err(ToolError::new(
                ErrorCode::StoreNotFound,
                format!(
                    "store {w:?} is not available: this server is configured for store {}",
                    configured.store_id
                ),
            ));
        }
        Ok(configured)
    }

    /// Ask the host to present `credential` on this connection's later calls.
    pub fn bind_credential(&self, credential: String) {
        self.bind.borrow_mut().credential = Some(credential);
    }

    /// Ask the host to present `store_id` as this connection's default store.
    pub fn bind_default_store(&self, store_id: String) {
        self.bind.borrow_mut().default_store = Some(store_id);
    }

    /// The store this connection will use by default after this call.
    pub fn default_store_after(&self) -> Result<Option<String>, ToolError> {
        if let Some(bound) = &self.bind.borrow().default_store {
            return Ok(Some(bound.clone()));
        }
        if let Some(d) = &self.caller.default_store {
            return Ok(Some(d.clone()));
        }
        match &self.principal {
            Principal::Tenant(t) => t.default_store(self.host),
            Principal::SingleStore => Ok(self.settings.store_id.clone()),
        }
    }

    pub fn into_bind(self) -> Bind {
        self.bind.into_inner()
    }
}
