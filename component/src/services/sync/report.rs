//! What a run reports: its counts, status and changes, and the options it ran with.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::services::mirror::Change;

/// What one run (or page) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub polled: u64,
    pub created: u64,
    pub updated: u64,
    pub cancelled: u64,
    /// Cancelled and never seen, or older than the mirror's copy.
    pub skipped: u64,
    pub already_synced: u64,
}

impl Counts {
    pub(super) fn add(&mut self, page: &Counts) {
        self.polled += page.polled;
        self.created += page.created;
        self.updated += page.updated;
        self.cancelled += page.cancelled;
        self.skipped += page.skipped;
        self.already_synced += page.already_synced;
    }

    pub(super) fn count(&mut self, change: Change) {
        self.polled += 1;
        match change {
            Change::Created => self.created += 1,
            Change::Updated => self.updated += 1,
            Change::Cancelled => self.cancelled += 1,
            Change::Skipped | Change::Stale => self.skipped += 1,
            Change::AlreadySynced => self.already_synced += 1,
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Under way, or left open to be resumed (time budget spent, or its poller died).
    Running,
    /// Every page of the window read.
    Done,
    /// Stopped at `max_pages` with more left.
    Partial,
    /// The caller cancelled it; the pages read so far are applied.
    Cancelled,
    /// OrderDesk or storage failed; `error` says how.
    Failed,
}

/// One change a dry run found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeItem {
    pub id: String,
    pub change: Change,
}

/// A run's report (`sync_trigger`'s result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    pub run_id: String,
    pub store_id: String,
    pub dry_run: bool,
    pub status: RunStatus,
    /// Orders modified since this instant are read (UTC `YYYY-MM-DD HH:MM:SS`).
    pub window_start: String,
    pub batch_size: u32,
    pub max_pages: u32,
    /// Pages read.
    pub pages: u32,
    /// Where the next page starts.
    pub offset: u64,
    /// Orders in the window, as OrderDesk counted them on the last page.
    pub total_records: Option<u64>,
    pub counts: Counts,
    /// Dry runs: what would change (the first 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeItem>,
    /// Whether orders were left unread (max_pages reached).
    pub has_more: bool,
    /// Milliseconds since the Unix epoch.
    pub started_at: u64,
    pub finished_at: Option<u64>,
    /// Why a failed run failed.
    pub error: Option<String>,
}

/// What a run may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOptions {
    pub lookback_minutes: Option<u32>,
    pub batch_size: Option<u32>,
    pub max_pages: Option<u32>,
    #[serde(default)]
    pub dry_run: bool,
    /// How long to wait for another poller of the store to finish (default: not at all).
    #[serde(default)]
    pub wait_for_lock_secs: u64,
}
