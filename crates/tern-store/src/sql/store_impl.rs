//! `impl_sql_store!`: the one [`Store`](crate::Store) implementation (accounts,
//! RFC 6121 §2 rosters, XEP-0237 versions, RFC 6121 §3.1.3 pending requests,
//! XEP-0160 offline messages, XEP-0191 block lists) for every sqlx backend, using the
//! statements of the parent module.
//!
//! `impl_sql_store!(Type, Db)` needs `Type` to have a field `pool: sqlx::Pool<Db>`
//! and an inherent `async fn begin(&self) -> StoreResult<Transaction<'static, Db>>`
//! that starts a *write* transaction.

/// Binds `vhost, user` and then a [`StoredCredentials`](crate::StoredCredentials)'
/// eight columns, in the order of `INSERT_ACCOUNT` / `UPDATE_CREDENTIALS`.
macro_rules! bind_account_creds {
    ($query:expr, $vhost:expr, $user:expr, $creds:expr) => {{
        let (a1, b1, c1, d1) = $crate::types::scram_to_row(&$creds.sha1);
        let (a2, b2, c2, d2) = $crate::types::scram_to_row(&$creds.sha256);
        $query
            .bind($vhost)
            .bind($user)
            .bind(a1)
            .bind(b1)
            .bind(c1)
            .bind(d1)
            .bind(a2)
            .bind(b2)
            .bind(c2)
            .bind(d2)
    }};
}

macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Bumps the roster version inside `tx`, locking the account row;
            /// `None` if there is no such account.
            async fn bump_version(
                tx: &mut ::sqlx::Transaction<'static, $db>,
                vhost: &str,
                user: &str,
            ) -> $crate::StoreResult<Option<u64>> {
                let v: Option<i64> = ::sqlx::query_scalar($crate::sql::BUMP_VERSION)
                    .bind(vhost)
                    .bind(user)
                    .fetch_optional(&mut **tx)
                    .await?;
                v.map($crate::sql::to_u64).transpose()
            }
        }

        #[::async_trait::async_trait]
        impl $crate::Store for $store {
            async fn create_account(
                &self,
                vhost: &str,
                user: &str,
                creds: &$crate::StoredCredentials,
            ) -> $crate::StoreResult<()> {
                let q = ::sqlx::query($crate::sql::INSERT_ACCOUNT);
                $crate::sql::bind_account_creds!(q, vhost, user, creds)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::sql::unique_as_exists)?;
                Ok(())
            }

            async fn set_credentials(
                &self,
                vhost: &str,
                user: &str,
                creds: &$crate::StoredCredentials,
            ) -> $crate::StoreResult<()> {
                let q = ::sqlx::query($crate::sql::UPDATE_CREDENTIALS);
                let done = $crate::sql::bind_account_creds!(q, vhost, user, creds)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NoSuchAccount);
                }
                Ok(())
            }

            async fn credentials(
                &self,
                vhost: &str,
                user: &str,
            ) -> $crate::StoreResult<Option<$crate::StoredCredentials>> {
                let row: Option<$crate::types::CredentialsRow> =
                    ::sqlx::query_as($crate::sql::SELECT_CREDENTIALS)
                        .bind(vhost)
                        .bind(user)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::types::credentials_from_row).transpose()
            }

            async fn delete_account(&self, vhost: &str, user: &str) -> $crate::StoreResult<bool> {
                let mut tx = self.begin().await?;
                // Locks the account row first (see the module docs on lock order).
                if Self::bump_version(&mut tx, vhost, user).await?.is_none() {
                    return Ok(false);
                }
                for sql in $crate::sql::DELETE_USER_ROWS {
                    ::sqlx::query(sql)
                        .bind(vhost)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                }
                ::sqlx::query($crate::sql::DELETE_ACCOUNT)
                    .bind(vhost)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn list_accounts(&self, vhost: &str) -> $crate::StoreResult<Vec<String>> {
                Ok(::sqlx::query_scalar($crate::sql::LIST_ACCOUNTS)
                    .bind(vhost)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn account_exists(&self, vhost: &str, user: &str) -> $crate::StoreResult<bool> {
                let found: Option<String> = ::sqlx::query_scalar($crate::sql::ACCOUNT_EXISTS)
                    .bind(vhost)
                    .bind(user)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(found.is_some())
            }

            async fn roster(
                &self,
                vhost: &str,
                user: &str,
            ) -> $crate::StoreResult<(u64, Vec<$crate::RosterItem>)> {
                let rows: Vec<$crate::types::VersionedRosterRow> =
                    ::sqlx::query_as($crate::sql::SELECT_VERSIONED_ROSTER)
                        .bind(vhost)
                        .bind(user)
                        .fetch_all(&self.pool)
                        .await?;
                let version = match rows.first() {
                    Some(r) => $crate::sql::to_u64(r.0)?,
                    None => 0,
                };
                let items = rows
                    .into_iter()
                    .filter_map($crate::types::roster_item_from_versioned)
                    .collect::<$crate::StoreResult<Vec<_>>>()?;
                Ok((version, items))
            }

            async fn roster_version(&self, vhost: &str, user: &str) -> $crate::StoreResult<u64> {
                let v: Option<i64> = ::sqlx::query_scalar($crate::sql::SELECT_VERSION)
                    .bind(vhost)
                    .bind(user)
                    .fetch_optional(&self.pool)
                    .await?;
                $crate::sql::to_u64(v.unwrap_or(0))
            }

            async fn roster_item(
                &self,
                vhost: &str,
                user: &str,
                contact: &str,
            ) -> $crate::StoreResult<Option<$crate::RosterItem>> {
                let row: Option<$crate::types::RosterRow> =
                    ::sqlx::query_as($crate::sql::SELECT_ROSTER_ITEM)
                        .bind(vhost)
                        .bind(user)
                        .bind(contact)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::types::roster_item_from_row).transpose()
            }

            async fn roster_put(
                &self,
                vhost: &str,
                user: &str,
                item: &$crate::RosterItem,
            ) -> $crate::StoreResult<u64> {
                let mut tx = self.begin().await?;
                let version = Self::bump_version(&mut tx, vhost, user)
                    .await?
                    .ok_or($crate::StoreError::NoSuchAccount)?;
                ::sqlx::query($crate::sql::UPSERT_ROSTER_ITEM)
                    .bind(vhost)
                    .bind(user)
                    .bind(&item.jid)
                    .bind(item.name.as_deref())
                    .bind(item.subscription.as_str())
                    .bind(item.ask)
                    .bind($crate::types::encode_groups(&item.groups))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(version)
            }

            async fn roster_remove(
                &self,
                vhost: &str,
                user: &str,
                contact: &str,
            ) -> $crate::StoreResult<Option<u64>> {
                let mut tx = self.begin().await?;
                let Some(version) = Self::bump_version(&mut tx, vhost, user).await? else {
                    return Ok(None);
                };
                let done = ::sqlx::query($crate::sql::DELETE_ROSTER_ITEM)
                    .bind(vhost)
                    .bind(user)
                    .bind(contact)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    // Nothing removed: undo the version bump too.
                    tx.rollback().await?;
                    return Ok(None);
                }
                tx.commit().await?;
                Ok(Some(version))
            }

            async fn pending_in_add(
                &self,
                vhost: &str,
                user: &str,
                contact: &str,
                stanza: &str,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query($crate::sql::UPSERT_PENDING)
                    .bind(vhost)
                    .bind(user)
                    .bind(contact)
                    .bind(stanza)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::sql::fk_as_no_account)?;
                Ok(())
            }

            async fn pending_in_remove(
                &self,
                vhost: &str,
                user: &str,
                contact: &str,
            ) -> $crate::StoreResult<bool> {
                let done = ::sqlx::query($crate::sql::DELETE_PENDING)
                    .bind(vhost)
                    .bind(user)
                    .bind(contact)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn pending_in(
                &self,
                vhost: &str,
                user: &str,
            ) -> $crate::StoreResult<Vec<(String, String)>> {
                Ok(::sqlx::query_as($crate::sql::SELECT_PENDING)
                    .bind(vhost)
                    .bind(user)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn offline_push(
                &self,
                vhost: &str,
                user: &str,
                stanza: &str,
                stamp_ms: i64,
            ) -> $crate::StoreResult<i64> {
                ::sqlx::query_scalar($crate::sql::INSERT_OFFLINE)
                    .bind(vhost)
                    .bind(user)
                    .bind(stanza)
                    .bind(stamp_ms)
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::sql::fk_as_no_account)
            }

            async fn offline_count(&self, vhost: &str, user: &str) -> $crate::StoreResult<u64> {
                let n: i64 = ::sqlx::query_scalar($crate::sql::COUNT_OFFLINE)
                    .bind(vhost)
                    .bind(user)
                    .fetch_one(&self.pool)
                    .await?;
                $crate::sql::to_u64(n)
            }

            async fn offline_peek(
                &self,
                vhost: &str,
                user: &str,
            ) -> $crate::StoreResult<Vec<$crate::OfflineMessage>> {
                let rows: Vec<(i64, String, i64)> = ::sqlx::query_as($crate::sql::SELECT_OFFLINE)
                    .bind(vhost)
                    .bind(user)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, stanza, stamp_ms)| $crate::OfflineMessage {
                        id,
                        stanza,
                        stamp_ms,
                    })
                    .collect())
            }

            async fn offline_delete(
                &self,
                vhost: &str,
                user: &str,
                up_to_id: i64,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query($crate::sql::DELETE_OFFLINE)
                    .bind(vhost)
                    .bind(user)
                    .bind(up_to_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn blocklist(&self, vhost: &str, user: &str) -> $crate::StoreResult<Vec<String>> {
                Ok(::sqlx::query_scalar($crate::sql::SELECT_BLOCKLIST)
                    .bind(vhost)
                    .bind(user)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn block(
                &self,
                vhost: &str,
                user: &str,
                jids: &[String],
            ) -> $crate::StoreResult<()> {
                if jids.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin().await?;
                for jid in jids {
                    ::sqlx::query($crate::sql::INSERT_BLOCK)
                        .bind(vhost)
                        .bind(user)
                        .bind(jid)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::sql::fk_as_no_account)?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn unblock(
                &self,
                vhost: &str,
                user: &str,
                jids: &[String],
            ) -> $crate::StoreResult<()> {
                if jids.is_empty() {
                    ::sqlx::query($crate::sql::DELETE_ALL_BLOCKS)
                        .bind(vhost)
                        .bind(user)
                        .execute(&self.pool)
                        .await?;
                    return Ok(());
                }
                let mut tx = self.begin().await?;
                for jid in jids {
                    ::sqlx::query($crate::sql::DELETE_BLOCK)
                        .bind(vhost)
                        .bind(user)
                        .bind(jid)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use {bind_account_creds, impl_sql_store};
