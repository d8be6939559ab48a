//! RFC 6120 §4 XML stream framing over a TCP byte stream: the stream header
//! (§4.2, §4.7), top-level elements (§4.3), stream close (§4.4), whitespace
//! keepalives (§4.6.1), stream restarts (§4.3.3, §5.4.3.3, §6.4.6), with the
//! restricted XML of §11.1 and the limits of §13.12.

use minidom::Element;

use crate::error::FramerError;
use crate::limits::Limits;
use crate::meter::Meter;
use crate::tree::{Output, RootInfo};

/// Attributes of an opening `<stream:stream>` (RFC 6120 §4.7).
///
/// The framer does not validate the root's name or namespace: checking
/// `name == "stream"` and `stream_ns == NS_STREAMS` (and answering
/// `<invalid-namespace/>` etc.) is up to the caller.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamHeader {
    /// `to` attribute (RFC 6120 §4.7.2).
    pub to: Option<String>,
    /// `from` attribute (RFC 6120 §4.7.1).
    pub from: Option<String>,
    /// `id` attribute (RFC 6120 §4.7.3).
    pub id: Option<String>,
    /// `version` attribute (RFC 6120 §4.7.5).
    pub version: Option<String>,
    /// `xml:lang` attribute (RFC 6120 §4.7.4).
    pub lang: Option<String>,
    /// namespace of the root element (must be http://etherx.jabber.org/streams)
    pub stream_ns: String,
    /// default namespace declared on the root (content namespace, e.g.
    /// jabber:client), "" if none
    pub content_ns: String,
    /// local name of the root element (must be "stream")
    pub name: String,
}

impl StreamHeader {
    fn from_root(info: RootInfo) -> Self {
        let attr = |ns: &str, name: &str| info.attrs.get(ns, name).cloned();
        let (to, from, id, version) = (
            attr("", "to"),
            attr("", "from"),
            attr("", "id"),
            attr("", "version"),
        );
        let lang = attr(rxml::XMLNS_XML, "lang");
        Self {
            to,
            from,
            id,
            version,
            lang,
            stream_ns: info.ns,
            content_ns: info.default_ns.unwrap_or_default(),
            name: info.local,
        }
    }
}

/// One complete piece of an XML stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// The root start tag is complete.
    Open(StreamHeader),
    /// A direct child of the root (stanza, `<stream:features/>`,
    /// `<starttls/>`, `<auth/>`, ...) with resolved namespaces.
    Element(Element),
    /// The closing `</stream:stream>` arrived.
    Close,
}

/// RFC 6120 stream framer over a TCP byte stream.
///
/// * An optional XML declaration may precede the stream header.
/// * [`StreamEvent::Open`] is emitted as soon as the root start tag is
///   complete, [`StreamEvent::Element`] when a direct child of the root has
///   been received completely, [`StreamEvent::Close`] on the root end tag.
/// * Whitespace directly under the root (keepalives) is ignored; any other
///   character data directly under the root is `not-well-formed`.
/// * Bytes after `</stream:stream>` may only be whitespace.
pub struct StreamFramer {
    limits: Limits,
    meter: Meter,
    dead: Option<FramerError>,
}

impl StreamFramer {
    /// A framer expecting the start of a new stream.
    pub fn new(limits: Limits) -> Self {
        Self {
            meter: Meter::new(limits.clone(), true),
            limits,
            dead: None,
        }
    }

    /// Feed bytes; append complete events to `out`. Stops at the first
    /// error; after an error the framer is dead (further calls return the
    /// same error) until [`reset`](Self::reset). Events completed before the
    /// error are still appended.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), FramerError> {
        if let Some(e) = &self.dead {
            return Err(e.clone());
        }
        let result = self.meter.feed(bytes, |o| match o {
            Output::RootOpen(info) => out.push(StreamEvent::Open(StreamHeader::from_root(info))),
            Output::Unit(el) => out.push(StreamEvent::Element(el)),
            Output::RootClose => out.push(StreamEvent::Close),
            Output::Nothing | Output::RootWhitespace(_) => {}
        });
        if let Err(e) = &result {
            self.dead = Some(e.clone());
        }
        result
    }

    /// Signal EOF on the transport. Returns `NotWellFormed` if the input
    /// ended inside markup (stream header, a stanza, a tag); `Ok` if it
    /// ended cleanly: before any data, between top-level elements, or after
    /// the stream was closed. Whether `</stream:stream>` was seen is
    /// available from [`is_closed`](Self::is_closed).
    pub fn eof(&mut self) -> Result<(), FramerError> {
        if let Some(e) = &self.dead {
            return Err(e.clone());
        }
        if self.meter.is_mid_element() {
            let e = FramerError::NotWellFormed("stream ended inside an element".to_owned());
            self.dead = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Discard all parser state: the next bytes must start a new stream
    /// (optionally with an XML declaration). Used after STARTTLS
    /// (RFC 6120 §5.4.3.3) and SASL success (RFC 6120 §6.4.6). Also clears
    /// a previous error.
    pub fn reset(&mut self) {
        self.meter = Meter::new(self.limits.clone(), true);
        self.dead = None;
    }

    /// Bytes currently buffered for an incomplete stanza or stream header
    /// (for memory accounting). Never exceeds `max_stanza_bytes + 1`.
    pub fn buffered(&self) -> usize {
        self.meter.buffered()
    }

    /// Whether the closing `</stream:stream>` has been received.
    pub fn is_closed(&self) -> bool {
        self.meter.is_done()
    }

    /// The limits this framer enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl core::fmt::Debug for StreamFramer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamFramer")
            .field("limits", &self.limits)
            .field("buffered", &self.buffered())
            .field("closed", &self.is_closed())
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
