//! Tests for the RFC 6120 §4 stream framer.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::{NS_CLIENT, NS_STREAMS};

pub(super) const HEADER: &str = "<stream:stream to='example.com' version='1.0' xml:lang='en' \
     xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
/// A minimal header for tests with small limits (86 bytes).
pub(super) const SHORT: &str =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
pub(super) const DECL: &str = "<?xml version='1.0'?>";

pub(super) fn small(max_stanza_bytes: usize) -> Limits {
    Limits {
        max_stanza_bytes,
        ..Limits::default()
    }
}

/// Feed `doc` in one piece.
pub(super) fn run(doc: &[u8], limits: Limits) -> (Vec<StreamEvent>, Result<(), FramerError>) {
    let mut f = StreamFramer::new(limits);
    let mut out = Vec::new();
    let r = f.feed(doc, &mut out);
    (out, r)
}

/// Feed `doc` in pieces ending at the given (sorted, clamped) cut points.
pub(super) fn run_split(
    doc: &[u8],
    cuts: &[usize],
    limits: Limits,
) -> (Vec<StreamEvent>, Result<(), FramerError>) {
    let mut f = StreamFramer::new(limits.clone());
    let mut out = Vec::new();
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(doc.len())).collect();
    cuts.sort_unstable();
    cuts.push(doc.len());
    let mut start = 0;
    for cut in cuts {
        if let Err(e) = f.feed(&doc[start..cut], &mut out) {
            return (out, Err(e));
        }
        assert!(f.buffered() <= limits.max_stanza_bytes + 1);
        start = cut;
    }
    (out, Ok(()))
}

pub(super) fn condition_of(doc: &[u8]) -> Option<&'static str> {
    run(doc, Limits::default()).1.err().map(|e| e.condition())
}

pub(super) fn in_stream(body: &str) -> Vec<u8> {
    format!("{HEADER}{body}").into_bytes()
}

pub(super) fn elements(events: &[StreamEvent]) -> Vec<&minidom::Element> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Element(el) => Some(el),
            _ => None,
        })
        .collect()
}

#[test]
fn full_client_stream_open_auth_close() {
    let mut f = StreamFramer::new(Limits::default());
    let mut out = Vec::new();

    // initial stream + STARTTLS
    let first = format!("{DECL}{HEADER}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    f.feed(first.as_bytes(), &mut out).unwrap();
    assert_eq!(out.len(), 2);
    let StreamEvent::Open(h) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(h.to.as_deref(), Some("example.com"));
    assert_eq!(h.from, None);
    assert_eq!(h.id, None);
    assert_eq!(h.version.as_deref(), Some("1.0"));
    assert_eq!(h.lang.as_deref(), Some("en"));
    assert_eq!(h.stream_ns, NS_STREAMS);
    assert_eq!(h.content_ns, NS_CLIENT);
    assert_eq!(h.name, "stream");
    let StreamEvent::Element(tls) = &out[1] else {
        panic!()
    };
    assert!(tls.is("starttls", "urn:ietf:params:xml:ns:xmpp-tls"));

    // TLS negotiated: restart, this time with the SASL exchange
    f.reset();
    out.clear();
    let second = format!(
        "{DECL}{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' \
         mechanism='PLAIN'>AGp1bGlldABwYXNz</auth>"
    );
    f.feed(second.as_bytes(), &mut out).unwrap();
    assert_eq!(out.len(), 2);
    let StreamEvent::Element(auth) = &out[1] else {
        panic!()
    };
    assert!(auth.is("auth", "urn:ietf:params:xml:ns:xmpp-sasl"));
    assert_eq!(auth.attr("mechanism"), Some("PLAIN"));
    assert_eq!(auth.text(), "AGp1bGlldABwYXNz");

    // SASL success: restart without XML declaration, bind, chat, close
    f.reset();
    out.clear();
    let third = format!(
        "{HEADER}<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>balcony</resource></bind></iq>\n \
         <message to='romeo@example.net' type='chat'><body>Art thou not Romeo &amp; a \
         Montague? &#x263A;</body></message><presence/> </stream:stream>"
    );
    f.feed(third.as_bytes(), &mut out).unwrap();
    assert!(f.is_closed());
    f.eof().unwrap();
    assert_eq!(out.len(), 5, "{out:?}");
    assert!(matches!(&out[0], StreamEvent::Open(h) if h.content_ns == NS_CLIENT));
    let els = elements(&out);
    assert!(els[0].is("iq", NS_CLIENT));
    let bind = els[0]
        .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
        .unwrap();
    assert_eq!(
        bind.get_child("resource", "urn:ietf:params:xml:ns:xmpp-bind")
            .unwrap()
            .text(),
        "balcony"
    );
    assert!(els[1].is("message", NS_CLIENT));
    assert_eq!(els[1].attr("to"), Some("romeo@example.net"));
    assert_eq!(
        els[1].get_child("body", NS_CLIENT).unwrap().text(),
        "Art thou not Romeo & a Montague? \u{263A}"
    );
    assert!(els[2].is("presence", NS_CLIENT));
    assert_eq!(out[4], StreamEvent::Close);
}

#[test]
fn stream_namespace_children_and_prefixes() {
    let doc = in_stream(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>\
         <stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>\
         <x:foo xmlns:x='urn:x' x:a='1' b='2'><x:bar/><baz/></x:foo>",
    );
    let (out, r) = run(&doc, Limits::default());
    r.unwrap();
    let els = elements(&out);
    assert_eq!(els.len(), 3);
    assert!(els[0].is("features", NS_STREAMS));
    let mechs = els[0]
        .get_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
        .unwrap();
    assert!(
        mechs
            .get_child("mechanism", "urn:ietf:params:xml:ns:xmpp-sasl")
            .is_some()
    );
    assert!(els[1].is("error", NS_STREAMS));
    assert!(els[1].has_child("not-well-formed", "urn:ietf:params:xml:ns:xmpp-streams"));
    assert!(els[2].is("foo", "urn:x"));
    assert_eq!(els[2].attr_ns("urn:x", "a"), Some("1"));
    assert_eq!(els[2].attr("b"), Some("2"));
    assert!(els[2].has_child("bar", "urn:x"));
    assert!(els[2].has_child("baz", NS_CLIENT));
}

#[test]
fn open_is_emitted_as_soon_as_root_tag_completes() {
    let mut f = StreamFramer::new(Limits::default());
    let mut out = Vec::new();
    f.feed(&HEADER.as_bytes()[..HEADER.len() - 1], &mut out)
        .unwrap();
    assert!(out.is_empty());
    f.feed(b">", &mut out).unwrap();
    assert!(matches!(out.as_slice(), [StreamEvent::Open(_)]));
    f.feed(b"<presence", &mut out).unwrap();
    assert_eq!(out.len(), 1);
    f.feed(b"/>", &mut out).unwrap();
    assert_eq!(out.len(), 2);
}

#[test]
fn self_closing_root_opens_and_closes() {
    let (out, r) = run(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>",
        Limits::default(),
    );
    r.unwrap();
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[0], StreamEvent::Open(h) if h.content_ns.is_empty()));
    assert_eq!(out[1], StreamEvent::Close);
}

#[test]
fn whitespace_keepalives_are_ignored() {
    let mut f = StreamFramer::new(Limits::default());
    let mut out = Vec::new();
    f.feed(HEADER.as_bytes(), &mut out).unwrap();
    for _ in 0..1000 {
        f.feed(b" ", &mut out).unwrap();
        f.feed(b"\r\n\t", &mut out).unwrap();
    }
    assert_eq!(out.len(), 1);
    assert!(
        f.buffered() <= 2,
        "keepalives must not accumulate: {}",
        f.buffered()
    );
    // many more keepalive bytes than the stanza limit permit
    let mut f = StreamFramer::new(small(100));
    f.feed(SHORT.as_bytes(), &mut out).unwrap();
    f.feed(&[b' '; 10_000], &mut out).unwrap();
    f.feed(b"<presence/>", &mut out).unwrap();
    assert!(matches!(out.last(), Some(StreamEvent::Element(_))));
    f.eof().unwrap();
}

#[test]
fn reset_starts_a_new_stream() {
    let mut f = StreamFramer::new(Limits::default());
    let mut out = Vec::new();
    f.feed(
        format!("{DECL}{HEADER}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").as_bytes(),
        &mut out,
    )
    .unwrap();
    // without a reset a second header is a nested element, not a new stream
    f.reset();
    assert_eq!(f.buffered(), 0);
    for _ in 0..2 {
        out.clear();
        f.feed(format!("{DECL}{HEADER}").as_bytes(), &mut out)
            .unwrap();
        assert!(matches!(out.as_slice(), [StreamEvent::Open(h)] if h.content_ns == NS_CLIENT));
        f.reset();
    }
    // reset also revives a dead framer, and drops half-received data
    f.feed(b"<!-- -->", &mut out).unwrap_err();
    f.reset();
    out.clear();
    f.feed(HEADER.as_bytes(), &mut out).unwrap();
    f.feed(b"<message><bo", &mut out).unwrap();
    assert!(f.buffered() > 0);
    f.reset();
    f.feed(HEADER.as_bytes(), &mut out).unwrap();
    f.feed(b"<presence/>", &mut out).unwrap();
    assert_eq!(out.len(), 3);
}

#[test]
fn eof_handling() {
    let eof = |doc: &[u8]| {
        let mut f = StreamFramer::new(Limits::default());
        f.feed(doc, &mut Vec::new()).unwrap();
        f.eof().map_err(|e| e.condition())
    };
    assert_eq!(eof(b""), Ok(()));
    assert_eq!(eof(b"<?xml version='1.0'?>"), Err("not-well-formed"));
    assert_eq!(eof(b"<stream:str"), Err("not-well-formed"));
    assert_eq!(eof(HEADER.as_bytes()), Ok(()));
    assert_eq!(eof(&in_stream("<presence/>\n ")), Ok(()));
    assert_eq!(eof(&in_stream("<pres")), Err("not-well-formed"));
    assert_eq!(
        eof(&in_stream("<message><body>hi</body>")),
        Err("not-well-formed")
    );
    assert_eq!(eof(&in_stream("</stream:str")), Err("not-well-formed"));
    assert_eq!(eof(&in_stream("</stream:stream>")), Ok(()));
    assert_eq!(eof(&in_stream("</stream:stream>\n\n")), Ok(()));
    // only whitespace may follow the close
    assert_eq!(
        condition_of(&in_stream("</stream:stream><presence/>")),
        Some("not-well-formed")
    );
}

/// Between stanzas the parser is released (no token buffer kept while idle); the next
/// bytes continue the same stream: root namespaces and prefix, whitespace, the close tag,
/// and errors in what follows.
#[test]
fn parser_is_released_between_stanzas_and_the_stream_continues() {
    let header = "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' xmlns:x='urn:x'>";
    let mut f = StreamFramer::new(Limits::default());
    let mut out = Vec::new();
    f.feed(header.as_bytes(), &mut out).unwrap();
    assert!(f.meter.is_released(), "idle after the header");
    f.feed(b"<presence/>", &mut out).unwrap();
    assert!(f.meter.is_released(), "idle after a stanza");
    f.feed(b"<message><x:y/>", &mut out).unwrap();
    assert!(!f.meter.is_released(), "kept inside a stanza");
    f.feed(b"</message> ", &mut out).unwrap();
    f.feed(b" <s:features/>", &mut out).unwrap();
    f.feed(b"</s:stream>", &mut out).unwrap();
    let names: Vec<String> = out
        .iter()
        .map(|e| match e {
            StreamEvent::Open(h) => format!("open {}", h.name),
            StreamEvent::Element(el) => format!("{} {}", el.name(), el.ns()),
            StreamEvent::Close => "close".to_owned(),
        })
        .collect();
    assert_eq!(names, ["open stream", "presence jabber:client", "message jabber:client", "features http://etherx.jabber.org/streams", "close"]);
    let StreamEvent::Element(m) = &out[2] else { panic!() };
    assert!(m.get_child("y", "urn:x").is_some(), "a root-declared prefix resolves after release");
    assert!(f.is_closed());

    for bad in ["</other>", "<iq></presence>", "text"] {
        let mut f = StreamFramer::new(Limits::default());
        f.feed(header.as_bytes(), &mut Vec::new()).unwrap();
        f.feed(b"<presence/>", &mut Vec::new()).unwrap();
        assert!(f.meter.is_released());
        let e = f.feed(bad.as_bytes(), &mut Vec::new()).unwrap_err();
        assert_eq!(e.condition(), "not-well-formed", "{bad}: {e}");
    }
}

/// Found by the fuzzer: rxml attributes a malformed byte after root whitespace to the
/// whitespace event and reports it later; the parser must not be released then, or the
/// error is lost when the input is split there.
#[test]
fn malformed_byte_after_root_whitespace_is_not_lost_by_a_release() {
    let mut doc = SHORT.as_bytes().to_vec();
    doc.extend_from_slice(&[b'\t'; 20]);
    doc.extend_from_slice(&[0xf7, 0xff]);
    doc.extend_from_slice(&[b'\t'; 20]);
    let (_, whole) = run(&doc, Limits::default());
    assert!(whole.is_err());
    for cut in SHORT.len()..doc.len() {
        let (_, split) = run_split(&doc, &[cut], Limits::default());
        assert_eq!(split.map_err(|e| e.condition()), Err("not-well-formed"), "cut at {cut}");
    }
}
