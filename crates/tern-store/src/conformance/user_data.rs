//! Conformance checks for per-user data: RFC 6121 §2 rosters with XEP-0237
//! versions, RFC 6121 §3.1.3 pending requests, XEP-0160 offline messages and
//! XEP-0191 block lists.

#![allow(clippy::unwrap_used)]

use super::{VH, creds, item, strings};
use crate::{OfflineMessage, Store, Subscription};

pub(super) async fn roster(s: &dyn Store) {
    s.create_account(VH, "romeo", &creds(5)).await.unwrap();
    assert_eq!(s.roster(VH, "romeo").await.unwrap(), (0, vec![]));
    assert_eq!(s.roster_version(VH, "romeo").await.unwrap(), 0);

    let mut nurse = item(
        "nurse@example.com",
        Subscription::From,
        false,
        &["Servants"],
    );
    nurse.name = Some("Nurse ☃".into());
    let juliet = item("juliet@example.org", Subscription::None, true, &[]);
    let odd = item(
        "mercutio@example.net",
        Subscription::Both,
        false,
        &["", "a:b", "7:x", "x"],
    );

    let v1 = s.roster_put(VH, "romeo", &nurse).await.unwrap();
    let v2 = s.roster_put(VH, "romeo", &juliet).await.unwrap();
    let v3 = s.roster_put(VH, "romeo", &odd).await.unwrap();
    assert!(0 < v1 && v1 < v2 && v2 < v3, "{v1} {v2} {v3}");
    assert_eq!(s.roster_version(VH, "romeo").await.unwrap(), v3);
    let (v, items) = s.roster(VH, "romeo").await.unwrap();
    assert_eq!(v, v3);
    assert_eq!(
        items,
        vec![juliet.clone(), odd.clone(), nurse.clone()],
        "sorted by jid"
    );

    // Upsert replaces every field.
    let mut juliet2 = item("juliet@example.org", Subscription::Both, false, &["Lovers"]);
    juliet2.name = Some("Juliet".into());
    let v4 = s.roster_put(VH, "romeo", &juliet2).await.unwrap();
    assert!(v4 > v3);
    assert_eq!(
        s.roster_item(VH, "romeo", "juliet@example.org")
            .await
            .unwrap(),
        Some(juliet2.clone())
    );
    let back = item("juliet@example.org", Subscription::To, true, &[]);
    s.roster_put(VH, "romeo", &back).await.unwrap();
    assert_eq!(
        s.roster_item(VH, "romeo", "juliet@example.org")
            .await
            .unwrap(),
        Some(back)
    );
    assert_eq!(
        s.roster_item(VH, "romeo", "tybalt@example.org")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.roster_item(VH, "juliet", "juliet@example.org")
            .await
            .unwrap(),
        None
    );

    // Remove bumps the version; removing an absent item changes nothing.
    let before = s.roster_version(VH, "romeo").await.unwrap();
    let v = s
        .roster_remove(VH, "romeo", "nurse@example.com")
        .await
        .unwrap();
    assert!(v.is_some_and(|v| v > before), "{v:?}");
    let after = s.roster_version(VH, "romeo").await.unwrap();
    assert_eq!(Some(after), v);
    assert_eq!(
        s.roster_remove(VH, "romeo", "nurse@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.roster_version(VH, "romeo").await.unwrap(), after);
    let (_, items) = s.roster(VH, "romeo").await.unwrap();
    assert_eq!(
        items.iter().map(|i| i.jid.as_str()).collect::<Vec<_>>(),
        ["juliet@example.org", "mercutio@example.net"]
    );
    assert_eq!(items[1], odd);
    // Other users' rosters are separate.
    assert_eq!(s.roster(VH, "juliet").await.unwrap(), (0, vec![]));
}

pub(super) async fn pending(s: &dyn Store) {
    assert!(s.pending_in(VH, "romeo").await.unwrap().is_empty());
    s.pending_in_add(VH, "romeo", "tybalt@example.org", "<presence id='1'/>")
        .await
        .unwrap();
    s.pending_in_add(VH, "romeo", "benvolio@example.org", "<presence id='2'/>")
        .await
        .unwrap();
    // Idempotent: the stanza is replaced, not duplicated.
    s.pending_in_add(VH, "romeo", "tybalt@example.org", "<presence id='3'/>")
        .await
        .unwrap();
    let expected = vec![
        (
            "benvolio@example.org".to_owned(),
            "<presence id='2'/>".to_owned(),
        ),
        (
            "tybalt@example.org".to_owned(),
            "<presence id='3'/>".to_owned(),
        ),
    ];
    assert_eq!(s.pending_in(VH, "romeo").await.unwrap(), expected);
    assert!(s.pending_in(VH, "juliet").await.unwrap().is_empty());
    assert!(
        s.pending_in_remove(VH, "romeo", "tybalt@example.org")
            .await
            .unwrap()
    );
    assert!(
        !s.pending_in_remove(VH, "romeo", "tybalt@example.org")
            .await
            .unwrap()
    );
    assert_eq!(s.pending_in(VH, "romeo").await.unwrap(), expected[..1]);
    // Pending requests are not roster changes.
    let v = s.roster_version(VH, "romeo").await.unwrap();
    s.pending_in_add(VH, "romeo", "x@example.org", "<presence/>")
        .await
        .unwrap();
    assert_eq!(s.roster_version(VH, "romeo").await.unwrap(), v);
}

pub(super) async fn offline(s: &dyn Store) {
    assert_eq!(s.offline_count(VH, "juliet").await.unwrap(), 0);
    assert!(s.offline_peek(VH, "juliet").await.unwrap().is_empty());
    let mut ids = Vec::new();
    for i in 0..5 {
        let stanza = format!("<message id='m{i}'><body>hi ☃</body></message>");
        ids.push(
            s.offline_push(VH, "juliet", &stanza, 1_700_000_000_000 + i)
                .await
                .unwrap(),
        );
    }
    let other = s
        .offline_push(VH, "romeo", "<message id='r'/>", 7)
        .await
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(s.offline_count(VH, "juliet").await.unwrap(), 5);
    let msgs = s.offline_peek(VH, "juliet").await.unwrap();
    let expected: Vec<OfflineMessage> = (0..5)
        .map(|i| OfflineMessage {
            id: ids[i],
            stanza: format!("<message id='m{i}'><body>hi ☃</body></message>"),
            stamp_ms: 1_700_000_000_000 + i as i64,
        })
        .collect();
    assert_eq!(msgs, expected, "FIFO, not removed by peek");
    assert_eq!(s.offline_peek(VH, "juliet").await.unwrap(), expected);

    // Delete the first two (delivered); the rest stay.
    s.offline_delete(VH, "juliet", ids[1]).await.unwrap();
    assert_eq!(s.offline_peek(VH, "juliet").await.unwrap(), expected[2..]);
    // Deleting up to an id only touches this user.
    s.offline_delete(VH, "juliet", other).await.unwrap();
    assert_eq!(s.offline_count(VH, "juliet").await.unwrap(), 0);
    assert_eq!(s.offline_count(VH, "romeo").await.unwrap(), 1);
    // Ids are never reused, even after the newest messages were deleted.
    let next = s.offline_push(VH, "juliet", "<message/>", 8).await.unwrap();
    assert!(next > other && next > ids[4], "{next}");
    s.offline_delete(VH, "juliet", next - 1).await.unwrap();
    assert_eq!(s.offline_count(VH, "juliet").await.unwrap(), 1);
    s.offline_delete(VH, "juliet", i64::MAX).await.unwrap();
    assert_eq!(s.offline_count(VH, "juliet").await.unwrap(), 0);
}

pub(super) async fn blocking(s: &dyn Store) {
    assert!(s.blocklist(VH, "juliet").await.unwrap().is_empty());
    s.block(
        VH,
        "juliet",
        &strings(&["tybalt@example.org", "example.net"]),
    )
    .await
    .unwrap();
    s.block(
        VH,
        "juliet",
        &strings(&["paris@example.org", "tybalt@example.org"]),
    )
    .await
    .unwrap();
    s.block(VH, "juliet", &[]).await.unwrap();
    assert_eq!(
        s.blocklist(VH, "juliet").await.unwrap(),
        strings(&["example.net", "paris@example.org", "tybalt@example.org"])
    );
    assert!(s.blocklist(VH, "romeo").await.unwrap().is_empty());
    s.unblock(
        VH,
        "juliet",
        &strings(&["paris@example.org", "never@blocked"]),
    )
    .await
    .unwrap();
    assert_eq!(
        s.blocklist(VH, "juliet").await.unwrap(),
        strings(&["example.net", "tybalt@example.org"])
    );
    s.block(VH, "romeo", &strings(&["x@example.org"]))
        .await
        .unwrap();
    s.unblock(VH, "juliet", &[]).await.unwrap();
    assert!(s.blocklist(VH, "juliet").await.unwrap().is_empty());
    assert_eq!(
        s.blocklist(VH, "romeo").await.unwrap(),
        strings(&["x@example.org"])
    );
}
