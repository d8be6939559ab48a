//! BOSH (XEP-0124 + XEP-0206) against the real binary over raw HTTP/1.1: the session creation
//! response (§7.1), SCRAM login with `xmpp:restart` (XEP-0206 §5), messages both ways with a
//! TCP user, in-order processing of requests that arrive out of order (§14.1),
//! retransmission (§14.3), terminate (§13), `wait` (§7.3), inactivity (§7.5) and queue
//! overflow with offline storage of queued stanzas, pause (§10), the terminal binding conditions of bad requests
//! (§17), request timeouts, per-IP creation limits (also behind a trusted proxy), CORS and
//! the page served on `GET`.

mod common;

use std::time::{Duration, Instant};

use common::bosh::{assert_terminal, body_xml, creation_xml, terminate_condition, Bosh};
use common::client::{show, Client};
use common::http::{read_response, Endpoint};
use common::TestServer;
use minidom::Element;
use tern_core::bosh::NS_HTTPBIND;
use tern_core::ns;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn server(limits: &str, extra: &str) -> TestServer {
    let srv = TestServer::start_with(limits, extra);
    srv.add_user("alice@localhost", "pw");
    srv.add_user("bob@localhost", "pw");
    srv
}

/// A presence from `from` (bare JID, any resource) of type `ptype` ("available" = none).
fn presence(from: &'static str, ptype: &'static str) -> impl Fn(&Element) -> bool {
    move |e| {
        e.is("presence", ns::CLIENT)
            && e.attr("from").is_some_and(|f| f == from || f.starts_with(&format!("{from}/")))
            && e.attr("type").unwrap_or("available") == ptype
    }
}

fn mechanisms(features: &Element) -> Vec<String> {
    features.get_child("mechanisms", ns::SASL).map(|m| m.children().map(|c| c.text()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn session_creation_response() {
    let srv = server("", "");
    let ep = srv.bosh_ep();
    let content = "application/xml; charset=utf-8";
    let resp = ep.post(&creation_xml(4711, 60, &format!(" content='{content}'"))).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.header("content-type"), Some(content), "the content attribute is honoured: {resp:?}");
    let b = resp.xml();
    assert!(b.is("body", NS_HTTPBIND), "{}", resp.body);
    assert_eq!(terminate_condition(&b), None, "{}", resp.body);
    let sid = b.attr("sid").unwrap_or_default();
    assert!(sid.len() >= 22, "sid of at least 128 bits (22 base64 characters): {sid:?}");
    assert!(sid.chars().all(|c| c.is_ascii_alphanumeric() || "-_+/=".contains(c)), "sid is base64: {sid:?}");
    let num = |a: &str| -> u64 {
        b.attr(a).unwrap_or_else(|| panic!("no {a}: {}", resp.body)).parse().unwrap_or_else(|_| panic!("{a} not a number"))
    };
    assert_eq!(num("wait"), 50, "wait is capped at the server's 50 s");
    assert_eq!(num("hold"), 1);
    assert_eq!(num("requests"), 2);
    assert_eq!(num("polling"), 2);
    assert_eq!(num("inactivity"), 90);
    assert_eq!(num("maxpause"), 300);
    assert_eq!(b.attr("ver"), Some("1.11"));
    assert_eq!(b.attr("from"), Some("localhost"));
    assert_eq!(b.attr_ns("urn:xmpp:xbosh", "version"), Some("1.0"), "{}", resp.body);
    assert_eq!(b.attr_ns("urn:xmpp:xbosh", "restartlogic"), Some("true"), "{}", resp.body);
    let f = b.get_child("features", ns::STREAMS).unwrap_or_else(|| panic!("features: {}", resp.body));
    let mechs = mechanisms(f);
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-1"] {
        assert!(mechs.iter().any(|x| x == m), "{m} offered: {mechs:?}");
    }
    assert!(!mechs.iter().any(|x| x == "PLAIN"), "no PLAIN over plain HTTP: {mechs:?}");

    // Later responses of the session keep the content type and carry no session attributes.
    let auth = format!("<auth xmlns='{}' mechanism='X-UNKNOWN'/>", ns::SASL);
    let r = ep.post(&body_xml(4712, &format!(" sid='{sid}'"), &auth)).await;
    assert_eq!(r.header("content-type"), Some(content), "{r:?}");
    let el = r.xml();
    assert_eq!(el.attr("sid"), None, "{}", r.body);
    assert!(el.children().any(|c| c.is("failure", ns::SASL)), "SASL failure for an unknown mechanism: {}", r.body);

    // A shorter client wait is kept; without `content` the type is XML.
    let resp = ep.post(&creation_xml(99, 10, "")).await;
    let b = resp.xml();
    assert_eq!(b.attr("wait"), Some("10"), "{}", resp.body);
    assert_eq!(b.attr("hold"), Some("1"), "{}", resp.body);
    assert!(resp.header("content-type").is_some_and(|c| c.starts_with("text/xml")), "{resp:?}");
    assert_ne!(b.attr("sid"), Some(sid), "a new sid per session");

    // Over HTTPS, PLAIN is offered too.
    let resp = srv.bosh_tls_ep().post(&creation_xml(7, 30, "")).await;
    let b = resp.xml();
    let mechs = mechanisms(b.get_child("features", ns::STREAMS).unwrap_or_else(|| panic!("{}", resp.body)));
    assert!(mechs.iter().any(|x| x == "PLAIN") && mechs.iter().any(|x| x == "SCRAM-SHA-256"), "{mechs:?}");
}

#[tokio::test]
async fn login_and_messages_both_ways_with_a_tcp_user() {
    let srv = server("", "");
    let ep = srv.bosh_ep();
    let mut alice = Bosh::create(&ep, 30).await;
    alice.auth_scram(tern_auth::ScramHash::Sha256, "alice", "pw").await.expect("SCRAM-SHA-256 over BOSH");
    let f = alice.features.clone().expect("features after restart");
    assert!(f.has_child("bind", ns::BIND), "bind after the restart: {}", show(&f));
    assert!(!f.has_child("mechanisms", ns::SASL), "no SASL twice: {}", show(&f));
    let jid = alice.bind(Some("web")).await;
    assert_eq!(jid, "alice@localhost/web");
    alice.send("<presence xmlns='jabber:client'/>").await;

    let mut bob = srv.login_available("bob", "pw", Some("desk")).await;
    alice.send_chat("bob@localhost/desk", "hello from bosh").await;
    let m = bob.expect_message("hello from bosh").await;
    assert_eq!(m.attr("from"), Some("alice@localhost/web"), "{}", show(&m));
    bob.send_chat("alice@localhost/web", "hello from tcp").await;
    let m = alice.expect_message("hello from tcp").await;
    assert_eq!(m.attr("from"), Some("bob@localhost/desk"), "{}", show(&m));
    // And again, to the bare JID (routed to the available BOSH resource).
    bob.send_chat("alice@localhost", "second").await;
    alice.expect_message("second").await;
    alice.barrier().await;
}

/// A chat message payload to bob's `desk` resource.
fn to_bob(body: &str) -> String {
    format!("<message xmlns='jabber:client' type='chat' to='bob@localhost/desk'><body>{body}</body></message>")
}

/// The body of the next chat message bob receives.
async fn next_body(bob: &mut Client) -> String {
    let m = bob.expect("a chat message", |e| e.is("message", ns::CLIENT) && e.has_child("body", ns::CLIENT)).await;
    m.get_child("body", ns::CLIENT).map(|b| b.text()).unwrap_or_default()
}

#[tokio::test]
async fn out_of_order_requests_are_processed_in_rid_order() {
    let srv = server("", "");
    let ep = srv.bosh_ep();
    let mut alice = Bosh::login_available(&ep, 30, "alice", "pw", Some("web")).await;
    let mut bob = srv.login_available("bob", "pw", Some("desk")).await;
    for round in 0..3 {
        // Nothing held, so rid+1 and rid+2 stay within `requests` (2) simultaneous requests.
        alice.barrier().await;
        let (r1, x1) = alice.next_body("", &to_bob(&format!("first {round}")));
        let (r2, x2) = alice.next_body("", &to_bob(&format!("second {round}")));
        // rid+2 on one connection, then (once it is with the server) rid+1 on another.
        let c2 = ep.write_request("POST", &[], x2.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let c1 = ep.write_request("POST", &[], x1.as_bytes()).await;
        let within = Duration::from_secs(60);
        alice.pending.push_back((r1, tokio::spawn(read_response(c1, within))));
        alice.pending.push_back((r2, tokio::spawn(read_response(c2, within))));
        assert_eq!(next_body(&mut bob).await, format!("first {round}"), "rid+1's message is routed first");
        assert_eq!(next_body(&mut bob).await, format!("second {round}"));
        // rid+1 is answered (empty) once rid+2 is processed and held.
        assert!(alice.complete_oldest(Duration::from_secs(10)).await, "rid+1 answered when rid+2 is held");
    }
    // The session did not stall: stanzas flow both ways.
    bob.send_chat("alice@localhost/web", "still there?").await;
    alice.expect_message("still there?").await;
    alice.send_chat("bob@localhost/desk", "yes").await;
    bob.expect_message("yes").await;
}

#[tokio::test]
async fn retransmission_and_rid_window() {
    let srv = server("", "");
    let ep = srv.bosh_ep();
    let mut alice = Bosh::login_available(&ep, 30, "alice", "pw", Some("web")).await;
    alice.barrier().await;
    let last = alice.rid;
    let original = alice.answers.get(&last).cloned().expect("the last request was answered");
    assert!(original.contains("<iq"), "the last answer carries the ping result: {original}");
    let again = ep.post(&alice.sent[&last]).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, original, "a repeated rid gets the same response (XEP-0124 §14.3)");
    // The session goes on after the retransmission.
    alice.barrier().await;
    // A rid far beyond the window ends the session.
    let far = body_xml(alice.rid + 1000, &format!(" sid='{}'", alice.sid), "");
    assert_terminal(&ep.post(&far).await, "item-not-found");
    let (_, next) = alice.next_body("", "");
    assert_terminal(&ep.post(&next).await, "item-not-found");
    srv.assert_bosh_alive(&ep, "bob", "pw").await;
}

/// Subscription both ways between a BOSH user and a TCP user (RFC 6121 §3.1).
async fn befriend(alice: &mut Bosh, bob: &mut Client) {
    alice.send("<presence xmlns='jabber:client' type='subscribe' to='bob@localhost'/>").await;
    bob.expect("bob: subscribe request", presence("alice@localhost", "subscribe")).await;
    bob.send_str("<presence type='subscribed' to='alice@localhost'/>").await;
    alice.expect("alice: subscribed", presence("bob@localhost", "subscribed")).await;
    alice.expect("alice: bob's presence", presence("bob@localhost", "available")).await;
    bob.send_str("<presence type='subscribe' to='alice@localhost'/>").await;
    alice.expect("alice: subscribe request", presence("bob@localhost", "subscribe")).await;
    alice.send("<presence xmlns='jabber:client' type='subscribed' to='bob@localhost'/>").await;
    bob.expect("bob: alice's presence", presence("alice@localhost", "available")).await;
}

#[tokio::test]
async fn terminate_with_unavailable_presence() {
    let srv = server("", "");
    let ep = srv.bosh_ep();
    let mut alice = Bosh::login(&ep, 30, "alice", "pw", Some("web")).await;
    alice.send("<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>").await;
    alice.expect("roster", |e| e.is("iq", ns::CLIENT) && e.attr("id") == Some("r1")).await;
    alice.send("<presence xmlns='jabber:client'/>").await;
    let mut bob = srv.login("bob", "pw", Some("desk")).await;
    bob.iq_ok("<iq type='get' id='{id}'><query xmlns='jabber:iq:roster'/></iq>").await;
    bob.send_str("<presence/>").await;
    befriend(&mut alice, &mut bob).await;

    let r = alice.terminate("<presence xmlns='jabber:client' type='unavailable'><status>gone</status></presence>").await;
    assert_eq!(r.status, 200);
    let el = r.xml();
    assert_eq!(el.attr("type"), Some("terminate"), "{}", r.body);
    assert_eq!(el.attr("condition"), None, "a client terminate is answered without a condition: {}", r.body);
    let p = bob.expect("alice unavailable", presence("alice@localhost", "unavailable")).await;
    assert_eq!(p.attr("from"), Some("alice@localhost/web"), "{}", show(&p));
    assert_eq!(p.get_child("status", ns::CLIENT).map(|s| s.text()).as_deref(), Some("gone"), "{}", show(&p));
    // The sid is gone.
    let (_, next) = alice.next_body("", "");
    assert_terminal(&ep.post(&next).await, "item-not-found");
}

#[tokio::test]
async fn held_request_is_answered_empty_after_wait() {
    let srv = server("", "");
    let ep = srv.bosh_ep();
    let mut alice = Bosh::login_available(&ep, 2, "alice", "pw", Some("web")).await;
    assert_eq!(alice.creation.attr("wait"), Some("2"));
    alice.barrier().await;
    let start = Instant::now();
    alice.send("").await;
    let rid = alice.rid;
    assert!(alice.complete_oldest(Duration::from_secs(30)).await, "the held request is answered");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1500), "held until wait (2 s), answered after {took:?}");
    assert!(took < Duration::from_secs(20), "answered after {took:?}");
    let body: Element = alice.answers[&rid].parse().expect("xml");
    assert_eq!(body.children().count(), 0, "an empty response: {}", alice.answers[&rid]);
    assert_eq!(terminate_condition(&body), None);
    alice.barrier().await;
}

#[tokio::test]
async fn inactive_session_ends_and_queued_messages_go_offline() {
    let srv = server("", "[bosh]\ninactivity_secs = 2");
    let ep = srv.bosh_ep();
    let mut alice = Bosh::login_available(&ep, 30, "alice", "pw", Some("web")).await;
    assert_eq!(alice.creation.attr("inactivity"), Some("2"));
    let mut bob = srv.login_available("bob", "pw", Some("desk")).await;
    // Nothing held from now on: the client stopped polling.
    alice.barrier().await;
    bob.send_chat("alice@localhost", "while you were away").await;
    bob.barrier().await;
    srv.wait_for_log(&["session ended", "alice@localhost/web"], Duration::from_secs(30)).await;
    let (_, next) = alice.next_body("", "");
    assert_terminal(&ep.post(&next).await, "item-not-found");
    // Nothing was lost: the next login gets the message from offline storage.
    let mut again = srv.login_available("alice", "pw", Some("tcp")).await;
    let m = again.expect_message("while you were away").await;
    assert_eq!(m.attr("from"), Some("bob@localhost/desk"), "{}", show(&m));
}

#[tokio::test]
async fn pause_within_and_beyond_maxpause() {
    let srv = server("", "");
    let ep = srv.bosh_ep();
    let mut alice = Bosh::login_available(&ep, 30, "alice", "pw", Some("web")).await;
    alice.barrier().await;
    alice.send("").await;
    let (_, pause) = alice.next_body(" pause='60'", "");
    let start = Instant::now();
    let r = ep.post(&pause).await;
    assert_eq!(r.status, 200);
    assert_eq!(terminate_condition(&r.xml()), None, "a pause within maxpause is granted: {}", r.body);
    assert!(start.elapsed() < Duration::from_secs(15), "answered at once, not after wait: {:?}", start.elapsed());
    assert!(alice.complete_oldest(Duration::from_secs(15)).await, "the held request is answered at the pause too");
    // The client comes back.
    alice.barrier().await;
    let (_, pause) = alice.next_body(" pause='100000'", "");
    assert_terminal(&ep.post(&pause).await, "policy-violation");
    srv.assert_bosh_alive(&ep, "alice", "pw").await;
}

/// `xml` gets the terminal binding condition `condition`; then a fresh BOSH login works.
async fn refused(srv: &TestServer, xml: &str, condition: &str) {
    let ep = srv.bosh_ep();
    assert_terminal(&ep.post(xml).await, condition);
    srv.assert_bosh_alive(&ep, "alice", "pw").await;
}

#[tokio::test]
async fn bad_requests_get_terminal_conditions() {
    let srv = server("max_stanza_bytes = 10000", "");
    let h = format!("xmlns='{NS_HTTPBIND}'");
    let create = "to='localhost' wait='10' hold='1'";
    refused(&srv, &format!("<body {h} rid='1' {create}><message></body>"), "bad-request").await;
    refused(&srv, "this is not XML", "bad-request").await;
    refused(&srv, &format!("<body xmlns='urn:example:wrong' rid='1' {create}/>"), "bad-request").await;
    refused(&srv, &format!("<body {h} {create}/>"), "bad-request").await;
    refused(&srv, &format!("<body {h} rid='one' {create}/>"), "bad-request").await;
    refused(&srv, &format!("<body {h} rid='-5' {create}/>"), "bad-request").await;
    refused(&srv, &body_xml(5, " sid='AAAAAAAAAAAAAAAAAAAAAAAA'", ""), "item-not-found").await;
    refused(&srv, &format!("<body {h} rid='1' to='unknown.example' wait='10' hold='1'/>"), "host-unknown").await;
    refused(&srv, &format!("<body {h} rid='1' wait='10' hold='1'/>"), "host-unknown").await;

    // In a live session: stream framing inside a body, and a body over the size limit.
    let ep = srv.bosh_ep();
    let mut alice = Bosh::login_available(&ep, 30, "alice", "pw", Some("web")).await;
    alice.barrier().await;
    let stream = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'/>";
    let (_, x) = alice.next_body("", stream);
    refused(&srv, &x, "bad-request").await;
    let mut alice = Bosh::login_available(&ep, 30, "alice", "pw", Some("web2")).await;
    alice.barrier().await;
    // Just under the limit is fine.
    alice.send_chat("alice@localhost/web2", &"a".repeat(9000)).await;
    alice.expect_message(&"a".repeat(9000)).await;
    alice.barrier().await;
    let big = format!("<message xmlns='jabber:client' to='alice@localhost'><body>{}</body></message>", "b".repeat(20_000));
    let (_, x) = alice.next_body("", &big);
    refused(&srv, &x, "policy-violation").await;
    // Nor can a creation request be oversized.
    let big_create = format!("<body {h} rid='1' {create}>{big}</body>");
    refused(&srv, &big_create, "policy-violation").await;
}

/// Write `bytes` one at a time, `gap` apart, until the server closes the connection;
/// returns what the server sent and how long it took. Panics if the whole request went in.
async fn trickle(ep: &Endpoint, bytes: &[u8], gap: Duration) -> (String, Duration) {
    let io = ep.connect().await;
    let (mut rd, mut wr) = tokio::io::split(io);
    let start = Instant::now();
    let write = async {
        for b in bytes {
            if wr.write_all(&[*b]).await.is_err() || wr.flush().await.is_err() {
                // The server is gone: let the reader see it.
                return std::future::pending::<()>().await;
            }
            tokio::time::sleep(gap).await;
        }
    };
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::select! {
        () = write => panic!("the whole trickled request was accepted after {:?}", start.elapsed()),
        got = read => (got, start.elapsed()),
    }
}

#[tokio::test]
async fn slow_requests_are_cut_off_while_others_are_served() {
    let srv = server("", "[http]\nrequest_timeout_secs = 2");
    let ep = srv.bosh_ep();
    let gap = Duration::from_millis(100);
    // Headers trickled (slow loris).
    let req = ep.request_bytes("POST", &[], creation_xml(1, 10, "").as_bytes());
    let ((got, took), ()) = tokio::join!(trickle(&ep, &req, gap), srv.assert_bosh_alive(&ep, "alice", "pw"));
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "closed or 408: {got:?}");
    assert!(took < Duration::from_secs(20), "cut off after {took:?}");
    // Headers complete, body trickled.
    let body = creation_xml(1, 10, "");
    let head = ep.request_bytes("POST", &[], body.as_bytes());
    let head_len = head.len() - body.len();
    let slow_body = async {
        let io = ep.connect().await;
        let (mut rd, mut wr) = tokio::io::split(io);
        wr.write_all(&head[..head_len]).await.expect("headers");
        let start = Instant::now();
        let write = async {
            for b in body.as_bytes() {
                if wr.write_all(&[*b]).await.is_err() {
                    return std::future::pending::<()>().await;
                }
                tokio::time::sleep(gap).await;
            }
        };
        let mut got = Vec::new();
        tokio::select! {
            () = write => panic!("the trickled body was accepted after {:?}", start.elapsed()),
            _ = rd.read_to_end(&mut got) => (String::from_utf8_lossy(&got).into_owned(), start.elapsed()),
        }
    };
    let ((got, took), ()) = tokio::join!(slow_body, srv.assert_bosh_alive(&ep, "bob", "pw"));
    assert!(got.starts_with("HTTP/1.1 408") || got.is_empty(), "408 or closed: {got:?}");
    assert!(took < Duration::from_secs(20), "cut off after {took:?}");
    srv.assert_bosh_alive(&ep, "alice", "pw").await;
}

#[tokio::test]
async fn session_creations_per_ip_are_limited() {
    let srv = server("", "[bosh]\ncreations_per_minute = 5");
    let ep = srv.bosh_ep();
    for _ in 0..5 {
        Bosh::create(&ep, 10).await;
    }
    assert_terminal(&ep.post(&creation_xml(1, 10, "")).await, "policy-violation");
    // Other addresses are not affected, nor is XMPP over TCP.
    srv.assert_bosh_alive(&ep.clone().with_source_ip("127.0.0.2"), "alice", "pw").await;
    srv.assert_alive("alice", "pw").await;
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_counts_per_client() {
    let srv = server("", "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n\n[bosh]\ncreations_per_minute = 2");
    let ep = srv.bosh_ep();
    for client in ["198.51.100.1", "198.51.100.2", "2001:db8::7"] {
        let proxied = ep.clone().with_header("X-Forwarded-For", client);
        Bosh::create(&proxied, 10).await;
        Bosh::create(&proxied, 10).await;
        assert_terminal(&proxied.post(&creation_xml(1, 10, "")).await, "policy-violation");
    }
    // The rightmost untrusted hop counts: a client cannot pick its own address.
    let spoofed = ep.clone().with_header("X-Forwarded-For", "203.0.113.9, 198.51.100.1");
    assert_terminal(&spoofed.post(&creation_xml(1, 10, "")).await, "policy-violation");
    // X-Forwarded-For from a peer that is not a trusted proxy is ignored.
    let direct = ep.clone().with_source_ip("127.0.0.3");
    for (i, client) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].into_iter().enumerate() {
        let r = direct.clone().with_header("X-Forwarded-For", client).post(&creation_xml(1, 10, "")).await;
        let cond = terminate_condition(&r.xml());
        if i < 2 {
            assert_eq!(cond, None, "{}", r.body);
        } else {
            assert_eq!(cond.as_deref(), Some("policy-violation"), "the peer's own quota: {}", r.body);
        }
    }
}

#[tokio::test]
async fn cors_preflight_and_headers() {
    let srv = server("", "");
    let ep = srv.bosh_ep();
    let pre = [("Origin", "http://app.example"), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "content-type")];
    let r = ep.request("OPTIONS", &pre, b"").await;
    assert!(r.status == 204 || r.status == 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{r:?}");
    let methods = r.header("access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST") && methods.contains("OPTIONS"), "{r:?}");
    assert!(r.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase().contains("content-type"), "{r:?}");
    let age: u64 = r.header("access-control-max-age").and_then(|a| a.parse().ok()).unwrap_or(0);
    assert!(age > 0, "{r:?}");
    let post = ep.request("POST", &[("Origin", "http://app.example")], creation_xml(1, 10, "").as_bytes()).await;
    assert_eq!(post.header("access-control-allow-origin"), Some("*"), "{post:?}");
    assert!(post.xml().attr("sid").is_some(), "{}", post.body);
    // Even a refusal carries them (a browser must be able to read it).
    let bad = ep.request("POST", &[("Origin", "http://app.example")], b"<nonsense").await;
    assert_eq!(bad.header("access-control-allow-origin"), Some("*"), "{bad:?}");

    let srv = server("", "[http]\ncors_origins = [\"http://allowed.example\"]");
    let ep = srv.bosh_ep();
    let body = creation_xml(1, 10, "");
    let ok = ep.request("POST", &[("Origin", "http://allowed.example")], body.as_bytes()).await;
    assert_eq!(ok.header("access-control-allow-origin"), Some("http://allowed.example"), "{ok:?}");
    assert_eq!(ok.header("vary"), Some("Origin"), "the answer depends on the origin: {ok:?}");
    let other = ep.request("POST", &[("Origin", "http://evil.example")], body.as_bytes()).await;
    assert_eq!(other.header("access-control-allow-origin"), None, "{other:?}");
    let pre = ep.request("OPTIONS", &[("Origin", "http://allowed.example"), ("Access-Control-Request-Method", "POST")], b"").await;
    assert_eq!(pre.header("access-control-allow-origin"), Some("http://allowed.example"), "{pre:?}");
    let pre = ep.request("OPTIONS", &[("Origin", "http://evil.example"), ("Access-Control-Request-Method", "POST")], b"").await;
    assert_eq!(pre.header("access-control-allow-origin"), None, "{pre:?}");
}

#[tokio::test]
async fn get_on_the_path_is_a_page() {
    let srv = server("", "");
    let r = srv.bosh_ep().request("GET", &[], b"").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{r:?}");
    assert!(r.body.contains("<html") && r.body.contains("/http-bind"), "{}", r.body);
    let mut other = srv.bosh_ep();
    other.path = "/elsewhere".into();
    assert_eq!(other.request("GET", &[], b"").await.status, 404);
}

#[tokio::test]
async fn queue_overflow_ends_the_session_without_losing_stanzas() {
    let srv = server("", "[bosh]\nmax_queue = 5");
    let ep = srv.bosh_ep();
    let mut alice = Bosh::login_available(&ep, 30, "alice", "pw", Some("web")).await;
    let mut bob = srv.login_available("bob", "pw", Some("desk")).await;
    // The client stops polling (a paused background tab) while stanzas keep coming.
    alice.barrier().await;
    let sent: Vec<String> = (0..12).map(|i| format!("flood {i}")).collect();
    for b in &sent {
        bob.send_chat("alice@localhost/web", b).await;
    }
    bob.barrier().await;
    // bob's session has routed the flood; wait until alice's session task has taken it in
    // and ended, so the next request cannot race the inbox.
    srv.wait_for_log(&["session ended", "alice@localhost/web"], Duration::from_secs(30)).await;
    // When the client comes back its session is over; a terminate body carries no stanzas
    // (clients such as strophe.js ignore the payload of a terminate body).
    let (_, next) = alice.next_body("", "");
    let r = ep.post(&next).await;
    let el = r.xml();
    assert!(terminate_condition(&el).is_some(), "the session ended: {}", r.body);
    assert_eq!(el.children().filter(|c| c.is("message", ns::CLIENT)).count(), 0, "no stanzas in a terminate body: {}", r.body);
    // Every message reaches the next login (offline storage).
    let mut again = srv.login_available("alice", "pw", Some("tcp")).await;
    let mut got = Vec::new();
    for _ in &sent {
        let m = again.expect("an offline message", |e| e.is("message", ns::CLIENT) && e.has_child("body", ns::CLIENT)).await;
        got.push(m.get_child("body", ns::CLIENT).map(|b| b.text()).unwrap_or_default());
    }
    got.sort();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(got, want, "every queued message is delivered");
    again.barrier().await;
    let dup: Vec<String> = again.stashed().iter().filter(|e| e.is("message", ns::CLIENT)).map(show).collect();
    assert!(dup.is_empty(), "delivered twice: {dup:?}");
}
