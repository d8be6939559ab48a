//! A client's XML stream, whatever carries it: RFC 6120 §4 over TCP or direct TLS and RFC
//! 7395 over a WebSocket ([`socket`]: one socket, one stream), or BOSH (XEP-0124 with
//! XEP-0206, [`bosh`]: one stream spread over HTTP requests on up to two connections). The
//! session code opens the stream, queues elements, flushes and receives [`Event`]s without
//! knowing which.
//!
//! Writes are queued and sent by [`Conn::flush`]; [`Conn::recv`] only reads and is
//! cancel-safe, so it can sit in a `select!` beside timers and stop signals. When the
//! transport needs something sent (a WebSocket pong, a BOSH request to keep one held),
//! `recv` returns [`Event::Control`] and the caller flushes.

mod bosh;
mod bosh_body;
pub(crate) mod http;
mod socket;
mod stream;
mod ws;

use std::fmt::Write as _;
use std::sync::Arc;

pub(crate) use ws::accept_for;

use minidom::Element;

use crate::error::ClientError;
use crate::net::Dialer;
use crate::opts::Target;

/// Largest stanza accepted from the server.
const MAX_STANZA: usize = 1 << 20;

/// What arrived on a connection.
#[derive(Debug)]
pub enum Event {
    /// The server opened (or reopened) the stream.
    Open,
    /// A top-level element: stanza, features, SASL or stream error element.
    Element(Element),
    /// The server closed the stream (`</stream:stream>`, `<close/>`, a WebSocket close
    /// frame or a BOSH `type='terminate'` body).
    Close,
    /// The transport wants something sent (a WebSocket pong, a BOSH request): flush.
    Control,
}

/// One client connection.
pub struct Conn(Kind);

// The socket kind is the common one and stays inline, as it was before BOSH came.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Socket(socket::SocketConn),
    /// Boxed: its state is larger, and idle sessions of the other kinds should not pay.
    Bosh(Box<bosh::BoshConn>),
}

impl Conn {
    /// Connect (for WebSocket, complete the opening handshake; for BOSH, open the first
    /// HTTP connection); the stream is not open.
    pub async fn connect(dialer: &Arc<Dialer>, target: &Target) -> Result<Conn, ClientError> {
        Ok(Conn(match target.transport.is_bosh() {
            true => Kind::Bosh(Box::new(bosh::BoshConn::connect(dialer, target).await?)),
            false => Kind::Socket(socket::SocketConn::connect(dialer, target).await?),
        }))
    }

    /// Queue the opening of a stream to `domain`: a stream header, `<open/>` or BOSH session
    /// creation; the second time, a restart after SASL success (RFC 6120 §6.4.6, XEP-0206 §5).
    pub fn queue_open(&mut self, domain: &str) {
        match &mut self.0 {
            Kind::Socket(c) => c.queue_open(domain),
            Kind::Bosh(c) => c.queue_open(domain),
        }
    }

    /// Queue one top-level element, written by `build` (it must write exactly one element,
    /// with `xmlns='jabber:client'` on stanzas).
    pub fn queue_with(&mut self, build: impl FnOnce(&mut String) -> std::fmt::Result) {
        match &mut self.0 {
            Kind::Socket(c) => c.queue_with(build),
            Kind::Bosh(c) => c.queue_with(build),
        }
    }

    /// Queue one element given as text (or, over a socket, any text: the relay's pair line).
    pub fn queue_str(&mut self, xml: &str) {
        self.queue_with(|s| s.write_str(xml));
    }

    /// Send what is queued (BOSH: as far as the requests allowed outstanding permit).
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        match &mut self.0 {
            Kind::Socket(c) => c.flush().await,
            Kind::Bosh(c) => c.flush().await,
        }
    }

    /// Give back buffer capacity grown during the login (before holding a session idle).
    pub fn trim(&mut self) {
        match &mut self.0 {
            Kind::Socket(c) => c.trim(),
            Kind::Bosh(c) => c.trim(),
        }
    }

    /// Whether events are already decoded and waiting (the next [`recv`](Self::recv)
    /// returns without reading).
    pub fn has_buffered(&self) -> bool {
        match &self.0 {
            Kind::Socket(c) => c.has_buffered(),
            Kind::Bosh(c) => c.has_buffered(),
        }
    }

    /// BOSH: the requests sent and not answered yet (the one the server holds, while idle).
    pub fn requests_outstanding(&self) -> Option<usize> {
        match &self.0 {
            Kind::Socket(_) => None,
            Kind::Bosh(c) => Some(c.outstanding()),
        }
    }

    /// The next event. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Event, ClientError> {
        match &mut self.0 {
            Kind::Socket(c) => c.recv().await,
            Kind::Bosh(c) => c.recv().await,
        }
    }

    /// Close the stream cleanly: send the close (BOSH: `type='terminate'`), wait (up to the
    /// caller's timeout) for the server's, then end the transport.
    pub async fn close(&mut self) -> Result<(), ClientError> {
        match &mut self.0 {
            Kind::Socket(c) => c.close().await,
            Kind::Bosh(c) => c.close().await,
        }
    }
}

/// An attribute value or text with `&`, `<`, `>`, `'` and `"` escaped.
pub struct Escaped<'a>(pub &'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '\'', '"']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'\'' => "&apos;",
                _ => "&quot;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            Escaped("a&b<c>'d\"").to_string(),
            "a&amp;b&lt;c&gt;&apos;d&quot;"
        );
        assert_eq!(Escaped("plain@host/res").to_string(), "plain@host/res");
    }
}
