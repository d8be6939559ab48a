//! The `<body/>` wrapper of a client request (XEP-0124 §4, §7.1, §9, §10, §13, §15;
//! XEP-0206 §3, §5 for `xmpp:version` and `xmpp:restart`).

use minidom::Element;
use sha1::{Digest, Sha1};

/// XEP-0124 body namespace.
pub const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
/// XEP-0206 attributes namespace.
pub const NS_XBOSH: &str = "urn:xmpp:xbosh";

/// `type` of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestKind {
    #[default]
    Normal,
    /// `type='terminate'` (§13).
    Terminate,
}

/// A parsed client request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BodyRequest {
    pub rid: u64,
    pub sid: Option<String>,
    pub kind: RequestKind,
    pub to: Option<String>,
    pub lang: Option<String>,
    pub wait: Option<u32>,
    pub hold: Option<u32>,
    pub ver: Option<String>,
    /// Response `Content-Type` asked for on creation (§7.1).
    pub content: Option<String>,
    pub ack: Option<u64>,
    pub pause: Option<u32>,
    pub restart: bool,
    /// XEP-0206 `xmpp:version`.
    pub xmpp_version: Option<String>,
    pub key: Option<String>,
    pub newkey: Option<String>,
    pub payload: Vec<Element>,
}

/// Why a body was refused (`bad-request`, §17.2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("not a <body/> in the httpbind namespace")]
    NotABody,
    #[error("missing or non-numeric rid")]
    BadRid,
    #[error("bad value for {0}")]
    BadAttribute(&'static str),
    #[error("payload element {0} is not allowed in a body")]
    BadPayload(String),
}

fn num<T: std::str::FromStr>(el: &Element, name: &'static str) -> Result<Option<T>, BodyError> {
    el.attr(name).map(|v| v.trim().parse::<T>().map_err(|_| BodyError::BadAttribute(name))).transpose()
}

impl BodyRequest {
    /// Read a parsed `<body/>` element.
    pub fn from_element(mut el: Element) -> Result<Self, BodyError> {
        if !el.is("body", NS_HTTPBIND) {
            return Err(BodyError::NotABody);
        }
        let rid = match el.attr("rid").map(|r| r.trim().parse::<u64>()) {
            // §7.1: rids are below 2^53 so clients in any language can count them.
            Some(Ok(r)) if r < (1u64 << 53) => r,
            _ => return Err(BodyError::BadRid),
        };
        let s = |n: &str| el.attr(n).map(str::to_owned);
        let kind = match el.attr("type") {
            None => RequestKind::Normal,
            Some("terminate") => RequestKind::Terminate,
            Some(_) => return Err(BodyError::BadAttribute("type")),
        };
        let restart = match el.attr_ns(NS_XBOSH, "restart") {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => return Err(BodyError::BadAttribute("xmpp:restart")),
        };
        let req = BodyRequest {
            rid,
            sid: s("sid"),
            kind,
            to: s("to"),
            lang: el.attr_ns("http://www.w3.org/XML/1998/namespace", "lang").map(str::to_owned),
            wait: num(&el, "wait")?,
            hold: num(&el, "hold")?,
            ver: s("ver"),
            content: s("content"),
            ack: num(&el, "ack")?,
            pause: num(&el, "pause")?,
            restart,
            xmpp_version: el.attr_ns(NS_XBOSH, "version").map(str::to_owned),
            key: s("key"),
            newkey: s("newkey"),
            payload: Vec::new(),
        };
        // XEP-0206 §4: stanzas carry `xmlns='jabber:client'`; those that inherited the body's
        // namespace instead are read as jabber:client, as other servers do.
        let payload: Vec<Element> = el.take_contents_as_children().map(requalify).collect();
        for p in &payload {
            // Stanzas and SASL/SM negotiation only: no stream framing inside a body.
            if p.has_ns(crate::ns::STREAMS) {
                return Err(BodyError::BadPayload(p.name().to_owned()));
            }
        }
        Ok(BodyRequest { payload, ..req })
    }
}

/// An element (and descendants) in the httpbind namespace, moved to jabber:client.
fn requalify(el: Element) -> Element {
    if !el.has_ns(NS_HTTPBIND) {
        return el;
    }
    let mut out = Element::bare(el.name(), crate::ns::CLIENT);
    *out.attrs_mut() = el.attrs().clone();
    for node in el.nodes() {
        match node {
            minidom::Node::Element(c) => {
                out.append_child(requalify(c.clone()));
            }
            minidom::Node::Text(t) => out.append_text_node(t.clone()),
        }
    }
    out
}

/// §15: the key sent must hash (SHA-1, lowercase hex) to the previous one.
pub fn key_matches(key: Option<&str>, expected: &str) -> bool {
    let Some(k) = key else { return false };
    let digest = Sha1::digest(k.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.eq_ignore_ascii_case(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Result<BodyRequest, BodyError> {
        BodyRequest::from_element(s.parse::<Element>().expect("xml"))
    }

    #[test]
    fn creation_attributes() {
        let r = body(
            "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='100' to='example.com' \
             wait='60' hold='1' ver='1.6' xmpp:version='1.0' ack='1' content='text/xml; charset=utf-8' xml:lang='en'/>",
        )
        .expect("ok");
        assert_eq!((r.rid, r.wait, r.hold, r.ack), (100, Some(60), Some(1), Some(1)));
        assert_eq!(r.xmpp_version.as_deref(), Some("1.0"));
        assert_eq!(r.lang.as_deref(), Some("en"));
        assert_eq!(r.to.as_deref(), Some("example.com"));
    }

    #[test]
    fn restart_terminate_and_payload() {
        let r = body(
            "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='5' sid='s' \
             type='terminate' xmpp:restart='true'><presence xmlns='jabber:client' type='unavailable'/></body>",
        )
        .expect("ok");
        assert!(r.restart && r.kind == RequestKind::Terminate);
        assert_eq!(r.payload.len(), 1);
    }

    #[test]
    fn refusals() {
        assert_eq!(body("<body xmlns='wrong' rid='1'/>"), Err(BodyError::NotABody));
        assert_eq!(body("<body xmlns='http://jabber.org/protocol/httpbind'/>"), Err(BodyError::BadRid));
        assert_eq!(body("<body xmlns='http://jabber.org/protocol/httpbind' rid='x'/>"), Err(BodyError::BadRid));
        assert_eq!(body("<body xmlns='http://jabber.org/protocol/httpbind' rid='9007199254740993'/>"), Err(BodyError::BadRid));
        assert_eq!(
            body("<body xmlns='http://jabber.org/protocol/httpbind' rid='1' wait='soon'/>"),
            Err(BodyError::BadAttribute("wait"))
        );
        assert!(matches!(
            body("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><stream:stream xmlns:stream='http://etherx.jabber.org/streams'/></body>"),
            Err(BodyError::BadPayload(_))
        ));
    }

    #[test]
    fn unqualified_stanzas_are_read_as_jabber_client() {
        let r = body("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><message to='a@b'><body>hi</body></message></body>")
            .expect("ok");
        assert!(r.payload[0].is("message", crate::ns::CLIENT));
        assert!(r.payload[0].has_child("body", crate::ns::CLIENT));
    }

    #[test]
    fn key_sequence() {
        // K1 = "secret"; the server is given K2 = sha1("secret") as newkey, then K1 must follow.
        assert!(key_matches(Some("secret"), "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"));
        assert!(!key_matches(Some("guess"), "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"));
        assert!(!key_matches(None, "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"));
    }
}
