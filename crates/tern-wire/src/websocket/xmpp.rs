//! RFC 7395 §3.3 framing of XMPP in WebSocket messages: each message is exactly one
//! complete element; the stream is opened and closed by `<open/>` and `<close/>` in
//! `urn:ietf:params:xml:ns:xmpp-framing` (§3.3.1, §3.3.2, §3.6); stanzas default to
//! `jabber:client` (§3.3.3); a `see-other-uri` on `<close/>` replaces `see-other-host`
//! (§3.6.1). Parsed messages become the same [`StreamEvent`]s as a TCP stream's, so the
//! session core does not know which transport a client uses.

use crate::document::parse_document_in;
use crate::error::FramerError;
use crate::framer::{StreamEvent, StreamHeader};
use crate::limits::Limits;
use crate::meter::Meter;
use crate::serialize::push_attr;
use crate::tree::Output;
use crate::{NS_CLIENT, NS_STREAMS};

/// Namespace of `<open/>` and `<close/>` (RFC 7395 §3.3.1).
pub const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// Parse one text message from the client. `Ok(None)` for a message of only whitespace,
/// which carries nothing (tolerated, though RFC 7395 §3.4 says not to send it).
///
/// `<open/>` becomes [`StreamEvent::Open`] with a header as a TCP stream would carry it
/// (`stream:stream`, content namespace `jabber:client`); `<close/>` becomes
/// [`StreamEvent::Close`]. A `<stream:stream>` (TCP framing on a WebSocket) is
/// `invalid-namespace`; two elements, a partial element or bad XML are `not-well-formed`.
pub fn parse_ws_message(text: &[u8], limits: &Limits) -> Result<Option<StreamEvent>, FramerError> {
    if text.iter().all(|b| crate::tree::is_xml_whitespace(*b)) {
        return Ok(None);
    }
    let el = match parse_document_in(text, limits.clone(), Some(NS_CLIENT)) {
        Ok(el) => el,
        Err(e) if opens_tcp_stream(text, limits) => {
            return Err(FramerError::InvalidNamespace(format!("{} (RFC 7395 uses <open/>, not <stream:stream>)", e.detail())));
        }
        Err(e) => return Err(e),
    };
    if el.has_ns(NS_FRAMING) {
        return match el.name() {
            "open" => Ok(Some(StreamEvent::Open(open_header(&el)))),
            "close" => Ok(Some(StreamEvent::Close)),
            other => Err(FramerError::InvalidNamespace(format!("<{other}/> in the framing namespace"))),
        };
    }
    if el.is("stream", NS_STREAMS) {
        return Err(FramerError::InvalidNamespace("RFC 7395 opens a stream with <open/>, not <stream:stream>".to_owned()));
    }
    Ok(Some(StreamEvent::Element(el)))
}

/// Whether `text` starts a `<stream:stream>` root (the cause of its parse error).
fn opens_tcp_stream(text: &[u8], limits: &Limits) -> bool {
    let mut meter = Meter::new(limits.clone(), true);
    let mut stream = false;
    let _ = meter.feed(text, |o| {
        if let Output::RootOpen(info) = o {
            stream |= info.local == "stream" && info.ns == NS_STREAMS;
        }
    });
    stream
}

fn open_header(el: &minidom::Element) -> StreamHeader {
    let attr = |name: &str| el.attr(name).map(str::to_owned);
    StreamHeader {
        to: attr("to"),
        from: attr("from"),
        id: attr("id"),
        version: attr("version"),
        lang: el.attr_ns(rxml::XMLNS_XML, "lang").or_else(|| el.attr("xml:lang")).map(str::to_owned),
        stream_ns: NS_STREAMS.to_owned(),
        content_ns: NS_CLIENT.to_owned(),
        name: "stream".to_owned(),
    }
}

/// The server's `<open/>` (RFC 7395 §3.3.1).
pub fn ws_open(from: &str, id: &str, lang: Option<&str>) -> String {
    let mut out = String::with_capacity(160);
    out.push_str("<open");
    push_attr(&mut out, "xmlns", NS_FRAMING);
    push_attr(&mut out, "from", from);
    push_attr(&mut out, "id", id);
    push_attr(&mut out, "version", "1.0");
    if let Some(lang) = lang {
        push_attr(&mut out, "xml:lang", lang);
    }
    out.push_str("/>");
    out
}

/// The server's `<close/>`, optionally redirecting the client (RFC 7395 §3.6, §3.6.1).
pub fn ws_close(see_other_uri: Option<&str>) -> String {
    let mut out = String::from("<close");
    push_attr(&mut out, "xmlns", NS_FRAMING);
    if let Some(uri) = see_other_uri {
        push_attr(&mut out, "see-other-uri", uri);
    }
    out.push_str("/>");
    out
}
