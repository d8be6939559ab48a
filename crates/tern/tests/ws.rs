//! XMPP over WebSocket (RFC 7395) against the real binary: login over `ws` and `wss` on the
//! WebSocket listeners and at `/xmpp-websocket` on the HTTP ones, messages between a
//! WebSocket and a TCP client, the close handshake, and keepalive pings.

mod common;

use common::{Client, TestServer, DOMAIN};
use tern_auth::ScramHash;

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
