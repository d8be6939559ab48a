//! XEP-0156 host-meta (XRD and JRD) and the BOSH node-pinning `host` attribute, and the
//! XEP-0124 §16 rule that a session created over HTTPS is never continued over plain HTTP,
//! against the real binary.

mod common;

use common::bosh::{creation_xml, Bosh};
use common::TestServer;

const XBOSH: &str = "urn:xmpp:alt-connections:xbosh";

#[tokio::test]
async fn host_meta_lists_bosh_as_the_client_sees_it() {
    let srv = TestServer::start_with("", "");
    let mut ep = srv.bosh_ep();
    ep.path = "/.well-known/host-meta".into();
    let r = ep.request("GET", &[("Host", "chat.example.net:5280")], b"").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").is_some_and(|c| c.contains("xrd")), "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let xrd = r.xml();
    let link = xrd.children().find(|l| l.attr("rel") == Some(XBOSH)).expect("bosh link");
    assert_eq!(link.attr("href"), Some("http://chat.example.net:5280/http-bind"));

    ep.path = "/.well-known/host-meta.json".into();
    let r = ep.request("GET", &[("Host", "chat.example.net:5280")], b"").await;
    assert!(r.header("content-type").is_some_and(|c| c.contains("json")), "{r:?}");
    assert!(r.body.contains(XBOSH) && r.body.contains("http://chat.example.net:5280/http-bind"), "{}", r.body);

    // A forged Host cannot inject markup; an untrusted peer's X-Forwarded-Host is ignored.
    let r = ep.request("GET", &[("Host", "x'><evil")], b"").await;
    assert!(!r.body.contains("evil"), "{}", r.body);
    let r = ep.request("GET", &[("Host", "a.example"), ("X-Forwarded-Host", "internal.lan")], b"").await;
    assert!(r.body.contains("http://a.example/http-bind") && !r.body.contains("internal"), "{}", r.body);
}

#[tokio::test]
async fn configured_public_urls_and_node_pinning() {
    let extra = "[http]\npublic_bosh_urls = [\"https://xmpp.example.com/http-bind\"]\npublic_hostname = \"t1.example.com\"\n\
                 [websocket]\npublic_urls = [\"wss://xmpp.example.com/xmpp-websocket\"]\n";
    let srv = TestServer::start_with("", extra);
    let mut ep = srv.bosh_ep();
    ep.path = "/.well-known/host-meta.json".into();
    let r = ep.request("GET", &[("Host", "127.0.0.1")], b"").await;
    assert!(r.body.contains("https://xmpp.example.com/http-bind") && !r.body.contains("127.0.0.1"), "{}", r.body);
    assert!(r.body.contains("\"urn:xmpp:alt-connections:websocket\",\"href\":\"wss://xmpp.example.com/xmpp-websocket\""), "{}", r.body);
    let r = srv.bosh_ep().post(&creation_xml(500, 30, "")).await;
    assert_eq!(r.xml().attr("host"), Some("t1.example.com"), "{}", r.body);
}

#[tokio::test]
async fn secure_session_refuses_plain_requests() {
    let srv = TestServer::start_with("", "");
    srv.add_user("alice@localhost", "pw");
    let tls = srv.bosh_tls_ep();
    let mut b = Bosh::login(&tls, 10, "alice", "pw", None).await;
    b.barrier().await;
    let (rid, next) = b.next_body("", "");
    let r = srv.bosh_ep().post(&next).await;
    assert_eq!(r.status, 403, "plain request refused: {r:?}");
    // The session itself goes on over HTTPS: the same rid again, then more traffic.
    let resend = tokio::spawn(async move { tls.post(&next).await });
    b.barrier().await;
    b.absorb(rid, resend.await.expect("resend"));
    let r = b.terminate("").await;
    common::bosh::assert_terminal(&r, "");
}
