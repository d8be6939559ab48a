//! Tests for the resource limits of RFC 6120 §13.12 (stanza size, stream
//! header size, nesting depth, attribute count), enforced while receiving.

#![allow(clippy::unwrap_used)]

use super::tests::{DECL, HEADER, SHORT, condition_of, elements, in_stream, run, small};
use crate::{Limits, NS_CLIENT, StreamFramer};

#[test]
fn stanza_size_limit_is_enforced_while_receiving() {
    let limit = 1000;
    let mut f = StreamFramer::new(small(limit));
    let mut out = Vec::new();
    f.feed(HEADER.as_bytes(), &mut out).unwrap();
    f.feed(b"<message><body>", &mut out).unwrap();
    let chunk = [b'a'; 64];
    let mut fed = HEADER.len() + 15;
    let err = loop {
        match f.feed(&chunk, &mut out) {
            Ok(()) => {
                fed += chunk.len();
                assert!(f.buffered() <= limit + 1, "buffered {}", f.buffered());
                assert!(fed < HEADER.len() + 2 * limit, "limit not enforced");
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err.condition(), "policy-violation");
    assert!(f.buffered() <= limit + 1);
    assert_eq!(out.len(), 1, "only Open: {out:?}");
    // the framer is dead now
    assert_eq!(f.feed(b"</body></message>", &mut out), Err(err.clone()));
    assert_eq!(f.eof(), Err(err));
}

#[test]
fn never_ending_attribute_value_hits_the_limit() {
    for limit in [100, 20_000, 262_144] {
        let mut f = StreamFramer::new(small(limit));
        let mut out = Vec::new();
        f.feed(SHORT.as_bytes(), &mut out).unwrap();
        f.feed(b"<message to='", &mut out).unwrap();
        let chunk = vec![b'x'; 4096];
        let err = (0..200)
            .find_map(|_| f.feed(&chunk, &mut out).err())
            .expect("limit must trigger");
        assert_eq!(err.condition(), "policy-violation", "{err}");
        assert!(f.buffered() <= limit + 1);
    }
}

#[test]
fn stanza_of_exactly_the_limit_passes() {
    let stanza = format!(
        "<message><body>{}</body></message>",
        "0123456789".repeat(20)
    );
    let doc = in_stream(&format!("{stanza}\n{stanza}"));
    let (out, r) = run(&doc, small(stanza.len()));
    r.unwrap();
    assert_eq!(elements(&out).len(), 2);
    let (out, r) = run(&doc, small(stanza.len() - 1));
    assert_eq!(r.map_err(|e| e.condition()), Err("policy-violation"));
    assert_eq!(out.len(), 1);
    // the limit is per stanza, not per stream
    let many = in_stream(&stanza.repeat(100));
    let (out, r) = run(&many, small(stanza.len()));
    r.unwrap();
    assert_eq!(elements(&out).len(), 100);
}

#[test]
fn self_closing_stanza_size_counts() {
    let stanza = format!("<presence type='unavailable' id='{}'/>", "x".repeat(200));
    let (_, r) = run(&in_stream(&stanza), small(stanza.len()));
    r.unwrap();
    let (_, r) = run(&in_stream(&stanza), small(stanza.len() - 1));
    assert_eq!(r.map_err(|e| e.condition()), Err("policy-violation"));
}

#[test]
fn stream_header_size_is_bounded() {
    let doc = format!("{DECL}{HEADER}");
    let (out, r) = run(doc.as_bytes(), small(doc.len()));
    r.unwrap();
    assert_eq!(out.len(), 1);
    let (out, r) = run(doc.as_bytes(), small(doc.len() - 1));
    assert_eq!(r.map_err(|e| e.condition()), Err("policy-violation"));
    assert!(out.is_empty());
    // a never-ending header
    let mut f = StreamFramer::new(small(500));
    let mut out = Vec::new();
    f.feed(b"<stream:stream ", &mut out).unwrap();
    let err = (0..100).find_map(|i| f.feed(format!("a{i}='x' ").as_bytes(), &mut out).err());
    assert_eq!(err.map(|e| e.condition()), Some("policy-violation"));
}

#[test]
fn overlong_name_is_policy_violation() {
    let name = "a".repeat(crate::MAX_TOKEN_BYTES + 1);
    let (_, r) = run(&in_stream(&format!("<{name}/>")), Limits::default());
    assert_eq!(r.map_err(|e| e.condition()), Err("policy-violation"));
    // long text is fine
    let body = "b".repeat(3 * crate::MAX_TOKEN_BYTES);
    let (out, r) = run(
        &in_stream(&format!("<message><body>{body}</body></message>")),
        Limits::default(),
    );
    r.unwrap();
    assert_eq!(
        elements(&out)[0]
            .get_child("body", NS_CLIENT)
            .unwrap()
            .text(),
        body
    );
}

#[test]
fn depth_limit_is_per_stanza() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let ok = in_stream("<iq><query xmlns='jabber:iq:roster'><item/></query></iq>");
    assert!(run(&ok, limits.clone()).1.is_ok());
    let deep = in_stream("<iq><query xmlns='jabber:iq:roster'><item><group/></item></query></iq>");
    assert_eq!(
        run(&deep, limits).1.map_err(|e| e.condition()),
        Err("policy-violation")
    );
    let default_deep = in_stream(&format!("{}{}", "<a>".repeat(49), "</a>".repeat(49)));
    assert_eq!(condition_of(&default_deep), Some("policy-violation"));
    let default_ok = in_stream(&format!("{}{}", "<a>".repeat(48), "</a>".repeat(48)));
    assert_eq!(condition_of(&default_ok), None);
}

#[test]
fn attribute_limit() {
    // HEADER has 5 attributes, namespace declarations included
    let limits = Limits {
        max_attributes: 6,
        ..Limits::default()
    };
    let ok = in_stream("<message a='1' b='2' c='3' d='4' e='5' f='6'/>");
    assert!(run(&ok, limits.clone()).1.is_ok());
    let many = in_stream("<message a='1' b='2' c='3' d='4' e='5' f='6' g='7'/>");
    assert_eq!(
        run(&many, limits.clone()).1.map_err(|e| e.condition()),
        Err("policy-violation")
    );
    let nested =
        in_stream("<message><x a='1' b='2' c='3' d='4' xmlns='u' xmlns:p='v' p:x='y'/></message>");
    assert_eq!(
        run(&nested, limits.clone()).1.map_err(|e| e.condition()),
        Err("policy-violation")
    );
    // the stream header counts too
    let limits = Limits {
        max_attributes: 4,
        ..Limits::default()
    };
    let (out, r) = run(HEADER.as_bytes(), limits);
    assert_eq!(r.map_err(|e| e.condition()), Err("policy-violation"));
    assert!(out.is_empty());
}
