//! SQLite backend (rusqlite, bundled SQLite): the embedded, durable default. WAL mode, so
//! several processes may share the file; every operation is one statement or one
//! `IMMEDIATE` transaction, so it is atomic across them. Calls run on tokio's blocking pool
//! over a few pooled connections, never on the async workers.
//!
//! Tables: `kv` (durable buckets), `cache` (evictable buckets, with expiry; expired rows
//! are swept and the table is capped), `locks` (leases). The file is created `0600` in a
//! directory created `0700`: it holds sealed keys and cached customer data.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Backend, Bucket, Keep, Layout, StateError, add_to_counter, ms, now_ms};

/// Connections kept open; WAL lets readers run beside the one writer.
const POOL: usize = 4;

fn db_err(e: rusqlite::Error) -> StateError {
    StateError::Other(format!("sqlite: {e}"))
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        db_err(e)
    }
}

struct Shared {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    layout: Layout,
}

pub struct SqliteState {
    shared: Arc<Shared>,
    slots: tokio::sync::Semaphore,
}

impl SqliteState {
    pub fn open(path: &Path, layout: Layout) -> anyhow::Result<Self> {
        prepare_file(path)?;
        let first = connect(path)?;
        first.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                bucket TEXT NOT NULL,
                key    TEXT NOT NULL,
                value  BLOB NOT NULL,
                PRIMARY KEY (bucket, key)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS cache (
                bucket     TEXT NOT NULL,
                key        TEXT NOT NULL,
                value      BLOB NOT NULL,
                expires_at INTEGER NOT NULL,
                PRIMARY KEY (bucket, key)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS cache_by_expiry ON cache (expires_at);
            CREATE TABLE IF NOT EXISTS locks (
                name       TEXT PRIMARY KEY,
                owner      TEXT NOT NULL,
                expires_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            DELETE FROM kv WHERE bucket = 'cache';",
        )?;
        first.execute(
            "DELETE FROM cache WHERE expires_at <= ?1",
            [now_ms() as i64],
        )?;
        Ok(Self {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                idle: Mutex::new(vec![first]),
                layout,
            }),
            slots: tokio::sync::Semaphore::new(POOL),
        })
    }

    /// Run `f` on a pooled connection on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &Layout) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| StateError::Other(e.to_string()))?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let taken = shared.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match taken {
                Some(c) => c,
                None => connect(&shared.path).map_err(|e| StateError::Other(e.to_string()))?,
            };
            let result = f(&mut conn, &shared.layout);
            shared
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
            result
        })
        .await
        .map_err(|e| StateError::Other(format!("sqlite worker: {e}")))?
    }
}

impl SqliteState {
    /// Run a lease statement over (?1 name, ?2 owner, ?3 new expiry, ?4 now); true when it
    /// changed the lease.
    async fn lease(
        &self,
        sql: &'static str,
        (name, owner): (&str, &str),
        ttl: Duration,
    ) -> Result<bool, StateError> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.run(move |conn, _| {
            let now = now_ms();
            let until = now.saturating_add(ms(ttl));
            let changed = conn.prepare_cached(sql)?.execute(params![
                name,
                owner,
                until as i64,
                now as i64
            ])?;
            Ok(changed == 1)
        })
        .await
    }
}

/// Create the directory (0700) and the file (0600) before SQLite opens it; tighten an
/// existing file's mode.
fn prepare_file(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Remove expired cache rows, then the soonest-expiring ones beyond the cap.
fn enforce_cap(conn: &Connection, cap: u64, now: u64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM cache WHERE expires_at <= ?1", [now as i64])?;
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM cache", [], |r| r.get(0))?;
    let excess = count - cap as i64;
    if excess > 0 {
        conn.execute(
            "DELETE FROM cache WHERE (bucket, key) IN
               (SELECT bucket, key FROM cache ORDER BY expires_at LIMIT ?1)",
            [excess],
        )?;
    }
    Ok(())
}

#[async_trait]
impl Backend for SqliteState {
    async fn get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let key = key.to_string();
        self.run(move |conn, _| {
            let found = match bucket.keep {
                Keep::Durable => conn
                    .prepare_cached("SELECT value FROM kv WHERE bucket = ?1 AND key = ?2")
                    .and_then(|mut s| {
                        s.query_row(params![bucket.name, key], |r| r.get(0))
                            .optional()
                    }),
                Keep::Cache(_) => conn
                    .prepare_cached(
                        "SELECT value FROM cache WHERE bucket = ?1 AND key = ?2
                         AND expires_at > ?3",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![bucket.name, key, now_ms() as i64], |r| r.get(0))
                            .optional()
                    }),
            };
            found.map_err(db_err)
        })
        .await
    }

    async fn set(&self, bucket: Bucket, key: &str, value: Vec<u8>) -> Result<(), StateError> {
        let key = key.to_string();
        self.run(move |conn, layout| {
            match bucket.keep {
                Keep::Durable => conn
                    .prepare_cached(
                        "INSERT INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
                    )
                    .and_then(|mut s| s.execute(params![bucket.name, key, value]))
                    .map(drop),
                Keep::Cache(ttl) => {
                    let now = now_ms();
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    tx.prepare_cached(
                        "INSERT INTO cache (bucket, key, value, expires_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (bucket, key) DO UPDATE
                         SET value = excluded.value, expires_at = excluded.expires_at",
                    )?
                    .execute(params![
                        bucket.name,
                        key,
                        value,
                        now.saturating_add(ms(ttl)) as i64
                    ])?;
                    enforce_cap(&tx, layout.cache_max_entries, now)?;
                    tx.commit()
                }
            }
            .map_err(db_err)
        })
        .await
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> Result<(), StateError> {
        let key = key.to_string();
        self.run(move |conn, _| {
            let sql = match bucket.keep {
                Keep::Durable => "DELETE FROM kv WHERE bucket = ?1 AND key = ?2",
                Keep::Cache(_) => "DELETE FROM cache WHERE bucket = ?1 AND key = ?2",
            };
            conn.prepare_cached(sql)
                .and_then(|mut s| s.execute(params![bucket.name, key]))
                .map(drop)
                .map_err(db_err)
        })
        .await
    }

    async fn list_keys(
        &self,
        bucket: Bucket,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<String>, StateError> {
        self.run(move |conn, _| {
            let page = (limit, offset as i64);
            let keys: rusqlite::Result<Vec<String>> = match bucket.keep {
                Keep::Durable => conn
                    .prepare_cached(
                        "SELECT key FROM kv WHERE bucket = ?1 ORDER BY key LIMIT ?2 OFFSET ?3",
                    )?
                    .query_map(params![bucket.name, page.0, page.1], |r| r.get(0))?
                    .collect(),
                Keep::Cache(_) => conn
                    .prepare_cached(
                        "SELECT key FROM cache WHERE bucket = ?1 AND expires_at > ?4
                         ORDER BY key LIMIT ?2 OFFSET ?3",
                    )?
                    .query_map(params![bucket.name, page.0, page.1, now_ms() as i64], |r| {
                        r.get(0)
                    })?
                    .collect(),
            };
            keys.map_err(db_err)
        })
        .await
    }

    async fn increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, StateError> {
        if bucket.keep != Keep::Durable {
            return Err(StateError::Other("counters live in durable buckets".into()));
        }
        let key = key.to_string();
        self.run(move |conn, _| {
            // IMMEDIATE takes the write lock up front, so another process cannot interleave.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let current: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM kv WHERE bucket = ?1 AND key = ?2",
                    params![bucket.name, key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            let next = add_to_counter(current.as_deref(), delta)?;
            tx.execute(
                "INSERT INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
                params![bucket.name, key, next.to_string().into_bytes()],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(next)
        })
        .await
    }

    async fn lock_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StateError> {
        // One statement: insert, or take over an expired (or our own) lease.
        self.lease(
            "INSERT INTO locks (name, owner, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE
             SET owner = excluded.owner, expires_at = excluded.expires_at
             WHERE locks.expires_at <= ?4 OR locks.owner = excluded.owner",
            (name, owner),
            ttl,
        )
        .await
    }

    async fn lock_renew(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StateError> {
        self.lease(
            "UPDATE locks SET expires_at = ?3
             WHERE name = ?1 AND owner = ?2 AND expires_at > ?4",
            (name, owner),
            ttl,
        )
        .await
    }

    async fn lock_release(&self, name: &str, owner: &str) -> Result<bool, StateError> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.run(move |conn, _| {
            let changed = conn
                .prepare_cached("DELETE FROM locks WHERE name = ?1 AND owner = ?2")
                .and_then(|mut s| s.execute(params![name, owner]))
                .map_err(db_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn cache_entries(&self) -> Result<u64, StateError> {
        self.run(move |conn, _| {
            conn.query_row(
                "SELECT COUNT(*) FROM cache WHERE expires_at > ?1",
                [now_ms() as i64],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(db_err)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn contract() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicU32::new(0);
        super::super::contract::run(|layout| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.path().join(format!("c{n}.db"));
            async move { Arc::new(SqliteState::open(&path, layout).unwrap()) as Arc<dyn Backend> }
        })
        .await;
    }

    #[tokio::test]
    async fn two_processes_share_locks_and_counters() {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("sqlite:{}", dir.path().join("shared.db").display());
        super::super::contract::two_processes(&spec, "state::sqlite::tests::contender").await;
    }

    /// The other process of `two_processes_share_locks_and_counters`; runs only when that
    /// test starts it.
    #[tokio::test]
    #[ignore = "started by two_processes_share_locks_and_counters"]
    async fn contender() {
        super::super::contract::contender().await;
    }

    #[test]
    fn survives_reopening_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/state.db");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let layout = super::super::contract::layout(Duration::from_secs(60), 100);
        let state = Bucket {
            name: "state",
            keep: Keep::Durable,
        };
        rt.block_on(async {
            let db = SqliteState::open(&path, layout.clone()).unwrap();
            db.set(state, "k", b"v".to_vec()).await.unwrap();
        });
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "the state file is private");
        assert_eq!(
            mode(path.parent().unwrap()),
            0o700,
            "and so is its directory"
        );
        rt.block_on(async {
            let again = SqliteState::open(&path, layout).unwrap();
            assert_eq!(
                again.get(state, "k").await.unwrap().as_deref(),
                Some(&b"v"[..])
            );
        });
    }
}
