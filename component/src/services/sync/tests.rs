use serde_json::json;

use super::*;
use crate::client::Credentials;
use crate::config::{Secret, Settings};
use crate::error::ErrorCode;
use crate::host::Host;
use crate::host::NetError;
use crate::services::Journal;
use crate::services::StoreCtx;
use crate::services::mirror::Mirror;
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
        stats.already_synced + stats.newly_synced + stats.updated + stats.cancelled + stats.skipped
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
