//! In-memory [`Store`] for unit tests: accounts, RFC 6121 §2 rosters with XEP-0237
//! versions, RFC 6121 §3.1.3 pending requests, XEP-0160 offline messages and
//! XEP-0191 block lists, all lost when the value is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::{OfflineMessage, RosterItem, Store, StoreError, StoreResult, StoredCredentials};

/// A volatile [`Store`] behind one mutex. **For unit tests only**: nothing is
/// persisted. It follows the same contract as the SQL stores (same conformance suite).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Keyed by (vhost, user), so a vhost's users are contiguous and sorted.
    accounts: BTreeMap<(String, String), Account>,
    /// Last offline message id handed out (global, like a SQL sequence).
    last_offline_id: i64,
}

#[derive(Debug)]
struct Account {
    creds: StoredCredentials,
    roster_version: u64,
    roster: BTreeMap<String, RosterItem>,
    pending_in: BTreeMap<String, String>,
    offline: Vec<OfflineMessage>,
    blocked: BTreeSet<String>,
}

fn key(vhost: &str, user: &str) -> (String, String) {
    (vhost.to_owned(), user.to_owned())
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave an update half-applied (each
        // operation mutates only after all checks), so poisoning is harmless here.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on an account, or returns `default` if there is none.
    fn read<T>(&self, vhost: &str, user: &str, default: T, f: impl FnOnce(&Account) -> T) -> T {
        self.lock()
            .accounts
            .get(&key(vhost, user))
            .map_or(default, f)
    }

    /// Runs `f` on an account that must exist.
    fn write<T>(
        &self,
        vhost: &str,
        user: &str,
        f: impl FnOnce(&mut Account) -> T,
    ) -> StoreResult<T> {
        let mut inner = self.lock();
        let acct = inner
            .accounts
            .get_mut(&key(vhost, user))
            .ok_or(StoreError::NoSuchAccount)?;
        Ok(f(acct))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_account(
        &self,
        vhost: &str,
        user: &str,
        creds: &StoredCredentials,
    ) -> StoreResult<()> {
        let mut inner = self.lock();
        let k = key(vhost, user);
        if inner.accounts.contains_key(&k) {
            return Err(StoreError::AccountExists);
        }
        let acct = Account {
            creds: creds.clone(),
            roster_version: 0,
            roster: BTreeMap::new(),
            pending_in: BTreeMap::new(),
            offline: Vec::new(),
            blocked: BTreeSet::new(),
        };
        inner.accounts.insert(k, acct);
        Ok(())
    }

    async fn set_credentials(
        &self,
        vhost: &str,
        user: &str,
        creds: &StoredCredentials,
    ) -> StoreResult<()> {
        self.write(vhost, user, |a| a.creds = creds.clone())
    }

    async fn credentials(&self, vhost: &str, user: &str) -> StoreResult<Option<StoredCredentials>> {
        Ok(self.read(vhost, user, None, |a| Some(a.creds.clone())))
    }

    async fn delete_account(&self, vhost: &str, user: &str) -> StoreResult<bool> {
        Ok(self.lock().accounts.remove(&key(vhost, user)).is_some())
    }

    async fn list_accounts(&self, vhost: &str) -> StoreResult<Vec<String>> {
        let inner = self.lock();
        Ok(inner
            .accounts
            .keys()
            .filter(|(v, _)| v == vhost)
            .map(|(_, u)| u.clone())
            .collect())
    }

    async fn account_exists(&self, vhost: &str, user: &str) -> StoreResult<bool> {
        Ok(self.read(vhost, user, false, |_| true))
    }

    async fn roster(&self, vhost: &str, user: &str) -> StoreResult<(u64, Vec<RosterItem>)> {
        Ok(self.read(vhost, user, (0, Vec::new()), |a| {
            (a.roster_version, a.roster.values().cloned().collect())
        }))
    }

    async fn roster_version(&self, vhost: &str, user: &str) -> StoreResult<u64> {
        Ok(self.read(vhost, user, 0, |a| a.roster_version))
    }

    async fn roster_item(
        &self,
        vhost: &str,
        user: &str,
        contact: &str,
    ) -> StoreResult<Option<RosterItem>> {
        Ok(self.read(vhost, user, None, |a| a.roster.get(contact).cloned()))
    }

    async fn roster_put(&self, vhost: &str, user: &str, item: &RosterItem) -> StoreResult<u64> {
        self.write(vhost, user, |a| {
            a.roster.insert(item.jid.clone(), item.clone());
            a.roster_version += 1;
            a.roster_version
        })
    }

    async fn roster_remove(
        &self,
        vhost: &str,
        user: &str,
        contact: &str,
    ) -> StoreResult<Option<u64>> {
        let removed = self.write(vhost, user, |a| {
            a.roster.remove(contact).map(|_| {
                a.roster_version += 1;
                a.roster_version
            })
        });
        match removed {
            Err(StoreError::NoSuchAccount) => Ok(None),
            other => other,
        }
    }

    async fn pending_in_add(
        &self,
        vhost: &str,
        user: &str,
        contact: &str,
        stanza: &str,
    ) -> StoreResult<()> {
        self.write(vhost, user, |a| {
            a.pending_in.insert(contact.to_owned(), stanza.to_owned());
        })
    }

    async fn pending_in_remove(&self, vhost: &str, user: &str, contact: &str) -> StoreResult<bool> {
        let mut inner = self.lock();
        Ok(inner
            .accounts
            .get_mut(&key(vhost, user))
            .is_some_and(|a| a.pending_in.remove(contact).is_some()))
    }

    async fn pending_in(&self, vhost: &str, user: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(self.read(vhost, user, Vec::new(), |a| {
            a.pending_in
                .iter()
                .map(|(c, s)| (c.clone(), s.clone()))
                .collect()
        }))
    }

    async fn offline_push(
        &self,
        vhost: &str,
        user: &str,
        stanza: &str,
        stamp_ms: i64,
    ) -> StoreResult<i64> {
        let mut inner = self.lock();
        let id = inner.last_offline_id + 1;
        let acct = inner
            .accounts
            .get_mut(&key(vhost, user))
            .ok_or(StoreError::NoSuchAccount)?;
        acct.offline.push(OfflineMessage {
            id,
            stanza: stanza.to_owned(),
            stamp_ms,
        });
        inner.last_offline_id = id;
        Ok(id)
    }

    async fn offline_count(&self, vhost: &str, user: &str) -> StoreResult<u64> {
        Ok(self.read(vhost, user, 0, |a| a.offline.len() as u64))
    }

    async fn offline_peek(&self, vhost: &str, user: &str) -> StoreResult<Vec<OfflineMessage>> {
        Ok(self.read(vhost, user, Vec::new(), |a| a.offline.clone()))
    }

    async fn offline_delete(&self, vhost: &str, user: &str, up_to_id: i64) -> StoreResult<()> {
        if let Some(a) = self.lock().accounts.get_mut(&key(vhost, user)) {
            a.offline.retain(|m| m.id > up_to_id);
        }
        Ok(())
    }

    async fn blocklist(&self, vhost: &str, user: &str) -> StoreResult<Vec<String>> {
        Ok(self.read(vhost, user, Vec::new(), |a| {
            a.blocked.iter().cloned().collect()
        }))
    }

    async fn block(&self, vhost: &str, user: &str, jids: &[String]) -> StoreResult<()> {
        if jids.is_empty() {
            return Ok(());
        }
        self.write(vhost, user, |a| a.blocked.extend(jids.iter().cloned()))
    }

    async fn unblock(&self, vhost: &str, user: &str, jids: &[String]) -> StoreResult<()> {
        if let Some(a) = self.lock().accounts.get_mut(&key(vhost, user)) {
            if jids.is_empty() {
                a.blocked.clear();
            } else {
                for j in jids {
                    a.blocked.remove(j);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::conformance::run(&MemoryStore::new()).await;
    }
}
