//! SQLite key-value backend (rusqlite, bundled SQLite): the embedded durable default.
//! One table, WAL mode, so several processes may share the file.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{KvBackend, KvError, add_to_counter};

pub struct SqliteKv {
    conn: Mutex<Connection>,
}

fn db_err(e: rusqlite::Error) -> KvError {
    KvError::Other(format!("sqlite: {e}"))
}

impl SqliteKv {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                bucket TEXT NOT NULL,
                key    TEXT NOT NULL,
                value  BLOB NOT NULL,
                PRIMARY KEY (bucket, key)
            ) WITHOUT ROWID;",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KvBackend for SqliteKv {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.conn()
            .prepare_cached("SELECT value FROM kv WHERE bucket = ?1 AND key = ?2")
            .and_then(|mut s| s.query_row(params![bucket, key], |r| r.get(0)).optional())
            .map_err(db_err)
    }

    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute(params![bucket, key, value]))
            .map(drop)
            .map_err(db_err)
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<(), KvError> {
        self.conn()
            .prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")
            .and_then(|mut s| s.execute(params![bucket, key]))
            .map(drop)
            .map_err(db_err)
    }

    fn list_keys(&self, bucket: &str, offset: u64, limit: u32) -> Result<Vec<String>, KvError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT key FROM kv WHERE bucket = ?1 ORDER BY key LIMIT ?2 OFFSET ?3")
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![bucket, limit, offset as i64], |r| r.get(0))
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, KvError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock up front, so another process cannot interleave.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let current: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM kv WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        let next = add_to_counter(current.as_deref(), delta)?;
        tx.execute(
            "INSERT INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
            params![bucket, key, next.to_string().into_bytes()],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract() {
        let dir = tempfile::tempdir().unwrap();
        super::super::contract::run(&SqliteKv::open(&dir.path().join("a.db")).unwrap());
        let shared = std::sync::Arc::new(SqliteKv::open(&dir.path().join("b.db")).unwrap());
        super::super::contract::concurrent_increments(shared);
    }

    #[test]
    fn survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/state.db");
        SqliteKv::open(&path)
            .unwrap()
            .set("state", "k", b"v")
            .unwrap();
        let again = SqliteKv::open(&path).unwrap();
        assert_eq!(again.get("state", "k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn two_handles_on_one_file_count_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let a = std::sync::Arc::new(SqliteKv::open(&path).unwrap());
        let b = std::sync::Arc::new(SqliteKv::open(&path).unwrap());
        let ta = std::thread::spawn(move || {
            (0..100).for_each(|_| {
                a.increment("state", "c", 1).unwrap();
            })
        });
        let tb = std::thread::spawn(move || {
            (0..100).for_each(|_| {
                b.increment("state", "c", 1).unwrap();
            })
        });
        ta.join().unwrap();
        tb.join().unwrap();
        let c = SqliteKv::open(&path).unwrap();
        assert_eq!(c.increment("state", "c", 0).unwrap(), 200);
    }
}
