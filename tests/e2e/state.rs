//! The state file over time: the cache stays within its cap and sheds what generations and
//! lifetimes made useless, and the file is private to its user.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use support::{Launch, fake_unlimited, spawn};

fn cache_rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT COUNT(*) FROM cache", [], |r| r.get(0))
        .unwrap()
}

/// An unthrottled server against `fake` on a fresh SQLite file in `dir`, with `setting`.
async fn on_sqlite(
    fake: &support::FakeOrderDesk,
    dir: &Path,
    setting: [&str; 2],
) -> (support::Server, std::path::PathBuf) {
    let db = dir.join("state.db");
    let launch = Launch::against(fake)
        .state(format!("sqlite:{}", db.display()))
        .unthrottled()
        .arg(setting[0])
        .arg(setting[1]);
    (spawn(launch).await, db)
}

#[tokio::test]
async fn ten_thousand_distinct_list_calls_leave_the_cache_at_its_cap() {
    let fake = fake_unlimited().await;
    let dir = tempfile::tempdir().unwrap();
    let (server, db) = on_sqlite(&fake, dir.path(), ["--cache-max-entries", "300"]).await;
    let calls: Vec<u64> = (0..10_000).collect();
    for chunk in calls.chunks(50) {
        let pages = chunk
            .iter()
            .map(|offset| server.ok("orders_list", json!({ "limit": 1, "offset": offset })));
        for page in futures::future::join_all(pages).await {
            assert_eq!(page["cache"], "miss", "every filter is distinct");
        }
    }
    assert_eq!(fake.stats().count("GET /orders"), 10_000);
    server.stop().await;
    assert_eq!(cache_rows(&db), 300, "the cache holds its cap, no more");
}

#[tokio::test]
async fn entries_a_write_made_unreachable_are_swept_when_they_expire() {
    let fake = fake_unlimited().await;
    let dir = tempfile::tempdir().unwrap();
    let (server, db) = on_sqlite(&fake, dir.path(), ["--cache-ttl-orders", "1"]).await;
    let ids = fake.order_ids();
    for id in &ids[..40] {
        server.ok("orders_get", json!({ "order_id": id })).await;
    }
    assert_eq!(cache_rows(&db), 40);
    // A write bumps the orders generation: those 40 entries can never be read again.
    server
        .ok(
            "orders_add_note",
            json!({ "order_id": ids[0], "note": "n" }),
        )
        .await;
    let fresh = server.ok("orders_get", json!({ "order_id": ids[1] })).await;
    assert_eq!(fresh["cache"], "miss");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    server.ok("orders_get", json!({ "order_id": ids[2] })).await;
    assert_eq!(
        cache_rows(&db),
        1,
        "only the entry written just now is left"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_state_file_and_its_directory_are_private() {
    let fake = fake_unlimited().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh/orderdesk/state.db");
    let server = spawn(Launch::against(&fake).state(format!("sqlite:{}", db.display()))).await;
    server
        .ok("orders_get", json!({ "order_id": fake.order_ids()[0] }))
        .await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(db.parent().unwrap().parent().unwrap()), 0o700);
    let wal = db.with_extension("db-wal");
    assert!(wal.exists(), "WAL mode");
    assert_eq!(mode(&wal), 0o600, "SQLite's side files inherit the mode");
    server.stop().await;
}
