//! Data types stored by tern: RFC 6121 §2.1.2 roster items (subscription states of
//! §2.1.2.5), XEP-0160 offline messages, and the error type. Also the row ⇄ value
//! conversions shared by the SQL backends, so SQLite and PostgreSQL decode identically.

use crate::{ScramCredentials, StoredCredentials};

/// Result of every [`Store`](crate::Store) operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Errors returned by a [`Store`](crate::Store).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create_account` for a (vhost, user) that already exists.
    #[error("account exists")]
    AccountExists,
    /// The operation needs an existing account and there is none.
    #[error("no such account")]
    NoSuchAccount,
    /// Any database failure (connection, I/O, constraint, corrupt row…).
    #[error("database: {0}")]
    Db(String),
    /// Applying the embedded schema migrations failed (e.g. the database was
    /// migrated by a newer tern, or a migration was edited after being applied).
    #[error("migration: {0}")]
    Migration(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(e.to_string())
    }
}

/// Roster subscription state, RFC 6121 §2.1.2.5 (the `subscription` attribute).
///
/// The transitional "pending out" state is not a value here: it is [`RosterItem::ask`].
/// `remove` is a roster-set action, not a stored state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// Neither party has a subscription to the other's presence.
    None,
    /// The user has a subscription to the contact's presence.
    To,
    /// The contact has a subscription to the user's presence.
    From,
    /// Both directions.
    Both,
}

impl Subscription {
    /// The attribute value: `none`, `to`, `from` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// Parses an attribute value (exact, lowercase); `None` for anything else,
    /// including `remove`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Subscription::None),
            "to" => Some(Subscription::To),
            "from" => Some(Subscription::From),
            "both" => Some(Subscription::Both),
            _ => None,
        }
    }
}

impl std::fmt::Display for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One roster item (RFC 6121 §2.1.2). Stored verbatim: the store neither
/// normalizes nor deduplicates `groups`; it keeps their order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterItem {
    /// The contact's bare JID (the item key).
    pub jid: String,
    /// The user-assigned handle (`name` attribute), if any.
    pub name: Option<String>,
    /// The subscription state.
    pub subscription: Subscription,
    /// "Pending out": the user sent a subscription request not yet answered
    /// (`ask='subscribe'`, RFC 6121 §2.1.2.2).
    pub ask: bool,
    /// `<group/>` names, in the order given.
    pub groups: Vec<String>,
}

/// A message stored for an offline user (RFC 6121 §8.5.2.2.1, XEP-0160).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Store-assigned id; strictly increasing in push order, never reused.
    pub id: i64,
    /// The serialized `<message/>` stanza.
    pub stanza: String,
    /// When it was stored, in Unix milliseconds (for the XEP-0203 delay stamp).
    pub stamp_ms: i64,
}

/// Encodes roster groups into one column: each group as `<byte length>:<name>`,
/// concatenated. Lossless for any strings (empty names, separators, order, dups).
pub(crate) fn encode_groups(groups: &[String]) -> String {
    let mut out = String::new();
    for g in groups {
        out.push_str(&g.len().to_string());
        out.push(':');
        out.push_str(g);
    }
    out
}

/// Inverse of [`encode_groups`].
pub(crate) fn decode_groups(mut s: &str) -> StoreResult<Vec<String>> {
    let corrupt = || StoreError::Db("corrupt roster groups column".into());
    let mut groups = Vec::new();
    while !s.is_empty() {
        let (len, rest) = s.split_once(':').ok_or_else(corrupt)?;
        let len: usize = len.parse().map_err(|_| corrupt())?;
        let name = rest.get(..len).ok_or_else(corrupt)?;
        groups.push(name.to_owned());
        s = rest.get(len..).ok_or_else(corrupt)?;
    }
    Ok(groups)
}

/// A roster row as the SQL backends select it:
/// `contact, name, subscription, ask, groups`.
pub(crate) type RosterRow = (String, Option<String>, String, bool, String);

/// A row of the roster joined to its account: the version, then a [`RosterRow`]'s
/// columns, all `NULL` when the roster is empty.
pub(crate) type VersionedRosterRow = (i64, Option<String>, Option<String>, Option<String>, Option<bool>, Option<String>);

/// The item of a [`VersionedRosterRow`], if it has one.
pub(crate) fn roster_item_from_versioned(row: VersionedRosterRow) -> Option<StoreResult<RosterItem>> {
    let (_, contact, name, sub, ask, groups) = row;
    let contact = contact?;
    let Some(sub) = sub else {
        return Some(Err(StoreError::Db(format!("roster item {contact:?} without a subscription"))));
    };
    Some(roster_item_from_row((contact, name, sub, ask.unwrap_or(false), groups.unwrap_or_default())))
}

pub(crate) fn roster_item_from_row(row: RosterRow) -> StoreResult<RosterItem> {
    let (jid, name, sub, ask, groups) = row;
    let subscription = Subscription::parse(&sub)
        .ok_or_else(|| StoreError::Db(format!("invalid subscription value {sub:?}")))?;
    Ok(RosterItem {
        jid,
        name,
        subscription,
        ask,
        groups: decode_groups(&groups)?,
    })
}

/// One hash's SCRAM columns: `salt, iterations, stored_key, server_key`.
pub(crate) type ScramRow = (Vec<u8>, i64, Vec<u8>, Vec<u8>);

/// The credential columns as the SQL backends select them: sha1 then sha256.
pub(crate) type CredentialsRow = (
    Vec<u8>,
    i64,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    i64,
    Vec<u8>,
    Vec<u8>,
);

fn scram_from_row(
    (salt, iterations, stored_key, server_key): ScramRow,
) -> StoreResult<ScramCredentials> {
    let iterations = u32::try_from(iterations)
        .map_err(|_| StoreError::Db(format!("invalid SCRAM iteration count {iterations}")))?;
    Ok(ScramCredentials {
        salt,
        iterations,
        stored_key,
        server_key,
    })
}

pub(crate) fn credentials_from_row(r: CredentialsRow) -> StoreResult<StoredCredentials> {
    Ok(StoredCredentials {
        sha1: scram_from_row((r.0, r.1, r.2, r.3))?,
        sha256: scram_from_row((r.4, r.5, r.6, r.7))?,
    })
}

/// The inverse of `scram_from_row`, in bind order.
pub(crate) fn scram_to_row(c: &ScramCredentials) -> ScramRow {
    (
        c.salt.clone(),
        i64::from(c.iterations),
        c.stored_key.clone(),
        c.server_key.clone(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn subscription_round_trip() {
        for s in [
            Subscription::None,
            Subscription::To,
            Subscription::From,
            Subscription::Both,
        ] {
            assert_eq!(Subscription::parse(s.as_str()), Some(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(Subscription::parse("remove"), None);
        assert_eq!(Subscription::parse("Both"), None);
    }

    #[test]
    fn groups_round_trip() {
        let cases: Vec<Vec<String>> = vec![
            vec![],
            vec![String::new()],
            vec!["Friends".into()],
            vec!["a:b".into(), "12:x".into(), "".into(), "Ünïcödé ☃".into()],
            vec!["dup".into(), "dup".into()],
        ];
        for groups in cases {
            let enc = encode_groups(&groups);
            assert_eq!(decode_groups(&enc).unwrap(), groups, "{enc:?}");
        }
        assert_eq!(encode_groups(&[]), "");
    }

    #[test]
    fn corrupt_groups_rejected() {
        for bad in ["x", "3:ab", "a:b", "1:\u{e9}", ":", "-1:"] {
            assert!(decode_groups(bad).is_err(), "{bad:?}");
        }
    }
}
