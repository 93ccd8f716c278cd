//! Services: what the component does for a store, whoever asks. Each takes an explicit
//! [`StoreCtx`] (tenant + store credentials), never an MCP caller, so the MCP tools, the
//! webhook intake and the sync tick call the same code. Records are described once
//! ([`crate::resource`]); writes go through one retry policy ([`write`]) and one journal
//! ([`journal`]) that audits them and drops the cached reads they make stale.
//!
//! The front doors (`tools`, `admin`, `intake`) reach the infrastructure only through
//! here: who a call acts for ([`access`]), tenants ([`tenants`]) and their stores
//! ([`stores`]), the audit trail ([`audit`]), and work done with no one signed in
//! ([`background`]). Types a door names come re-exported from the service it calls.

pub mod access;
pub mod audit;
pub mod background;
pub mod journal;
pub mod links;
pub mod mirror;
pub mod orders;
pub mod products;
pub mod records;
pub mod store;
pub mod stores;
pub mod sync;
pub mod tenants;
pub mod traces;
pub mod update;
pub mod webhooks;
pub mod write;

use crate::cache::Cache;
use crate::client::{Client, Credentials};
use crate::error::ToolError;
use crate::host::{Family, Host};
use crate::ratelimit::Account;

pub use crate::config::Settings;
pub use journal::Journal;

/// The tenant part of cache keys, limits and audit when there is no tenant (single-store
/// mode).
pub const SINGLE_STORE_TENANT: &str = "_";

/// Every call's settings, read from the host in one round trip (each call runs in a fresh
/// instance, so this is once per call).
pub fn load_settings(host: &dyn Host) -> Result<Settings, ToolError> {
    Settings::load(host)
}

/// One store, acted on for one tenant.
pub struct StoreCtx<'a> {
    pub host: &'a dyn Host,
    pub settings: &'a Settings,
    /// The tenant id, or [`SINGLE_STORE_TENANT`].
    pub tenant: String,
    pub creds: Credentials,
    pub journal: &'a Journal<'a>,
}

impl StoreCtx<'_> {
    pub fn store_id(&self) -> &str {
        &self.creds.store_id
    }

    /// An OrderDesk client for this store, on the store's shared upstream bucket.
    pub fn client(&self) -> Client<'_> {
        Client::new(
            self.host,
            self.settings,
            &self.creds,
            &Account::Store(self.creds.store_id.clone()),
        )
    }

    /// This tenant's view of the store's cached reads.
    pub fn cache(&self) -> Cache<'_> {
        Cache::new(
            self.host,
            &self.tenant,
            &self.creds.store_id,
            self.settings.ttls,
        )
    }

    /// Record that a write of `family` records (about `target`) is about to go out.
    pub fn begin_write(&self, family: Family, target: &str) -> Result<(), ToolError> {
        self.journal
            .begin(&self.tenant, &self.creds.store_id, family, target)
    }

    /// Name what the call acts on, for the audit trail.
    pub fn note_target(&self, target: &str) {
        self.journal.note(Some(&self.creds.store_id), target);
    }
}
#[cfg(test)]
mod update_tests;
