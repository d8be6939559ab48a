//! Serializer tests: escaping, namespaces, stream headers and round trips
//! through the RFC 6120 §4 stream framer.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::{Limits, NS_CLIENT, StreamEvent, StreamFramer};
use minidom::Element;
use proptest::prelude::*;

const OPEN: &str =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// Parse top-level elements as they would arrive inside a client stream.
fn parse_in_stream(xml: &str) -> Vec<Element> {
    let mut f = StreamFramer::new(Limits::default());
    let mut out = Vec::new();
    f.feed(OPEN.as_bytes(), &mut out).unwrap();
    f.feed(xml.as_bytes(), &mut out).unwrap();
    out.into_iter()
        .filter_map(|e| match e {
            StreamEvent::Element(el) => Some(el),
            _ => None,
        })
        .collect()
}

fn parse_one(xml: &str) -> Element {
    let mut els = parse_in_stream(xml);
    assert_eq!(els.len(), 1, "{xml}");
    els.remove(0)
}

fn ncname(s: &str) -> rxml::NcName {
    s.try_into().unwrap()
}

#[test]
fn message_declares_its_namespace() {
    let el = Element::builder("message", NS_CLIENT)
        .attr(ncname("to"), "romeo@example.net")
        .attr(ncname("type"), "chat")
        .append(Element::builder("body", NS_CLIENT).append("hi").build())
        .build();
    assert_eq!(
        to_string(&el),
        "<message xmlns='jabber:client' to='romeo@example.net' type='chat'><body>hi</body></message>"
    );
    assert_eq!(
        to_string_in_stream(&el, NS_CLIENT),
        "<message to='romeo@example.net' type='chat'><body>hi</body></message>"
    );
    // inside a jabber:server stream the namespace must be declared
    assert!(
        to_string_in_stream(&el, "jabber:server").starts_with("<message xmlns='jabber:client'")
    );
}

#[test]
fn stream_namespace_uses_stream_prefix() {
    let el = Element::builder("features", crate::NS_STREAMS)
        .append(Element::builder("starttls", "urn:ietf:params:xml:ns:xmpp-tls").build())
        .append(Element::builder("ver", crate::NS_STREAMS).build())
        .build();
    assert_eq!(
        to_string(&el),
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
         <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><stream:ver/></stream:features>"
    );
    assert_eq!(
        to_string_in_stream(&el, NS_CLIENT),
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><stream:ver/></stream:features>"
    );
}

#[test]
fn nested_namespaces_and_undeclaring() {
    let el = Element::builder("iq", NS_CLIENT)
        .append(
            Element::builder("query", "jabber:iq:roster")
                .append(Element::builder("item", "jabber:iq:roster").build())
                .append(Element::builder("bare", "").build())
                .build(),
        )
        .build();
    assert_eq!(
        to_string_in_stream(&el, NS_CLIENT),
        "<iq><query xmlns='jabber:iq:roster'><item/><bare xmlns=''/></query></iq>"
    );
}

#[test]
fn text_escaping() {
    let el = Element::builder("body", NS_CLIENT)
        .append("<a> & 'b' \"c\" ]]> \r\n\t")
        .build();
    assert_eq!(
        to_string_in_stream(&el, NS_CLIENT),
        "<body>&lt;a&gt; &amp; 'b' \"c\" ]]&gt; &#13;\n\t</body>"
    );
}

#[test]
fn attribute_escaping() {
    let el = Element::builder("x", NS_CLIENT)
        .attr(ncname("a"), "<'\"&>\t\n\r")
        .build();
    assert_eq!(
        to_string_in_stream(&el, NS_CLIENT),
        "<x a='&lt;&apos;&quot;&amp;&gt;&#9;&#10;&#13;'/>"
    );
}

#[test]
fn unrepresentable_characters_are_replaced() {
    let el = Element::builder("x", NS_CLIENT)
        .attr(ncname("a"), "a\u{0}b")
        .append("\u{1}\u{1f}\u{fffe}\u{ffff}\u{fffd}\u{10ffff}ok")
        .build();
    assert_eq!(
        to_string_in_stream(&el, NS_CLIENT),
        "<x a='a\u{fffd}b'>\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{10ffff}ok</x>"
    );
}

#[test]
fn namespaced_attributes() {
    let el = Element::builder("presence", NS_CLIENT)
        .attr_ns(rxml::Namespace::XML, ncname("lang"), "en")
        .attr_ns("urn:x".into(), ncname("k"), "v")
        .attr(ncname("xmlns"), "bogus")
        .build();
    let s = to_string(&el);
    assert_eq!(
        s,
        "<presence xmlns='jabber:client' xml:lang='en' xmlns:ns0='urn:x' ns0:k='v'/>"
    );
    let back = parse_one(&s);
    assert_eq!(back.attr_ns(rxml::XMLNS_XML, "lang"), Some("en"));
    assert_eq!(back.attr_ns("urn:x", "k"), Some("v"));
    assert_eq!(back.attr("xmlns"), None);
}

#[test]
fn stream_header_format_and_escaping() {
    assert_eq!(
        stream_header(
            NS_CLIENT,
            "example.com",
            Some("juliet@example.com"),
            "abc",
            Some("en")
        ),
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='example.com' \
         to='juliet@example.com' version='1.0' xml:lang='en'>"
    );
    let h = stream_header("jabber:server", "a'b", None, "<&\">", None);
    assert_eq!(
        h,
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
         xmlns:stream='http://etherx.jabber.org/streams' id='&lt;&amp;&quot;&gt;' \
         from='a&apos;b' version='1.0'>"
    );
    // and the framer reads it back
    let mut f = StreamFramer::new(Limits::default());
    let mut out = Vec::new();
    f.feed(h.as_bytes(), &mut out).unwrap();
    let [StreamEvent::Open(hdr)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(hdr.from.as_deref(), Some("a'b"));
    assert_eq!(hdr.id.as_deref(), Some("<&\">"));
    assert_eq!(hdr.to, None);
    assert_eq!(hdr.lang, None);
    assert_eq!(hdr.content_ns, "jabber:server");
    assert_eq!(hdr.version.as_deref(), Some("1.0"));
}

#[test]
fn parsed_stanzas_round_trip() {
    let input = "<message to='a@b' type='chat'><body>x &lt; y &amp;&amp; 'q'</body>\
                 <html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>\
                 <p>hi<br/>there</p></body></html></message>\
                 <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>\
                 <x:a xmlns:x='urn:x' x:k='1'><x:b>t</x:b></x:a>";
    let els = parse_in_stream(input);
    assert_eq!(els.len(), 3);
    for el in &els {
        assert_eq!(&parse_one(&to_string(el)), el);
        assert_eq!(&parse_one(&to_string_in_stream(el, NS_CLIENT)), el);
        // minidom's own parser agrees with the self-contained form
        let standalone: Element = to_string(el).parse().unwrap();
        assert_eq!(&standalone, el);
    }
}

fn xml_string() -> impl Strategy<Value = String> {
    // any chars, including ones that need escaping; unrepresentable ones
    // are excluded because they are (documented to be) replaced
    prop::collection::vec(any::<char>(), 0..40).prop_map(|cs| {
        cs.into_iter()
            .filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..))
            .collect()
    })
}

proptest! {
    #[test]
    fn arbitrary_text_and_attributes_round_trip(
        text in xml_string(),
        value in xml_string(),
        inner in xml_string(),
        in_stream in any::<bool>(),
    ) {
        // (empty text nodes do not survive serialization, by nature)
        let mut body = Element::builder("body", NS_CLIENT).build();
        if !inner.is_empty() {
            body.append_text(inner);
        }
        let mut el = Element::builder("message", NS_CLIENT).attr(ncname("id"), value).build();
        if !text.is_empty() {
            el.append_text(text);
        }
        el.append_child(body);
        let s = if in_stream { to_string_in_stream(&el, NS_CLIENT) } else { to_string(&el) };
        prop_assert_eq!(parse_one(&s), el);
    }
}
