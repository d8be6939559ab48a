//! Whole-document parsing for transports that carry one XML document per message: a
//! XEP-0124 `<body/>` per HTTP request (XEP-0124 §4) and one element per WebSocket message
//! (RFC 7395 §3.3.3). Same restricted-XML profile and limits as the stream framer
//! (RFC 6120 §11, §13.12); the size limit applies to the whole document.

use minidom::Element;

use crate::error::FramerError;
use crate::limits::Limits;
use crate::meter::Meter;
use crate::tree::Output;

/// Parse `bytes` as exactly one complete XML document (an optional XML declaration, one
/// root element, optional surrounding whitespace).
pub fn parse_document(bytes: &[u8], limits: Limits) -> Result<Element, FramerError> {
    parse_document_in(bytes, limits, None)
}

/// [`parse_document`], with unprefixed names outside any `xmlns` declaration in
/// `default_ns` (RFC 7395 §3.3.3: `jabber:client` for stanzas in WebSocket messages).
pub fn parse_document_in(bytes: &[u8], limits: Limits, default_ns: Option<&str>) -> Result<Element, FramerError> {
    if let Some(el) = crate::fastpath::parse(bytes, &limits, default_ns) {
        return Ok(el);
    }
    parse_document_full(bytes, limits, default_ns)
}

/// The incremental parser's reading of a whole document: every input the fast path
/// declines, with the error it names.
pub(crate) fn parse_document_full(bytes: &[u8], limits: Limits, default_ns: Option<&str>) -> Result<Element, FramerError> {
    let mut meter = Meter::new(limits, false);
    if let Some(ns) = default_ns {
        meter.set_default_ns(ns);
    }
    let mut root = None;
    let mut extra = false;
    meter.feed(bytes, |o| {
        if let Output::Unit(el) = o {
            if root.is_some() {
                extra = true;
            }
            root = Some(el);
        }
    })?;
    if extra {
        return Err(FramerError::NotWellFormed("more than one root element".to_owned()));
    }
    match root {
        Some(el) if meter.is_done() || !meter.is_mid_element() => Ok(el),
        _ => Err(FramerError::NotWellFormed("incomplete document".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Element, FramerError> {
        parse_document(s.as_bytes(), Limits::default())
    }

    #[test]
    fn body_with_children() {
        let el = parse(
            "<body rid='10' sid='s' xmlns='http://jabber.org/protocol/httpbind' \
             xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true'>\
             <message xmlns='jabber:client' to='a@b'><body>hi</body></message></body>",
        )
        .expect("valid");
        assert_eq!(el.name(), "body");
        assert_eq!(el.ns(), "http://jabber.org/protocol/httpbind");
        assert_eq!(el.attr("rid"), Some("10"));
        assert_eq!(el.attr_ns("urn:xmpp:xbosh", "restart"), Some("true"));
        let m = el.children().next().expect("child");
        assert!(m.is("message", "jabber:client"));
    }

    #[test]
    fn declaration_and_whitespace_allowed() {
        assert!(parse("<?xml version='1.0'?>\n<body xmlns='x'/>\n").is_ok());
    }

    #[test]
    fn errors() {
        assert!(matches!(parse("<body xmlns='x'>"), Err(FramerError::NotWellFormed(_))));
        assert!(matches!(parse("<body xmlns='x'></bod>"), Err(FramerError::NotWellFormed(_))));
        assert!(matches!(parse(""), Err(FramerError::NotWellFormed(_))));
        assert!(matches!(parse("<a/><b/>"), Err(FramerError::NotWellFormed(_))));
        assert!(matches!(parse("<body xmlns='x'><!-- c --></body>"), Err(FramerError::RestrictedXml(_))));
        assert!(matches!(parse("<!DOCTYPE body><body/>"), Err(FramerError::RestrictedXml(_))));
        let big = format!("<body xmlns='x'>{}</body>", "a".repeat(300_000));
        assert!(matches!(parse(&big), Err(FramerError::PolicyViolation(_))));
    }
}
