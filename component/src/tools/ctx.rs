//! What a tool handler may use: the caller's principal, the store it acts on (a service
//! [`StoreCtx`], chosen by [`access::store`]), and the connection state it asks the host to
//! keep.

use std::cell::RefCell;

use super::Caller;
use super::args::StoreRef;
use crate::error::{ErrorCode, ToolError};
use crate::host::Host;
use crate::services::access::{self, Principal, StoreChoice};
use crate::services::tenants::Tenant;
use crate::services::{Journal, Settings, StoreCtx};

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
    /// else the principal's.
    pub fn store(&self, wanted: Option<&StoreRef>) -> Result<StoreCtx<'_>, ToolError> {
        let choice = StoreChoice {
            wanted: wanted.map(StoreRef::as_str),
            connection_default: self.caller.default_store.as_deref(),
        };
        access::store(
            self.host,
            self.settings,
            &self.principal,
            choice,
            self.journal,
        )
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
        self.principal.default_store(self.host, self.settings)
    }

    pub fn into_bind(self) -> Bind {
        self.bind.into_inner()
    }
}
