//! Polling sync, driven from the host: the scheduler `serve`, `stdio` and `sync` run
//! (every `sync_tick_secs`, ask the component which stores are due with `intake.sync-due`,
//! then poll each with `intake.sync-run`), and `sync --once` (poll the chosen stores now,
//! one report per line). The component decides what is due and holds each store's sync
//! lock, so several processes on one state store poll each store once (`SYNC_BUSY`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bindings::exports::orderdesk::mcp::tools::ToolError;
use crate::runtime::{CallHooks, Runtime, SandboxError, SyncTarget};

/// Polls that may run at once (in the background lane of the instance pool, beside the
/// tool calls' lane, so polls never take interactive calls' instances).
pub const MAX_CONCURRENT_POLLS: usize = 4;

/// After the grace ends, how long a cancelled poll has to stop between pages.
const WIND_UP: Duration = Duration::from_secs(2);

/// The code another instance's poll of the same store makes a run fail with.
const SYNC_BUSY: &str = "SYNC_BUSY";

/// A running scheduler.
pub struct Scheduler {
    /// Stops asking for due stores.
    ticking: CancellationToken,
    /// Tells running polls to stop (their egress refuses further requests).
    polls: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Scheduler {
    /// Start ticking every `tick` (the first tick at once); `None` when `tick` is zero.
    pub fn start(runtime: Arc<Runtime>, tick: Duration) -> Option<Self> {
        if tick.is_zero() {
            tracing::info!("polling sync is off in this process (sync_tick_secs = 0)");
            return None;
        }
        let limit = MAX_CONCURRENT_POLLS;
        let ticking = CancellationToken::new();
        let polls = CancellationToken::new();
        let task = tokio::spawn(run(runtime, tick, limit, ticking.clone(), polls.clone()));
        tracing::info!(
            tick_secs = tick.as_secs(),
            concurrency = limit,
            "sync scheduler started"
        );
        Some(Self {
            ticking,
            polls,
            task,
        })
    }

    /// No new polls; those running go on.
    pub fn stop_ticking(&self) {
        self.ticking.cancel();
    }

    /// Stop: no new polls, running ones may finish until `deadline`; then they are
    /// cancelled and get [`WIND_UP`] to stop cleanly between pages.
    pub async fn shutdown(mut self, deadline: Instant) {
        self.stop_ticking();
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, &mut self.task).await.is_ok() {
            return;
        }
        tracing::info!("cancelling the polls still running");
        self.polls.cancel();
        if tokio::time::timeout(WIND_UP, &mut self.task).await.is_err() {
            tracing::warn!("a poll did not stop in time; it resumes on a later run");
            self.task.abort();
        }
    }
}

async fn run(
    runtime: Arc<Runtime>,
    tick: Duration,
    limit: usize,
    ticking: CancellationToken,
    cancel: CancellationToken,
) {
    let running: Arc<Mutex<HashSet<(String, String)>>> = Default::default();
    let slots = Arc::new(Semaphore::new(limit));
    let mut polls = JoinSet::new();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticking.cancelled() => break,
            Some(_) = polls.join_next(), if !polls.is_empty() => continue,
            _ = interval.tick() => {}
        }
        let due = match runtime.sync_due().await {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::warn!(code = e.code, "sync-due failed: {}", e.message);
                continue;
            }
            Err(e) => {
                tracing::warn!(code = e.code(), "sync-due failed: {e}");
                continue;
            }
        };
        for target in due {
            let key = (target.tenant.clone(), target.store_id.clone());
            if !running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone())
            {
                tracing::debug!(
                    tenant = target.tenant,
                    store = target.store_id,
                    "still polling this store from an earlier tick"
                );
                continue;
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
                tracing::debug!("every poll slot is busy; the other due stores wait a tick");
                break;
            };
            let done = Running {
                set: running.clone(),
                key,
            };
            let (runtime, cancel) = (runtime.clone(), cancel.clone());
            polls.spawn(async move {
                poll(&runtime, &target, CallHooks::cancelled_by(cancel)).await;
                drop((slot, done));
            });
        }
    }
    while polls.join_next().await.is_some() {}
}

/// Removes a store from the running set however its poll ends.
struct Running {
    set: Arc<Mutex<HashSet<(String, String)>>>,
    key: (String, String),
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// One background poll: counted, logged, never printed.
async fn poll(runtime: &Runtime, target: &SyncTarget, hooks: CallHooks) {
    let request_id = format!("sync-{}", uuid::Uuid::new_v4());
    let started = Instant::now();
    let result = runtime.sync_run(target, "{}", &request_id, hooks).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let run = Run::of(result);
    crate::metrics::get().sync_run(run.outcome());
    crate::history::get().record(&target.tenant, |c| c.sync_runs += 1);
    let (tenant, store) = (target.tenant.as_str(), target.store_id.as_str());
    match &run {
        Run::Reported(report) => {
            let count = |k: &str| report["counts"][k].as_u64();
            tracing::info!(
                request_id,
                tenant,
                store,
                status = report["status"].as_str(),
                pages = report["pages"].as_u64(),
                polled = count("polled"),
                created = count("created"),
                updated = count("updated"),
                cancelled = count("cancelled"),
                has_more = report["has_more"].as_bool(),
                elapsed_ms,
                "sync run"
            );
        }
        Run::Busy => tracing::debug!(
            request_id,
            tenant,
            store,
            "sync run skipped: another instance is polling this store"
        ),
        Run::Failed(code, message) => tracing::warn!(
            request_id,
            tenant,
            store,
            code,
            elapsed_ms,
            "sync run failed: {message}"
        ),
    }
}

/// What became of one `sync-run`.
#[derive(Debug, PartialEq)]
enum Run {
    /// The run report (a JSON object).
    Reported(Value),
    /// Another instance holds the store's sync lock.
    Busy,
    /// The code and message of a tool or sandbox error.
    Failed(String, String),
}

impl Run {
    fn of(result: Result<Result<String, ToolError>, SandboxError>) -> Self {
        match result {
            Ok(Ok(text)) => match serde_json::from_str::<Value>(&text) {
                Ok(report @ Value::Object(_)) => Run::Reported(report),
                _ => Run::Failed(
                    "BAD_REPORT".into(),
                    "the component's run report is not a JSON object".into(),
                ),
            },
            Ok(Err(e)) if e.code == SYNC_BUSY => Run::Busy,
            Ok(Err(e)) => Run::Failed(e.code, e.message),
            Err(e) => Run::Failed(e.code().into(), e.to_string()),
        }
    }

    /// The metric label: the report's status, or `busy` / `failed`.
    fn outcome(&self) -> &'static str {
        match self {
            Run::Reported(report) => match report["status"].as_str() {
                Some("done") => "done",
                Some("partial") => "partial",
                Some("running") => "running",
                Some("cancelled") => "cancelled",
                _ => "other",
            },
            Run::Busy => "busy",
            Run::Failed(..) => "failed",
        }
    }
}

/// Which targets `sync --once` polls.
#[derive(Debug, Default)]
pub struct Selection {
    /// Only these store ids (all when empty); each must be a target.
    pub stores: Vec<String>,
    /// Only this tenant's stores (`_` in single-store mode).
    pub tenant: Option<String>,
}

impl Selection {
    /// The chosen targets, or which asked-for store is not one.
    fn pick(&self, targets: Vec<SyncTarget>) -> Result<Vec<SyncTarget>, String> {
        let picked: Vec<SyncTarget> = targets
            .into_iter()
            .filter(|t| self.tenant.as_ref().is_none_or(|id| *id == t.tenant))
            .filter(|t| self.stores.is_empty() || self.stores.contains(&t.store_id))
            .collect();
        if let Some(missing) = self
            .stores
            .iter()
            .find(|s| !picked.iter().any(|t| t.store_id == **s))
        {
            let scope = match &self.tenant {
                Some(tenant) => format!(" of tenant {tenant}"),
                None => String::new(),
            };
            return Err(format!(
                "store {missing}{scope} does not have polling sync turned on (call the \
                 sync_configure tool for it first)"
            ));
        }
        Ok(picked)
    }
}

/// How long `sync --once` waits for a store another poller holds.
const ONCE_LOCK_WAIT_SECS: u64 = 30;

/// `orderdesk-mcp sync --once`: poll each chosen store now, one after another; print each
/// run report as one JSON line on stdout. Fails (after trying every store) when any run
/// failed.
pub async fn once(runtime: &Runtime, selection: &Selection, dry_run: bool) -> anyhow::Result<()> {
    let targets = match runtime.sync_targets().await {
        Ok(Ok(targets)) => targets,
        Ok(Err(e)) => anyhow::bail!("listing the sync targets: {}: {}", e.code, e.message),
        Err(e) => anyhow::bail!("listing the sync targets: {e}"),
    };
    let targets = selection.pick(targets).map_err(anyhow::Error::msg)?;
    if targets.is_empty() {
        eprintln!("no store has polling sync turned on (see the sync_configure tool)");
        return Ok(());
    }
    // Wait out another poller (or the lease of one that died: 20 s) rather than fail.
    let options =
        serde_json::json!({ "dry_run": dry_run, "wait_for_lock_secs": ONCE_LOCK_WAIT_SECS })
            .to_string();
    let mut failed = 0;
    for target in &targets {
        let request_id = format!("sync-{}", uuid::Uuid::new_v4());
        let result = runtime
            .sync_run(target, &options, &request_id, CallHooks::default())
            .await;
        let run = Run::of(result);
        if !dry_run {
            crate::metrics::get().sync_run(run.outcome());
        }
        match run {
            Run::Reported(report) => println!("{report}"),
            Run::Busy => {
                failed += 1;
                eprintln!(
                    "store {} (tenant {}): another instance kept polling it for \
                     {ONCE_LOCK_WAIT_SECS} s; try again later",
                    target.store_id, target.tenant
                );
            }
            Run::Failed(code, message) => {
                failed += 1;
                eprintln!(
                    "store {} (tenant {}): {code}: {message}",
                    target.store_id, target.tenant
                );
            }
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} sync runs failed",
        targets.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tenant: &str, store: &str) -> SyncTarget {
        SyncTarget {
            tenant: tenant.into(),
            store_id: store.into(),
        }
    }

    fn pairs(targets: Result<Vec<SyncTarget>, String>) -> Vec<(String, String)> {
        targets
            .unwrap()
            .into_iter()
            .map(|t| (t.tenant, t.store_id))
            .collect()
    }

    fn pair(tenant: &str, store: &str) -> (String, String) {
        (tenant.into(), store.into())
    }

    fn tool_error(code: &str) -> ToolError {
        ToolError {
            code: code.into(),
            message: "m".into(),
            details: None,
            retryable: true,
        }
    }

    #[test]
    fn a_run_is_labelled_by_its_report_status_or_its_failure() {
        let report = |status: &str| Run::of(Ok(Ok(format!(r#"{{"status":"{status}"}}"#))));
        for status in ["done", "partial", "running", "cancelled"] {
            assert_eq!(report(status).outcome(), status);
        }
        assert_eq!(report("from the future").outcome(), "other");
        assert_eq!(Run::of(Ok(Err(tool_error("SYNC_BUSY")))), Run::Busy);
        assert_eq!(Run::Busy.outcome(), "busy");
        let failed = Run::of(Ok(Err(tool_error("OD_API_401"))));
        assert_eq!(failed, Run::Failed("OD_API_401".into(), "m".into()));
        assert_eq!(failed.outcome(), "failed");
        let deadline = Run::of(Err(SandboxError::Deadline(Duration::from_secs(1))));
        assert_eq!(deadline.outcome(), "failed");
        assert!(matches!(deadline, Run::Failed(code, _) if code == "DEADLINE_EXCEEDED"));
        assert_eq!(Run::of(Ok(Ok("[1]".into()))).outcome(), "failed");
    }

    #[test]
    fn the_selection_filters_by_tenant_and_store_and_names_a_missing_store() {
        let all = || vec![target("a", "1"), target("a", "2"), target("b", "1")];
        assert_eq!(
            pairs(Selection::default().pick(all())),
            vec![pair("a", "1"), pair("a", "2"), pair("b", "1")]
        );
        let tenant_a = Selection {
            tenant: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(
            pairs(tenant_a.pick(all())),
            vec![pair("a", "1"), pair("a", "2")]
        );
        let store_1 = Selection {
            stores: vec!["1".into()],
            ..Default::default()
        };
        assert_eq!(
            pairs(store_1.pick(all())),
            vec![pair("a", "1"), pair("b", "1")]
        );
        let missing = Selection {
            stores: vec!["2".into()],
            tenant: Some("b".into()),
        };
        let e = missing.pick(all()).unwrap_err();
        assert!(
            e.contains("store 2 of tenant b") && e.contains("sync_configure"),
            "{e}"
        );
    }
}
