//! The conformance suite every [`Store`] backend must pass: accounts, RFC 6121 §2
//! rosters with XEP-0237 versions, RFC 6121 §3.1.3 pending requests, RFC 6121
//! §8.5.2.2.1 / XEP-0160 offline messages and XEP-0191 block lists.
//!
//! [`run`] expects an empty store; [`populate`] / [`check_populated`] are used by the
//! persistence tests (write, reopen, read back).

#![allow(clippy::unwrap_used)]

mod lifecycle;
mod user_data;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::{RosterItem, ScramCredentials, Store, StoreError, StoredCredentials, Subscription};

const VH: &str = "example.org";

/// Distinct, recognizable credentials; `n` varies every field.
pub(crate) fn creds(n: u8) -> StoredCredentials {
    let scram = |len: usize, iterations: u32| ScramCredentials {
        salt: vec![n; 16],
        iterations,
        stored_key: vec![n ^ 0x5a; len],
        server_key: (0..len as u8).map(|i| i.wrapping_mul(n)).collect(),
    };
    StoredCredentials {
        sha1: scram(20, 4096 + u32::from(n)),
        sha256: scram(32, u32::MAX - u32::from(n)),
    }
}

pub(crate) fn item(jid: &str, sub: Subscription, ask: bool, groups: &[&str]) -> RosterItem {
    RosterItem {
        jid: jid.to_owned(),
        name: None,
        subscription: sub,
        ask,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Polls all futures concurrently on the current task (no `'static` needed).
async fn join_all<T>(mut futs: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none()
                && let Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *slot = Some(v);
            }
        }
        if out.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Runs every check against an empty store.
pub(crate) async fn run(s: &dyn Store) {
    accounts(s).await;
    user_data::roster(s).await;
    user_data::pending(s).await;
    user_data::offline(s).await;
    user_data::blocking(s).await;
    lifecycle::missing_account(s).await;
    lifecycle::delete_cascades(s).await;
    lifecycle::concurrency(s).await;
}

/// Account creation, lookup, credentials, listing and deletion.
async fn accounts(s: &dyn Store) {
    assert!(s.list_accounts(VH).await.unwrap().is_empty());
    assert!(!s.account_exists(VH, "juliet").await.unwrap());
    assert_eq!(s.credentials(VH, "juliet").await.unwrap(), None);

    s.create_account(VH, "juliet", &creds(1)).await.unwrap();
    s.create_account(VH, "benvolio", &creds(2)).await.unwrap();
    s.create_account("other.example", "juliet", &creds(3))
        .await
        .unwrap();
    let dup = s.create_account(VH, "juliet", &creds(4)).await;
    assert!(matches!(dup, Err(StoreError::AccountExists)), "{dup:?}");

    assert!(s.account_exists(VH, "juliet").await.unwrap());
    assert!(
        !s.account_exists(VH, "Juliet").await.unwrap(),
        "keys are exact"
    );
    assert_eq!(
        s.list_accounts(VH).await.unwrap(),
        strings(&["benvolio", "juliet"])
    );
    assert_eq!(
        s.list_accounts("other.example").await.unwrap(),
        strings(&["juliet"])
    );
    // The failed duplicate did not overwrite anything.
    assert_eq!(s.credentials(VH, "juliet").await.unwrap(), Some(creds(1)));
    assert_eq!(
        s.credentials("other.example", "juliet").await.unwrap(),
        Some(creds(3))
    );

    s.set_credentials(VH, "juliet", &creds(9)).await.unwrap();
    assert_eq!(s.credentials(VH, "juliet").await.unwrap(), Some(creds(9)));
    let missing = s.set_credentials(VH, "nobody", &creds(9)).await;
    assert!(
        matches!(missing, Err(StoreError::NoSuchAccount)),
        "{missing:?}"
    );

    assert!(s.delete_account(VH, "benvolio").await.unwrap());
    assert!(!s.delete_account(VH, "benvolio").await.unwrap());
    assert!(!s.account_exists(VH, "benvolio").await.unwrap());
    assert_eq!(s.list_accounts(VH).await.unwrap(), strings(&["juliet"]));
    assert!(s.account_exists("other.example", "juliet").await.unwrap());
}

/// Writes a known data set for `romeo@example.org` (see [`check_populated`]).
pub(crate) async fn populate(s: &dyn Store) {
    s.create_account(VH, "romeo", &creds(42)).await.unwrap();
    let mut it = item(
        "juliet@example.org",
        Subscription::Both,
        false,
        &["Lovers", "Capulets"],
    );
    it.name = Some("Juliet".into());
    s.roster_put(VH, "romeo", &it).await.unwrap();
    s.roster_put(
        VH,
        "romeo",
        &item("tybalt@example.org", Subscription::None, true, &[]),
    )
    .await
    .unwrap();
    s.pending_in_add(
        VH,
        "romeo",
        "mercutio@example.org",
        "<presence type='subscribe'/>",
    )
    .await
    .unwrap();
    s.offline_push(VH, "romeo", "<message id='a'/>", 1000)
        .await
        .unwrap();
    s.offline_push(VH, "romeo", "<message id='b'/>", 2000)
        .await
        .unwrap();
    s.block(VH, "romeo", &strings(&["spam@example.net"]))
        .await
        .unwrap();
}

/// Checks the data written by [`populate`].
pub(crate) async fn check_populated(s: &dyn Store) {
    assert_eq!(s.list_accounts(VH).await.unwrap(), strings(&["romeo"]));
    assert_eq!(s.credentials(VH, "romeo").await.unwrap(), Some(creds(42)));
    let (v, items) = s.roster(VH, "romeo").await.unwrap();
    assert_eq!(v, 2);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].name.as_deref(), Some("Juliet"));
    assert_eq!(items[0].groups, strings(&["Lovers", "Capulets"]));
    assert_eq!(items[0].subscription, Subscription::Both);
    assert!(items[1].ask && items[1].subscription == Subscription::None);
    assert_eq!(
        s.pending_in(VH, "romeo").await.unwrap(),
        vec![(
            "mercutio@example.org".to_owned(),
            "<presence type='subscribe'/>".to_owned()
        )]
    );
    let msgs = s.offline_peek(VH, "romeo").await.unwrap();
    let got: Vec<(&str, i64)> = msgs
        .iter()
        .map(|m| (m.stanza.as_str(), m.stamp_ms))
        .collect();
    assert_eq!(
        got,
        [("<message id='a'/>", 1000), ("<message id='b'/>", 2000)]
    );
    assert_eq!(
        s.blocklist(VH, "romeo").await.unwrap(),
        strings(&["spam@example.net"])
    );
}
