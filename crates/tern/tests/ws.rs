//! XMPP over WebSocket (RFC 7395) against the real binary: login over `ws` and `wss` on the
//! WebSocket listeners and at `/xmpp-websocket` on the HTTP ones, messages between a
//! WebSocket and a TCP client, the close handshake, stream restarts with a new `<open/>`,
//! keepalive pings and XEP-0198 resumption of a session whose WebSocket went silent,
//! `see-other-uri` on shutdown, XEP-0156 discovery, and the page shown to a browser.

mod common;

use std::time::{Duration, Instant};

use common::client::{show, stream_error_condition, Ev};
use common::http::Endpoint;
use common::ws::ServerFrame;
use common::{Client, TestServer, DOMAIN};
use minidom::Element;
use tern_auth::ScramHash;
use tern_core::ns;
use tern_wire::websocket::NS_FRAMING;

async fn ws_login(srv: &TestServer, addr: std::net::SocketAddr, tls: bool, path: &str, user: &str) -> Client {
    let mut c = Client::connect_ws(addr, tls, path, DOMAIN, &srv.certs_dir()).await;
    let f = c.open_stream().await;
    assert!(!f.has_child("starttls", tern_core::ns::TLS), "RFC 7395 §3.7: no STARTTLS over WebSocket");
    c.auth_scram(ScramHash::Sha256, user, "pw").await.unwrap_or_else(|f| panic!("login failed: {f:?}\n{}", srv.log_tail()));
    c.bind(None).await;
    c
}

#[tokio::test]
async fn login_and_chat_over_every_websocket_endpoint() {
    let srv = TestServer::start_with("", "");
    srv.add_user("alice@localhost", "pw");
    srv.add_user("bob@localhost", "pw");
    let mut bob = srv.login_available("bob", "pw", None).await;
    bob.barrier().await;
    let endpoints = [
        (srv.ws.expect("ws"), false, "/"),
        (srv.wss.expect("wss"), true, "/"),
        (srv.wss.expect("wss"), true, "/xmpp-websocket"),
        (srv.http.expect("http"), false, "/xmpp-websocket"),
        (srv.https.expect("https"), true, "/xmpp-websocket"),
    ];
    for (i, (addr, tls, path)) in endpoints.into_iter().enumerate() {
        let mut alice = ws_login(&srv, addr, tls, path, "alice").await;
        let body = format!("hello {i}");
        alice.send_chat("bob@localhost", &body).await;
        bob.expect_message(&body).await;
        bob.send_chat(&alice.full_jid(), "back").await;
        alice.expect_message("back").await;
        alice.send_str(&tern_wire::websocket::ws_close(None)).await;
        assert_eq!(alice.expect_ws_closed().await, Some(1000), "normal closure after <close/>");
    }
}

fn server(extra: &str) -> TestServer {
    let srv = TestServer::start_with("", extra);
    srv.add_user("alice@localhost", "pw");
    srv.add_user("bob@localhost", "pw");
    srv
}

/// The server's `<open/>` (RFC 7395): `from` the domain, an `id`, version 1.0.
fn assert_server_open(h: &tern_wire::StreamHeader) {
    assert_eq!(h.from.as_deref(), Some(DOMAIN), "{h:?}");
    assert!(h.id.as_deref().is_some_and(|id| !id.is_empty()), "no stream id: {h:?}");
    assert_eq!(h.version.as_deref(), Some("1.0"), "{h:?}");
    assert_eq!(h.lang.as_deref(), Some("en"), "{h:?}");
}

#[tokio::test]
async fn stream_restart_after_sasl_is_a_new_open() {
    let srv = server("");
    let mut c = Client::connect_ws(srv.ws.expect("ws"), false, "/", DOMAIN, &srv.certs_dir()).await;
    c.open_stream().await;
    let first = c.header.clone().expect("the server's <open/>");
    assert_server_open(&first);
    // auth_scram sends a new <open/> after <success/> (RFC 7395 stream restart) and waits for the reply.
    c.auth_scram(ScramHash::Sha256, "alice", "pw").await.expect("login");
    let second = c.header.clone().expect("the server's second <open/>");
    assert_server_open(&second);
    assert_ne!(first.id, second.id, "a restarted stream gets a new id (RFC 6120)");
    let f = c.features.clone().expect("features after the restart");
    assert!(f.has_child("bind", ns::BIND) && !f.has_child("mechanisms", ns::SASL), "{}", show(&f));
    c.bind(None).await;
    c.ping_server().await;
}

const KEEPALIVE: &str = "[websocket]\nping_interval_secs = 1\nping_timeout_secs = 1";

#[tokio::test]
async fn a_client_answering_pings_stays_connected() {
    let srv = server(KEEPALIVE);
    let mut c = ws_login(&srv, srv.ws.expect("ws"), false, "/", "alice").await;
    // Read (answering each WebSocket ping with a pong) for longer than interval + timeout.
    let until = Instant::now() + Duration::from_secs(4);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match c.next_event(left).await {
            None | Some(Ev::El(_)) => {}
            Some(ev) => panic!("the connection ended although every ping was answered: {ev:?}\n{}", srv.log_tail()),
        }
    }
    assert!(c.ws_pings >= 2, "the server pings a client that sends nothing: {} pings", c.ws_pings);
    c.ping_server().await;
    c.send_str(&tern_wire::websocket::ws_close(None)).await;
    assert_eq!(c.expect_ws_closed().await, Some(1000));
}

#[tokio::test]
async fn a_silent_websocket_is_dropped_and_its_session_resumed() {
    let srv = server(KEEPALIVE);
    let mut bob = srv.login_available("bob", "pw", None).await;
    bob.barrier().await;
    let mut a = ws_login(&srv, srv.ws.expect("ws"), false, "/", "alice").await;
    a.send_str("<presence/>").await;
    let enabled = a.enable_sm(true).await;
    assert_eq!(enabled.attr("resume"), Some("true"), "{}", show(&enabled));
    let id = enabled.attr("id").unwrap_or_else(|| panic!("no SM-ID: {}", show(&enabled))).to_owned();
    a.ping_server().await;
    let h = a.h_in;
    let jid = a.full_jid();
    // From now on `a` neither reads nor answers pings: after the ping interval and the
    // ping timeout the server drops the connection and keeps the session (XEP-0198 §5).
    let silent = Instant::now();
    srv.wait_for_log(&["no answer to a WebSocket ping"], Duration::from_secs(15)).await;
    srv.wait_for_log(&["session hibernated"], Duration::from_secs(10)).await;
    assert!(silent.elapsed() >= Duration::from_secs(1), "dropped before a ping could time out: {:?}", silent.elapsed());
    bob.send_chat(&jid, "while the websocket was dead").await;
    bob.barrier().await;
    assert!(bob.take_stashed(|e| e.attr("type") == Some("error")).is_none(), "no bounce: {:?}", bob.stashed());
    // What the dead connection had received: the unanswered ping, then the close.
    a.expect_ws_closed().await;
    assert!(a.ws_pings >= 1, "the server pinged before dropping the connection");
    assert!(a.take_stashed(|e| show(e).contains("while the websocket was dead")).is_none());

    let mut a2 = Client::connect_ws(srv.ws.expect("ws"), false, "/", DOMAIN, &srv.certs_dir()).await;
    a2.open_stream().await;
    a2.auth_scram(ScramHash::Sha256, "alice", "pw").await.expect("auth");
    a2.set_h(h);
    a2.send_str(&format!("<resume xmlns='{}' previd='{id}' h='{h}'/>", ns::SM)).await;
    let r = a2.expect("<resumed/> or <failed/>", |e| e.ns() == ns::SM && matches!(e.name(), "resumed" | "failed")).await;
    assert_eq!(r.name(), "resumed", "{}", show(&r));
    assert_eq!(r.attr("previd"), Some(id.as_str()), "{}", show(&r));
    a2.expect_message("while the websocket was dead").await;
    srv.wait_for_log(&["session resumed", "ws "], Duration::from_secs(10)).await;
    bob.send_chat(&jid, "after resume").await;
    a2.expect_message("after resume").await;
    a2.ping_server().await;
}

/// Log in over `ws`, SIGTERM the server, return every frame the client got afterwards.
async fn frames_at_shutdown(extra: &str) -> Vec<ServerFrame> {
    let mut srv = server(extra);
    let mut c = ws_login(&srv, srv.ws.expect("ws"), false, "/", "alice").await;
    c.barrier().await;
    assert_eq!(srv.terminate(Duration::from_secs(10)), Some(0), "clean exit");
    srv.wait_for_log(&["shutting down"], Duration::from_secs(1)).await;
    let frames = c.ws_frames_until_closed().await;
    assert_eq!(frames.last(), Some(&ServerFrame::Close(Some(1000))), "{frames:?}");
    frames
}

/// The text messages among `frames`, parsed.
fn texts(frames: &[ServerFrame]) -> Vec<Element> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Text(t) => Some(t.parse::<Element>().unwrap_or_else(|e| panic!("bad XML from the server ({e}): {t}"))),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn shutdown_with_redirect_is_close_see_other_uri() {
    let uri = "wss://t2.example.com/xmpp-websocket";
    let frames = frames_at_shutdown(&format!("[websocket]\nshutdown_redirect_uri = \"{uri}\"")).await;
    let els = texts(&frames);
    // RFC 7395 see-other-uri: the redirect replaces the see-other-host stream error.
    assert_eq!(els.len(), 1, "only <close/>: {frames:?}");
    assert!(els[0].is("close", NS_FRAMING), "{frames:?}");
    assert_eq!(els[0].attr("see-other-uri"), Some(uri), "{frames:?}");
}

#[tokio::test]
async fn shutdown_without_redirect_is_system_shutdown() {
    let frames = frames_at_shutdown("").await;
    let els = texts(&frames);
    assert_eq!(els.len(), 2, "<stream:error/> then <close/>: {frames:?}");
    assert_eq!(stream_error_condition(&els[0]).as_deref(), Some("system-shutdown"), "{frames:?}");
    assert!(els[1].is("close", NS_FRAMING) && els[1].attr("see-other-uri").is_none(), "{frames:?}");
}

/// Sessions still negotiating (not bound) are told about the shutdown too, on every transport.
#[tokio::test]
async fn shutdown_reaches_sessions_that_are_not_bound() {
    let mut srv = server("");
    let mut ws = Client::connect_ws(srv.ws.expect("ws"), false, "/", DOMAIN, &srv.certs_dir()).await;
    ws.open_stream().await;
    let mut tcp = srv.connect(DOMAIN).await;
    tcp.open_stream().await;
    assert_eq!(srv.terminate(Duration::from_secs(10)), Some(0), "clean exit");
    let frames = ws.ws_frames_until_closed().await;
    let els = texts(&frames);
    assert_eq!(stream_error_condition(&els[0]).as_deref(), Some("system-shutdown"), "{frames:?}");
    assert!(els[1].is("close", NS_FRAMING), "{frames:?}");
    tcp.expect_stream_error("system-shutdown").await;
}

const WEBSOCKET_REL: &str = "urn:xmpp:alt-connections:websocket";

/// The WebSocket links of host-meta (XRD) and the JRD body, asked with `Host: host`.
async fn websocket_links(ep: &Endpoint, host: &str) -> (Vec<String>, String) {
    let mut ep = ep.clone();
    ep.path = "/.well-known/host-meta".into();
    let r = ep.request("GET", &[("Host", host)], b"").await;
    assert_eq!(r.status, 200, "{r:?}");
    let links = r.xml().children().filter(|l| l.attr("rel") == Some(WEBSOCKET_REL)).filter_map(|l| l.attr("href")).map(str::to_owned).collect();
    ep.path = "/.well-known/host-meta.json".into();
    let r = ep.request("GET", &[("Host", host)], b"").await;
    assert_eq!(r.status, 200, "{r:?}");
    (links, r.body)
}

#[tokio::test]
async fn host_meta_lists_the_websocket_endpoint() {
    let srv = server("");
    for (ep, scheme) in [(srv.bosh_ep(), "ws"), (srv.bosh_tls_ep(), "wss")] {
        let (links, json) = websocket_links(&ep, "chat.example.net:5280").await;
        let url = format!("{scheme}://chat.example.net:5280/xmpp-websocket");
        assert_eq!(links, [url.as_str()]);
        assert_eq!(json.matches(WEBSOCKET_REL).count(), 1, "{json}");
        assert!(json.contains(&format!("\"href\":\"{url}\"")), "{json}");
    }
    let srv = server("[websocket]\npublic_urls = [\"wss://xmpp.example.com/ws\"]");
    for ep in [srv.bosh_ep(), srv.bosh_tls_ep()] {
        let (links, json) = websocket_links(&ep, "chat.example.net:5280").await;
        assert_eq!(links, ["wss://xmpp.example.com/ws"]);
        assert_eq!(json.matches(WEBSOCKET_REL).count(), 1, "{json}");
        assert!(json.contains("\"href\":\"wss://xmpp.example.com/ws\""), "{json}");
        assert!(!json.contains("ws://chat.example.net") && !json.contains("wss://chat.example.net"), "{json}");
    }
}

#[tokio::test]
async fn a_browser_opening_the_url_gets_a_page() {
    let srv = server("");
    let certs = srv.certs_dir();
    let gets = [
        (Endpoint::plain(srv.ws.expect("ws")), "/"),
        (Endpoint::tls(srv.wss.expect("wss"), &certs), "/"),
        (srv.bosh_ep(), "/xmpp-websocket"),
        (srv.bosh_tls_ep(), "/xmpp-websocket"),
    ];
    for (mut ep, path) in gets {
        ep.path = path.into();
        let r = ep.request("GET", &[], b"").await;
        assert_eq!(r.status, 200, "GET {path} on {}: {r:?}", ep.addr);
        assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{r:?}");
        assert!(r.body.contains("<html") && r.body.contains("WebSocket"), "{}", r.body);
    }
}
