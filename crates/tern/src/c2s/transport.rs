//! What a session driver needs from a transport: parsed stream events in, serialized
//! elements out. TCP (RFC 6120 §4 framing, STARTTLS §5) implements it here; WebSocket and
//! BOSH adapt their own framing to the same trait.

use std::io;

use async_trait::async_trait;
use minidom::Element;
use tern_core::StreamError;
use tern_wire::{FramerError, StreamEvent};

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("framing: {0}")]
    Framing(#[from] FramerError),
    #[error("tls: {0}")]
    Tls(String),
    /// The transport's own framing was violated (e.g. a WebSocket protocol error): the
    /// stream ends with this error.
    #[error("protocol: {0}")]
    Protocol(StreamError),
    #[error("operation not supported by this transport")]
    Unsupported,
}

/// Empty a flushed output buffer; a large one is freed, so an idle connection keeps at most
/// [`KEEP_OUT`] bytes of it.
pub fn release(out: &mut Vec<u8>) {
    if out.capacity() > KEEP_OUT {
        *out = Vec::new();
    } else {
        out.clear();
    }
}

/// Output buffer capacity kept between writes.
pub const KEEP_OUT: usize = 1024;

/// A client connection as the session driver sees it.
#[async_trait]
pub trait Transport: Send {
    /// Wait for input and append parsed events. `Ok(false)` at end of stream.
    /// Must be cancel-safe: it is polled inside `select!`.
    async fn read(&mut self, events: &mut Vec<StreamEvent>) -> Result<bool, TransportError>;
    /// Queue the server's stream header and optional features.
    fn queue_open(&mut self, id: &str, from: Option<&str>, features: Option<&Element>);
    /// Queue one element.
    fn queue(&mut self, el: &Element);
    /// Queue the stream error (if any) and the stream close.
    fn queue_close(&mut self, err: Option<&StreamError>);
    /// Write everything queued.
    async fn flush(&mut self) -> io::Result<()>;
    /// STARTTLS: upgrade in place, choosing the certificate for `domain` (RFC 6120 §5.4.3).
    async fn start_tls(&mut self, domain: &str) -> Result<(), TransportError>;
    /// Forget parser state: the client opens a new stream (after STARTTLS or SASL).
    fn reset(&mut self);
    /// Close the connection (after flushing).
    async fn shutdown(&mut self);
    /// Stanzas queued for the client that it never received (e.g. a BOSH queue when the
    /// session ended); the driver delivers them elsewhere.
    fn take_undelivered(&mut self) -> Vec<Element> {
        Vec::new()
    }
    /// Short description for logs (peer address, transport kind).
    fn describe(&self) -> String;
}
