#![allow(clippy::unwrap_used)]

use super::*;
use crate::document::parse_document_full;

const CLIENT: Option<&str> = Some("jabber:client");

/// The fast path agrees with the full parser: when it answers, the element is the same.
fn agree(doc: &str, default_ns: Option<&str>) -> Option<Element> {
    let limits = Limits::default();
    let fast = parse(doc.as_bytes(), &limits, default_ns);
    if let Some(el) = &fast {
        let full = parse_document_full(doc.as_bytes(), limits, default_ns);
        assert_eq!(full.as_ref().ok(), Some(el), "fast path differs on {doc:?}: full parser says {full:?}");
    }
    fast
}

#[test]
fn common_stanzas_take_the_fast_path() {
    for doc in [
        "<message to='a@b/c' type='chat' id='1'><body>hi</body></message>",
        "<message xmlns='jabber:client' to=\"a@b\"><body>Tom &amp; Jerry &lt;3 &#x1F600; &#65;</body>\n  <active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        "<presence/> \n ",
        "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
        "<message xml:lang='en'><body>x &gt; y</body></message>",
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
        "<a b = 'v' ><c /></a >",
        "<a b='it&apos;s &quot;q&quot;'>]]</a>",
        "<a>\u{e9}\u{4e2d}\u{10348}</a>",
    ] {
        assert!(agree(doc, CLIENT).is_some(), "expected the fast path to take {doc:?}");
    }
    let el = agree("<message to='x'><body>a&amp;b</body></message>", CLIENT).unwrap();
    assert!(el.is("message", "jabber:client"));
    assert_eq!(el.get_child("body", "jabber:client").unwrap().text(), "a&b");
    assert!(agree("<a/>", None).unwrap().is("a", ""));
}

#[test]
fn the_rest_goes_to_the_full_parser() {
    for doc in [
        "",
        "   ",
        "  <presence/>",
        "<?xml version='1.0'?><a/>",
        "<a><!-- c --></a>",
        "<a><![CDATA[x]]></a>",
        "<!DOCTYPE a><a/>",
        "<a><?pi x?></a>",
        "<p:a xmlns:p='urn:p'/>",
        "<a xmlns:p='urn:p' p:b='1'/>",
        "<a b='1' b='2'/>",
        "<a xmlns='x' xmlns='y'/>",
        "<a xmlns='http://www.w3.org/XML/1998/namespace'/>",
        "<a><b xmlns='http://www.w3.org/2000/xmlns/'/></a>",
        "<a b='1'c='2'/>",
        "<a b=1/>",
        "<a b='<'/>",
        "<a b='x\ny'/>",
        "<a>\r\n</a>",
        "<a>&nbsp;</a>",
        "<a>& b</a>",
        "<a>&#0;</a>",
        "<a>&#xD800;</a>",
        "<a>\u{1}</a>",
        "<a>\u{FFFE}</a>",
        "<a>]]></a>",
        "<a></b>",
        "<a>",
        "<a/><b/>",
        "<a/>x",
        "x<a/>",
        "< a/>",
        "<a><c/ ></a>",
        "<1a/>",
        "<\u{e9}/>",
        "<a\u{e9}='x'/>",
    ] {
        assert!(agree(doc, CLIENT).is_none(), "expected the fast path to decline {doc:?}");
    }
}

#[test]
fn limits_send_input_to_the_full_parser() {
    let limits = Limits { max_depth: 3, max_attributes: 2, ..Limits::default() };
    assert!(parse(b"<a><b><c/></b></a>", &limits, None).is_some());
    assert!(parse(b"<a><b><c><d/></c></b></a>", &limits, None).is_none());
    assert!(parse(b"<a x='1' y='2'/>", &limits, None).is_some());
    assert!(parse(b"<a x='1' y='2' xmlns='z'/>", &limits, None).is_none());
    let small = Limits { max_stanza_bytes: 10, ..Limits::default() };
    assert!(parse(b"<a>123</a>", &small, None).is_some());
    assert!(parse(b"<a>1234</a>", &small, None).is_none());
    let long = format!("<a x='{}'/>", "v".repeat(Limits::default().token_bytes()));
    assert!(parse(long.as_bytes(), &Limits::default(), None).is_none());
    // Long text is fine for both parsers (the full one reads it in chunks).
    let text = format!("<a>{}</a>", "t".repeat(100_000));
    assert!(agree(&text, None).is_some());
}

#[test]
fn namespaces_inherit_and_undeclare() {
    let el = agree("<a xmlns='urn:a'><b/><c xmlns=''><d/></c><e xmlns='urn:e'><f/></e></a>", CLIENT).unwrap();
    let kids: Vec<_> = el.children().map(|c| (c.name().to_owned(), c.ns())).collect();
    assert_eq!(kids, [("b".into(), "urn:a".into()), ("c".into(), "".into()), ("e".into(), "urn:e".into())]);
}

proptest::proptest! {
    /// Random documents over a small alphabet of XML pieces: the fast path never disagrees.
    #[test]
    fn random_documents_agree(parts in proptest::collection::vec(proptest::sample::select(vec![
        "<a>", "</a>", "<b x='1'>", "</b>", "<c/>", "<d xmlns='urn:d'>", "</d>", " ", "\n", "t", "&amp;", "&#x41;",
        "&bad;", "<", ">", "'", "\"", "=", "xml:lang='en'", "<e xml:lang='x'/>", "]]>", "<!--c-->", "\u{e9}", "\r",
        "<f a='1' a='2'/>", "<g xmlns:p='urn:p'><p:h/></g>", "/",
    ]), 0..14)) {
        let doc: String = parts.concat();
        agree(&doc, CLIENT);
        agree(&format!("<r>{doc}</r>"), CLIENT);
        agree(&format!("<r xmlns='urn:r'>{doc}</r>"), None);
    }
}
