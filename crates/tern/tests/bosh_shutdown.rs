//! BOSH session ends decided by the server (XEP-0124 §17.2 terminal conditions): a held
//! request learns of a shutdown as `system-shutdown`, or as `see-other-uri` with the `<uri/>`
//! when a redirect is configured.

mod common;

use std::time::Duration;

use common::bosh::{terminate_condition, Bosh};
use common::TestServer;
use tern_core::bosh::NS_HTTPBIND;

async fn held_request_at_shutdown(extra: &str) -> minidom::Element {
    let mut srv = TestServer::start_with("", extra);
    srv.add_user("alice@localhost", "pw");
    let ep = srv.bosh_ep();
    let mut b = Bosh::login(&ep, 30, "alice", "pw", None).await;
    b.barrier().await;
    let (_, next) = b.next_body("", "");
    let held = tokio::spawn(async move { ep.post(&next).await });
    // Give the request time to be held, then SIGTERM.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(srv.terminate(Duration::from_secs(10)), Some(0), "clean exit");
    let r = held.await.expect("held request");
    assert_eq!(r.status, 200, "{r:?}");
    r.xml()
}

#[tokio::test]
async fn shutdown_is_system_shutdown() {
    let el = held_request_at_shutdown("").await;
    assert_eq!(terminate_condition(&el).as_deref(), Some("system-shutdown"));
}

#[tokio::test]
async fn shutdown_with_redirect_is_see_other_uri() {
    let el = held_request_at_shutdown("[http]\nshutdown_redirect_uri = \"https://t2.example.com/http-bind\"\n").await;
    assert_eq!(terminate_condition(&el).as_deref(), Some("see-other-uri"));
    let uri = el.get_child("uri", NS_HTTPBIND).map(|u| u.text());
    assert_eq!(uri.as_deref(), Some("https://t2.example.com/http-bind"));
}
