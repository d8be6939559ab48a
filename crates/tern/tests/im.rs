//! Instant messaging against the real binary with two or more users: RFC 6121 subscriptions,
//! presence, messages, offline storage (XEP-0160/XEP-0203, durable across SIGKILL), roster
//! versioning (XEP-0237), RFC 6121 §8.5 routing errors, XEP-0030/0199/0092 server answers,
//! XEP-0280 carbons and XEP-0191 blocking.

mod common;

use common::client::{show, stanza_error_condition, Client};
use common::TestServer;
use minidom::Element;
use tern_core::ns;

/// A roster push (RFC 6121 §2.1.6) for `jid` with `subscription`.
fn roster_push(jid: &'static str, subscription: &'static str) -> impl Fn(&Element) -> bool {
    move |e| {
        e.is("iq", ns::CLIENT)
            && e.attr("type") == Some("set")
            && e.get_child("query", ns::ROSTER)
                .and_then(|q| q.get_child("item", ns::ROSTER))
                .is_some_and(|i| i.attr("jid") == Some(jid) && i.attr("subscription") == Some(subscription))
    }
}

/// A presence from `from` (bare or full JID prefix) of type `ptype` ("available" = no type).
fn presence(from: &'static str, ptype: &'static str) -> impl Fn(&Element) -> bool {
    move |e| {
        e.is("presence", ns::CLIENT)
            && e.attr("from").is_some_and(|f| f == from || f.starts_with(&format!("{from}/")))
            && e.attr("type").unwrap_or("available") == ptype
    }
}

/// Log in, fetch the roster (so pushes arrive) and send initial presence.
async fn online(srv: &TestServer, user: &str, resource: &str) -> Client {
    let mut c = srv.login(user, "pw", Some(resource)).await;
    c.iq_ok("<iq type='get' id='{id}'><query xmlns='jabber:iq:roster'/></iq>").await;
    c.send_str("<presence/>").await;
    c
}

/// The full subscription handshake both ways (RFC 6121 §3.1), checking every step.
async fn befriend(alice: &mut Client, bob: &mut Client) {
    alice.send_str("<presence type='subscribe' to='bob@localhost'/>").await;
    let push = alice.expect("alice: push bob none+ask", roster_push("bob@localhost", "none")).await;
    let item = push.get_child("query", ns::ROSTER).and_then(|q| q.get_child("item", ns::ROSTER)).expect("item");
    assert_eq!(item.attr("ask"), Some("subscribe"), "{}", show(&push));
    bob.expect("bob: subscribe request", presence("alice@localhost", "subscribe")).await;
    bob.send_str("<presence type='subscribed' to='alice@localhost'/>").await;
    bob.expect("bob: push alice from", roster_push("alice@localhost", "from")).await;
    alice.expect("alice: push bob to", roster_push("bob@localhost", "to")).await;
    alice.expect("alice: subscribed", presence("bob@localhost", "subscribed")).await;
    alice.expect("alice: bob's presence", presence("bob@localhost", "available")).await;

    bob.send_str("<presence type='subscribe' to='alice@localhost'/>").await;
    alice.expect("alice: subscribe request", presence("bob@localhost", "subscribe")).await;
    alice.send_str("<presence type='subscribed' to='bob@localhost'/>").await;
    alice.expect("alice: push bob both", roster_push("bob@localhost", "both")).await;
    bob.expect("bob: push alice both", roster_push("alice@localhost", "both")).await;
    bob.expect("bob: alice's presence", presence("alice@localhost", "available")).await;
}

fn two_users() -> TestServer {
    let srv = TestServer::start("");
    srv.add_user("alice@localhost", "pw");
    srv.add_user("bob@localhost", "pw");
    srv
}

#[tokio::test]
async fn subscription_presence_and_chat() {
    let srv = two_users();
    let mut alice = online(&srv, "alice", "home").await;
    let mut bob = online(&srv, "bob", "work").await;
    befriend(&mut alice, &mut bob).await;
    let roster = alice.iq_ok("<iq type='get' id='{id}'><query xmlns='jabber:iq:roster'/></iq>").await;
    let items: Vec<_> = roster.get_child("query", ns::ROSTER).expect("query").children().collect();
    assert_eq!(items.len(), 1, "{}", show(&roster));
    assert_eq!(items[0].attr("subscription"), Some("both"), "{}", show(&roster));

    alice.send_str("<presence><show>away</show><status>lunch</status></presence>").await;
    let p = bob.expect("alice away", |e| presence("alice@localhost", "available")(e) && e.has_child("show", ns::CLIENT)).await;
    assert_eq!(p.attr("from"), Some("alice@localhost/home"));
    assert_eq!(p.get_child("show", ns::CLIENT).map(|s| s.text()).as_deref(), Some("away"));

    alice.send_chat("bob@localhost", "hello bob").await;
    let m = bob.expect_message("hello bob").await;
    assert_eq!(m.attr("from"), Some("alice@localhost/home"));
    assert_eq!(m.attr("type"), Some("chat"));
    bob.send_chat("alice@localhost/home", "hi alice").await;
    assert_eq!(alice.expect_message("hi alice").await.attr("from"), Some("bob@localhost/work"));

    alice.close().await;
    bob.expect("alice went offline", presence("alice@localhost", "unavailable")).await;
    // Coming back: the initial presence is broadcast, and probes bring bob's presence (§4.2).
    let mut alice = srv.login("alice", "pw", Some("laptop")).await;
    alice.send_str("<presence/>").await;
    let p = alice.expect("bob's presence from the probe", presence("bob@localhost", "available")).await;
    assert_eq!(p.attr("from"), Some("bob@localhost/work"));
    bob.expect("alice back", presence("alice@localhost/laptop", "available")).await;
}

/// Bob receives `bodies` from alice, in order, with XEP-0203 delay stamps after logging in.
async fn expect_offline_delivery(srv: &TestServer, bodies: &[&str]) {
    let mut bob = srv.login("bob", "pw", Some("later")).await;
    bob.send_str("<presence/>").await;
    let mut got = Vec::new();
    for _ in bodies {
        let m = bob.expect("an offline message", |e| e.is("message", ns::CLIENT) && e.has_child("body", ns::CLIENT)).await;
        assert_eq!(m.attr("from"), Some("alice@localhost/home"), "{}", show(&m));
        let delay = m.get_child("delay", ns::DELAY).unwrap_or_else(|| panic!("no <delay/>: {}", show(&m)));
        let stamp = delay.attr("stamp").unwrap_or_default();
        assert!(stamp.len() >= 20 && stamp.ends_with('Z') && stamp.contains('T'), "XEP-0082 stamp: {stamp}");
        got.push(m.get_child("body", ns::CLIENT).map(|b| b.text()).unwrap_or_default());
    }
    assert_eq!(got, bodies, "offline messages arrive in the order they were sent");
    bob.close().await;
    // Delivered once: the next login gets nothing.
    let mut again = srv.login("bob", "pw", Some("again")).await;
    again.send_str("<presence/>").await;
    again.barrier().await;
    assert!(
        !again.stashed().iter().any(|e| e.is("message", ns::CLIENT)),
        "offline messages were delivered twice: {:?}",
        again.stashed().iter().map(show).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn message_to_offline_user_is_stored_and_delivered_with_delay() {
    let srv = two_users();
    let mut alice = online(&srv, "alice", "home").await;
    alice.send_chat("bob@localhost", "while you were out").await;
    // A chat to a full JID that is not online is treated as to the bare JID (RFC 6121 §8.5.3.2.1).
    alice.send_chat("bob@localhost/gone", "to a gone resource").await;
    alice.barrier().await;
    assert!(alice.take_stashed(|e| e.attr("type") == Some("error")).is_none(), "{:?}", alice.stashed());
    expect_offline_delivery(&srv, &["while you were out", "to a gone resource"]).await;
}

#[tokio::test]
async fn offline_messages_and_roster_survive_sigkill() {
    let mut srv = two_users();
    let mut alice = online(&srv, "alice", "home").await;
    let mut bob = online(&srv, "bob", "work").await;
    befriend(&mut alice, &mut bob).await;
    bob.close().await;
    alice.expect("bob offline", presence("bob@localhost", "unavailable")).await;
    alice.send_chat("bob@localhost", "durable hello").await;
    alice.barrier().await;
    srv.kill9_and_restart();
    alice.expect_end().await;
    expect_offline_delivery(&srv, &["durable hello"]).await;
    let mut bob = srv.login("bob", "pw", None).await;
    let r = bob.iq_ok("<iq type='get' id='{id}'><query xmlns='jabber:iq:roster'/></iq>").await;
    let item = r.get_child("query", ns::ROSTER).and_then(|q| q.get_child("item", ns::ROSTER));
    assert_eq!(item.and_then(|i| i.attr("subscription")), Some("both"), "roster survived: {}", show(&r));
}

fn ver_of(e: &Element) -> u64 {
    let v = e.get_child("query", ns::ROSTER).and_then(|q| q.attr("ver")).unwrap_or_else(|| panic!("no ver: {}", show(e)));
    v.parse().unwrap_or_else(|_| panic!("ver is not a decimal number: {v}"))
}

#[tokio::test]
async fn roster_set_get_remove_with_versioning() {
    let srv = two_users();
    let mut a = srv.login("alice", "pw", None).await;
    let get = "<iq type='get' id='{id}'><query xmlns='jabber:iq:roster'/></iq>";
    let r0 = a.iq_ok(get).await;
    let v0 = ver_of(&r0);
    assert_eq!(r0.get_child("query", ns::ROSTER).map(|q| q.children().count()), Some(0));

    a.iq_ok("<iq type='set' id='{id}'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol'>\
             <group>Friends</group></item></query></iq>")
        .await;
    let push = a.expect("push carol", roster_push("carol@localhost", "none")).await;
    let v1 = ver_of(&push);
    assert!(v1 > v0, "version grows: {v0} -> {v1}");
    let unchanged = a.iq_ok(&format!("<iq type='get' id='{{id}}'><query xmlns='jabber:iq:roster' ver='{v1}'/></iq>")).await;
    assert!(unchanged.children().next().is_none(), "current ver → empty result: {}", show(&unchanged));
    let full = a.iq_ok(&format!("<iq type='get' id='{{id}}'><query xmlns='jabber:iq:roster' ver='{v0}'/></iq>")).await;
    assert_eq!(ver_of(&full), v1);
    let item = full.get_child("query", ns::ROSTER).and_then(|q| q.get_child("item", ns::ROSTER)).expect("item");
    assert_eq!((item.attr("jid"), item.attr("name")), (Some("carol@localhost"), Some("Carol")), "{}", show(&full));
    assert_eq!(item.get_child("group", ns::ROSTER).map(|g| g.text()).as_deref(), Some("Friends"));

    a.iq_ok("<iq type='set' id='{id}'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='C.'/></query></iq>")
        .await;
    let v2 = ver_of(&a.expect("push rename", roster_push("carol@localhost", "none")).await);
    assert!(v2 > v1, "{v1} -> {v2}");

    let remove = "<iq type='set' id='{id}'><query xmlns='jabber:iq:roster'>\
                  <item jid='carol@localhost' subscription='remove'/></query></iq>";
    a.iq_ok(remove).await;
    let v3 = ver_of(&a.expect("push remove", roster_push("carol@localhost", "remove")).await);
    assert!(v3 > v2, "{v2} -> {v3}");
    let r = a.iq_ok(get).await;
    assert_eq!(r.get_child("query", ns::ROSTER).map(|q| q.children().count()), Some(0), "{}", show(&r));
    let again = a.iq(remove).await;
    assert_eq!(stanza_error_condition(&again).as_deref(), Some("item-not-found"), "{}", show(&again));
}

#[tokio::test]
async fn iq_to_unavailable_full_jid_is_service_unavailable() {
    let srv = two_users();
    let mut a = srv.login("alice", "pw", None).await;
    let r = a.iq("<iq type='get' id='{id}' to='bob@localhost/nowhere'><query xmlns='jabber:iq:version'/></iq>").await;
    assert_eq!(r.attr("type"), Some("error"));
    assert_eq!(r.attr("from"), Some("bob@localhost/nowhere"), "{}", show(&r));
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("service-unavailable"), "{}", show(&r));
    // And to a full JID that is online, it is delivered.
    let mut b = srv.login("bob", "pw", Some("here")).await;
    a.send_str("<iq type='get' id='v1' to='bob@localhost/here'><query xmlns='jabber:iq:version'/></iq>").await;
    let got = b.expect("routed IQ", |e| e.is("iq", ns::CLIENT) && e.attr("id") == Some("v1")).await;
    assert_eq!(got.attr("from"), Some(a.full_jid().as_str()));
}

#[tokio::test]
async fn server_answers_disco_ping_and_version() {
    let srv = two_users();
    let mut a = srv.login("alice", "pw", None).await;
    let info = a.iq_ok("<iq type='get' id='{id}' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>").await;
    let q = info.get_child("query", ns::DISCO_INFO).expect("query");
    let id = q.get_child("identity", ns::DISCO_INFO).expect("identity");
    assert_eq!((id.attr("category"), id.attr("type")), (Some("server"), Some("im")));
    let features: Vec<&str> = q.children().filter(|c| c.name() == "feature").filter_map(|f| f.attr("var")).collect();
    for f in [ns::DISCO_INFO, ns::PING, ns::VERSION, ns::CARBONS, ns::BLOCKING, "urn:xmpp:sm:3"] {
        assert!(features.contains(&f), "feature {f} missing from {features:?}");
    }
    a.ping_server().await;
    let v = a.iq_ok("<iq type='get' id='{id}' to='localhost'><query xmlns='jabber:iq:version'/></iq>").await;
    let name = v.get_child("query", ns::VERSION).and_then(|q| q.get_child("name", ns::VERSION)).map(|n| n.text());
    assert_eq!(name.as_deref(), Some("tern"), "{}", show(&v));
    let bad = a.iq("<iq type='get' id='{id}' to='localhost'><query xmlns='urn:example:unknown'/></iq>").await;
    assert_eq!(stanza_error_condition(&bad).as_deref(), Some("service-unavailable"), "{}", show(&bad));
}

#[tokio::test]
async fn carbons_copy_to_the_other_resource() {
    let srv = two_users();
    let mut a1 = online(&srv, "alice", "one").await;
    let mut a2 = online(&srv, "alice", "two").await;
    let mut bob = online(&srv, "bob", "b").await;
    for c in [&mut a1, &mut a2] {
        c.iq_ok("<iq type='set' id='{id}'><enable xmlns='urn:xmpp:carbons:2'/></iq>").await;
    }
    bob.send_chat("alice@localhost/one", "to one").await;
    a1.expect_message("to one").await;
    let copy = a2.expect("received carbon", |e| e.get_child("received", ns::CARBONS).is_some()).await;
    let inner = copy
        .get_child("received", ns::CARBONS)
        .and_then(|r| r.get_child("forwarded", ns::FORWARD))
        .and_then(|f| f.get_child("message", ns::CLIENT))
        .unwrap_or_else(|| panic!("no forwarded message: {}", show(&copy)));
    assert_eq!(inner.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("to one"));
    assert_eq!(copy.attr("from"), Some("alice@localhost"), "{}", show(&copy));

    a1.send_chat("bob@localhost", "from one").await;
    bob.expect_message("from one").await;
    let sent = a2.expect("sent carbon", |e| e.get_child("sent", ns::CARBONS).is_some()).await;
    assert!(show(&sent).contains("from one"), "{}", show(&sent));
    // The sender itself gets no copy of its own message.
    a1.barrier().await;
    assert!(a1.take_stashed(|e| e.get_child("sent", ns::CARBONS).is_some()).is_none());
}

#[tokio::test]
async fn blocked_user_cannot_reach() {
    let srv = two_users();
    let mut alice = online(&srv, "alice", "home").await;
    let mut bob = online(&srv, "bob", "work").await;
    alice.iq_ok("<iq type='set' id='{id}'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>").await;
    let list = alice.iq_ok("<iq type='get' id='{id}'><blocklist xmlns='urn:xmpp:blocking'/></iq>").await;
    assert!(show(&list).contains("bob@localhost"), "{}", show(&list));

    bob.send_str("<message type='chat' to='alice@localhost' id='blocked-1'><body>let me in</body></message>").await;
    let err = bob.expect("bounce", |e| e.attr("id") == Some("blocked-1")).await;
    assert_eq!(err.attr("type"), Some("error"), "{}", show(&err));
    assert_eq!(stanza_error_condition(&err).as_deref(), Some("service-unavailable"), "{}", show(&err));
    alice.barrier().await;
    assert!(
        !alice.stashed().iter().any(|e| show(e).contains("let me in")),
        "blocked message delivered: {:?}",
        alice.stashed().iter().map(show).collect::<Vec<_>>()
    );
    alice.send_str("<message type='chat' to='bob@localhost' id='out-1'><body>nope</body></message>").await;
    let err = alice.expect("own message refused", |e| e.attr("id") == Some("out-1")).await;
    assert_eq!(stanza_error_condition(&err).as_deref(), Some("not-acceptable"), "{}", show(&err));
    assert!(err.get_child("error", ns::CLIENT).is_some_and(|e| e.has_child("blocked", ns::BLOCKING_ERRORS)));

    alice.iq_ok("<iq type='set' id='{id}'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>").await;
    bob.send_chat("alice@localhost", "better now").await;
    alice.expect_message("better now").await;
}
