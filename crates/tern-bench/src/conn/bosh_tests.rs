//! Unit tests of the BOSH client's request sequencing (XEP-0124 §7, §13, §14) without
//! sockets: bodies are rendered and responses fed in directly.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;

use super::*;
use clap::Parser as _;

const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";

async fn conn() -> BoshConn {
    let cli = crate::Cli::try_parse_from(["tern-bench", "login", "--transport", "bosh"]).unwrap();
    let dialer = Dialer::new(&cli.target).await.unwrap();
    BoshConn::new(Arc::new(dialer), 60)
}

/// Send what [`BoshConn::sendable`] allows onto free links, as `flush` does (no socket).
fn send(c: &mut BoshConn) -> Vec<(u64, String)> {
    let mut sent = Vec::new();
    while let Some(queued) = c.sendable() {
        let next = match queued {
            true => c.queue.pop_front().unwrap(),
            false => Next::Payload(String::new()),
        };
        let req = c.render(next);
        let text = String::from_utf8(req.request.clone()).unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap().to_owned();
        sent.push((req.rid, body));
        let i = c.links.iter().position(|l| l.busy.is_none()).unwrap();
        c.links[i].busy = Some(req);
    }
    sent
}

fn respond(c: &mut BoshConn, rid: u64, body: &str) -> Result<(), ClientError> {
    let i = c
        .links
        .iter()
        .position(|l| l.busy.as_ref().is_some_and(|r| r.rid == rid))
        .unwrap();
    let body = body.replace("HB", NS_HTTPBIND).into_bytes();
    c.take_response(
        i,
        Response {
            status: 200,
            body,
            close: false,
        },
    )
}

/// A session created with `requests='2'` (its Open event still queued); the last rid used.
async fn live() -> (BoshConn, u64) {
    let mut c = conn().await;
    c.queue_open("localhost");
    let rid = send(&mut c)[0].0;
    respond(&mut c, rid, "<body xmlns='HB' sid='S' requests='2'/>").unwrap();
    (c, rid)
}

fn names(c: &mut BoshConn) -> Vec<String> {
    c.events
        .drain(..)
        .map(|e| match e {
            Event::Element(el) => el.name().to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn creation_restart_and_one_request_held() {
    let mut c = conn().await;
    c.queue_open("localhost");
    let sent = send(&mut c);
    assert_eq!(
        sent.len(),
        1,
        "only the creation request until the sid is known"
    );
    let (rid, body) = &sent[0];
    for attr in [
        "to='localhost'",
        "wait='60'",
        "hold='1'",
        "ver='1.6'",
        "xmpp:version='1.0'",
    ] {
        assert!(body.contains(attr), "{attr} in {body}");
    }
    assert!(!body.contains("sid="));
    c.queue_with(|s| s.write_str("<auth/>"));
    assert!(
        send(&mut c).is_empty(),
        "nothing beside the creation request"
    );
    respond(&mut c, *rid, "<body xmlns='HB' sid='S1' requests='2' wait='60'><stream:features xmlns:stream='http://etherx.jabber.org/streams'/></body>").unwrap();
    assert_eq!(names(&mut c), ["Open", "features"]);
    assert_eq!(
        (c.sid.as_deref(), c.requests, c.state),
        (Some("S1"), 2, State::Live)
    );

    let sent = send(&mut c);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].1.ends_with(" sid='S1'><auth/></body>"),
        "{}",
        sent[0].1
    );
    assert_eq!(sent[0].0, rid + 1);
    assert!(
        send(&mut c).is_empty(),
        "a request is outstanding: no empty one"
    );
    respond(&mut c, rid + 1, "<body xmlns='HB'/>").unwrap();
    let sent = send(&mut c);
    assert_eq!(sent.len(), 1, "idle: one empty request to be held");
    assert!(sent[0].1.ends_with(" sid='S1'/>"), "{}", sent[0].1);
    assert!(c.sendable().is_none() && c.outstanding() == 1);

    c.queue_open("localhost");
    let sent = send(&mut c);
    assert!(sent[0].1.contains("xmpp:restart='true'"), "{}", sent[0].1);
    assert_eq!(
        c.outstanding(),
        2,
        "the restart goes out beside the held request"
    );
    // Answered out of order: the events still come in rid order.
    respond(
        &mut c,
        rid + 3,
        "<body xmlns='HB'><features xmlns='http://etherx.jabber.org/streams'/></body>",
    )
    .unwrap();
    assert!(names(&mut c).is_empty());
    respond(
        &mut c,
        rid + 2,
        "<body xmlns='HB'><message xmlns='jabber:client'/></body>",
    )
    .unwrap();
    assert_eq!(names(&mut c), ["message", "Open", "features"]);
}

#[tokio::test]
async fn termination_and_stream_errors() {
    let (mut c, rid) = live().await;
    assert_eq!(names(&mut c), ["Open"]);
    c.queue.push_back(Next::Terminate);
    c.queue_with(|s| s.write_str("<message/>"));
    let sent = send(&mut c);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].1.contains("type='terminate'><presence"),
        "{}",
        sent[0].1
    );
    assert_eq!(c.state, State::Terminating);
    respond(&mut c, rid + 1, "<body xmlns='HB' type='terminate'/>").unwrap();
    assert_eq!(names(&mut c), ["Close"]);
    assert_eq!(c.state, State::Ended);

    let mut c = conn().await;
    c.queue_open("localhost");
    let rid = send(&mut c)[0].0;
    respond(&mut c, rid, "<body xmlns='HB' sid='S'/>").unwrap();
    let rid = send(&mut c)[0].0;
    respond(&mut c, rid, "<body xmlns='HB' type='terminate' condition='remote-stream-error'><stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></body>").unwrap();
    assert_eq!(names(&mut c), ["Open", "error", "Close"]);
}

#[tokio::test]
async fn a_held_request_ended_by_our_terminate_is_the_close() {
    let (mut c, _) = live().await;
    let held = send(&mut c);
    assert_eq!(held.len(), 1, "one empty request held");
    c.queue.push_back(Next::Terminate);
    let sent = send(&mut c);
    assert!(sent[0].1.contains("type='terminate'"), "{}", sent[0].1);
    // ejabberd answers the held request so once it has the terminate request.
    respond(
        &mut c,
        held[0].0,
        "<body xmlns='HB' type='terminate' condition='other-request'/>",
    )
    .unwrap();
    assert_eq!(names(&mut c), ["Open", "Close"]);
    assert_eq!(c.state, State::Ended);

    // Before our terminate, the same answer is the server ending the session: an error.
    let (mut c, _) = live().await;
    let held = send(&mut c);
    let e = respond(
        &mut c,
        held[0].0,
        "<body xmlns='HB' type='terminate' condition='other-request'/>",
    );
    assert_eq!(e.unwrap_err().kind(), "bosh: terminated: other-request");
}

#[tokio::test]
async fn a_closed_keepalive_connection_gets_the_request_again() {
    let mut c = conn().await;
    c.queue_open("localhost");
    send(&mut c);
    c.links[0].busy.as_mut().unwrap().reused = true;
    c.link_ended(0, None).unwrap();
    assert!(
        c.links[0].busy.is_some(),
        "kept for the next flush to send again"
    );
    c.links[0].busy.as_mut().unwrap().reused = false;
    assert!(
        matches!(c.link_ended(0, None), Err(ClientError::EofDuring(_))),
        "not twice"
    );
    c.links[0].busy = None;
    c.link_ended(0, None).unwrap();
}
