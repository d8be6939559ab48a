//! Hostile and broken input against the real binary: each case gets the RFC 6120 §4.9.3 stream
//! error it deserves (not-well-formed, restricted-xml §11.1, policy-violation §13.12,
//! host-unknown, invalid-namespace, not-authorized, connection-timeout), a flooding connection
//! is throttled without starving others, and the server keeps serving afterwards.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestServer, DOMAIN};
use tokio::io::AsyncWriteExt as _;

const HEADER: &str = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams'>";

fn server(limits: &str) -> TestServer {
    let srv = TestServer::start(limits);
    srv.add_user("alice@localhost", "pw");
    srv
}

/// Open a stream (plain TCP, no TLS), send `payload`, expect `condition`; then check the server
/// still serves a fresh login.
async fn after_open(srv: &TestServer, payload: &str, condition: &str) {
    let mut c = srv.connect(DOMAIN).await;
    c.open_stream().await;
    c.send_str(payload).await;
    c.expect_stream_error(condition).await;
    srv.assert_alive("alice", "pw").await;
}

/// Send raw bytes as the very first thing on a connection; expect `condition`.
async fn raw_first(srv: &TestServer, bytes: &str, condition: &str) {
    let mut c = srv.connect(DOMAIN).await;
    c.send_str(bytes).await;
    c.expect_stream_error(condition).await;
    let h = c.header.as_ref().expect("the server opens its stream before the error (RFC 6120 §4.9.1.2)");
    assert_eq!(h.stream_ns, tern_wire::NS_STREAMS);
    srv.assert_alive("alice", "pw").await;
}

#[tokio::test]
async fn malformed_xml_is_not_well_formed() {
    let srv = server("");
    after_open(&srv, "<message><body>mismatched</message>", "not-well-formed").await;
    after_open(&srv, "<presence a='1' a='2'/>", "not-well-formed").await;
    after_open(&srv, "text directly under the root", "not-well-formed").await;
}

#[tokio::test]
async fn restricted_xml_constructs() {
    let srv = server("");
    after_open(&srv, "<!-- a comment -->", "restricted-xml").await;
    after_open(&srv, "<message><?pi data?></message>", "restricted-xml").await;
    after_open(&srv, "<message><body>&undeclared;</body></message>", "restricted-xml").await;
    let dtd = "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY boom 'x'>]>\
               <stream:stream to='localhost' version='1.0' xmlns='jabber:client' \
               xmlns:stream='http://etherx.jabber.org/streams'>";
    raw_first(&srv, dtd, "restricted-xml").await;
}

#[tokio::test]
async fn oversized_stanza_is_a_policy_violation() {
    let srv = server("max_stanza_bytes = 10000");
    let mut c = srv.login("alice", "pw", None).await;
    // A stanza just under the limit is fine.
    c.send_str(&format!("<message to='alice@localhost'><body>{}</body></message>", "a".repeat(9000))).await;
    c.ping_server().await;
    let big = format!("<message to='alice@localhost'><body>{}</body></message>", "b".repeat(20_000));
    c.try_send_raw(big.as_bytes()).await;
    c.expect_stream_error("policy-violation").await;
    srv.assert_alive("alice", "pw").await;
}

#[tokio::test]
async fn unknown_host_and_wrong_namespace() {
    let srv = server("");
    let unknown = HEADER.replace("to='localhost'", "to='unknown.example'");
    raw_first(&srv, &unknown, "host-unknown").await;
    let wrong_ns = HEADER.replace("http://etherx.jabber.org/streams", "urn:example:not-streams");
    raw_first(&srv, &wrong_ns, "invalid-namespace").await;
    let wrong_content = HEADER.replace("xmlns='jabber:client'", "xmlns='jabber:server'");
    raw_first(&srv, &wrong_content, "invalid-namespace").await;
}

#[tokio::test]
async fn stanza_before_authentication_is_not_authorized() {
    let srv = server("");
    let mut c = srv.connect(DOMAIN).await;
    c.open_stream().await;
    c.starttls().await;
    c.send_str("<message to='alice@localhost'><body>sneaky</body></message>").await;
    c.expect_stream_error("not-authorized").await;
    srv.assert_alive("alice", "pw").await;
    // And nothing was delivered: alice has no offline message.
    let mut a = srv.login("alice", "pw", None).await;
    a.send_str("<presence/>").await;
    a.barrier().await;
    assert!(!a.stashed().iter().any(|e| e.name() == "message"), "{:?}", a.stashed());
}

#[tokio::test]
async fn idle_unauthenticated_connection_times_out() {
    let srv = server("auth_timeout_secs = 2");
    let start = Instant::now();
    let mut c = srv.connect(DOMAIN).await;
    c.open_stream().await;
    c.starttls().await;
    c.expect_stream_error("connection-timeout").await;
    assert!(start.elapsed() >= Duration::from_secs(1), "closed too early: {:?}", start.elapsed());
    // A connection that never even opens a stream is closed too.
    let mut silent = srv.connect(DOMAIN).await;
    silent.expect_stream_error("connection-timeout").await;
    // An authenticated session is not subject to the timeout.
    let mut ok = srv.login("alice", "pw", None).await;
    ok.ping_server().await;
    tokio::time::sleep(Duration::from_secs(3)).await; // longer than auth_timeout_secs, on purpose
    ok.ping_server().await;
}

const FLOOD_BYTES: usize = 20 << 20;

#[tokio::test]
async fn a_flooding_connection_is_throttled_without_starving_others() {
    let srv = server("bytes_per_second = 65536\nburst_bytes = 262144");
    let addr = srv.c2s;
    let pushed = Arc::new(AtomicUsize::new(0));
    let counter = pushed.clone();
    let flood = tokio::spawn(async move {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.set_send_buffer_size(32 * 1024).expect("sndbuf");
        let mut s = sock.connect(addr).await.expect("connect");
        s.write_all(HEADER.as_bytes()).await.expect("header");
        // Whitespace between elements is legal (keepalives), so only the throttle stops it.
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < FLOOD_BYTES {
            match s.write(&chunk).await {
                Ok(n) => sent += n,
                Err(_) => break,
            }
            counter.store(sent, Ordering::SeqCst);
        }
        sent
    });
    let started = Instant::now();
    while pushed.load(Ordering::SeqCst) < 256 * 1024 {
        assert!(started.elapsed() < Duration::from_secs(10), "the flood did not even start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    let mut other = srv.login("alice", "pw", None).await;
    other.ping_server().await;
    let other_took = t0.elapsed();
    assert!(other_took < Duration::from_secs(10), "login + ping took {other_took:?} during the flood");
    // Keep the other session busy for a while: it stays responsive, and the flood, which
    // unthrottled finishes in well under this window (see the next test), does not get through.
    let mut pings = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        other.ping_server().await;
        pings += 1;
    }
    let flooded = pushed.load(Ordering::SeqCst);
    assert!(pings > 1, "the other session should answer pings during the flood");
    assert!(!flood.is_finished(), "the flood connection should still be held back by the throttle");
    assert!(
        flooded < FLOOD_BYTES / 2,
        "the flood pushed {flooded} bytes in {:?} (the other login took {other_took:?})",
        started.elapsed()
    );
    flood.abort();
    srv.assert_alive("alice", "pw").await;
}

#[tokio::test]
async fn without_a_tight_throttle_the_same_flood_goes_through() {
    // The control for the test above: the flood itself is not slow, the throttle makes it so.
    let srv = server("bytes_per_second = 1000000000\nburst_bytes = 1000000000");
    let mut s = tokio::net::TcpStream::connect(srv.c2s).await.expect("connect");
    let start = Instant::now();
    s.write_all(HEADER.as_bytes()).await.expect("header");
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..(FLOOD_BYTES / chunk.len()) {
        tokio::time::timeout(Duration::from_secs(120), s.write_all(&chunk)).await.expect("unthrottled flood").expect("write");
    }
    let took = start.elapsed();
    drop(s);
    srv.assert_alive("alice", "pw").await;
    // At 65536 bytes/s the same flood would take 320 s.
    assert!(took < Duration::from_secs(30), "unthrottled flood of {FLOOD_BYTES} bytes took {took:?}");
}
