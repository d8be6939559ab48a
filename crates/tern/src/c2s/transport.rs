//! What a session driver needs from a transport: parsed stream events in, serialized
//! elements out. TCP (RFC 6120 §4 framing, STARTTLS §5) implements it here; WebSocket and
//! BOSH adapt their own framing to the same trait.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use minidom::Element;
use tern_core::StreamError;
use tern_wire::{FramerError, StreamEvent};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

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

/// Free a flushed output buffer. A session waits after every write, often for minutes, and
/// an idle session should hold no output buffer; a busy one pays one allocation per batch.
pub fn release(out: &mut Vec<u8>) {
    *out = Vec::new();
}

/// A client that doesn't read what we write for this long is treated as gone.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Write all of `buf` and flush, failing with `TimedOut` after [`WRITE_TIMEOUT`]. What the
/// socket takes at once is written without arming a timer (the usual case, a timer per
/// stanza otherwise); only the rest waits under the timeout.
pub async fn write_all_timed<W: AsyncWrite + Unpin>(io: &mut W, buf: &[u8]) -> io::Result<()> {
    let pos = match write_now(io, buf)? {
        Written::All => return Ok(()),
        Written::Part(pos) => pos,
    };
    let rest = async {
        io.write_all(&buf[pos..]).await?;
        io.flush().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, rest).await.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

enum Written {
    /// Written and flushed.
    All,
    /// This many bytes written; the rest (or the flush) would wait.
    Part(usize),
}

/// Write and flush what can be without waiting.
fn write_now<W: AsyncWrite + Unpin>(io: &mut W, buf: &[u8]) -> io::Result<Written> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut pos = 0;
    while pos < buf.len() {
        match Pin::new(&mut *io).poll_write(&mut cx, &buf[pos..]) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => pos += n,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Ok(Written::Part(pos)),
        }
    }
    match Pin::new(&mut *io).poll_flush(&mut cx) {
        Poll::Ready(r) => r.map(|()| Written::All),
        Poll::Pending => Ok(Written::Part(pos)),
    }
}

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
