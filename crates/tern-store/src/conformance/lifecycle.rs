//! Conformance checks across an account's lifetime: per-user data needs an account
//! (so none outlives it), `delete_account` removes everything, and concurrent
//! writers get distinct XEP-0237 roster versions and XEP-0160 message ids.

#![allow(clippy::unwrap_used)]

use std::pin::Pin;

use super::{VH, creds, item, join_all, strings};
use crate::{Store, StoreError, Subscription};

/// Adding per-user data needs an account; reads and removals don't.
pub(super) async fn missing_account(s: &dyn Store) {
    let (v, u) = (VH, "ghost");
    let no = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NoSuchAccount));
    let put = s
        .roster_put(v, u, &item("a@b", Subscription::None, false, &[]))
        .await;
    assert!(matches!(put, Err(StoreError::NoSuchAccount)), "{put:?}");
    assert!(no(s.pending_in_add(v, u, "a@b", "<presence/>").await));
    let push = s.offline_push(v, u, "<message/>", 1).await;
    assert!(matches!(push, Err(StoreError::NoSuchAccount)), "{push:?}");
    assert!(no(s.block(v, u, &strings(&["a@b"])).await));

    assert_eq!(s.roster(v, u).await.unwrap(), (0, vec![]));
    assert_eq!(s.roster_version(v, u).await.unwrap(), 0);
    assert_eq!(s.roster_item(v, u, "a@b").await.unwrap(), None);
    assert_eq!(s.roster_remove(v, u, "a@b").await.unwrap(), None);
    assert!(!s.pending_in_remove(v, u, "a@b").await.unwrap());
    assert!(s.pending_in(v, u).await.unwrap().is_empty());
    assert_eq!(s.offline_count(v, u).await.unwrap(), 0);
    assert!(s.offline_peek(v, u).await.unwrap().is_empty());
    s.offline_delete(v, u, i64::MAX).await.unwrap();
    assert!(s.blocklist(v, u).await.unwrap().is_empty());
    s.block(v, u, &[]).await.unwrap();
    s.unblock(v, u, &[]).await.unwrap();
    s.unblock(v, u, &strings(&["a@b"])).await.unwrap();
    assert!(!s.account_exists(v, u).await.unwrap());
}

/// `delete_account` removes everything; re-registering starts from scratch.
pub(super) async fn delete_cascades(s: &dyn Store) {
    // The earlier checks left romeo with data of every kind.
    assert!(!s.roster(VH, "romeo").await.unwrap().1.is_empty());
    assert!(!s.pending_in(VH, "romeo").await.unwrap().is_empty());
    assert!(s.offline_count(VH, "romeo").await.unwrap() > 0);
    assert!(!s.blocklist(VH, "romeo").await.unwrap().is_empty());
    // A neighbour whose data must survive.
    s.create_account(VH, "paris", &creds(6)).await.unwrap();
    s.roster_put(
        VH,
        "paris",
        &item("romeo@example.org", Subscription::To, false, &[]),
    )
    .await
    .unwrap();
    s.offline_push(VH, "paris", "<message/>", 1).await.unwrap();

    assert!(s.delete_account(VH, "romeo").await.unwrap());
    s.create_account(VH, "romeo", &creds(7)).await.unwrap();
    assert_eq!(s.credentials(VH, "romeo").await.unwrap(), Some(creds(7)));
    assert!(s.roster(VH, "romeo").await.unwrap().1.is_empty());
    assert!(s.pending_in(VH, "romeo").await.unwrap().is_empty());
    assert_eq!(s.offline_count(VH, "romeo").await.unwrap(), 0);
    assert!(s.blocklist(VH, "romeo").await.unwrap().is_empty());

    assert_eq!(s.roster(VH, "paris").await.unwrap().1.len(), 1);
    assert_eq!(s.offline_count(VH, "paris").await.unwrap(), 1);
    assert!(s.delete_account(VH, "paris").await.unwrap());
    assert!(s.delete_account(VH, "romeo").await.unwrap());
}

/// Concurrent writers: every roster change gets its own version, every message
/// its own id, and nothing is lost.
pub(super) async fn concurrency(s: &dyn Store) {
    const N: usize = 16;
    s.create_account(VH, "mab", &creds(8)).await.unwrap();
    let base = s.roster_version(VH, "mab").await.unwrap();
    let puts = (0..N)
        .map(|i| {
            let it = item(
                &format!("c{i:02}@example.org"),
                Subscription::None,
                false,
                &[],
            );
            Box::pin(async move { s.roster_put(VH, "mab", &it).await.unwrap() }) as Pin<Box<_>>
        })
        .collect();
    let mut versions = join_all(puts).await;
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), N, "each change has its own version");
    assert!(versions[0] > base);
    let (v, items) = s.roster(VH, "mab").await.unwrap();
    assert_eq!((v, items.len()), (versions[N - 1], N));

    let pushes = (0..N)
        .map(|i| {
            let stanza = format!("<message id='{i}'/>");
            Box::pin(async move { s.offline_push(VH, "mab", &stanza, 0).await.unwrap() })
                as Pin<Box<_>>
        })
        .collect();
    let ids = join_all(pushes).await;
    let peeked: Vec<i64> = s
        .offline_peek(VH, "mab")
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(peeked, sorted, "distinct ids, peeked in id order");
    assert!(s.delete_account(VH, "mab").await.unwrap());
}
