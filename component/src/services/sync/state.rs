//! What a store's sync keeps: its settings, its running totals, the current or last run,
//! and its entry in the list of stores to poll.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ToolError;
use crate::host::{Bucket, Host};
use crate::kv::{AppendList, get_json, set_json};

use super::report::{Counts, RunReport, RunStatus};

/// A store's sync settings (`sync_configure`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncConfig {
    /// Whether the background poller runs for this store.
    pub enabled: bool,
    /// Minutes between polls.
    pub interval_minutes: u32,
    /// Each poll fetches the orders modified within this many minutes (more than the
    /// interval, so consecutive windows overlap).
    pub lookback_minutes: u32,
    /// Orders per page (OrderDesk allows up to 500).
    pub batch_size: u32,
    /// Most pages per run.
    pub max_pages: u32,
    /// Only orders in these folders are polled (empty: all folders).
    pub folders: Vec<u64>,
    /// An order in one of these folders counts as cancelled.
    pub cancelled_folders: Vec<u64>,
    /// Whether webhook deliveries for this store are accepted.
    pub webhooks: bool,
    /// When these settings were saved, milliseconds since the Unix epoch.
    pub updated_at: u64,
}

impl SyncConfig {
    /// The settings of a run nobody configured (a one-off `sync_trigger`).
    pub fn unconfigured() -> Self {
        Self {
            enabled: false,
            interval_minutes: 15,
            lookback_minutes: 30,
            batch_size: 100,
            max_pages: 100,
            folders: Vec::new(),
            cancelled_folders: Vec::new(),
            webhooks: false,
            updated_at: 0,
        }
    }
}

/// Cumulative counts, kept across runs and restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    /// Orders read from OrderDesk (each read of an order counts).
    pub total_polled: u64,
    /// Read, and the mirror already had that copy.
    pub already_synced: u64,
    /// New to the mirror.
    pub newly_synced: u64,
    /// Changed since the mirror's copy.
    pub updated: u64,
    /// Newly cancelled.
    pub cancelled: u64,
    /// Cancelled and never seen, so not mirrored (or older than the mirror's copy).
    pub skipped: u64,
    /// Runs that failed (OrderDesk errors, lost lock).
    pub sync_errors: u64,
    /// Runs that ended (done, partial, cancelled or failed).
    pub runs: u64,
    /// Share of runs that did not fail (1 when none ran).
    pub success_rate: f64,
    /// When the last run ended, UTC `YYYY-MM-DD HH:MM:SS`.
    pub last_poll_time: Option<String>,
}

impl Stats {
    pub(super) fn add(&mut self, c: &Counts) {
        let Counts {
            polled,
            created,
            updated,
            cancelled,
            skipped,
            already_synced,
        } = c;
        self.total_polled += polled;
        self.already_synced += already_synced;
        self.newly_synced += created;
        self.updated += updated;
        self.cancelled += cancelled;
        self.skipped += skipped;
    }

    pub(super) fn with_rate(mut self) -> Self {
        self.success_rate = if self.runs == 0 {
            1.0
        } else {
            (self.runs - self.sync_errors.min(self.runs)) as f64 / self.runs as f64
        };
        self
    }
}

/// One store's sync state for one tenant.
pub struct SyncState<'a> {
    host: &'a dyn Host,
    tenant: String,
    store_id: String,
}

fn target_entry(tenant: &str, store_id: &str) -> String {
    format!("{tenant} {store_id}")
}

fn targets_list(host: &dyn Host) -> AppendList<'_> {
    AppendList::new(host, "sync-targets")
}

/// Every configured `(tenant, store)`.
pub fn configured_targets(host: &dyn Host) -> Result<Vec<(String, String)>, ToolError> {
    Ok(targets_list(host)
        .items()?
        .into_iter()
        .filter_map(|e| {
            let (t, s) = e.split_once(' ')?;
            Some((t.to_string(), s.to_string()))
        })
        .collect())
}

impl<'a> SyncState<'a> {
    pub fn new(host: &'a dyn Host, tenant: &str, store_id: &str) -> Self {
        Self {
            host,
            tenant: tenant.to_string(),
            store_id: store_id.to_string(),
        }
    }

    fn key(&self, what: &str) -> String {
        format!("sync/{}/{}/{what}", self.tenant, self.store_id)
    }

    pub fn config(&self) -> Result<Option<SyncConfig>, ToolError> {
        get_json(self.host, Bucket::State, &self.key("config"))
    }

    pub fn save_config(&self, config: &SyncConfig) -> Result<(), ToolError> {
        set_json(self.host, Bucket::State, &self.key("config"), config)?;
        let entry = target_entry(&self.tenant, &self.store_id);
        let list = targets_list(self.host);
        if !list.items()?.contains(&entry) {
            list.push(&entry)?;
        }
        Ok(())
    }

    pub fn stats(&self) -> Result<Stats, ToolError> {
        Ok(
            get_json::<Stats>(self.host, Bucket::State, &self.key("stats"))?
                .unwrap_or_default()
                .with_rate(),
        )
    }

    pub(super) fn save_stats(&self, stats: &Stats) -> Result<(), ToolError> {
        set_json(
            self.host,
            Bucket::State,
            &self.key("stats"),
            &stats.clone().with_rate(),
        )
    }

    pub fn reset_stats(&self) -> Result<Stats, ToolError> {
        let zero = Stats::default().with_rate();
        self.save_stats(&zero)?;
        Ok(zero)
    }

    pub fn last_run(&self) -> Result<Option<RunReport>, ToolError> {
        get_json(self.host, Bucket::State, &self.key("run"))
    }

    pub(super) fn save_run(&self, run: &RunReport) -> Result<(), ToolError> {
        set_json(self.host, Bucket::State, &self.key("run"), run)
    }

    /// When the next background poll is due (ms), if `config` (the store's) has polling on.
    pub fn next_run_at(&self, config: Option<&SyncConfig>) -> Result<Option<u64>, ToolError> {
        let Some(config) = config.filter(|c| c.enabled) else {
            return Ok(None);
        };
        Ok(Some(match self.last_run()? {
            Some(run) if run.status == RunStatus::Running => self.host.now_ms(),
            Some(run) => run.started_at + u64::from(config.interval_minutes) * 60_000,
            None => config.updated_at,
        }))
    }

    /// Whether the poller should run now, given the store's `config`.
    pub fn due(&self, config: &SyncConfig) -> Result<bool, ToolError> {
        Ok(self
            .next_run_at(Some(config))?
            .is_some_and(|at| at <= self.host.now_ms()))
    }

    pub(super) fn lock_name(&self) -> String {
        format!("sync/{}/{}", self.tenant, self.store_id)
    }

    /// Forget everything about this store's sync (the store is gone).
    pub fn forget(&self) -> Result<(), ToolError> {
        for what in ["config", "stats", "run"] {
            self.host
                .kv_delete(Bucket::State, &self.key(what))
                .map_err(crate::kv::kv_err)?;
        }
        targets_list(self.host).remove(&target_entry(&self.tenant, &self.store_id))
    }
}
