//! XEP-0198 stream management against the real binary: enabling with resumption (§3), ack
//! counting both ways (§4), resumption on a new connection after the old one dropped or while
//! it is still open (§5), and what happens to unacked stanzas when the window ends.

mod common;

use std::time::{Duration, Instant};

use common::client::{show, Client};
use common::{TestServer, DOMAIN};
use tern_auth::ScramHash;
use tern_core::ns;

fn two_users(limits: &str) -> TestServer {
    let srv = TestServer::start(limits);
    srv.add_user("alice@localhost", "pw");
    srv.add_user("bob@localhost", "pw");
    srv
}

/// Alice available as alice@localhost/phone with resumable SM; returns the SM-ID.
async fn alice_with_sm(srv: &TestServer) -> (Client, String) {
    let mut a = srv.login("alice", "pw", Some("phone")).await;
    a.send_str("<presence/>").await;
    let enabled = a.enable_sm(true).await;
    assert_eq!(enabled.attr("resume"), Some("true"), "{}", show(&enabled));
    assert!(enabled.attr("max").is_some_and(|m| m.parse::<u32>().is_ok()), "{}", show(&enabled));
    let id = enabled.attr("id").unwrap_or_else(|| panic!("no SM-ID: {}", show(&enabled))).to_owned();
    (a, id)
}

/// A new connection authenticated as alice (not bound), ready to `<resume/>`.
async fn reconnect(srv: &TestServer) -> Client {
    let mut c = srv.connect(DOMAIN).await;
    c.open_stream().await;
    c.starttls().await;
    c.auth_scram(ScramHash::Sha256, "alice", "pw").await.expect("auth");
    c
}

async fn resume(c: &mut Client, previd: &str, h: u32) -> minidom::Element {
    c.set_h(h);
    c.send_str(&format!("<resume xmlns='{}' previd='{previd}' h='{h}'/>", ns::SM)).await;
    c.expect("<resumed/> or <failed/>", |e| e.ns() == ns::SM && matches!(e.name(), "resumed" | "failed")).await
}

async fn ask_h(c: &mut Client) -> u32 {
    c.send_str("<r xmlns='urn:xmpp:sm:3'/>").await;
    let a = c.expect("<a/>", |e| e.is("a", ns::SM)).await;
    a.attr("h").and_then(|h| h.parse().ok()).unwrap_or_else(|| panic!("bad <a/>: {}", show(&a)))
}

#[tokio::test]
async fn enable_and_count_acks_both_ways() {
    let srv = two_users("");
    let (mut a, _) = alice_with_sm(&srv).await;
    assert_eq!(ask_h(&mut a).await, 0, "nothing handled since <enable/>");
    a.ping_server().await;
    a.iq_ok("<iq type='set' id='{id}'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>").await;
    a.send_str("<message to='nobody@localhost'><body>x</body></message>").await;
    assert_eq!(ask_h(&mut a).await, 3, "three stanzas handled: ping, session, message");

    let mut bob = srv.login("bob", "pw", None).await;
    for i in 0..5 {
        bob.send_chat("alice@localhost", &format!("m{i}")).await;
    }
    for i in 0..5 {
        a.expect_message(&format!("m{i}")).await;
    }
    // The server asks for an ack after several unacked stanzas.
    a.expect("<r/> from the server", |e| e.is("r", ns::SM)).await;
    let h = a.h_in;
    // Two IQ results, the bounce of the message to nobody, five messages.
    assert_eq!(h, 8, "stanzas received since <enabled/>: {:?}", a.stashed().iter().map(show).collect::<Vec<_>>());
    a.send_str(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>")).await;
    a.ping_server().await;
    // Acknowledging more than was sent is a stream error (§4).
    let too_high = a.h_in + 100;
    a.send_str(&format!("<a xmlns='urn:xmpp:sm:3' h='{too_high}'/>")).await;
    let err = a.expect_stream_error("undefined-condition").await;
    assert!(err.has_child("handled-count-too-high", ns::SM), "{}", show(&err));
}

#[tokio::test]
async fn resume_after_the_connection_dropped() {
    let srv = two_users("");
    let (mut a, id) = alice_with_sm(&srv).await;
    a.ping_server().await;
    let mut bob = srv.login("bob", "pw", None).await;
    bob.send_chat("alice@localhost", "before drop").await;
    a.expect_message("before drop").await;
    let h = a.h_in;
    a.drop_connection();
    bob.send_chat("alice@localhost", "while away 1").await;
    bob.send_chat("alice@localhost/phone", "while away 2").await;
    bob.barrier().await;
    assert!(bob.take_stashed(|e| e.attr("type") == Some("error")).is_none(), "no bounce: {:?}", bob.stashed());

    let mut a2 = reconnect(&srv).await;
    let resumed = resume(&mut a2, &id, h).await;
    assert_eq!(resumed.name(), "resumed", "{}", show(&resumed));
    assert_eq!(resumed.attr("previd"), Some(id.as_str()));
    // The server handled one stanza (the ping) since <enable/>.
    assert_eq!(resumed.attr("h"), Some("1"), "{}", show(&resumed));
    a2.expect_message("while away 1").await;
    a2.expect_message("while away 2").await;
    a2.barrier().await;
    let again = a2.take_stashed(|e| show(e).contains("before drop"));
    assert!(again.is_none(), "an acked stanza was resent: {}", again.map(|e| show(&e)).unwrap_or_default());
    // The resumed session is the same full JID, still available.
    bob.send_chat("alice@localhost", "after resume").await;
    a2.expect_message("after resume").await;
    assert_eq!(a2.iq_ok("<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await.attr("to"), Some("alice@localhost/phone"));
}

#[tokio::test]
async fn resuming_while_the_old_connection_is_open_gives_it_conflict() {
    let srv = two_users("");
    let (mut a, id) = alice_with_sm(&srv).await;
    a.ping_server().await;
    let h = a.h_in;
    let mut a2 = reconnect(&srv).await;
    let resumed = resume(&mut a2, &id, h).await;
    assert_eq!(resumed.name(), "resumed", "{}", show(&resumed));
    a.expect_stream_error("conflict").await;
    let mut bob = srv.login("bob", "pw", None).await;
    bob.send_chat("alice@localhost/phone", "to the new connection").await;
    a2.expect_message("to the new connection").await;
}

#[tokio::test]
async fn unknown_or_foreign_sm_id_fails_and_bind_still_works() {
    let srv = two_users("");
    let (_bob_sm, bob_id) = {
        let mut b = srv.login("bob", "pw", Some("b")).await;
        let en = b.enable_sm(true).await;
        let id = en.attr("id").expect("id").to_owned();
        (b, id)
    };
    let mut c = reconnect(&srv).await;
    let f = resume(&mut c, "no-such-id", 0).await;
    assert!(f.is("failed", ns::SM) && f.has_child("item-not-found", ns::XMPP_STANZAS), "{}", show(&f));
    let f = resume(&mut c, &bob_id, 0).await;
    assert!(f.is("failed", ns::SM), "alice must not resume bob's session: {}", show(&f));
    c.bind(None).await;
    c.ping_server().await;
}

#[tokio::test]
async fn unacked_messages_go_offline_when_the_window_ends() {
    let srv = two_users("sm_resume_timeout_secs = 2");
    let (mut a, _) = alice_with_sm(&srv).await;
    let mut bob = srv.login("bob", "pw", None).await;
    bob.send_str("<presence/>").await;
    // Directed presence: bob will hear when alice's session really ends (RFC 6121 §4.6.3).
    a.send_str("<presence to='bob@localhost'/>").await;
    bob.expect("alice's directed presence", |e| e.is("presence", ns::CLIENT) && e.attr("type").is_none()).await;
    bob.send_chat("alice@localhost", "delivered, never acked").await;
    a.expect_message("delivered, never acked").await;
    a.drop_connection();
    let dropped = Instant::now();
    bob.send_chat("alice@localhost", "queued while hibernating").await;
    let gone = bob
        .expect_within("alice unavailable when the window ends", Duration::from_secs(15), |e| {
            e.is("presence", ns::CLIENT) && e.attr("type") == Some("unavailable")
        })
        .await;
    assert_eq!(gone.attr("from"), Some("alice@localhost/phone"));
    assert!(dropped.elapsed() >= Duration::from_secs(1), "the session hibernated before ending: {:?}", dropped.elapsed());

    let mut a2 = srv.login("alice", "pw", Some("laptop")).await;
    a2.send_str("<presence/>").await;
    for body in ["delivered, never acked", "queued while hibernating"] {
        let m = a2.expect_message(body).await;
        assert!(m.has_child("delay", ns::DELAY), "from offline storage, with a delay stamp: {}", show(&m));
    }
}

fn is_server_ping(e: &minidom::Element) -> bool {
    e.is("iq", ns::CLIENT) && e.attr("type") == Some("get") && e.has_child("ping", ns::PING)
}

#[tokio::test]
async fn idle_clients_are_pinged_and_a_silent_one_stays_resumable() {
    let srv = two_users("ping_interval_secs = 1\nping_timeout_secs = 1");
    let (mut a, id) = alice_with_sm(&srv).await;
    // XEP-0199: an idle client is pinged by the server; answering keeps the stream.
    let ping = a.expect("a ping from the server", is_server_ping).await;
    assert_eq!(ping.attr("from"), Some(DOMAIN), "{}", show(&ping));
    let pid = ping.attr("id").expect("id").to_owned();
    a.send_str(&format!("<iq type='result' id='{pid}' to='{DOMAIN}'/>")).await;
    let second = a.expect("the next ping", |e| is_server_ping(e) && e.attr("id") != Some(pid.as_str())).await;
    assert!(second.attr("id").is_some());
    // Not answering it: the stream times out...
    a.expect_stream_error("connection-timeout").await;
    // ...but a dead peer is not a clean close, so the session can be resumed, and both pings
    // count for XEP-0198 on either side.
    let h = a.h_in;
    assert_eq!(h, 2, "two pings received since <enabled/>");
    let mut a2 = reconnect(&srv).await;
    let r = resume(&mut a2, &id, h).await;
    assert_eq!(r.name(), "resumed", "{}", show(&r));
    assert_eq!(r.attr("h"), Some("1"), "the server handled our one ping answer: {}", show(&r));
    a2.ping_server().await;
}

#[tokio::test]
async fn without_resumption_unacked_messages_go_offline_at_once() {
    let srv = two_users("");
    let mut a = srv.login("alice", "pw", Some("phone")).await;
    a.send_str("<presence/>").await;
    let enabled = a.enable_sm(false).await;
    assert!(enabled.attr("id").is_none() && enabled.attr("resume").is_none(), "{}", show(&enabled));
    let mut bob = srv.login("bob", "pw", None).await;
    bob.send_str("<presence/>").await;
    a.send_str("<presence to='bob@localhost'/>").await;
    bob.expect("alice's directed presence", |e| e.is("presence", ns::CLIENT) && e.attr("type").is_none()).await;
    bob.send_chat("alice@localhost", "unacked, no resumption").await;
    a.expect_message("unacked, no resumption").await;
    a.drop_connection();
    bob.expect("alice unavailable", |e| e.is("presence", ns::CLIENT) && e.attr("type") == Some("unavailable")).await;
    let mut a2 = srv.login("alice", "pw", Some("phone")).await;
    a2.send_str("<presence/>").await;
    let m = a2.expect_message("unacked, no resumption").await;
    assert!(m.has_child("delay", ns::DELAY), "{}", show(&m));
}
