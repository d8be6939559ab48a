//! The [`Store`](crate::Store) implementation shared by the SQL backends: accounts,
//! RFC 6121 §2 rosters with XEP-0237 versions, RFC 6121 §3.1.3 pending requests,
//! XEP-0160 offline messages and XEP-0191 block lists.
//!
//! SQLite and PostgreSQL accept the same SQL for everything tern needs (`$N`
//! parameters, `ON CONFLICT … DO UPDATE`, `RETURNING`), so all statements are here,
//! once, and the trait impl is written once too, as a macro instantiated per backend
//! (`store_impl.rs`). Only the schemas (one migrations folder per backend) and the
//! connection setup differ.
//!
//! Lock order: every transaction that touches an account's rows locks the
//! `accounts` row first (by bumping `roster_version`), so PostgreSQL cannot deadlock
//! between a roster change and `delete_account`.

mod store_impl;

pub(crate) use store_impl::{bind_account_creds, impl_sql_store};

use crate::{StoreError, StoreResult};

/// Maps a unique-key violation (only possible on [`INSERT_ACCOUNT`]) to
/// [`StoreError::AccountExists`].
pub(crate) fn unique_as_exists(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => StoreError::AccountExists,
        _ => e.into(),
    }
}

/// Maps a foreign-key violation (a per-user row for a missing account) to
/// [`StoreError::NoSuchAccount`].
pub(crate) fn fk_as_no_account(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_foreign_key_violation() => StoreError::NoSuchAccount,
        _ => e.into(),
    }
}

/// Converts a stored non-negative count or version.
pub(crate) fn to_u64(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Db(format!("negative value {v} in database")))
}

// --- accounts. Credential parameters, in order: sha1 then sha256, each
// --- salt, iterations, stored_key, server_key (see `types::scram_to_row`).

pub(crate) const INSERT_ACCOUNT: &str = "INSERT INTO accounts (vhost, username, \
     sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, \
     sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub(crate) const UPDATE_CREDENTIALS: &str = "UPDATE accounts SET \
     sha1_salt = $3, sha1_iterations = $4, sha1_stored_key = $5, sha1_server_key = $6, \
     sha256_salt = $7, sha256_iterations = $8, sha256_stored_key = $9, \
     sha256_server_key = $10 WHERE vhost = $1 AND username = $2";

/// Selects a [`CredentialsRow`](crate::types::CredentialsRow).
pub(crate) const SELECT_CREDENTIALS: &str = "SELECT \
     sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, \
     sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key \
     FROM accounts WHERE vhost = $1 AND username = $2";

pub(crate) const ACCOUNT_EXISTS: &str =
    "SELECT username FROM accounts WHERE vhost = $1 AND username = $2";

pub(crate) const LIST_ACCOUNTS: &str =
    "SELECT username FROM accounts WHERE vhost = $1 ORDER BY username";

pub(crate) const DELETE_ACCOUNT: &str = "DELETE FROM accounts WHERE vhost = $1 AND username = $2";

/// The per-user tables (children of `accounts`), emptied by `delete_account`.
pub(crate) const DELETE_USER_ROWS: [&str; 4] = [
    "DELETE FROM roster_items WHERE vhost = $1 AND username = $2",
    "DELETE FROM pending_in WHERE vhost = $1 AND username = $2",
    "DELETE FROM offline_messages WHERE vhost = $1 AND username = $2",
    "DELETE FROM blocklist WHERE vhost = $1 AND username = $2",
];

// --- roster (RFC 6121 §2, XEP-0237)

/// Bumps the roster version, locking the account row; no row if no such account.
pub(crate) const BUMP_VERSION: &str = "UPDATE accounts \
     SET roster_version = roster_version + 1 \
     WHERE vhost = $1 AND username = $2 RETURNING roster_version";

pub(crate) const SELECT_VERSION: &str =
    "SELECT roster_version FROM accounts WHERE vhost = $1 AND username = $2";

/// The roster version and the items (a [`VersionedRosterRow`](crate::types::VersionedRosterRow)
/// each, or one without an item for an empty roster) in one statement: one snapshot, and
/// one round trip to the database instead of two.
pub(crate) const SELECT_VERSIONED_ROSTER: &str = "SELECT a.roster_version, r.contact, r.name, \
     r.subscription, r.ask, r.groups FROM accounts a LEFT JOIN roster_items r \
     ON r.vhost = a.vhost AND r.username = a.username \
     WHERE a.vhost = $1 AND a.username = $2 ORDER BY r.contact";

/// One [`RosterRow`](crate::types::RosterRow).
pub(crate) const SELECT_ROSTER_ITEM: &str = "SELECT contact, name, subscription, ask, groups \
     FROM roster_items WHERE vhost = $1 AND username = $2 AND contact = $3";

pub(crate) const UPSERT_ROSTER_ITEM: &str = "INSERT INTO roster_items \
     (vhost, username, contact, name, subscription, ask, groups) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (vhost, username, contact) DO UPDATE SET name = excluded.name, \
     subscription = excluded.subscription, ask = excluded.ask, groups = excluded.groups";

pub(crate) const DELETE_ROSTER_ITEM: &str =
    "DELETE FROM roster_items WHERE vhost = $1 AND username = $2 AND contact = $3";

// --- pending inbound subscription requests (RFC 6121 §3.1.3)

pub(crate) const UPSERT_PENDING: &str = "INSERT INTO pending_in \
     (vhost, username, contact, stanza) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (vhost, username, contact) DO UPDATE SET stanza = excluded.stanza";

pub(crate) const DELETE_PENDING: &str =
    "DELETE FROM pending_in WHERE vhost = $1 AND username = $2 AND contact = $3";

pub(crate) const SELECT_PENDING: &str = "SELECT contact, stanza FROM pending_in \
     WHERE vhost = $1 AND username = $2 ORDER BY contact";

// --- offline messages (XEP-0160)

pub(crate) const INSERT_OFFLINE: &str = "INSERT INTO offline_messages \
     (vhost, username, stanza, stamp_ms) VALUES ($1, $2, $3, $4) RETURNING id";

pub(crate) const COUNT_OFFLINE: &str =
    "SELECT COUNT(*) FROM offline_messages WHERE vhost = $1 AND username = $2";

pub(crate) const SELECT_OFFLINE: &str = "SELECT id, stanza, stamp_ms \
     FROM offline_messages WHERE vhost = $1 AND username = $2 ORDER BY id";

pub(crate) const DELETE_OFFLINE: &str =
    "DELETE FROM offline_messages WHERE vhost = $1 AND username = $2 AND id <= $3";

// --- block lists (XEP-0191)

pub(crate) const SELECT_BLOCKLIST: &str =
    "SELECT jid FROM blocklist WHERE vhost = $1 AND username = $2 ORDER BY jid";

pub(crate) const INSERT_BLOCK: &str = "INSERT INTO blocklist (vhost, username, jid) \
     VALUES ($1, $2, $3) ON CONFLICT (vhost, username, jid) DO NOTHING";

pub(crate) const DELETE_BLOCK: &str =
    "DELETE FROM blocklist WHERE vhost = $1 AND username = $2 AND jid = $3";

pub(crate) const DELETE_ALL_BLOCKS: &str =
    "DELETE FROM blocklist WHERE vhost = $1 AND username = $2";
