//! A client's stream over one socket: RFC 6120 §4 over TCP or direct TLS
//! ([`StreamFraming`]), or RFC 7395 over a WebSocket ([`WsFraming`]). Writes are queued into
//! one buffer and sent by [`SocketConn::flush`]; [`SocketConn::recv`] only reads and is
//! cancel-safe.

use std::collections::VecDeque;
use std::fmt::Write as _;

use tokio::io::AsyncWriteExt as _;

use super::stream::StreamFraming;
use super::ws::WsFraming;
use super::{Escaped, Event, MAX_STANZA};
use crate::error::ClientError;
use crate::net::{Dialer, Io, read_into, write_all};
use crate::opts::Target;

/// How the stream is framed on the socket.
enum Framing {
    /// Boxed: the XML parser's state is larger than a WebSocket's.
    Stream(Box<StreamFraming>),
    Ws(WsFraming),
}

/// A connection whose socket carries one stream.
pub(super) struct SocketConn {
    io: Io,
    framing: Framing,
    /// Bytes queued for sending.
    out: Vec<u8>,
    /// Where an element's text is built before framing.
    scratch: String,
    events: VecDeque<Event>,
}

impl SocketConn {
    /// Connect (and, for WebSocket, complete the opening handshake); the stream is not open.
    pub(super) async fn connect(dialer: &Dialer, target: &Target) -> Result<Self, ClientError> {
        let mut io = dialer.dial().await?;
        let framing = match target.transport.is_websocket() {
            true => Framing::Ws(WsFraming::handshake(&mut io, dialer, target, MAX_STANZA).await?),
            false => Framing::Stream(Box::new(StreamFraming::new(MAX_STANZA))),
        };
        let mut conn = SocketConn {
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
    pub(super) fn queue_open(&mut self, domain: &str) {
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
    pub(super) fn queue_with(&mut self, build: impl FnOnce(&mut String) -> std::fmt::Result) {
        self.scratch.clear();
        let _ = build(&mut self.scratch);
        match &mut self.framing {
            Framing::Stream(_) => self.out.extend_from_slice(self.scratch.as_bytes()),
            Framing::Ws(w) => w.frame_text(&mut self.out, &self.scratch),
        }
    }

    /// Send everything queued.
    pub(super) async fn flush(&mut self) -> Result<(), ClientError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = write_all(&mut self.io, &self.out).await;
        self.out.clear();
        Ok(r?)
    }

    /// Give back buffer capacity grown during the login (before holding a session idle).
    pub(super) fn trim(&mut self) {
        self.out = Vec::new();
        self.scratch = String::new();
        self.events.shrink_to_fit();
    }

    /// Whether events are already decoded and waiting (the next [`recv`](Self::recv)
    /// returns without reading).
    pub(super) fn has_buffered(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event. Cancel-safe.
    pub(super) async fn recv(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Ok(ev);
            }
            let SocketConn {
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
    pub(super) async fn close(&mut self) -> Result<(), ClientError> {
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
