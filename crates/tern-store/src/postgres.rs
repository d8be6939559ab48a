//! PostgreSQL [`Store`](crate::Store): accounts, RFC 6121 §2 rosters (XEP-0237
//! versions), RFC 6121 §3.1.3 pending requests, XEP-0160 offline messages and
//! XEP-0191 block lists, for deployments that want a database server.
//!
//! Text keys use the "C" collation (see `migrations/postgres`) so that sort order
//! is byte order, the same as SQLite's and the in-memory store's, whatever the
//! database's default locale.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::sql::impl_sql_store;
use crate::{StoreError, StoreResult};

/// Pool size. Each connection is a server process, so keep it modest.
const MAX_CONNECTIONS: u32 = 10;

/// A [`Store`](crate::Store) in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database[?…]`)
    /// and applies pending migrations (`migrations/postgres`). The database must
    /// exist; the user needs the right to create tables in it.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Db(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes all connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction.
    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

impl_sql_store!(PgStore, Postgres);

#[cfg(test)]
mod tests;
