//! Sync tools: `sync_configure`, `sync_status`, `sync_trigger`, `sync_stats`,
//! `sync_reset_stats`. The mirror and webhook tools are in `mirror.rs` and `webhooks.rs`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::{FolderRef, StoreRef};
use super::store::StoreArgs;
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::mirror::Mirror;
use crate::services::sync::{self, RunOptions, RunReport, Stats, SyncConfig, SyncState};
use crate::services::{StoreCtx, background, store, webhooks};

pub const TOOLS: &[Tool] = &[
    tool!(
        "sync_configure",
        "Turn on order sync for a store",
        "Opt a store into background polling and/or webhooks, and set how: every \
         interval_minutes the server fetches the orders modified in the last \
         lookback_minutes (more than the interval, so windows overlap) into its local \
         mirror, batch_size orders per page, at most max_pages pages. Optionally only some \
         folders; orders in cancelled_folders (default the folders named Cancelled or \
         Canceled) count as cancelled. Opting in keeps a copy of the store's API key \
         encrypted under the server's secret so the poller and webhook checks work with no \
         one signed in; enabled=false and webhooks=false remove that copy. Reads the \
         store's folder list from OrderDesk (cached).",
        Annotations {
            open_world: true,
            ..Annotations::LOCAL
        },
        configure,
    ),
    tool!(
        "sync_status",
        "Sync status of a store",
        "A store's sync settings, whether a run is going on, the last run's report, when \
         the next poll is due, and the cumulative stats.",
        Annotations::LOCAL_READ,
        status,
    ),
    tool!(
        "sync_trigger",
        "Sync a store's orders now",
        "Poll OrderDesk now for the orders modified in the lookback window and bring the \
         local mirror up to date; reports how many orders were created, updated, cancelled, \
         skipped or already in sync. dry_run=true reports what would change and writes \
         nothing. Sends progress notifications per page when asked for; a cancelled call \
         stops after the current page. A long run that outlasts this call goes on in the \
         background (status \"running\"; see sync_status). Uses the store's rate limit \
         while leaving room for other calls.",
        Annotations {
            open_world: true,
            ..Annotations::LOCAL
        },
        trigger,
    ),
    tool!(
        "sync_stats",
        "Sync counters of a store",
        "Cumulative sync counters of a store since the last reset: orders polled, already \
         synced, newly synced, updated, cancelled, skipped, failed runs, success rate, \
         last poll time.",
        Annotations::LOCAL_READ,
        stats,
    ),
    tool!(
        "sync_reset_stats",
        "Reset sync counters",
        "Set a store's cumulative sync counters back to zero (the mirror is untouched).",
        Annotations::LOCAL,
        reset_stats,
    ),
];

/// Folder ids for `wanted`, names resolved through the store's folder list.
pub(super) fn resolve_folders(
    sc: &StoreCtx,
    field: &str,
    wanted: &[FolderRef],
) -> Result<Vec<u64>, ToolError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let folders = store::settings(sc)?.folders;
    wanted
        .iter()
        .map(|w| match w {
            FolderRef::Id(id) => Ok(id.0),
            FolderRef::Name(name) => folders
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .map(|f| f.id)
                .ok_or_else(|| {
                    let known: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
                    ToolError::invalid_argument(
                        field,
                        format!(
                            "the store has no folder {name:?} (it has: {})",
                            known.join(", ")
                        ),
                    )
                }),
        })
        .collect()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigureArgs {
    pub store: Option<StoreRef>,
    /// Poll in the background (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Minutes between polls, 1-1440 (default 15).
    #[serde(default = "default_interval")]
    pub interval_minutes: u32,
    /// Fetch orders modified within this many minutes; more than interval_minutes, at most
    /// 525600 (default twice the interval).
    pub lookback_minutes: Option<u32>,
    /// Orders per page, 1-500 (default 100).
    #[serde(default = "default_batch")]
    pub batch_size: u32,
    /// Most pages per run, 1-1000 (default 100).
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Poll only these folders (ids or names); default all.
    #[serde(default)]
    pub folders: Vec<FolderRef>,
    /// Folders whose orders count as cancelled (ids or names); default the folders named
    /// Cancelled or Canceled.
    pub cancelled_folders: Option<Vec<FolderRef>>,
    /// Accept OrderDesk webhook deliveries for this store (default true).
    #[serde(default = "yes")]
    pub webhooks: bool,
}

fn yes() -> bool {
    true
}
fn default_interval() -> u32 {
    15
}
fn default_batch() -> u32 {
    100
}
fn default_max_pages() -> u32 {
    100
}

/// The longest lookback: a year.
const MAX_LOOKBACK_MINUTES: u32 = 525_600;

fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<(), ToolError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ToolError::invalid_argument(
            field,
            format!("must be {min}-{max}, got {value}"),
        ))
    }
}

impl Validate for ConfigureArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_range("interval_minutes", self.interval_minutes, 1, 1440)?;
        check_range("batch_size", self.batch_size, 1, 500)?;
        check_range("max_pages", self.max_pages, 1, 1000)?;
        if let Some(lookback) = self.lookback_minutes {
            check_range("lookback_minutes", lookback, 1, MAX_LOOKBACK_MINUTES)?;
            if lookback <= self.interval_minutes {
                return Err(ToolError::invalid_argument(
                    "lookback_minutes",
                    format!(
                        "must be more than interval_minutes ({}), so consecutive polls overlap",
                        self.interval_minutes
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigureOut {
    pub store_id: String,
    pub config: SyncConfig,
    /// Whether the server now keeps an encrypted copy of the store's key for background
    /// work.
    pub unattended_key: bool,
}

fn configure(ctx: &Ctx, args: ConfigureArgs) -> Result<ConfigureOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let folders = resolve_folders(&sc, "folders", &args.folders)?;
    let cancelled_folders = match &args.cancelled_folders {
        Some(list) => resolve_folders(&sc, "cancelled_folders", list)?,
        None => sync::cancelled_by_name(&store::settings(&sc)?.folders),
    };
    let config = SyncConfig {
        enabled: args.enabled,
        interval_minutes: args.interval_minutes,
        lookback_minutes: args
            .lookback_minutes
            .unwrap_or(args.interval_minutes.saturating_mul(2)),
        batch_size: args.batch_size,
        max_pages: args.max_pages,
        folders,
        cancelled_folders,
        webhooks: args.webhooks,
        updated_at: ctx.host.now_ms(),
    };
    background::configure(&sc, &config)?;
    sc.note_target(&format!("sync:{}", sc.store_id()));
    Ok(ConfigureOut {
        store_id: sc.store_id().to_string(),
        unattended_key: background::key_kept(&sc)?,
        config,
    })
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusOut {
    pub store_id: String,
    /// Whether sync_configure was called for this store.
    pub configured: bool,
    pub config: Option<SyncConfig>,
    /// Whether the server keeps an encrypted copy of the store's key for background work.
    pub unattended_key: bool,
    /// Whether the last run is still going (or left to be resumed).
    pub running: bool,
    pub last_run: Option<RunReport>,
    /// When the next background poll is due, milliseconds since the Unix epoch.
    pub next_run_at: Option<u64>,
    /// Orders in the mirror.
    pub mirrored_orders: u64,
    /// Webhook deliveries kept for webhooks_list.
    pub webhook_events: u64,
    pub stats: Stats,
}

fn status(ctx: &Ctx, args: StoreArgs) -> Result<StatusOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let (tenant, store_id) = (ctx.tenant(), sc.store_id());
    let state = SyncState::new(ctx.host, tenant, store_id);
    let config = state.config()?;
    let last_run = state.last_run()?;
    Ok(StatusOut {
        store_id: store_id.to_string(),
        configured: config.is_some(),
        unattended_key: background::key_kept(&sc)?,
        running: last_run
            .as_ref()
            .is_some_and(|r| r.status == sync::RunStatus::Running),
        next_run_at: state.next_run_at(config.as_ref())?,
        mirrored_orders: Mirror::new(ctx.host, tenant, store_id).count()?,
        webhook_events: webhooks::count(ctx.host, tenant, store_id)?,
        stats: state.stats()?,
        config,
        last_run,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerArgs {
    pub store: Option<StoreRef>,
    /// Fetch orders modified within this many minutes (default the store's setting, else
    /// 30), at most 525600.
    pub lookback_minutes: Option<u32>,
    /// Orders per page, 1-500 (default the store's setting, else 100).
    pub batch_size: Option<u32>,
    /// Most pages, 1-1000 (default the store's setting, else 100).
    pub max_pages: Option<u32>,
    /// Report what would change and write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl Validate for TriggerArgs {
    fn validate(&self) -> Result<(), ToolError> {
        if let Some(v) = self.lookback_minutes {
            check_range("lookback_minutes", v, 1, MAX_LOOKBACK_MINUTES)?;
        }
        if let Some(v) = self.batch_size {
            check_range("batch_size", v, 1, 500)?;
        }
        if let Some(v) = self.max_pages {
            check_range("max_pages", v, 1, 1000)?;
        }
        Ok(())
    }
}

fn trigger(ctx: &Ctx, args: TriggerArgs) -> Result<RunReport, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    sc.note_target(&format!("sync:{}", sc.store_id()));
    let options = RunOptions {
        lookback_minutes: args.lookback_minutes,
        batch_size: args.batch_size,
        max_pages: args.max_pages,
        dry_run: args.dry_run,
        wait_for_lock_secs: 0,
    };
    // Leave the call time to answer: past 60 % of its deadline, the run goes on in the
    // background.
    let budget = (ctx.settings.call_timeout_ms > 0).then(|| ctx.settings.call_timeout_ms * 6 / 10);
    sync::run(&sc, &options, budget)
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StatsOut {
    pub store_id: String,
    pub stats: Stats,
}

fn stats(ctx: &Ctx, args: StoreArgs) -> Result<StatsOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let stats = SyncState::new(ctx.host, ctx.tenant(), sc.store_id()).stats()?;
    Ok(StatsOut {
        store_id: sc.store_id().to_string(),
        stats,
    })
}

fn reset_stats(ctx: &Ctx, args: StoreArgs) -> Result<StatsOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    sc.note_target(&format!("sync:{}", sc.store_id()));
    let stats = SyncState::new(ctx.host, ctx.tenant(), sc.store_id()).reset_stats()?;
    Ok(StatsOut {
        store_id: sc.store_id().to_string(),
        stats,
    })
}
