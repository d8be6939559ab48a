//! Deterministic session tests: no sockets, no runtime, a fake clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use minidom::Element;
use tern_auth::{ScramHash, StoredCredentials};
use tern_wire::{StreamEvent, StreamHeader};

use super::*;
use crate::xml::{elem, text_elem};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn cfg(encrypted: bool) -> SessionConfig {
    let mut vhosts = HashMap::new();
    vhosts.insert("example.com".to_owned(), VhostPolicy { registration: true, allow_plain_unencrypted: false });
    SessionConfig { vhosts: Arc::new(vhosts), encrypted, starttls: true, ..SessionConfig::default() }
}

fn header(to: &str) -> StreamHeader {
    StreamHeader {
        to: Some(to.to_owned()),
        version: Some("1.0".into()),
        stream_ns: ns::STREAMS.into(),
        content_ns: ns::CLIENT.into(),
        name: "stream".into(),
        ..StreamHeader::default()
    }
}

fn drain(s: &mut C2sSession) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn sent(outs: &[Output]) -> Vec<&Element> {
    outs.iter().filter_map(|o| if let Output::Send(e) = o { Some(e) } else { None }).collect()
}

fn closed_with(outs: &[Output]) -> Option<StreamCondition> {
    outs.iter().find_map(|o| match o {
        Output::Close(Some(e)) => Some(e.condition),
        _ => None,
    })
}

fn creds() -> StoredCredentials {
    StoredCredentials::from_password("secret").expect("creds")
}

fn plain_auth(user: &str, pw: &str) -> Element {
    let mut auth = elem("auth", ns::SASL, &[("mechanism", "PLAIN")]);
    auth.append_text_node(B64.encode(format!("\0{user}\0{pw}")));
    auth
}

/// Open, authenticate with PLAIN and bind `res` on an encrypted stream.
fn established(now: Instant) -> C2sSession {
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    s.handle_event(StreamEvent::Element(plain_auth("alice", "secret")), now);
    drain(&mut s);
    s.credentials(Some(&creds()));
    drain(&mut s);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    let mut bind = elem("iq", ns::CLIENT, &[("type", "set"), ("id", "b1")]);
    let mut b = Element::bare("bind", ns::BIND);
    b.append_child(text_elem("resource", ns::BIND, "phone"));
    bind.append_child(b);
    s.handle_event(StreamEvent::Element(bind), now);
    let outs = drain(&mut s);
    let Some(Output::Bind { jid }) = outs.iter().find(|o| matches!(o, Output::Bind { .. })).cloned() else {
        panic!("no bind output: {outs:?}");
    };
    s.bound(Ok(jid));
    drain(&mut s);
    s
}

#[test]
fn full_negotiation_with_plain() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("Example.COM")), now);
    let outs = drain(&mut s);
    let Output::OpenStream { from, features: Some(f), .. } = &outs[0] else { panic!("{outs:?}") };
    assert_eq!(from.as_deref(), Some("example.com"));
    let mechs: Vec<String> = f.get_child("mechanisms", ns::SASL).expect("mechs").children().map(|m| m.text()).collect();
    assert_eq!(mechs, ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
    assert!(f.has_child("register", ns::REGISTER_FEATURE));

    s.handle_event(StreamEvent::Element(plain_auth("alice", "secret")), now);
    assert_eq!(drain(&mut s), vec![Output::LookupCredentials { vhost: "example.com".into(), username: "alice".into() }]);
    s.credentials(Some(&creds()));
    let outs = drain(&mut s);
    assert!(sent(&outs)[0].is("success", ns::SASL));
    assert!(outs.contains(&Output::ResetStream));
    assert!(outs.iter().any(|o| matches!(o, Output::Authenticated { jid } if jid.as_str() == "alice@example.com")));

    s.handle_event(StreamEvent::Open(header("example.com")), now);
    let outs = drain(&mut s);
    let Output::OpenStream { features: Some(f), .. } = &outs[0] else { panic!() };
    assert!(f.has_child("bind", ns::BIND) && f.has_child("sm", ns::SM));
}

#[test]
fn established_stamps_from_and_emits_stanzas() {
    let now = Instant::now();
    let mut s = established(now);
    assert_eq!(s.jid().map(|j| j.as_str()), Some("alice@example.com/phone"));
    let mut m = elem("message", ns::CLIENT, &[("to", "bob@example.com"), ("type", "chat")]);
    m.append_child(text_elem("body", ns::CLIENT, "hi"));
    s.handle_event(StreamEvent::Element(m), now);
    let outs = drain(&mut s);
    let Some(Output::Stanza { stanza: st, .. }) = outs.first() else { panic!("{outs:?}") };
    assert_eq!(st.attr("from"), Some("alice@example.com/phone"));
}

#[test]
fn spoofed_from_is_invalid_from() {
    let now = Instant::now();
    let mut s = established(now);
    let m = elem("message", ns::CLIENT, &[("to", "bob@example.com"), ("from", "mallory@example.com/x")]);
    s.handle_event(StreamEvent::Element(m), now);
    assert_eq!(closed_with(&drain(&mut s)), Some(StreamCondition::InvalidFrom));
}

#[test]
fn unknown_host_and_bad_namespace() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("nowhere.example")), now);
    let outs = drain(&mut s);
    assert!(matches!(outs[0], Output::OpenStream { features: None, .. }));
    assert_eq!(closed_with(&outs), Some(StreamCondition::HostUnknown));

    let mut s = C2sSession::new(cfg(true), now);
    let mut h = header("example.com");
    h.content_ns = "jabber:server".into();
    s.handle_event(StreamEvent::Open(h), now);
    assert_eq!(closed_with(&drain(&mut s)), Some(StreamCondition::InvalidNamespace));

    let mut s = C2sSession::new(cfg(true), now);
    let mut h = header("example.com");
    h.stream_ns = "urn:wrong".into();
    s.handle_event(StreamEvent::Open(h), now);
    assert_eq!(closed_with(&drain(&mut s)), Some(StreamCondition::InvalidNamespace));
}

#[test]
fn stanza_before_auth_is_not_authorized() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    drain(&mut s);
    s.handle_event(StreamEvent::Element(elem("message", ns::CLIENT, &[("to", "bob@example.com")])), now);
    assert_eq!(closed_with(&drain(&mut s)), Some(StreamCondition::NotAuthorized));
}

#[test]
fn starttls_is_required_and_plain_hidden() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(false), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    let outs = drain(&mut s);
    let Output::OpenStream { features: Some(f), .. } = &outs[0] else { panic!() };
    assert!(f.get_child("starttls", ns::TLS).is_some_and(|t| t.has_child("required", ns::TLS)));
    assert!(!f.has_child("mechanisms", ns::SASL));
    s.handle_event(StreamEvent::Element(plain_auth("alice", "secret")), now);
    assert_eq!(closed_with(&drain(&mut s)), Some(StreamCondition::PolicyViolation));

    let mut s = C2sSession::new(cfg(false), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    drain(&mut s);
    s.handle_event(StreamEvent::Element(Element::bare("starttls", ns::TLS)), now);
    let outs = drain(&mut s);
    assert!(sent(&outs)[0].is("proceed", ns::TLS));
    assert!(outs.contains(&Output::StartTls { domain: "example.com".into() }));
    s.tls_established();
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    let outs = drain(&mut s);
    let Output::OpenStream { features: Some(f), .. } = &outs[0] else { panic!() };
    assert!(f.has_child("mechanisms", ns::SASL));
}

#[test]
fn plain_without_tls_is_refused_when_not_allowed() {
    let now = Instant::now();
    let mut c = cfg(false);
    c.starttls = false;
    let mut s = C2sSession::new(c, now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    drain(&mut s);
    s.handle_event(StreamEvent::Element(plain_auth("alice", "secret")), now);
    let outs = drain(&mut s);
    assert!(outs.contains(&Output::AuthFailed));
    assert!(sent(&outs)[0].has_child("encryption-required", ns::SASL));
}

#[test]
fn wrong_password_fails_then_closes_after_limit() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    drain(&mut s);
    for i in 0..5 {
        s.handle_event(StreamEvent::Element(plain_auth("alice", "wrong")), now);
        drain(&mut s);
        s.credentials(Some(&creds()));
        let outs = drain(&mut s);
        assert_eq!(outs[0], Output::AuthFailed);
        assert!(sent(&outs)[0].has_child("not-authorized", ns::SASL));
        let closed = closed_with(&outs);
        assert_eq!(closed.is_some(), i == 4, "attempt {i}");
    }
}

#[test]
fn scram_sha256_exchange() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    drain(&mut s);
    let mut client = tern_auth::client::ScramClient::new(ScramHash::Sha256, "alice", "secret").expect("client");
    let mut auth = elem("auth", ns::SASL, &[("mechanism", "SCRAM-SHA-256")]);
    auth.append_text_node(B64.encode(client.client_first()));
    s.handle_event(StreamEvent::Element(auth), now);
    assert!(matches!(drain(&mut s)[..], [Output::LookupCredentials { .. }]));
    s.credentials(Some(&creds()));
    let outs = drain(&mut s);
    let challenge = B64.decode(sent(&outs)[0].text()).expect("b64");
    let final_msg = client.handle_server_first(&challenge).expect("server-first");
    s.handle_event(StreamEvent::Element(text_elem("response", ns::SASL, B64.encode(final_msg))), now);
    let outs = drain(&mut s);
    let success = sent(&outs)[0];
    assert!(success.is("success", ns::SASL));
    client.verify_server_final(&B64.decode(success.text()).expect("b64")).expect("server signature");
}

#[test]
fn sm_enable_ack_and_too_high() {
    let now = Instant::now();
    let mut s = established(now);
    s.handle_event(StreamEvent::Element(elem("enable", ns::SM, &[("resume", "true")])), now);
    let outs = drain(&mut s);
    let enabled = sent(&outs)[0];
    assert_eq!(enabled.attr("resume"), Some("true"));
    let id = enabled.attr("id").expect("id").to_owned();
    assert!(outs.contains(&Output::SmEnabled { id }));
    // a second enable fails
    s.handle_event(StreamEvent::Element(elem("enable", ns::SM, &[])), now);
    assert!(sent(&drain(&mut s))[0].is("failed", ns::SM));

    s.handle_event(StreamEvent::Element(elem("message", ns::CLIENT, &[("to", "bob@example.com")])), now);
    drain(&mut s);
    s.handle_event(StreamEvent::Element(elem("r", ns::SM, &[])), now);
    assert_eq!(sent(&drain(&mut s))[0].attr("h"), Some("1"));

    for i in 0..5 {
        s.deliver(elem("message", ns::CLIENT, &[("id", &i.to_string())]));
    }
    let outs = drain(&mut s);
    assert!(sent(&outs).last().is_some_and(|e| e.is("r", ns::SM)), "asks for an ack");
    assert_eq!(s.unacked_len(), 5);
    s.handle_event(StreamEvent::Element(elem("a", ns::SM, &[("h", "3")])), now);
    assert_eq!(s.unacked_len(), 2);
    s.handle_event(StreamEvent::Element(elem("a", ns::SM, &[("h", "9")])), now);
    assert_eq!(closed_with(&drain(&mut s)), Some(StreamCondition::UndefinedCondition));
}

#[test]
fn replies_from_the_session_itself_count_for_sm() {
    // XEP-0198 §4: the client counts every stanza it receives, including the replies the
    // session core answers itself (RFC 3921 session IQ, already-bound, bad IQs, pings).
    let now = Instant::now();
    let mut s = established(now);
    s.handle_event(StreamEvent::Element(elem("enable", ns::SM, &[("resume", "true")])), now);
    drain(&mut s);
    let mut session = elem("iq", ns::CLIENT, &[("type", "set"), ("id", "s1")]);
    session.append_child(Element::bare("session", ns::SESSION));
    s.handle_event(StreamEvent::Element(session), now);
    s.handle_event(StreamEvent::Element(elem("iq", ns::CLIENT, &[("type", "get")])), now);
    let outs = drain(&mut s);
    assert_eq!(sent(&outs).len(), 2, "{outs:?}");
    assert_eq!(s.unacked_len(), 2);
    s.tick(now + Duration::from_secs(61));
    assert!(sent(&drain(&mut s))[0].has_child("ping", ns::PING));
    assert_eq!(s.unacked_len(), 3);
    s.handle_event(StreamEvent::Element(elem("a", ns::SM, &[("h", "3")])), now);
    assert!(closed_with(&drain(&mut s)).is_none(), "h=3 is exactly what was sent");
    assert_eq!(s.unacked_len(), 0);
}

#[test]
fn sm_enable_before_bind_fails() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    drain(&mut s);
    s.handle_event(StreamEvent::Element(elem("enable", ns::SM, &[])), now);
    assert!(sent(&drain(&mut s))[0].is("failed", ns::SM));
}

#[test]
fn hibernation_queues_and_resume_resends() {
    let now = Instant::now();
    let mut s = established(now);
    s.handle_event(StreamEvent::Element(elem("enable", ns::SM, &[("resume", "true")])), now);
    drain(&mut s);
    s.deliver(elem("message", ns::CLIENT, &[("id", "m1")]));
    drain(&mut s);
    s.transport_lost();
    assert!(s.is_hibernating());
    s.deliver(elem("message", ns::CLIENT, &[("id", "m2")]));
    assert!(drain(&mut s).is_empty(), "nothing is sent while hibernating");
    assert_eq!(s.unacked_len(), 2);
    assert!(s.resume_on_new_stream(1, true, now));
    let outs = drain(&mut s);
    let els = sent(&outs);
    assert!(els[0].is("resumed", ns::SM));
    assert_eq!(els.len(), 2);
    assert_eq!(els[1].attr("id"), Some("m2"));
    assert!(s.is_established() && !s.is_hibernating());
}

#[test]
fn auth_timeout_and_pings() {
    let t0 = Instant::now();
    let mut s = C2sSession::new(cfg(true), t0);
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(30)));
    s.tick(t0 + Duration::from_secs(31));
    let outs = drain(&mut s);
    // The client never opened a stream: the header still precedes the error (RFC 6120 §4.9.1.2).
    assert!(matches!(outs.first(), Some(Output::OpenStream { features: None, .. })), "{outs:?}");
    assert_eq!(closed_with(&outs), Some(StreamCondition::ConnectionTimeout));
    let headers = outs.iter().filter(|o| matches!(o, Output::OpenStream { .. })).count();
    assert_eq!(headers, 1, "{outs:?}");

    let mut s = established(t0);
    s.tick(t0 + Duration::from_secs(61));
    let outs = drain(&mut s);
    let ping = sent(&outs)[0].clone();
    assert!(ping.has_child("ping", ns::PING));
    // the answer clears it and is not routed
    let pong = elem("iq", ns::CLIENT, &[("type", "result"), ("id", ping.attr("id").unwrap_or(""))]);
    s.handle_event(StreamEvent::Element(pong), t0 + Duration::from_secs(62));
    assert!(drain(&mut s).is_empty());
    s.tick(t0 + Duration::from_secs(123));
    drain(&mut s);
    s.tick(t0 + Duration::from_secs(154));
    assert_eq!(closed_with(&drain(&mut s)), Some(StreamCondition::ConnectionTimeout));
}

#[test]
fn registration_flow() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    drain(&mut s);
    let mut iq = elem("iq", ns::CLIENT, &[("type", "set"), ("id", "r1")]);
    let mut q = Element::bare("query", ns::REGISTER);
    q.append_child(text_elem("username", ns::REGISTER, "newbie"));
    q.append_child(text_elem("password", ns::REGISTER, "pw"));
    iq.append_child(q);
    s.handle_event(StreamEvent::Element(iq), now);
    let outs = drain(&mut s);
    assert!(matches!(&outs[0], Output::Register { jid, password } if jid.as_str() == "newbie@example.com" && password == "pw"));
    s.registered(Ok(()));
    assert_eq!(sent(&drain(&mut s))[0].attr("type"), Some("result"));
}

#[test]
fn iq_without_id_gets_bad_request() {
    let now = Instant::now();
    let mut s = established(now);
    let mut iq = elem("iq", ns::CLIENT, &[("type", "get")]);
    iq.append_child(Element::bare("query", ns::ROSTER));
    s.handle_event(StreamEvent::Element(iq), now);
    let outs = drain(&mut s);
    assert!(sent(&outs)[0].get_child("error", ns::CLIENT).is_some_and(|e| e.has_child("bad-request", ns::XMPP_STANZAS)));
}

#[test]
fn optional_starttls_allows_scram_in_the_clear() {
    let now = Instant::now();
    let mut c = cfg(false);
    c.tls_required = false;
    let mut s = C2sSession::new(c, now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    let outs = drain(&mut s);
    let Output::OpenStream { features: Some(f), .. } = &outs[0] else { panic!() };
    let tls = f.get_child("starttls", ns::TLS).expect("starttls offered");
    assert!(!tls.has_child("required", ns::TLS));
    let mechs: Vec<String> = f.get_child("mechanisms", ns::SASL).expect("mechs").children().map(|m| m.text()).collect();
    assert_eq!(mechs, ["SCRAM-SHA-256", "SCRAM-SHA-1"], "PLAIN stays hidden without TLS");
    s.handle_event(StreamEvent::Element(Element::bare("starttls", ns::TLS)), now);
    assert!(drain(&mut s).contains(&Output::StartTls { domain: "example.com".into() }));
}

#[test]
fn sasl_usernames_are_nodeprepped_for_lookup() {
    let now = Instant::now();
    let mut s = C2sSession::new(cfg(true), now);
    s.handle_event(StreamEvent::Open(header("example.com")), now);
    drain(&mut s);
    s.handle_event(StreamEvent::Element(plain_auth("Alice", "secret")), now);
    assert_eq!(drain(&mut s), vec![Output::LookupCredentials { vhost: "example.com".into(), username: "alice".into() }]);
    s.credentials(Some(&creds()));
    let outs = drain(&mut s);
    assert!(outs.iter().any(|o| matches!(o, Output::Authenticated { jid } if jid.as_str() == "alice@example.com")));
}
