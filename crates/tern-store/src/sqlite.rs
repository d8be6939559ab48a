//! SQLite [`Store`](crate::Store) — tern's default backend: accounts, RFC 6121 §2
//! rosters (XEP-0237 versions), RFC 6121 §3.1.3 pending requests, XEP-0160 offline
//! messages and XEP-0191 block lists in one database file.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a transaction that has
//! committed survives a process kill (SIGKILL) *and* an OS crash or power loss
//! (`NORMAL` would survive only the former). Write transactions start with
//! `BEGIN IMMEDIATE` so concurrent writers queue on `busy_timeout` instead of failing
//! with `SQLITE_BUSY` when upgrading a read lock.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::sql::impl_sql_store;
use crate::{StoreError, StoreResult};

/// How long a connection waits for another writer before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pool size: WAL lets readers run alongside the single writer.
const MAX_CONNECTIONS: u32 = 4;

/// A [`Store`](crate::Store) in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if needed) the database at
    /// `path`, enables WAL, `synchronous=FULL`, foreign keys and a busy timeout, and
    /// applies pending migrations (`migrations/sqlite`).
    pub async fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Db(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // A connection to a local file does not go stale; the pool's default ping
            // before every acquire would double the round trips to the connection's
            // worker thread for each query.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes all connections (checkpointing the WAL). Optional: dropping the store
    /// is also safe, since every commit is already durable.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`: takes the write lock now).
    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl_sql_store!(SqliteStore, Sqlite);

#[cfg(test)]
mod tests;
