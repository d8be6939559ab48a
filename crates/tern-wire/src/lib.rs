//! tern-wire: the XML stream layer of XMPP (RFC 6120 §4 "XML Streams").
//!
//! This crate does no I/O. It turns the bytes of an XML stream into
//! [`StreamEvent`]s ([`StreamFramer`], RFC 6120 §4.2-§4.4), enforcing the
//! restricted XML profile of RFC 6120 §11 and the resource limits of
//! RFC 6120 §13.12 ([`Limits`]), and serializes elements and stream headers
//! for sending ([`to_string`], [`stream_header`]).
//!
//! [`websocket`] carries the same events over RFC 6455 frames as RFC 7395 defines.
//!
//! The parsing core (namespace-resolving element assembly in `tree`, byte
//! metering in `meter`) is transport independent so that the RFC 7395
//! WebSocket and XEP-0124/0206 BOSH framers can be built beside
//! [`StreamFramer`].
//!
//! ```
//! use tern_wire::{Limits, NS_CLIENT, StreamEvent, StreamFramer, to_string};
//!
//! let mut framer = StreamFramer::new(Limits::default());
//! let mut events = Vec::new();
//! framer.feed(b"<?xml version='1.0'?><stream:stream to='example.com' version='1.0' \
//!     xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", &mut events)?;
//! framer.feed(b"<presence/> </stream:stream>", &mut events)?;
//! assert!(matches!(&events[0], StreamEvent::Open(h) if h.content_ns == NS_CLIENT));
//! let StreamEvent::Element(presence) = &events[1] else { unreachable!() };
//! assert_eq!(to_string(presence), "<presence xmlns='jabber:client'/>");
//! assert_eq!(events[2], StreamEvent::Close);
//! # Ok::<(), tern_wire::FramerError>(())
//! ```

mod document;
mod error;
mod fastpath;
mod framer;
mod limits;
mod meter;
mod serialize;
mod tree;
pub mod websocket;

pub use document::{parse_document, parse_document_in};
pub use error::FramerError;
pub use framer::{StreamEvent, StreamFramer, StreamHeader};
pub use limits::{Limits, MAX_TOKEN_BYTES};
pub use serialize::{stream_header, to_string, to_string_in_stream, write_element, XmlSink};

/// Internals for the cargo-fuzz targets: the whole-document fast path and the full parser,
/// to compare them.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use crate::{FramerError, Limits};
    use minidom::Element;

    pub fn parse_fast(doc: &[u8], limits: &Limits, default_ns: Option<&str>) -> Option<Element> {
        crate::fastpath::parse(doc, limits, default_ns)
    }

    pub fn parse_full(doc: &[u8], limits: Limits, default_ns: Option<&str>) -> Result<Element, FramerError> {
        crate::document::parse_document_full(doc, limits, default_ns)
    }
}

/// The end tag that closes a stream (RFC 6120 §4.4).
pub const STREAM_CLOSE: &str = "</stream:stream>";
/// Namespace of the stream root and of `<stream:features/>`,
/// `<stream:error/>` (RFC 6120 §4.8.1).
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
/// Content namespace of client-to-server streams (RFC 6120 §4.8.3).
pub const NS_CLIENT: &str = "jabber:client";
/// Content namespace of server-to-server streams (RFC 6120 §4.8.3).
pub const NS_SERVER: &str = "jabber:server";
