//! Hostile and broken input on XMPP over WebSocket (RFC 7395) against the real binary: refused
//! opening handshakes (RFC 6455 §4.2.2, RFC 7395 §3.1), frames RFC 6455 forbids (unmasked,
//! reserved bits, invalid UTF-8; binary is not XMPP in RFC 7395), messages that are not
//! exactly one element, oversize and fragmented messages, TCP framing on a
//! WebSocket, the authentication timeout, and tolerated whitespace. Each error case checks the
//! stream error, the `<close/>` after it, the WebSocket close status (RFC 6455 §7.4.1),
//! a server log line about it, and that the server still serves a fresh login.

mod common;

use std::time::{Duration, Instant};

use common::client::{show, stream_error_condition, Client, Ev};
use common::ws::{dial, frame, handshake, raw_handshake, ServerFrame};
use common::{TestServer, DOMAIN};
use tern_auth::ScramHash;
use tern_core::ns;

const LOG_WAIT: Duration = Duration::from_secs(10);

fn server(limits: &str, extra: &str) -> TestServer {
    let srv = TestServer::start_with(limits, extra);
    srv.add_user("alice@localhost", "pw");
    srv.add_user("bob@localhost", "pw");
    srv
}

/// A WebSocket connection on the `ws` listener, handshake done, stream not opened.
async fn connect(srv: &TestServer) -> Client {
    Client::connect_ws(srv.ws.expect("ws listener"), false, "/", DOMAIN, &srv.certs_dir()).await
}

/// A WebSocket connection with its stream opened (not authenticated).
async fn opened(srv: &TestServer) -> Client {
    let mut c = connect(srv).await;
    c.open_stream().await;
    c
}

/// Logged in over `ws` as `user`, resource bound.
async fn ws_login(srv: &TestServer, user: &str) -> Client {
    let mut c = opened(srv).await;
    c.auth_scram(ScramHash::Sha256, user, "pw").await.unwrap_or_else(|f| panic!("login failed: {}\n{}", show(&f), srv.log_tail()));
    c.bind(None).await;
    c
}

/// A fresh WebSocket login and ping round trip work, then a clean close (1000).
async fn assert_ws_alive(srv: &TestServer) {
    let mut c = ws_login(srv, "alice").await;
    c.ping_server().await;
    c.send_str(&tern_wire::websocket::ws_close(None)).await;
    assert_eq!(c.expect_ws_closed().await, Some(1000), "normal closure after <close/>");
}

/// RFC 7395: `<stream:error/>` with `condition`, then `<close/>` (nothing in between),
/// then the WebSocket close frame; returns its status code.
async fn expect_error_close(c: &mut Client, condition: &str) -> Option<u16> {
    let err = c.expect(&format!("<stream:error><{condition}/>"), |e| e.is("error", ns::STREAMS)).await;
    assert_eq!(stream_error_condition(&err).as_deref(), Some(condition), "wrong stream error: {}", show(&err));
    match c.next_event(Duration::from_secs(10)).await {
        Some(Ev::Close) => {}
        other => panic!("expected <close/> right after the stream error, got {other:?}"),
    }
    c.expect_ws_closed().await
}

// ---- the opening handshake ----

/// Handshake request lines for `path`, with `lines` appended (each `Name: value`).
fn request(method: &str, path: &str, lines: &[&str]) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost");
    for l in lines {
        r.push_str("\r\n");
        r.push_str(l);
    }
    r
}

const UPGRADE: [&str; 3] = ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="];

#[tokio::test]
async fn refused_handshakes() {
    let srv = server("", "");
    let ws = srv.ws.expect("ws listener");
    let http = srv.http.expect("http listener");
    let no_upgrade = |r: &common::ws::HandshakeReply| {
        assert!(r.header("upgrade").is_none() && r.header("sec-websocket-accept").is_none(), "no upgrade: {r:?}");
    };

    // RFC 7395 §3.1: no XMPP stream without the `xmpp` subprotocol.
    for (addr, path) in [(ws, "/"), (http, "/xmpp-websocket")] {
        let mut io = dial(addr, None, &srv.certs_dir()).await;
        let r = handshake(&mut io, "localhost", path, &[("Sec-WebSocket-Protocol", "")]).await;
        assert_eq!(r.status, 400, "no subprotocol on {addr}{path}: {r:?}");
        no_upgrade(&r);
    }
    let mut io = dial(ws, None, &srv.certs_dir()).await;
    let r = handshake(&mut io, "localhost", "/", &[("Sec-WebSocket-Protocol", "chat")]).await;
    assert_eq!(r.status, 400, "only `chat` offered: {r:?}");
    no_upgrade(&r);
    srv.wait_for_log(&["WebSocket handshake refused", "xmpp subprotocol is required"], LOG_WAIT).await;

    // RFC 6455 §4.2.2: an unsupported version gets 426 and the versions we speak.
    let mut io = dial(ws, None, &srv.certs_dir()).await;
    let mut lines = UPGRADE.to_vec();
    lines.extend(["Sec-WebSocket-Version: 8", "Sec-WebSocket-Protocol: xmpp"]);
    let r = raw_handshake(&mut io, &request("GET", "/", &lines)).await;
    assert_eq!(r.status, 426, "{r:?}");
    assert_eq!(r.header("sec-websocket-version"), Some("13"), "{r:?}");
    no_upgrade(&r);
    srv.wait_for_log(&["WebSocket handshake refused", "Sec-WebSocket-Version"], LOG_WAIT).await;

    // A handshake is a GET (RFC 6455 §4.1).
    let mut io = dial(ws, None, &srv.certs_dir()).await;
    let mut lines = UPGRADE.to_vec();
    lines.extend(["Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: xmpp", "Content-Length: 0"]);
    let r = raw_handshake(&mut io, &request("POST", "/", &lines)).await;
    assert_eq!(r.status, 405, "{r:?}");
    no_upgrade(&r);
    srv.wait_for_log(&["WebSocket handshake refused", "GET request"], LOG_WAIT).await;

    assert_ws_alive(&srv).await;
}

#[tokio::test]
async fn origin_allow_list() {
    let srv = server("", "[websocket]\nallowed_origins = [\"https://good.example\"]");
    let ws = srv.ws.expect("ws listener");
    let mut io = dial(ws, None, &srv.certs_dir()).await;
    let r = handshake(&mut io, "localhost", "/", &[("Origin", "https://evil.example")]).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.header("sec-websocket-accept").is_none(), "{r:?}");
    srv.wait_for_log(&["WebSocket handshake refused", "Origin not allowed"], LOG_WAIT).await;

    let mut io = dial(ws, None, &srv.certs_dir()).await;
    let r = handshake(&mut io, "localhost", "/", &[("Origin", "https://good.example")]).await;
    assert_eq!(r.status, 101, "{r:?}");
    assert_eq!(r.header("sec-websocket-protocol"), Some("xmpp"), "{r:?}");
    // The allowed browser gets an XMPP stream.
    let mut c = Client::over_ws(io, DOMAIN, &srv.certs_dir(), &r.rest);
    c.open_stream().await;
    c.auth_scram(ScramHash::Sha256, "alice", "pw").await.expect("login");
    c.bind(None).await;
    c.ping_server().await;
    assert_ws_alive(&srv).await;
}

// ---- frames ----

#[tokio::test]
async fn binary_frame_is_bad_format_1003() {
    let srv = server("", "");
    let mut c = opened(&srv).await;
    c.send_frame_bytes(&frame(true, 2, b"<presence/>", true)).await;
    assert_eq!(expect_error_close(&mut c, "bad-format").await, Some(1003));
    srv.wait_for_log(&["bad input", "bad-format", "binary message"], LOG_WAIT).await;
    // Also once authenticated.
    let mut c = ws_login(&srv, "alice").await;
    c.send_frame_bytes(&frame(true, 2, b"\x00\x01", true)).await;
    assert_eq!(expect_error_close(&mut c, "bad-format").await, Some(1003));
    srv.wait_for_log_count(&["bad input", "bad-format", "binary message"], 2, LOG_WAIT).await;
    assert_ws_alive(&srv).await;
}

/// Send `bytes` on an opened stream: the stream error `condition`, `<close/>`, close `code`,
/// and a log line holding `log`; the server serves the next client.
async fn refused_frame(bytes: &[u8], condition: &str, code: u16, log: &str) {
    let srv = server("", "");
    let mut c = opened(&srv).await;
    c.send_frame_bytes(bytes).await;
    assert_eq!(expect_error_close(&mut c, condition).await, Some(code));
    srv.wait_for_log(&["bad input", condition, log], LOG_WAIT).await;
    assert_ws_alive(&srv).await;
}

#[tokio::test]
async fn unmasked_frame_is_bad_format_1002() {
    refused_frame(&frame(true, 1, b"<presence/>", false), "bad-format", 1002, "not masked").await;
}

#[tokio::test]
async fn reserved_bit_is_1002() {
    let mut f = frame(true, 1, b"<presence/>", true);
    f[0] |= 0x40; // RSV1, without a negotiated extension
    refused_frame(&f, "bad-format", 1002, "reserved bits").await;
}

#[tokio::test]
async fn invalid_utf8_is_unsupported_encoding_1007() {
    let f = frame(true, 1, b"<message><body>\xff\xfe</body></message>", true);
    refused_frame(&f, "unsupported-encoding", 1007, "UTF-8").await;
}

// ---- RFC 7395: one complete element per message ----

#[tokio::test]
async fn not_one_complete_element_is_not_well_formed() {
    let srv = server("", "");
    let cases = [
        ("<message><body>", "a partial element"),
        ("<presence/><presence/>", "two elements"),
        ("<message></presence>", "mismatched tags"),
    ];
    for (i, (payload, what)) in cases.into_iter().enumerate() {
        let mut c = ws_login(&srv, "alice").await;
        c.send_str(payload).await;
        assert_eq!(expect_error_close(&mut c, "not-well-formed").await, Some(1000), "{what}");
        // One warning per bad message.
        srv.wait_for_log_count(&["bad input", "not-well-formed"], i + 1, LOG_WAIT).await;
        assert_ws_alive(&srv).await;
    }
    assert_eq!(srv.count_log(&["bad input", "not-well-formed"]), cases.len(), "{}", srv.log_tail());
}

#[tokio::test]
async fn tcp_stream_header_is_invalid_namespace() {
    let srv = server("", "");
    let mut c = connect(&srv).await;
    c.send_str(
        "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams'>",
    )
    .await;
    assert_eq!(expect_error_close(&mut c, "invalid-namespace").await, Some(1000));
    let h = c.header.as_ref().expect("the server's <open/> before the error (RFC 6120 §4.9.1.2)");
    assert_eq!(h.version.as_deref(), Some("1.0"));
    srv.wait_for_log(&["bad input", "invalid-namespace", "<stream:stream>"], LOG_WAIT).await;
    assert_ws_alive(&srv).await;
}

// ---- size limits and fragmentation (RFC 6455 §5.4) ----

const BIG_LIMITS: &str = "max_stanza_bytes = 10000";

fn message_to(to: &str, body: &str) -> String {
    format!("<message type='chat' to='{to}'><body>{body}</body></message>")
}

#[tokio::test]
async fn oversize_message_is_policy_violation_1009() {
    let srv = server(BIG_LIMITS, "");
    let mut c = ws_login(&srv, "alice").await;
    // Just under the limit is fine.
    c.send_str(&message_to("alice@localhost", &"a".repeat(9000))).await;
    c.ping_server().await;
    let big = message_to("alice@localhost", &"b".repeat(20_000));
    c.send_frame_bytes(&frame(true, 1, big.as_bytes(), true)).await;
    assert_eq!(expect_error_close(&mut c, "policy-violation").await, Some(1009));
    srv.wait_for_log(&["bad input", "policy-violation", "longer than 10000 bytes"], LOG_WAIT).await;
    assert_ws_alive(&srv).await;
}

#[tokio::test]
async fn oversize_fragmented_message_is_policy_violation_1009() {
    let srv = server(BIG_LIMITS, "");
    let mut c = ws_login(&srv, "alice").await;
    let big = message_to("alice@localhost", &"b".repeat(12_000));
    let (a, rest) = big.as_bytes().split_at(6000);
    let (b, last) = rest.split_at(6000);
    // Each fragment is under the limit; together they are not.
    c.send_frame_bytes(&frame(false, 1, a, true)).await;
    c.send_frame_bytes(&frame(false, 0, b, true)).await;
    c.send_frame_bytes(&frame(true, 0, last, true)).await;
    assert_eq!(expect_error_close(&mut c, "policy-violation").await, Some(1009));
    srv.wait_for_log(&["bad input", "policy-violation", "longer than 10000 bytes"], LOG_WAIT).await;
    assert_ws_alive(&srv).await;
}

#[tokio::test]
async fn fragmented_message_is_reassembled() {
    let srv = server(BIG_LIMITS, "");
    let mut bob = srv.login_available("bob", "pw", None).await;
    bob.barrier().await;
    let mut c = ws_login(&srv, "alice").await;
    let msg = message_to("bob@localhost", "fragmented hello");
    let bytes = msg.as_bytes();
    let (a, rest) = bytes.split_at(20);
    let (b, last) = rest.split_at(25);
    c.send_frame_bytes(&frame(false, 1, a, true)).await;
    // A control frame may come between the fragments (RFC 6455 §5.4); it is answered.
    c.send_frame_bytes(&frame(true, 9, b"between", true)).await;
    assert_eq!(c.next_ws_frame(Duration::from_secs(10)).await, Some(ServerFrame::Pong(b"between".to_vec())));
    c.send_frame_bytes(&frame(false, 0, b, true)).await;
    c.send_frame_bytes(&frame(true, 0, last, true)).await;
    let m = bob.expect_message("fragmented hello").await;
    assert_eq!(m.attr("from"), Some(c.full_jid().as_str()), "{}", show(&m));
    c.ping_server().await;
    // Fragments adding up to a message just under the limit are accepted.
    let body = "c".repeat(9000);
    let msg = message_to("bob@localhost", &body);
    let chunks: Vec<&[u8]> = msg.as_bytes().chunks(4000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let op = if i == 0 { 1 } else { 0 };
        c.send_frame_bytes(&frame(i + 1 == chunks.len(), op, chunk, true)).await;
    }
    bob.expect_message(&body).await;
    c.ping_server().await;
}

// ---- timeouts and tolerated input ----

#[tokio::test]
async fn idle_unauthenticated_websocket_times_out() {
    let srv = server("auth_timeout_secs = 2", "");
    let start = Instant::now();
    // Stream opened, never authenticated.
    let mut c = opened(&srv).await;
    assert_eq!(expect_error_close(&mut c, "connection-timeout").await, Some(1000));
    assert!(start.elapsed() >= Duration::from_secs(1), "closed too early: {:?}", start.elapsed());
    // Handshake done, no <open/> at all: the server opens its side first (RFC 6120 §4.9.1.2).
    let mut silent = connect(&srv).await;
    assert_eq!(expect_error_close(&mut silent, "connection-timeout").await, Some(1000));
    let h = silent.header.as_ref().expect("the server's <open/> before the error");
    assert_eq!(h.version.as_deref(), Some("1.0"));
    srv.wait_for_log_count(&["closing stream with error", "connection-timeout", "authentication took too long"], 2, LOG_WAIT).await;
    // An authenticated WebSocket session is not subject to it.
    let mut ok = ws_login(&srv, "alice").await;
    tokio::time::sleep(Duration::from_secs(3)).await; // longer than auth_timeout_secs, on purpose
    ok.ping_server().await;
    assert_ws_alive(&srv).await;
}

#[tokio::test]
async fn whitespace_message_is_ignored() {
    let srv = server("", "");
    let mut c = ws_login(&srv, "alice").await;
    c.send_str(" \r\n\t ").await;
    c.ping_server().await;
    c.send_str(" ").await;
    c.ping_server().await;
    srv.wait_for_log(&["whitespace-only WebSocket message"], LOG_WAIT).await;
    assert!(!c.stashed().iter().any(|e| e.is("error", ns::STREAMS)), "{:?}", c.stashed());
    c.send_str(&tern_wire::websocket::ws_close(None)).await;
    assert_eq!(c.expect_ws_closed().await, Some(1000));
}
