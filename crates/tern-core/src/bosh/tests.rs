//! Deterministic BOSH session tests with a fake clock (XEP-0124 rid window, hold, wait,
//! pause, inactivity, retransmission, termination).

use std::time::{Duration, Instant};

use minidom::Element;

use super::*;

fn req(rid: u64) -> BodyRequest {
    BodyRequest { rid, ..BodyRequest::default() }
}

/// The stanzas of a response, however it carries them.
fn stanzas(r: &Response) -> Vec<Element> {
    r.payload.clone().into_stanzas().expect("payload parses")
}

fn with_payload(rid: u64, id: &str) -> BodyRequest {
    let mut r = req(rid);
    r.payload.push(crate::xml::elem("message", crate::ns::CLIENT, &[("id", id)]));
    r
}

fn stanza(id: &str) -> Element {
    crate::xml::elem("message", crate::ns::CLIENT, &[("id", id)])
}

fn drain(s: &mut BoshSession) -> Vec<BoshOutput> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn responses(outs: &[BoshOutput]) -> Vec<(ReqId, Response)> {
    outs.iter()
        .filter_map(|o| if let BoshOutput::Respond { req, response } = o { Some((*req, response.clone())) } else { None })
        .collect()
}

fn ids(outs: &[BoshOutput]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| if let BoshOutput::Stanzas(v) = o { Some(v.clone()) } else { None })
        .flatten()
        .filter_map(|e| e.attr("id").map(str::to_owned))
        .collect()
}

/// A session created at rid 100 whose creation response went out.
fn created(t0: Instant) -> BoshSession {
    let mut create = req(100);
    create.wait = Some(60);
    create.hold = Some(1);
    let mut s = BoshSession::new(BoshConfig::default(), 1, &create, t0);
    s.push(Element::bare("features", crate::ns::STREAMS));
    s.flush(t0);
    let r = responses(&drain(&mut s));
    assert_eq!(r.len(), 1);
    assert!(r[0].1.creation && r[0].0 == 1);
    s
}

#[test]
fn creation_negotiates_wait_and_hold() {
    let t0 = Instant::now();
    let mut create = req(7);
    create.wait = Some(120);
    create.hold = Some(3);
    let s = BoshSession::new(BoshConfig::default(), 1, &create, t0);
    assert_eq!((s.wait, s.hold, s.requests), (50, 1, 2));
    let mut create = req(7);
    create.wait = Some(10);
    create.hold = Some(0);
    let s = BoshSession::new(BoshConfig::default(), 1, &create, t0);
    assert_eq!((s.wait, s.hold, s.requests), (10, 0, 1), "never above the client's values");
    assert_eq!(s.inactivity, 180, "polling sessions get a longer inactivity");
}

#[test]
fn out_of_order_requests_are_processed_in_rid_order() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(3, with_payload(102, "b"), t0);
    assert!(ids(&drain(&mut s)).is_empty(), "102 waits for 101");
    s.request(2, with_payload(101, "a"), t0);
    let outs = drain(&mut s);
    assert_eq!(ids(&outs), ["a", "b"]);
    // hold=1: 101 was answered when 102 was held.
    let r = responses(&outs);
    assert_eq!(r.iter().map(|(q, r)| (*q, r.rid)).collect::<Vec<_>>(), [(2, 101)]);
    assert_eq!(s.held_len(), 1);
}

#[test]
fn rid_outside_window_terminates_item_not_found() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(105), t0);
    let outs = drain(&mut s);
    assert_eq!(responses(&outs)[0].1.terminate.as_ref().map(|t| t.condition), Some("item-not-found"));
    assert!(outs.contains(&BoshOutput::Ended(EndReason::Terminal("item-not-found"))));
    assert!(s.is_ended());
    s.request(3, req(101), t0);
    assert_eq!(responses(&drain(&mut s))[0].1.terminate.as_ref().map(|t| t.condition), Some("item-not-found"));
}

#[test]
fn repeated_rid_gets_the_buffered_response() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(101), t0);
    s.push(stanza("x"));
    s.flush(t0);
    let first = responses(&drain(&mut s));
    assert_eq!(stanzas(&first[0].1).len(), 1);
    s.request(3, req(101), t0);
    let mut again = responses(&drain(&mut s));
    assert_eq!(again.len(), 1);
    assert!(matches!(again[0].1.payload, Payload::Serialized(_)), "the buffer keeps XML");
    assert_eq!(stanzas(&again[0].1), stanzas(&first[0].1));
    let (req_id, mut resent) = again.remove(0);
    resent.payload = first[0].1.payload.clone();
    assert_eq!((req_id, resent), (3, first[0].1.clone()), "otherwise the same response");
    assert!(!s.is_ended());
}

#[test]
fn resent_response_that_fails_is_queued_again() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(101), t0);
    s.push(stanza("x"));
    s.flush(t0);
    drain(&mut s);
    // The client asks for 101 again, and that connection closes too.
    s.request(3, req(101), t0);
    let (_, lost) = responses(&drain(&mut s)).remove(0);
    s.response_failed(lost);
    s.request(4, req(102), t0);
    s.flush(t0);
    let r = responses(&drain(&mut s));
    let ids: Vec<_> = stanzas(&r[0].1).iter().filter_map(|e| e.attr("id").map(str::to_owned)).collect();
    assert_eq!(ids, ["x"], "the stanza reaches the next response");
}

#[test]
fn repeated_rid_still_held_takes_over() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(101), t0);
    drain(&mut s);
    s.request(3, req(101), t0);
    let r = responses(&drain(&mut s));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, 2, "the old request is released");
    assert!(r[0].1.terminate.is_none() && r[0].1.recoverable_error);
    s.push(stanza("y"));
    s.flush(t0);
    assert_eq!(responses(&drain(&mut s))[0].0, 3, "the new one carries the data");
}

#[test]
fn repeated_rid_no_longer_buffered_is_item_not_found() {
    let t0 = Instant::now();
    let mut s = created(t0);
    for (q, rid) in [(2, 101), (3, 102), (4, 103), (5, 104)] {
        s.request(q, req(rid), t0);
    }
    drain(&mut s);
    s.request(6, req(101), t0);
    assert_eq!(responses(&drain(&mut s))[0].1.terminate.as_ref().map(|t| t.condition), Some("item-not-found"));
}

#[test]
fn wait_expires_with_an_empty_response() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(101), t0);
    drain(&mut s);
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(50)));
    s.tick(t0 + Duration::from_secs(49));
    assert!(drain(&mut s).is_empty());
    s.tick(t0 + Duration::from_secs(50));
    let r = responses(&drain(&mut s));
    assert_eq!(r.len(), 1);
    assert!(r[0].1.payload.is_empty() && r[0].1.terminate.is_none());
}

#[test]
fn inactivity_drops_the_session() {
    let t0 = Instant::now();
    let mut s = created(t0);
    let idle_from = t0;
    s.tick(idle_from + Duration::from_secs(89));
    assert!(!s.is_ended());
    s.tick(idle_from + Duration::from_secs(90));
    assert_eq!(drain(&mut s), vec![BoshOutput::Ended(EndReason::Inactive)]);
}

#[test]
fn pause_answers_everything_and_extends_inactivity() {
    let t0 = Instant::now();
    let mut s = created(t0);
    let mut p = req(101);
    p.pause = Some(240);
    s.request(2, p, t0);
    let r = responses(&drain(&mut s));
    assert_eq!(r.len(), 1, "the pause request itself is answered at once");
    s.tick(t0 + Duration::from_secs(200));
    assert!(!s.is_ended(), "still within the pause");
    s.request(3, req(102), t0 + Duration::from_secs(230));
    drain(&mut s);
    let mut too_long = req(103);
    too_long.pause = Some(301);
    s.request(4, too_long, t0 + Duration::from_secs(231));
    assert!(drain(&mut s).contains(&BoshOutput::Ended(EndReason::Terminal("policy-violation"))));
}

#[test]
fn terminate_forwards_payload_and_answers_everyone() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(101), t0);
    drain(&mut s);
    let mut t = with_payload(102, "bye");
    t.kind = RequestKind::Terminate;
    s.request(3, t, t0);
    let outs = drain(&mut s);
    assert_eq!(ids(&outs), ["bye"]);
    let r = responses(&outs);
    assert_eq!(r[0].0, 2);
    assert!(r[0].1.terminate.is_none());
    assert_eq!(r[1].0, 3);
    assert!(r[1].1.terminate.is_some());
    assert!(outs.contains(&BoshOutput::Ended(EndReason::ClientTerminated)));
}

#[test]
fn overactivity_is_policy_violation() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(101), t0);
    s.request(3, req(103), t0);
    assert!(!s.is_ended(), "101 held, 103 ahead of the gap: two outstanding");
    s.request(4, req(103), t0);
    assert!(!s.is_ended(), "a repeat is not a new request");
    s.request(5, req(102), t0);
    assert!(drain(&mut s).contains(&BoshOutput::Ended(EndReason::Terminal("policy-violation"))), "a third at once");
}

#[test]
fn polling_too_fast_is_policy_violation() {
    let t0 = Instant::now();
    let mut create = req(1);
    create.hold = Some(0);
    let mut s = BoshSession::new(BoshConfig::default(), 1, &create, t0);
    s.push(Element::bare("features", crate::ns::STREAMS));
    s.flush(t0);
    drain(&mut s);
    s.request(2, req(2), t0);
    assert!(!s.is_ended());
    s.request(3, req(3), t0 + Duration::from_millis(500));
    assert!(drain(&mut s).contains(&BoshOutput::Ended(EndReason::Terminal("policy-violation"))));
}

#[test]
fn acks_are_reported_when_they_differ() {
    let t0 = Instant::now();
    let mut create = req(100);
    create.ack = Some(1);
    let mut s = BoshSession::new(BoshConfig::default(), 1, &create, t0);
    assert!(s.uses_acks());
    s.push(Element::bare("features", crate::ns::STREAMS));
    s.flush(t0);
    drain(&mut s);
    s.request(2, req(101), t0);
    s.request(3, req(102), t0);
    let r = responses(&drain(&mut s));
    assert_eq!((r[0].1.rid, r[0].1.ack), (101, Some(102)));
}

#[test]
fn server_terminate_rides_on_the_next_request() {
    let t0 = Instant::now();
    let mut s = created(t0);
    let err = Element::bare("error", crate::ns::STREAMS);
    s.terminate(Terminal { condition: "remote-stream-error", children: vec![err] });
    assert!(drain(&mut s).is_empty(), "nothing held: waits for the next request");
    s.request(2, req(101), t0);
    let outs = drain(&mut s);
    let r = responses(&outs);
    let t = r[0].1.terminate.as_ref().expect("terminal");
    assert_eq!((t.condition, t.children.len()), ("remote-stream-error", 1));
    assert!(outs.contains(&BoshOutput::Ended(EndReason::Terminal("remote-stream-error"))));
}

#[test]
fn wrong_key_is_refused_without_ending_the_session() {
    let t0 = Instant::now();
    let mut create = req(100);
    create.newkey = Some("e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4".into());
    let mut s = BoshSession::new(BoshConfig::default(), 1, &create, t0);
    drain(&mut s);
    let mut bad = req(101);
    bad.key = Some("guess".into());
    s.request(2, bad, t0);
    assert_eq!(responses(&drain(&mut s))[0].1.terminate.as_ref().map(|t| t.condition), Some("item-not-found"));
    assert!(!s.is_ended());
    let mut good = req(101);
    good.key = Some("secret".into());
    s.request(3, good, t0);
    assert!(!s.is_ended());
}

#[test]
fn queue_overflow_ends_the_session_without_losing_stanzas() {
    let t0 = Instant::now();
    let mut s = created(t0);
    for i in 0..1000 {
        s.push(stanza(&i.to_string()));
    }
    assert!(!s.is_ended(), "up to max_queue stanzas wait for the client");
    s.push(stanza("1000"));
    assert!(s.is_ended(), "past max_queue the session ends at once, not after inactivity");
    assert!(drain(&mut s).contains(&BoshOutput::Ended(EndReason::Terminal("policy-violation"))));
    // Everything goes back to the caller for rerouting, also what arrives before it stops.
    s.push(stanza("1001"));
    assert_eq!(s.take_undelivered().len(), 1002);
    // A late request gets a terminal condition and no stanzas.
    s.request(2, req(101), t0);
    let r = responses(&drain(&mut s));
    assert!(r[0].1.terminate.is_some() && r[0].1.payload.is_empty());
}

#[test]
fn terminate_body_carries_no_stanzas() {
    // Stanzas queued when the server ends the session are handed back, not put in the
    // terminate body, which clients such as strophe.js ignore.
    let t0 = Instant::now();
    let mut s = created(t0);
    s.push(stanza("late"));
    s.terminate(Terminal { condition: "remote-stream-error", children: Vec::new() });
    s.request(2, req(101), t0);
    let r = responses(&drain(&mut s));
    assert_eq!(r.len(), 1);
    assert!(r[0].1.terminate.is_some() && r[0].1.payload.is_empty(), "{:?}", r[0].1);
    assert_eq!(ids_of(&s.take_undelivered()), ["late"]);
    // With a request held the same holds.
    let mut s = created(t0);
    s.request(2, req(101), t0);
    drain(&mut s);
    s.push(stanza("queued"));
    s.terminate(Terminal { condition: "system-shutdown", children: Vec::new() });
    let r = responses(&drain(&mut s));
    assert!(r[0].1.terminate.is_some() && r[0].1.payload.is_empty(), "{:?}", r[0].1);
    assert_eq!(ids_of(&s.take_undelivered()), ["queued"]);
}

fn ids_of(els: &[Element]) -> Vec<String> {
    els.iter().filter_map(|e| e.attr("id").map(str::to_owned)).collect()
}

#[test]
fn restart_ignores_stanzas_in_its_body() {
    let t0 = Instant::now();
    let mut s = created(t0);
    let mut r = with_payload(101, "ignored");
    r.restart = true;
    s.request(2, r, t0);
    let outs = drain(&mut s);
    assert!(outs.contains(&BoshOutput::Restart));
    assert!(ids(&outs).is_empty());
}

#[test]
fn a_request_whose_connection_closed_is_not_used() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(101), t0);
    drain(&mut s);
    // The page reloads: request 2's connection closes before anything is sent on it.
    s.request_gone(2);
    s.push(stanza("during-reload"));
    s.flush(t0);
    assert!(responses(&drain(&mut s)).is_empty(), "nothing held: the stanza waits");
    s.request(3, req(102), t0);
    let r = responses(&drain(&mut s));
    assert_eq!(r[0].0, 3);
    assert_eq!(stanzas(&r[0].1).len(), 1, "the next request carries it");
}

#[test]
fn a_failed_response_puts_its_stanzas_back() {
    let t0 = Instant::now();
    let mut s = created(t0);
    s.request(2, req(101), t0);
    s.push(stanza("a"));
    s.flush(t0);
    let (_, lost) = responses(&drain(&mut s)).remove(0);
    s.push(stanza("b"));
    s.response_failed(lost);
    s.request(3, req(102), t0);
    let r = responses(&drain(&mut s));
    let ids: Vec<_> = stanzas(&r[0].1).iter().filter_map(|e| e.attr("id").map(str::to_owned)).collect();
    assert_eq!(ids, ["a", "b"], "order kept");
    s.request(4, req(101), t0);
    assert!(drain(&mut s).contains(&BoshOutput::Ended(EndReason::Terminal("item-not-found"))), "the failed response is not replayed");
}

#[test]
fn a_response_the_client_missed_is_reported() {
    let t0 = Instant::now();
    let mut create = req(100);
    create.ack = Some(1);
    let mut s = BoshSession::new(BoshConfig::default(), 1, &create, t0);
    s.push(Element::bare("features", crate::ns::STREAMS));
    s.flush(t0);
    drain(&mut s);
    // 101 is answered, but the client's acks stay at 100: it never saw that response.
    s.request(2, req(101), t0);
    s.push(stanza("lost"));
    s.flush(t0);
    drain(&mut s);
    let later = t0 + Duration::from_secs(3);
    let mut r = req(102);
    r.ack = Some(100);
    s.request(3, r, later);
    let mut r = req(103);
    r.ack = Some(100);
    s.request(4, r, later);
    let out = responses(&drain(&mut s));
    assert_eq!(out[0].1.report, Some((101, 3000)), "{out:?}");
    // The client asks for 101 again and gets the buffered response.
    s.request(5, req(101), later);
    let again = responses(&drain(&mut s));
    assert_eq!(stanzas(&again[0].1).len(), 1);
}
