//! Polling sync: per store, fetch the orders modified within a lookback window, page by
//! page, into the [`mirror`](super::mirror), and keep cumulative stats.
//!
//! State layout (`state` bucket), for tenant `t` and store `s`: `sync/{t}/{s}/config`,
//! `sync/{t}/{s}/stats`, `sync/{t}/{s}/run` (the current or last run), and the list
//! `sync-targets` (`"{t} {s}"` of every configured store). One instance polls a store at a
//! time: a run holds the lock `sync/{t}/{s}`, renewed every page.
//!
//! Pages are read in id order (`order_by=id&order=asc`): an order edited while a run pages
//! through the window keeps its place, and a newly modified one only shifts later pages
//! by one, so a run sees each order that was in the window when it began at least once.
//! After every page the run's offset and the stats are saved, so a run cut off (a killed
//! process, the call's time budget) is resumed where it stopped; the pages it applied
//! count as `already_synced` when read again.
//!
//! The poller draws from the store's shared upstream bucket with `sync_reserve_tokens`
//! fewer tokens than interactive calls may use, so agents always find room.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::StoreCtx;
use super::mirror::{Change, Mirror, Via};
use super::store::Folder;
use crate::cache::Family;
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Bucket, Host, Level};
use crate::kv::{AppendList, get_json, set_json};
use crate::lock::Lease;

/// A sync run's lease: short, so a killed poller's store is free again soon; renewed at
/// every page (a page is one request, plus at most one rate-limit wait).
pub const SYNC_LEASE_MS: u64 = 20_000;

/// Folder names that mean "cancelled" when `cancelled_folders` is not given.
pub const DEFAULT_CANCELLED_FOLDERS: [&str; 2] = ["Cancelled", "Canceled"];

/// How many changes a dry run lists.
const DRY_RUN_CHANGES: usize = 100;

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
    fn add(&mut self, c: &Counts) {
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

    fn with_rate(mut self) -> Self {
        self.success_rate = if self.runs == 0 {
            1.0
        } else {
            (self.runs - self.sync_errors.min(self.runs)) as f64 / self.runs as f64
        };
        self
    }
}

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
    fn add(&mut self, page: &Counts) {
        self.polled += page.polled;
        self.created += page.created;
        self.updated += page.updated;
        self.cancelled += page.cancelled;
        self.skipped += page.skipped;
        self.already_synced += page.already_synced;
    }

    fn count(&mut self, change: Change) {
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

    fn save_stats(&self, stats: &Stats) -> Result<(), ToolError> {
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

    fn save_run(&self, run: &RunReport) -> Result<(), ToolError> {
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

    fn lock_name(&self) -> String {
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

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time in milliseconds.
pub fn utc_text(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Run (or resume) a sync of the store: pages of orders modified since `now − lookback`
/// into the mirror. `budget_ms` bounds a run inside a tool call: when it is spent, the run
/// is left open for the scheduler to resume and the report says `running`.
pub fn run(
    ctx: &StoreCtx,
    options: &RunOptions,
    budget_ms: Option<u64>,
) -> Result<RunReport, ToolError> {
    let host = ctx.host;
    let state = SyncState::new(host, &ctx.tenant, ctx.store_id());
    let stored = state.config()?;
    let mut lease = Lease::acquire(
        host,
        &state.lock_name(),
        SYNC_LEASE_MS,
        options.wait_for_lock_secs.saturating_mul(1000),
    )?
    .ok_or_else(|| {
        ToolError::new(
            ErrorCode::SyncBusy,
            format!(
                "store {} is being synced by another instance right now; sync_status shows its run",
                ctx.store_id()
            ),
        )
    })?;
    let started = host.now_ms();
    // A configured store says which folders are cancelled (resolved when configured); a
    // one-off run looks the default names up.
    let cancelled_folders = match &stored {
        Some(config) => config.cancelled_folders.clone(),
        None => default_cancelled_folders(ctx),
    };
    let config = stored.unwrap_or_else(SyncConfig::unconfigured);
    let batch_size = options
        .batch_size
        .unwrap_or(config.batch_size)
        .clamp(1, 500);
    let max_pages = options.max_pages.unwrap_or(config.max_pages).max(1);
    let lookback = options.lookback_minutes.unwrap_or(config.lookback_minutes);
    let overrides = options.lookback_minutes.is_some()
        || options.batch_size.is_some()
        || options.max_pages.is_some();
    let resumable = state
        .last_run()?
        .filter(|r| r.status == RunStatus::Running && !options.dry_run && !overrides);
    let mut report = match resumable {
        Some(open) => {
            host.log(
                Level::Info,
                "sync",
                &format!(
                    "store {}: resuming run {} at offset {}",
                    open.store_id, open.run_id, open.offset
                ),
            );
            open
        }
        None => RunReport {
            run_id: hex::encode(host.random_bytes(8)),
            store_id: ctx.store_id().to_string(),
            dry_run: options.dry_run,
            status: RunStatus::Running,
            window_start: utc_text(started.saturating_sub(u64::from(lookback) * 60_000)),
            batch_size,
            max_pages,
            pages: 0,
            offset: 0,
            total_records: None,
            counts: Counts::default(),
            changes: Vec::new(),
            has_more: false,
            started_at: started,
            finished_at: None,
            error: None,
        },
    };
    let dry = report.dry_run;
    if !dry {
        state.save_run(&report)?;
    }
    let mirror = Mirror::new(host, &ctx.tenant, ctx.store_id());
    let client = ctx.client().leaving(ctx.settings.sync_reserve_tokens);
    let mut stats = state.stats()?;
    let outcome: Result<(), ToolError> = loop {
        if report.pages >= report.max_pages {
            report.has_more = report
                .total_records
                .is_none_or(|total| report.offset < total);
            break Ok(());
        }
        if budget_ms.is_some_and(|b| host.now_ms().saturating_sub(started) >= b) {
            // Left open: the scheduler resumes it.
            if !dry {
                state.save_run(&report)?;
            }
            return Ok(report);
        }
        if !lease.keep()? {
            // The lease ran out during a long page (retries, rate-limit waits). Take it
            // back if nobody else did; pages are idempotent, so a poller that ran in the
            // gap did no harm.
            match Lease::acquire(host, &state.lock_name(), SYNC_LEASE_MS, 0)? {
                Some(again) => lease = again,
                None => {
                    break Err(ToolError::new(
                        ErrorCode::SyncBusy,
                        "another instance took over this store's sync while a page was slow",
                    ));
                }
            }
        }
        let mut query = vec![
            (
                "modified_start_date".to_string(),
                report.window_start.clone(),
            ),
            ("limit".to_string(), report.batch_size.to_string()),
            ("offset".to_string(), report.offset.to_string()),
            ("order_by".to_string(), "id".to_string()),
            ("order".to_string(), "asc".to_string()),
        ];
        if !config.folders.is_empty() {
            let ids: Vec<String> = config.folders.iter().map(u64::to_string).collect();
            query.push(("folder_id".to_string(), ids.join(",")));
        }
        let body = match client.read("/orders", &query) {
            Ok(body) => body,
            Err(e) => break Err(e.into_tool_error(ErrorCode::OdApiError)),
        };
        let orders = match envelope::objects(&body, "orders") {
            Ok(orders) => orders,
            Err(e) => break Err(e),
        };
        report.total_records = envelope::total_records(&body).or(report.total_records);
        let returned = orders.len() as u64;
        let mut page = Counts::default();
        if dry {
            for (id, change) in mirror.plan(&orders, &cancelled_folders)? {
                page.count(change);
                if change != Change::AlreadySynced && report.changes.len() < DRY_RUN_CHANGES {
                    report.changes.push(ChangeItem { id, change });
                }
            }
        } else {
            let applied = match mirror.apply(orders, &cancelled_folders, Via::Sync) {
                Ok(applied) => applied,
                Err(e) => break Err(e),
            };
            for (_, change) in &applied {
                page.count(*change);
            }
            if applied.iter().any(|(_, c)| c.writes()) {
                ctx.cache().invalidate(Family::Orders);
            }
        }
        report.counts.add(&page);
        report.offset += returned;
        report.pages += 1;
        if !dry {
            stats.add(&page);
            state.save_run(&report)?;
            state.save_stats(&stats)?;
        }
        let expected_pages = report.total_records.map(|t| {
            t.div_ceil(u64::from(report.batch_size))
                .min(u64::from(report.max_pages))
                .max(u64::from(report.pages))
        });
        host.progress(
            u64::from(report.pages),
            expected_pages,
            &format!(
                "page {}: {} orders ({} new, {} updated, {} cancelled)",
                report.pages, returned, page.created, page.updated, page.cancelled
            ),
        );
        // A short page ends the window; so does reaching OrderDesk's count (no extra
        // request for an empty page).
        let counted_all = report.total_records.is_some_and(|t| report.offset >= t);
        if returned < u64::from(report.batch_size) || counted_all {
            break Ok(());
        }
    };
    report.finished_at = Some(host.now_ms());
    let result = match outcome {
        Ok(()) => {
            report.status = if report.has_more {
                RunStatus::Partial
            } else {
                RunStatus::Done
            };
            Ok(())
        }
        Err(e) if e.code == ErrorCode::Cancelled => {
            report.status = RunStatus::Cancelled;
            Err(e)
        }
        Err(e) => {
            report.status = RunStatus::Failed;
            report.error = Some(e.message.clone());
            stats.sync_errors += 1;
            Err(e)
        }
    };
    if !dry {
        stats.runs += 1;
        stats.last_poll_time = Some(utc_text(host.now_ms()));
        state.save_run(&report)?;
        state.save_stats(&stats)?;
    }
    match result {
        Ok(()) => Ok(report),
        Err(e) => Err(e.with_detail("run", json!(report))),
    }
}

/// The ids of `folders` named like [`DEFAULT_CANCELLED_FOLDERS`] (any case).
pub fn cancelled_by_name(folders: &[Folder]) -> Vec<u64> {
    folders
        .iter()
        .filter(|f| {
            DEFAULT_CANCELLED_FOLDERS
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&f.name))
        })
        .map(|f| f.id)
        .collect()
}

/// [`cancelled_by_name`] of the store's folders (none when they cannot be read: nothing
/// then counts as cancelled).
fn default_cancelled_folders(ctx: &StoreCtx) -> Vec<u64> {
    match super::store::settings(ctx) {
        Ok(s) => cancelled_by_name(&s.folders),
        Err(e) => {
            ctx.host.log(
                Level::Warn,
                "sync",
                &format!("store folders unavailable, no folder counts as cancelled: {e}"),
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Credentials;
    use crate::config::{Secret, Settings};
    use crate::host::NetError;
    use crate::services::Journal;
    use crate::services::mirror::{Filter, SortBy};
    use crate::testing::ScriptedHost;

    fn page(ids: std::ops::Range<u64>, updated: &str, folder: u64, total: u64) -> String {
        let orders: Vec<_> = ids
            .map(|id| {
                json!({"id": id.to_string(), "email": "a@b.c", "folder_id": folder,
                       "date_added": "2026-01-01 00:00:00", "date_updated": updated})
            })
            .collect();
        json!({"status": "success", "total_records": total, "orders": orders}).to_string()
    }

    fn with_run<T>(host: &ScriptedHost, f: impl FnOnce(&StoreCtx) -> T) -> T {
        let settings = Settings::load(host).unwrap();
        let journal = Journal::new(host, "sync", "req");
        let ctx = StoreCtx {
            host,
            settings: &settings,
            tenant: "t".into(),
            creds: Credentials {
                store_id: "7".into(),
                api_key: Secret("k".into()),
            },
            journal: &journal,
        };
        f(&ctx)
    }

    fn configured(host: &ScriptedHost, batch_size: u32) {
        SyncState::new(host, "t", "7")
            .save_config(&SyncConfig {
                enabled: true,
                batch_size,
                cancelled_folders: vec![4],
                ..SyncConfig::unconfigured()
            })
            .unwrap();
    }

    #[test]
    fn a_run_pages_through_the_window_in_id_order_and_counts() {
        let host = ScriptedHost::configured();
        configured(&host, 2);
        host.answer(200, &[], &page(1..3, "2026-01-02 00:00:00", 1, 5))
            .answer(200, &[], &page(3..5, "2026-01-02 00:00:00", 4, 5))
            .answer(200, &[], &page(5..6, "2026-01-02 00:00:00", 1, 5));
        let report = with_run(&host, |ctx| run(ctx, &RunOptions::default(), None)).unwrap();
        assert_eq!(report.status, RunStatus::Done);
        assert_eq!(report.pages, 3);
        assert_eq!(
            (
                report.counts.created,
                report.counts.skipped,
                report.counts.polled
            ),
            (3, 2, 5)
        );
        let urls: Vec<String> = host
            .requests
            .borrow()
            .iter()
            .map(|r| r.url.clone())
            .collect();
        assert!(
            urls[0].contains("order_by=id") && urls[0].contains("order=asc"),
            "{}",
            urls[0]
        );
        assert!(urls[0].contains("modified_start_date=") && urls[0].contains("limit=2"));
        assert!(urls[1].contains("offset=2") && urls[2].contains("offset=4"));
        let stats = SyncState::new(&host, "t", "7").stats().unwrap();
        assert_eq!((stats.newly_synced, stats.skipped, stats.runs), (3, 2, 1));
        assert_eq!(
            stats.total_polled,
            stats.already_synced
                + stats.newly_synced
                + stats.updated
                + stats.cancelled
                + stats.skipped
        );

        // The next run sees order 1 cancelled, order 2 edited, the rest unchanged.
        let mut second =
            serde_json::from_str::<serde_json::Value>(&page(1..3, "2026-01-03 00:00:00", 1, 3))
                .unwrap();
        second["orders"][0]["folder_id"] = 4.into();
        host.answer(200, &[], &second.to_string()).answer(
            200,
            &[],
            &page(5..6, "2026-01-02 00:00:00", 1, 3),
        );
        let report = with_run(&host, |ctx| run(ctx, &RunOptions::default(), None)).unwrap();
        assert_eq!(
            (
                report.counts.cancelled,
                report.counts.updated,
                report.counts.already_synced
            ),
            (1, 1, 1)
        );
        let mirror = Mirror::new(&host, "t", "7");
        assert_eq!(mirror.count().unwrap(), 3);
        let cancelled = Filter {
            status: Some(super::super::mirror::Status::Cancelled),
            ..Filter::default()
        };
        let (n, hits) = mirror.query(&cancelled, SortBy::Id, false, 0, 10).unwrap();
        assert_eq!((n, hits[0].id.as_str()), (1, "1"));
    }

    #[test]
    fn a_dry_run_reports_and_writes_nothing() {
        let host = ScriptedHost::configured();
        configured(&host, 10);
        host.answer(200, &[], &page(1..4, "2026-01-02 00:00:00", 1, 3));
        // The rate limiter's bucket moves; nothing of the sync's own may.
        let own = |h: &ScriptedHost| {
            let kv = h.kv.borrow();
            kv.iter()
                .filter(|((_, k), _)| !k.starts_with("rl/"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        let before = own(&host);
        let options = RunOptions {
            dry_run: true,
            ..RunOptions::default()
        };
        let report = with_run(&host, |ctx| run(ctx, &options, None)).unwrap();
        assert_eq!(report.counts.created, 3);
        assert_eq!(report.changes.len(), 3);
        assert_eq!(own(&host), before, "nothing written");
    }

    #[test]
    fn a_cancelled_run_keeps_the_pages_it_applied() {
        let host = ScriptedHost::configured();
        configured(&host, 2);
        host.answer(200, &[], &page(1..3, "2026-01-02 00:00:00", 1, 6))
            .fail(NetError::Cancelled);
        let e = with_run(&host, |ctx| run(ctx, &RunOptions::default(), None)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Cancelled);
        assert_eq!(
            host.requests.borrow().len(),
            2,
            "a cancelled request is not retried"
        );
        let state = SyncState::new(&host, "t", "7");
        let last = state.last_run().unwrap().unwrap();
        assert_eq!((last.status, last.pages), (RunStatus::Cancelled, 1));
        assert_eq!(state.stats().unwrap().newly_synced, 2);
        assert_eq!(Mirror::new(&host, "t", "7").count().unwrap(), 2);
    }

    #[test]
    fn a_run_out_of_budget_is_resumed_where_it_stopped() {
        let host = ScriptedHost::configured();
        configured(&host, 2);
        host.respond(|h, _| {
            // The page takes the whole budget.
            h.now.set(h.now.get() + 5_000);
            Ok(crate::testing::response(
                200,
                &[],
                &page(1..3, "2026-01-02 00:00:00", 1, 4),
            ))
        });
        let report = with_run(&host, |ctx| run(ctx, &RunOptions::default(), Some(1_000))).unwrap();
        assert_eq!((report.status, report.offset), (RunStatus::Running, 2));
        assert!(
            {
                let state = SyncState::new(&host, "t", "7");
                state.due(&state.config().unwrap().unwrap()).unwrap()
            },
            "an open run is due at once"
        );
        host.answer(200, &[], &page(3..5, "2026-01-02 00:00:00", 1, 4));
        let resumed = with_run(&host, |ctx| run(ctx, &RunOptions::default(), None)).unwrap();
        assert_eq!(resumed.run_id, report.run_id);
        assert_eq!(resumed.status, RunStatus::Done);
        assert_eq!(resumed.counts.created, 4);
        assert!(host.requests.borrow()[1].url.contains("offset=2"));
        assert_eq!(
            host.requests.borrow().len(),
            2,
            "all 4 counted: no request for an empty page"
        );
    }

    #[test]
    fn one_poller_per_store() {
        let host = ScriptedHost::configured();
        configured(&host, 2);
        assert!(
            host.lock_acquire("sync/t/7", "someone-else", 60_000)
                .unwrap()
        );
        let e = with_run(&host, |ctx| run(ctx, &RunOptions::default(), None)).unwrap_err();
        assert_eq!(e.code, ErrorCode::SyncBusy);
        assert!(host.requests.borrow().is_empty());
    }

    #[test]
    fn the_poller_leaves_tokens_for_interactive_calls() {
        let host = ScriptedHost::configured();
        configured(&host, 1);
        for i in 0..20u64 {
            host.answer(200, &[], &page(i + 1..i + 2, "2026-01-02 00:00:00", 1, 20));
        }
        host.answer(200, &[], &page(0..0, "2026-01-02 00:00:00", 1, 20));
        with_run(&host, |ctx| run(ctx, &RunOptions::default(), None)).unwrap();
        // Capacity 18 (90 % of 20) minus the 4 reserved: the 15th request had to wait.
        let waits = host.sleeps.borrow().len();
        assert!(waits >= 6, "the poller paused for the bucket {waits} times");
    }

    #[test]
    fn utc_text_formats_like_orderdesk() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00");
        assert_eq!(utc_text(1_767_225_600_000), "2026-01-01 00:00:00");
        assert_eq!(utc_text(1_772_323_199_000), "2026-02-28 23:59:59");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc_text(1_798_761_599_999), "2026-12-31 23:59:59");
    }

    #[test]
    fn success_rate_counts_failed_runs() {
        let s = Stats::default().with_rate();
        assert_eq!(s.success_rate, 1.0);
        let s = Stats {
            runs: 4,
            sync_errors: 1,
            ..Stats::default()
        }
        .with_rate();
        assert_eq!(s.success_rate, 0.75);
    }
}
