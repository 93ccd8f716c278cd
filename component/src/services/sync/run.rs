//! One run: page through the window into the mirror, saving progress after every page.

use serde_json::json;

use crate::cache::Family;
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::Level;
use crate::lock::Lease;
use crate::services::StoreCtx;
use crate::services::mirror::{Change, Mirror, Via};
use crate::services::store::Folder;

use super::calendar::utc_text;
use super::report::{ChangeItem, Counts, RunOptions, RunReport, RunStatus};
use super::state::{SyncConfig, SyncState};
use super::{DEFAULT_CANCELLED_FOLDERS, DRY_RUN_CHANGES, SYNC_LEASE_MS};

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
    match crate::services::store::settings(ctx) {
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
