//! IM-layer tests without sockets: a real `Server` over the in-memory store, sessions stood
//! in for by router handles whose inboxes the test reads (RFC 6121 flows end to end).

use std::sync::Arc;

use jid::FullJid;
use minidom::Element;
use tern_core::ns;
use tern_core::xml::{elem, set_attr, text_elem};
use tern_store::{MemoryStore, Store, Subscription};

use super::*;
use crate::config::Config;
use crate::router::{SessionHandle, SessionMsg};
use crate::tls::CertStore;

struct Fake {
    im: ImSession,
    rx: crate::inbox::Receiver<SessionMsg>,
}

impl Fake {
    /// Everything delivered to this session so far.
    fn inbox(&mut self) -> Vec<Element> {
        let mut v = Vec::new();
        while let Some(SessionMsg::Stanza(e)) = self.rx.try_recv() {
            v.push(*e);
        }
        v
    }
}

async fn server(dir: &tempfile::TempDir) -> Arc<Server> {
    let cfg = Config::development_default().with_data_dir(dir.path());
    let store = Arc::new(MemoryStore::new());
    let creds = tern_auth::StoredCredentials::from_password("pw").expect("creds");
    for u in ["alice", "bob", "carol"] {
        store.create_account("localhost", u, &creds).await.expect("account");
    }
    let certs = Arc::new(CertStore::load(&cfg).expect("certs"));
    Server::new(cfg, store, certs).0
}

fn session(server: &Server, full: &str) -> Fake {
    let jid = FullJid::new(full).expect("jid");
    let (tx, rx) = crate::inbox::channel(64);
    let id = server.session_id();
    server.router.bind(&jid, SessionHandle { id, tx });
    Fake { im: ImSession::new(jid, id), rx }
}

fn stanza(name: &str, from: &FullJid, attrs: &[(&str, &str)]) -> Element {
    let mut el = elem(name, ns::CLIENT, attrs);
    set_attr(&mut el, "from", from.as_str());
    el
}

async fn send(server: &Server, f: &mut Fake, el: Element) -> Reply {
    let mut el = el;
    set_attr(&mut el, "from", f.im.jid.as_str());
    // as the session hands it over (tern_core::session::Output::Stanza)
    let to = tern_core::stanza::parse_to(&el).expect("a valid 'to' in the test's stanza");
    handle(server, &mut f.im, el, to).await
}

async fn available(server: &Server, f: &mut Fake) -> Reply {
    let p = stanza("presence", &f.im.jid, &[]);
    send(server, f, p).await
}

async fn roster_get(server: &Server, f: &mut Fake) {
    let mut iq = elem("iq", ns::CLIENT, &[("type", "get"), ("id", "r")]);
    iq.append_child(Element::bare("query", ns::ROSTER));
    send(server, f, iq).await;
}

async fn sub(server: &Server, f: &mut Fake, to: &str, ptype: &str) {
    let p = elem("presence", ns::CLIENT, &[("to", to), ("type", ptype)]);
    send(server, f, p).await;
}

#[tokio::test]
async fn subscription_handshake_both_ways() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(&dir).await;
    let mut a = session(&srv, "alice@localhost/a");
    let mut b = session(&srv, "bob@localhost/b");
    for f in [&mut a, &mut b] {
        roster_get(&srv, f).await;
        available(&srv, f).await;
        f.inbox();
    }
    sub(&srv, &mut a, "bob@localhost", "subscribe").await;
    let item = srv.store.roster_item("localhost", "alice", "bob@localhost").await.expect("db").expect("item");
    assert!(item.ask && item.subscription == Subscription::None);
    let got = b.inbox();
    assert!(got.iter().any(|e| e.name() == "presence" && e.attr("type") == Some("subscribe") && e.attr("from") == Some("alice@localhost")), "{got:?}");
    assert!(a.inbox().iter().any(|e| e.name() == "iq" && e.attr("type") == Some("set")), "roster push to alice");

    sub(&srv, &mut b, "alice@localhost", "subscribed").await;
    let a_item = srv.store.roster_item("localhost", "alice", "bob@localhost").await.expect("db").expect("item");
    assert_eq!((a_item.subscription, a_item.ask), (Subscription::To, false));
    let got = a.inbox();
    assert!(got.iter().any(|e| e.attr("type") == Some("subscribed")), "{got:?}");
    assert!(got.iter().any(|e| e.name() == "presence" && e.attr("type").is_none() && e.attr("from") == Some("bob@localhost/b")), "bob's presence follows the approval: {got:?}");
    assert!(srv.store.pending_in("localhost", "bob").await.expect("db").is_empty());

    sub(&srv, &mut b, "alice@localhost", "subscribe").await;
    sub(&srv, &mut a, "bob@localhost", "subscribed").await;
    let a_item = srv.store.roster_item("localhost", "alice", "bob@localhost").await.expect("db").expect("item");
    let b_item = srv.store.roster_item("localhost", "bob", "alice@localhost").await.expect("db").expect("item");
    assert_eq!(a_item.subscription, Subscription::Both);
    assert_eq!(b_item.subscription, Subscription::Both);

    // A presence update now reaches the contact.
    a.inbox();
    b.inbox();
    let mut p = stanza("presence", &a.im.jid, &[]);
    p.append_child(text_elem("show", ns::CLIENT, "away"));
    send(&srv, &mut a, p).await;
    assert!(b.inbox().iter().any(|e| e.get_child("show", ns::CLIENT).is_some_and(|s| s.text() == "away")));

    // Unavailable at session end reaches bob.
    session_ended(&srv, &mut a.im).await;
    assert!(b.inbox().iter().any(|e| e.attr("type") == Some("unavailable") && e.attr("from") == Some("alice@localhost/a")));
}

#[tokio::test]
async fn pending_request_is_redelivered_at_login() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(&dir).await;
    let mut a = session(&srv, "alice@localhost/a");
    sub(&srv, &mut a, "carol@localhost", "subscribe").await;
    let mut c = session(&srv, "carol@localhost/c");
    let reply = available(&srv, &mut c).await;
    assert!(reply.to_client.iter().any(|e| e.attr("type") == Some("subscribe") && e.attr("from") == Some("alice@localhost")));
}

#[tokio::test]
async fn offline_message_delivered_with_delay_at_initial_presence() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(&dir).await;
    let mut a = session(&srv, "alice@localhost/a");
    let mut m = elem("message", ns::CLIENT, &[("to", "bob@localhost"), ("type", "chat")]);
    m.append_child(text_elem("body", ns::CLIENT, "hello later"));
    let r = send(&srv, &mut a, m).await;
    assert!(r.to_client.is_empty(), "no error: {:?}", r.to_client);
    assert_eq!(srv.store.offline_count("localhost", "bob").await.expect("db"), 1);
    let mut b = session(&srv, "bob@localhost/b");
    let reply = available(&srv, &mut b).await;
    let msg = reply.to_client.iter().find(|e| e.name() == "message").expect("offline message");
    assert_eq!(msg.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("hello later"));
    assert!(msg.get_child("delay", ns::DELAY).and_then(|d| d.attr("stamp")).is_some());
    assert_eq!(srv.store.offline_count("localhost", "bob").await.expect("db"), 0);
}

#[tokio::test]
async fn message_routing_rules() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(&dir).await;
    let mut a = session(&srv, "alice@localhost/a");
    let mut b1 = session(&srv, "bob@localhost/one");
    let mut b2 = session(&srv, "bob@localhost/two");
    let mut p = stanza("presence", &b1.im.jid, &[]);
    p.append_child(text_elem("priority", ns::CLIENT, "5"));
    send(&srv, &mut b1, p).await;
    available(&srv, &mut b2).await;
    b1.inbox();
    b2.inbox();
    let mut m = elem("message", ns::CLIENT, &[("to", "bob@localhost"), ("type", "chat")]);
    m.append_child(text_elem("body", ns::CLIENT, "x"));
    send(&srv, &mut a, m.clone()).await;
    assert_eq!(b1.inbox().len(), 1, "highest priority gets it");
    assert!(b2.inbox().is_empty());
    // IQ to an unavailable full JID → service-unavailable
    let mut iq = elem("iq", ns::CLIENT, &[("to", "bob@localhost/gone"), ("type", "get"), ("id", "q")]);
    iq.append_child(Element::bare("query", "urn:example"));
    let r = send(&srv, &mut a, iq).await;
    assert!(r.to_client[0].get_child("error", ns::CLIENT).is_some_and(|e| e.has_child("service-unavailable", ns::XMPP_STANZAS)));
    // a remote domain → remote-server-not-found
    let r = send(&srv, &mut a, elem("message", ns::CLIENT, &[("to", "x@elsewhere.example")])).await;
    assert!(r.to_client[0].get_child("error", ns::CLIENT).is_some_and(|e| e.has_child("remote-server-not-found", ns::XMPP_STANZAS)));
}

#[tokio::test]
async fn blocking_stops_messages_both_ways() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(&dir).await;
    let mut a = session(&srv, "alice@localhost/a");
    let mut b = session(&srv, "bob@localhost/b");
    available(&srv, &mut b).await;
    let mut iq = elem("iq", ns::CLIENT, &[("type", "set"), ("id", "blk")]);
    let mut block = Element::bare("block", ns::BLOCKING);
    block.append_child(elem("item", ns::BLOCKING, &[("jid", "bob@localhost")]));
    iq.append_child(block);
    let r = send(&srv, &mut a, iq).await;
    assert_eq!(r.to_client[0].attr("type"), Some("result"));
    b.inbox();
    let mut m = elem("message", ns::CLIENT, &[("to", "alice@localhost"), ("type", "chat")]);
    m.append_child(text_elem("body", ns::CLIENT, "x"));
    let r = send(&srv, &mut b, m).await;
    assert!(r.to_client[0].get_child("error", ns::CLIENT).is_some_and(|e| e.has_child("service-unavailable", ns::XMPP_STANZAS)));
    let m = elem("message", ns::CLIENT, &[("to", "bob@localhost"), ("type", "chat")]);
    let r = send(&srv, &mut a, m).await;
    let err = r.to_client[0].get_child("error", ns::CLIENT).expect("error");
    assert!(err.has_child("not-acceptable", ns::XMPP_STANZAS) && err.has_child("blocked", ns::BLOCKING_ERRORS));
}

/// Both users of each pair ask at the same moment, then approve at the same moment, from separate tasks over a real SQLite
/// file: every read-modify-write of a roster item must see the other's change, so both
/// rosters end with `both` (a lost update leaves one side at `to` or `from`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mutual_subscriptions_agree() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = Config::development_default().with_data_dir(dir.path());
    let store: Arc<dyn Store> = Arc::new(tern_store::SqliteStore::open(&dir.path().join("t.db")).await.expect("sqlite"));
    let creds = tern_auth::StoredCredentials::from_password("pw").expect("creds");
    const PAIRS: usize = 12;
    for i in 0..2 * PAIRS {
        store.create_account("localhost", &format!("u{i}"), &creds).await.expect("account");
    }
    let certs = Arc::new(CertStore::load(&cfg).expect("certs"));
    let srv = Server::new(cfg, store, certs).0;
    let mut tasks = Vec::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(2 * PAIRS));
    for i in 0..2 * PAIRS {
        let srv = srv.clone();
        let barrier = barrier.clone();
        let peer = format!("u{}@localhost", i ^ 1);
        let mut f = session(&srv, &format!("u{i}@localhost/r"));
        tasks.push(tokio::spawn(async move {
            roster_get(&srv, &mut f).await;
            available(&srv, &mut f).await;
            sub(&srv, &mut f, &peer, "subscribe").await;
            // Every request is in before anyone approves (an approval without a pending
            // request is ignored, §3.1.4).
            barrier.wait().await;
            sub(&srv, &mut f, &peer, "subscribed").await;
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    for i in 0..2 * PAIRS {
        let item = srv.store.roster_item("localhost", &format!("u{i}"), &format!("u{}@localhost", i ^ 1)).await.expect("db");
        let item = item.expect("item");
        assert_eq!((item.subscription, item.ask), (Subscription::Both, false), "u{i}'s item for u{}", i ^ 1);
    }
}
