//! HTTP/1.1 connections of the HTTP listeners (RFC 9112): request heads parsed with
//! `httparse`, bodies by `Content-Length` (§6.3), keep-alive and pipelining (§9.3), then the
//! axum routes answer. Why not hyper: it reserves an 8 KiB read buffer and an 8 KiB write
//! buffer per connection for the connection's life, and a BOSH client keeps two connections
//! open, one of them idle and the other holding a request for up to `wait` seconds
//! (XEP-0124 §11). Here a waiting connection holds no read buffer at all ([`read_into`]).
//!
//! A WebSocket upgrade (RFC 6455 §4) is handed to hyper with the bytes already read, so
//! the handshake code is the same on every listener.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf as TokioReadBuf};
use tower::ServiceExt as _;
use tracing::debug;

use super::{Deferred, Peer};
use crate::c2s::readbuf::read_into;

/// Largest request head (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one request.
const MAX_HEADERS: usize = 64;

/// Timeouts and limits of one connection.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From the first byte of a request to its last (head and body); also the wait for
    /// the first request on a new connection (slow-loris bound).
    pub request: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle: Duration,
    /// Largest request body.
    pub max_body: usize,
}

/// Why a connection stops before a response is sent.
enum Stop {
    /// Closed, timed out while idle, or a read failed: nothing to answer.
    Quiet,
    /// Answer with this status and close.
    Refuse(StatusCode),
}

/// Serve requests on `io` until the client closes, a limit is hit, or a response closes it.
///
/// The returned future is what a connection's task keeps for the connection's life, so it
/// holds little: an `async` block that captures the connection once (an `async fn` keeps
/// room for its arguments and again for the locals they move into), awaiting only the
/// two long waits (the next request's head, a held response) itself. Reading and routing
/// a request, writing a response and refusing one run in boxed steps that end before.
pub fn serve<S>(io: S, app: Router, peer: SocketAddr, limits: Limits) -> impl std::future::Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut c = Conn { io, pending: Vec::new() };
    async move {
        let mut wait = limits.request;
        loop {
            let next = match c.read_head(wait, limits.request).await {
                Ok(head_len) => Box::pin(c.request(head_len, &app, peer, limits)).await,
                Err(stop) => Next::Stop(stop),
            };
            wait = limits.idle;
            let (resp, head_only, close) = match next {
                Next::Respond(resp, head_only, close) => (*resp, head_only, close),
                Next::Held(later, head_only, close) => {
                    match c.respond_unless_closed(later, limits).await {
                        Some(real) => (real, head_only, close),
                        // The client went away: the future is dropped, so a held BOSH
                        // request learns that its response was never delivered and the
                        // session keeps the stanzas.
                        None => return debug!(peer = %peer, "HTTP client closed the connection before the response"),
                    }
                }
                // Everything read so far, head included, goes to hyper.
                Next::Upgrade => return Box::pin(upgrade(c.io, c.pending, app, peer, limits)).await,
                Next::Stop(Stop::Quiet) => return,
                Next::Stop(Stop::Refuse(status)) => return Box::pin(refuse(&mut c.io, status)).await,
            };
            if !Box::pin(c.send(resp, head_only, close)).await {
                return;
            }
        }
    }
}

/// What follows a request's head.
enum Next {
    /// Write this response (`HEAD` request, close after it). Boxed: this value outlives
    /// the waits that follow it, so it should be small.
    Respond(Box<Response<Body>>, bool, bool),
    /// Wait for a held request's response (see [`Deferred`]), then write it likewise.
    Held(super::DeferredResponse, bool, bool),
    /// A WebSocket upgrade.
    Upgrade,
    Stop(Stop),
}

/// A connection and the bytes read from it that no request has used yet (the start of a
/// pipelined request).
struct Conn<S> {
    io: S,
    pending: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// The request whose head is the first `head_len` pending bytes: its body is read and
    /// it is routed.
    async fn request(&mut self, head_len: usize, app: &Router, peer: SocketAddr, limits: Limits) -> Next {
        let req = match parse_head(&self.pending[..head_len]) {
            Ok(r) => r,
            Err(status) => {
                debug!(peer = %peer, status = status.as_u16(), "bad HTTP request");
                return Next::Stop(Stop::Refuse(status));
            }
        };
        if req.headers().contains_key(header::UPGRADE) {
            return Next::Upgrade;
        }
        let head_only = req.method() == Method::HEAD;
        let close = wants_close(req.version(), req.headers());
        let body_len = match body_length(req.headers()) {
            Ok(n) if n <= limits.max_body => n,
            Ok(_) => return Next::Stop(Stop::Refuse(StatusCode::PAYLOAD_TOO_LARGE)),
            Err(status) => return Next::Stop(Stop::Refuse(status)),
        };
        if body_len > 0 && expects_continue(req.headers()) && self.pending.len() == head_len && self.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err() {
            return Next::Stop(Stop::Quiet);
        }
        let body = match self.read_body(head_len, body_len, limits.request).await {
            Ok(b) => b,
            Err(stop) => return Next::Stop(stop),
        };
        let mut req = req.map(|()| Body::from(body));
        req.extensions_mut().insert(Peer(peer));
        let routed = app.clone().oneshot(req);
        let Some(resp) = self.respond_unless_closed(async { routed.await.unwrap_or_else(|e| match e {}) }, limits).await else {
            debug!(peer = %peer, "HTTP client closed the connection before the response");
            return Next::Stop(Stop::Quiet);
        };
        match resp.extensions().get::<Deferred>().and_then(Deferred::take) {
            None => Next::Respond(Box::new(resp), head_only, close),
            Some(later) => Next::Held(later, head_only, close),
        }
    }

    /// Write a response: `false` once the connection is closed.
    async fn send(&mut self, resp: Response<Body>, head_only: bool, close: bool) -> bool {
        let close = close || resp.headers().get(header::CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if write_response(&mut self.io, resp, head_only, close).await.is_err() || close {
            let _ = self.io.shutdown().await;
            return false;
        }
        if self.pending.is_empty() {
            self.pending = Vec::new();
        }
        true
    }
}

impl<S: AsyncRead + Unpin> Conn<S> {
    /// Append the next bytes to `pending`: `Ok(false)` when the connection ended or failed,
    /// `Err` when `until` passed first.
    async fn read_more(&mut self, until: tokio::time::Instant) -> Result<bool, tokio::time::error::Elapsed> {
        Ok(matches!(tokio::time::timeout_at(until, read_into(&mut self.io, &mut self.pending)).await?, Ok(n) if n > 0))
    }

    /// Wait for a complete request head; its length. `wait` bounds the wait for its first
    /// byte, `request` the rest.
    async fn read_head(&mut self, wait: Duration, request: Duration) -> Result<usize, Stop> {
        let mut deadline = (!self.pending.is_empty()).then(|| tokio::time::Instant::now() + request);
        loop {
            if let Some(end) = find_head_end(&self.pending) {
                return Ok(end);
            }
            if self.pending.len() > MAX_HEAD {
                return Err(Stop::Refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
            }
            let until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + wait);
            match self.read_more(until).await {
                Ok(true) => {}
                Ok(false) => return Err(Stop::Quiet),
                // Idle keep-alive connections just close; a started request gets 408.
                Err(_) if self.pending.is_empty() => return Err(Stop::Quiet),
                Err(_) => return Err(Stop::Refuse(StatusCode::REQUEST_TIMEOUT)),
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + request);
        }
    }

    /// Take the body that follows a head of `head_len` bytes; what comes after it stays.
    async fn read_body(&mut self, head_len: usize, len: usize, request: Duration) -> Result<Vec<u8>, Stop> {
        let deadline = tokio::time::Instant::now() + request;
        while self.pending.len() < head_len + len {
            match self.read_more(deadline).await {
                Ok(true) => {}
                Ok(false) => return Err(Stop::Quiet),
                Err(_) => return Err(Stop::Refuse(StatusCode::REQUEST_TIMEOUT)),
            }
        }
        let rest = self.pending.split_off(head_len + len);
        let body = self.pending.split_off(head_len);
        self.pending = rest;
        Ok(body)
    }

    /// Wait for the response while watching the connection: a client that closes it (a
    /// page reloaded while its BOSH request was held) ends the wait with `None`. Bytes that
    /// arrive meanwhile are a pipelined request, kept (up to one request's worth).
    async fn respond_unless_closed<F>(&mut self, respond: F, limits: Limits) -> Option<Response<Body>>
    where
        F: std::future::Future<Output = Response<Body>>,
    {
        tokio::pin!(respond);
        let mut watch = true;
        loop {
            tokio::select! {
                biased;
                r = &mut respond => return Some(r),
                n = read_into(&mut self.io, &mut self.pending), if watch => match n {
                    Ok(n) if n > 0 => watch = self.pending.len() <= MAX_HEAD + limits.max_body,
                    _ => return None,
                },
            }
        }
    }
}

/// The length of the head (through the blank line), if complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The request line and header fields (RFC 9112 §3, §5) as an `http::Request`.
fn parse_head(head: &[u8]) -> Result<Request<()>, StatusCode> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        _ => return Err(StatusCode::BAD_REQUEST),
    }
    let version = match parsed.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
    };
    let method = Method::from_bytes(parsed.method.unwrap_or("").as_bytes()).map_err(|_| StatusCode::BAD_REQUEST)?;
    let mut req = Request::builder().method(method).uri(parsed.path.unwrap_or("/")).version(version);
    let headers = req.headers_mut().ok_or(StatusCode::BAD_REQUEST)?;
    for f in parsed.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| StatusCode::BAD_REQUEST)?;
        let value = HeaderValue::from_bytes(f.value).map_err(|_| StatusCode::BAD_REQUEST)?;
        headers.append(name, value);
    }
    req.body(()).map_err(|_| StatusCode::BAD_REQUEST)
}

/// The body length (RFC 9112 §6.3): `Content-Length`, or none. Chunked request bodies are
/// refused with 411 (a browser's XHR or fetch of a string always sends a length).
fn body_length(headers: &HeaderMap) -> Result<usize, StatusCode> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(StatusCode::LENGTH_REQUIRED);
    }
    let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(first) = lengths.next() else { return Ok(0) };
    if lengths.any(|v| v != first) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let s = first.to_str().map_err(|_| StatusCode::BAD_REQUEST)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StatusCode::BAD_REQUEST);
    }
    s.parse().map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers.get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// HTTP/1.0 closes unless kept alive; HTTP/1.1 stays open unless closed (RFC 9112 §9.3).
fn wants_close(version: Version, headers: &HeaderMap) -> bool {
    let has = |token: &str| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if version == Version::HTTP_10 { !has("keep-alive") } else { has("close") }
}

/// Status line, the response's fields with our own framing, then the body.
async fn write_response<S: AsyncWrite + Unpin>(io: &mut S, resp: Response<Body>, head_only: bool, close: bool) -> io::Result<()> {
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(256 + body.len());
    let reason = parts.status.canonical_reason().unwrap_or("");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    for (name, value) in &parts.headers {
        if matches!(*name, header::CONTENT_LENGTH | header::TRANSFER_ENCODING | header::CONNECTION) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = parts.status.is_informational() || parts.status == StatusCode::NO_CONTENT || parts.status == StatusCode::NOT_MODIFIED;
    if !bodiless {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only && !bodiless {
        out.extend_from_slice(&body);
    }
    crate::c2s::transport::write_all_timed(io, &out).await
}

/// Answer with an error status and close (RFC 9112 §9.6).
async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, status: StatusCode) {
    let msg = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let _ = crate::c2s::transport::write_all_timed(io, msg.as_bytes()).await;
    let _ = io.shutdown().await;
}

/// A WebSocket upgrade: hyper serves the rest of the connection, starting with the bytes
/// already read.
async fn upgrade<S>(io: S, read: Vec<u8>, app: Router, peer: SocketAddr, limits: Limits)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(Peer(peer));
        let app = app.clone();
        async move {
            let resp = app.oneshot(req.map(Body::new)).await.unwrap_or_else(|e| match e {});
            let resp = match resp.extensions().get::<Deferred>().and_then(Deferred::take) {
                Some(later) => later.await,
                None => resp,
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.request);
    let io = Prefixed { read, pos: 0, io };
    if let Err(e) = builder.serve_connection(TokioIo::new(io), svc).with_upgrades().await {
        debug!(peer = %peer, error = %e, "HTTP connection ended with an error");
    }
}

/// A stream whose first bytes were already read: they are read again first.
struct Prefixed<S> {
    read: Vec<u8>,
    pos: usize,
    io: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut TokioReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.pos < self.read.len() {
            let n = (self.read.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.read[start..start + n]);
            self.pos += n;
            if self.pos == self.read.len() {
                self.read = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
