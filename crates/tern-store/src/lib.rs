//! Persistent storage for tern: accounts (SCRAM credentials, never passwords),
//! rosters (RFC 6121 §2) with XEP-0237 versioning, pending inbound subscription
//! requests (RFC 6121 §3.1.3), offline messages (RFC 6121 §8.5.2.2.1, XEP-0160) and
//! block lists (XEP-0191).
//!
//! Backends: [`SqliteStore`] (the default: one file, WAL mode), [`PgStore`]
//! (PostgreSQL) and [`MemoryStore`] (unit tests only). [`open_store`] picks one from a
//! URL or path.
//!
//! Conventions shared by every backend (checked by one conformance suite):
//! - Users are keyed by `(vhost, user)`; `user` is the already nodeprep'd localpart.
//!   Contact JIDs are stored exactly as given (the caller normalizes them).
//! - Every per-user list is sorted by its key (byte order), except offline messages,
//!   which are FIFO.
//! - Operations that add per-user data (`roster_put`, `pending_in_add`,
//!   `offline_push`, `block`) fail with [`StoreError::NoSuchAccount`] when the account
//!   does not exist, so no data outlives its account. Reads of a missing account
//!   return empty results (version 0), and removals are no-ops.

mod memory;
mod postgres;
mod sql;
mod sqlite;
mod types;

#[cfg(test)]
mod conformance;

use std::sync::Arc;

pub use memory::MemoryStore;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use tern_auth::{ScramCredentials, StoredCredentials};
pub use types::{OfflineMessage, RosterItem, StoreError, StoreResult, Subscription};

/// The storage interface used by the server. All methods are atomic.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // --- accounts ---

    /// Creates an account; [`StoreError::AccountExists`] if it already exists.
    async fn create_account(
        &self,
        vhost: &str,
        user: &str,
        creds: &StoredCredentials,
    ) -> StoreResult<()>;
    /// Replaces the credentials (password change); [`StoreError::NoSuchAccount`].
    async fn set_credentials(
        &self,
        vhost: &str,
        user: &str,
        creds: &StoredCredentials,
    ) -> StoreResult<()>;
    /// The stored credentials, `None` if there is no such account.
    async fn credentials(&self, vhost: &str, user: &str) -> StoreResult<Option<StoredCredentials>>;
    /// Deletes the account with its roster, pending requests, offline messages and
    /// block list, in one transaction. `false` if there was no such account.
    async fn delete_account(&self, vhost: &str, user: &str) -> StoreResult<bool>;
    /// The usernames of a vhost, sorted.
    async fn list_accounts(&self, vhost: &str) -> StoreResult<Vec<String>>;
    /// Whether the account exists.
    async fn account_exists(&self, vhost: &str, user: &str) -> StoreResult<bool>;

    // --- roster (RFC 6121 §2, XEP-0237) ---

    /// `(current version, items sorted by jid)`. The version starts at 0 for a new
    /// account and increases by at least one on every change.
    async fn roster(&self, vhost: &str, user: &str) -> StoreResult<(u64, Vec<RosterItem>)>;
    /// The current roster version (0 for a new or missing account).
    async fn roster_version(&self, vhost: &str, user: &str) -> StoreResult<u64>;
    /// One item, by contact bare JID.
    async fn roster_item(
        &self,
        vhost: &str,
        user: &str,
        contact: &str,
    ) -> StoreResult<Option<RosterItem>>;
    /// Inserts or replaces the item keyed by `item.jid`; returns the new version.
    async fn roster_put(&self, vhost: &str, user: &str, item: &RosterItem) -> StoreResult<u64>;
    /// Removes an item; the new version, or `None` (version unchanged) if absent.
    async fn roster_remove(
        &self,
        vhost: &str,
        user: &str,
        contact: &str,
    ) -> StoreResult<Option<u64>>;

    // --- inbound subscription requests awaiting approval (RFC 6121 §3.1.3) ---

    /// Records (or replaces) the request from `contact` with its stanza.
    async fn pending_in_add(
        &self,
        vhost: &str,
        user: &str,
        contact: &str,
        stanza: &str,
    ) -> StoreResult<()>;
    /// Removes the request from `contact`; `false` if there was none.
    async fn pending_in_remove(&self, vhost: &str, user: &str, contact: &str) -> StoreResult<bool>;
    /// All requests as `(contact, stanza)`, sorted by contact.
    async fn pending_in(&self, vhost: &str, user: &str) -> StoreResult<Vec<(String, String)>>;

    // --- offline messages (RFC 6121 §8.5.2.2.1, XEP-0160), FIFO ---

    /// Stores a message; returns its id (greater than every id before it).
    async fn offline_push(
        &self,
        vhost: &str,
        user: &str,
        stanza: &str,
        stamp_ms: i64,
    ) -> StoreResult<i64>;
    /// How many messages are stored.
    async fn offline_count(&self, vhost: &str, user: &str) -> StoreResult<u64>;
    /// All stored messages, oldest first, without removing them.
    async fn offline_peek(&self, vhost: &str, user: &str) -> StoreResult<Vec<OfflineMessage>>;
    /// Deletes the messages with `id <= up_to_id`: call after they were delivered,
    /// so that a crash in between re-delivers rather than loses them.
    async fn offline_delete(&self, vhost: &str, user: &str, up_to_id: i64) -> StoreResult<()>;

    // --- XEP-0191 blocking ---

    /// The blocked JIDs, sorted.
    async fn blocklist(&self, vhost: &str, user: &str) -> StoreResult<Vec<String>>;
    /// Adds JIDs (already blocked ones are ignored).
    async fn block(&self, vhost: &str, user: &str, jids: &[String]) -> StoreResult<()>;
    /// Removes JIDs (unknown ones are ignored); an empty slice unblocks all.
    async fn unblock(&self, vhost: &str, user: &str, jids: &[String]) -> StoreResult<()>;
}

/// Opens a store from configuration:
/// - `postgres://…` or `postgresql://…` → [`PgStore::connect`];
/// - `memory:` → [`MemoryStore`] (volatile; tests only);
/// - `sqlite:PATH` (also `sqlite://PATH`) or any other string, taken as a file
///   path → [`SqliteStore::open`].
pub async fn open_store(url_or_path: &str) -> StoreResult<Arc<dyn Store>> {
    if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::connect(url_or_path).await?));
    }
    if url_or_path == "memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    let path = url_or_path
        .strip_prefix("sqlite://")
        .or_else(|| url_or_path.strip_prefix("sqlite:"))
        .unwrap_or(url_or_path);
    if path.is_empty() {
        return Err(StoreError::Db("empty SQLite path".into()));
    }
    Ok(Arc::new(
        SqliteStore::open(std::path::Path::new(path)).await?,
    ))
}
