//! A client's XML stream over one socket, whatever the framing: RFC 6120 §4 over TCP or
//! direct TLS ([`stream`]), or RFC 7395 over a WebSocket ([`ws`]). The session code opens
//! the stream, queues elements, flushes and receives [`Event`]s without knowing which.
//! (BOSH, XEP-0124/0206, spreads one stream over many HTTP requests: it will be a second
//! kind of connection beside this one, with the same methods.)
//!
//! Writes are queued into one buffer and sent by [`Conn::flush`]; [`Conn::recv`] only
//! reads and is cancel-safe, so it can sit in a `select!` beside timers and stop signals.

mod stream;
mod ws;

use std::collections::VecDeque;
use std::fmt::Write as _;

use minidom::Element;
use tokio::io::AsyncWriteExt as _;

use crate::error::ClientError;
use crate::net::{Dialer, Io, read_into};
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
    /// The server closed the stream (`</stream:stream>`, `<close/>` or a WebSocket close
    /// frame).
    Close,
    /// Transport-level traffic was answered (a WebSocket pong is queued): flush.
    Control,
}

/// How the stream is framed on the socket.
enum Framing {
    /// Boxed: the XML parser's state is larger than a WebSocket's.
    Stream(Box<stream::StreamFraming>),
    Ws(ws::WsFraming),
}

/// One client connection.
pub struct Conn {
    io: Io,
    framing: Framing,
    /// Bytes queued for sending.
    out: Vec<u8>,
    /// Where an element's text is built before framing.
    scratch: String,
    events: VecDeque<Event>,
}

impl Conn {
    /// Connect (and, for WebSocket, complete the opening handshake); the stream is not open.
    pub async fn connect(dialer: &Dialer, target: &Target) -> Result<Conn, ClientError> {
        let mut io = dialer.dial().await?;
        let framing = match target.transport.is_websocket() {
            true => Framing::Ws(
                ws::WsFraming::handshake(&mut io, target, dialer.addr(), MAX_STANZA).await?,
            ),
            false => Framing::Stream(Box::new(stream::StreamFraming::new(MAX_STANZA))),
        };
        let mut conn = Conn {
            io,
            framing,
            out: Vec::new(),
            scratch: String::new(),
            events: VecDeque::new(),
        };
        if let Framing::Ws(ws) = &mut conn.framing {
            let early = ws.take_early();
            if !early.is_empty() {
                conn.decode(&early)?;
            }
        }
        Ok(conn)
    }

    /// Queue the opening of a stream to `domain` (also a restart after SASL success: the
    /// parser is reset, RFC 6120 §6.4.6).
    pub fn queue_open(&mut self, domain: &str) {
        self.scratch.clear();
        match &mut self.framing {
            Framing::Stream(s) => {
                s.reset();
                let _ = write!(
                    self.scratch,
                    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                     xmlns:stream='http://etherx.jabber.org/streams' to='{}' version='1.0' xml:lang='en'>",
                    Escaped(domain)
                );
                self.out.extend_from_slice(self.scratch.as_bytes());
            }
            Framing::Ws(w) => {
                let _ = write!(
                    self.scratch,
                    "<open xmlns='{}' to='{}' version='1.0' xml:lang='en'/>",
                    tern_wire::websocket::NS_FRAMING,
                    Escaped(domain)
                );
                w.frame_text(&mut self.out, &self.scratch);
            }
        }
    }

    /// Queue one top-level element, written by `build` (it must write exactly one element,
    /// with `xmlns='jabber:client'` on stanzas).
    pub fn queue_with(&mut self, build: impl FnOnce(&mut String) -> std::fmt::Result) {
        self.scratch.clear();
        let _ = build(&mut self.scratch);
        match &mut self.framing {
            Framing::Stream(_) => self.out.extend_from_slice(self.scratch.as_bytes()),
            Framing::Ws(w) => w.frame_text(&mut self.out, &self.scratch),
        }
    }

    /// Queue one element given as text.
    pub fn queue_str(&mut self, xml: &str) {
        self.queue_with(|s| s.write_str(xml));
    }

    /// Send everything queued.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.io.write_all(&self.out).await;
        self.out.clear();
        r?;
        if let Io::Tls(_) = self.io {
            self.io.flush().await?;
        }
        Ok(())
    }

    /// Give back buffer capacity grown during the login (before holding a session idle).
    pub fn trim(&mut self) {
        self.out = Vec::new();
        self.scratch = String::new();
        self.events.shrink_to_fit();
    }

    /// Whether events are already decoded and waiting (the next [`recv`](Self::recv)
    /// returns without reading).
    pub fn has_buffered(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Ok(ev);
            }
            let Conn {
                io,
                framing,
                out,
                events,
                ..
            } = self;
            let read = read_into(io, |bytes| match framing {
                Framing::Stream(s) => s.decode(bytes, events),
                Framing::Ws(w) => w.decode(bytes, out, events),
            });
            match read.await? {
                Some(decoded) => decoded?,
                None => return Err(ClientError::Eof),
            }
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        match &mut self.framing {
            Framing::Stream(s) => s.decode(bytes, &mut self.events),
            Framing::Ws(w) => w.decode(bytes, &mut self.out, &mut self.events),
        }
    }

    /// Close the stream cleanly: send the close, wait (up to the caller's timeout) for the
    /// server's, then end the transport (WebSocket close handshake, TCP shutdown).
    pub async fn close(&mut self) -> Result<(), ClientError> {
        match &mut self.framing {
            Framing::Stream(_) => self
                .out
                .extend_from_slice(tern_wire::STREAM_CLOSE.as_bytes()),
            Framing::Ws(w) => {
                let close = format!("<close xmlns='{}'/>", tern_wire::websocket::NS_FRAMING);
                w.frame_text(&mut self.out, &close);
            }
        }
        self.flush().await?;
        loop {
            match self.recv().await {
                Ok(Event::Close) | Err(ClientError::Eof) => break,
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        if let Framing::Ws(w) = &mut self.framing {
            // The streams are closed: a server that already dropped the socket is fine.
            w.queue_close_frame(&mut self.out);
            let _ = self.flush().await;
            // RFC 6455 §7.1.1: the server closes the TCP connection first.
            while self.recv().await.is_ok() {}
        }
        let _ = self.io.shutdown().await;
        Ok(())
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
