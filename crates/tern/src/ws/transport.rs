//! The WebSocket transport of one session (RFC 7395 over RFC 6455): frames decoded by
//! `WsCodec`, one element per text message, `<open/>`/`<close/>` for the stream, no
//! STARTTLS (§3.7: TLS is the WebSocket's own), a stream error followed by `<close/>`
//! (§3.6), `see-other-uri` on shutdown when configured (§3.6.1), and keepalive by
//! WebSocket pings (§3.4): a client silent for the ping interval gets a ping; silent for
//! the timeout after that, its connection is dropped and a resumable session hibernates.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use minidom::Element;
use tern_core::{StreamCondition, StreamError};
use tern_wire::websocket::{encode_close, encode_frame, encode_frame_with, parse_ws_message, ws_close, ws_open, Opcode, WsCodec, WsError, WsMessage};
use tern_wire::{FramerError, Limits, StreamEvent};
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::c2s::readbuf::ReadBuf;
use crate::c2s::throttle::ByteThrottle;
use crate::c2s::timer::LazyTimer;
use crate::c2s::transport::{write_all_timed, Transport, TransportError};
use crate::config::Config;

/// RFC 6455 §7.4.1 normal closure.
const CLOSE_NORMAL: u16 = 1000;

/// One upgraded WebSocket connection carrying an XMPP stream.
pub struct WsTransport {
    io: Option<TokioIo<Upgraded>>,
    codec: WsCodec,
    limits: Limits,
    buf: ReadBuf,
    out: Vec<u8>,
    messages: Vec<WsMessage>,
    throttle: ByteThrottle,
    wait_until: Option<Instant>,
    last_rx: Instant,
    ping_sent: bool,
    ping_timer: LazyTimer,
    ping_interval: Duration,
    ping_timeout: Duration,
    /// Status of the close frame sent on shutdown.
    close_code: u16,
    close_sent: bool,
    redirect: Option<String>,
    /// A whitespace-only message was already logged at warning level (once per connection,
    /// so a client cannot flood the log with them).
    whitespace_warned: bool,
    peer: SocketAddr,
    secure: bool,
}

impl WsTransport {
    pub fn new(io: TokioIo<Upgraded>, peer: SocketAddr, secure: bool, cfg: &Config, throttle: ByteThrottle) -> Self {
        let limits = Limits { max_stanza_bytes: cfg.limits.max_stanza_bytes, ..Limits::default() };
        WsTransport {
            io: Some(io),
            codec: WsCodec::new(limits.max_stanza_bytes),
            limits,
            buf: ReadBuf::default(),
            out: Vec::new(),
            messages: Vec::new(),
            throttle,
            wait_until: None,
            last_rx: Instant::now(),
            ping_sent: false,
            ping_timer: LazyTimer::default(),
            ping_interval: cfg.websocket.ping_interval(),
            ping_timeout: cfg.websocket.ping_timeout(),
            close_code: CLOSE_NORMAL,
            close_sent: false,
            redirect: cfg.websocket.shutdown_redirect_uri.clone(),
            whitespace_warned: false,
            peer,
            secure,
        }
    }

    fn text(&mut self, text: &str) {
        encode_frame(&mut self.out, Opcode::Text, text.as_bytes());
    }

    /// A WebSocket-level failure: the close status to send and the stream error before it.
    fn fail(&mut self, e: &WsError) -> TransportError {
        self.close_code = e.close_code();
        let cond = match e {
            WsError::InvalidUtf8 => StreamCondition::UnsupportedEncoding,
            WsError::TooBig(_) => StreamCondition::PolicyViolation,
            _ => StreamCondition::BadFormat,
        };
        TransportError::Protocol(StreamError::new(cond).with_text(e.to_string()))
    }

    /// Handle decoded messages; parsed XMPP events go to `events`.
    fn on_messages(&mut self, events: &mut Vec<StreamEvent>) -> Result<bool, FramerError> {
        let mut open = true;
        for m in std::mem::take(&mut self.messages) {
            match m {
                WsMessage::Text(t) => match parse_ws_message(t.as_bytes(), &self.limits)? {
                    Some(ev) => events.push(ev),
                    None if !self.whitespace_warned => {
                        self.whitespace_warned = true;
                        tracing::warn!(peer = %self.peer, "whitespace-only WebSocket message ignored (RFC 7395 keepalives are WebSocket pings, not whitespace)");
                    }
                    None => tracing::debug!(peer = %self.peer, "whitespace-only WebSocket message ignored"),
                },
                WsMessage::Ping(p) => encode_frame(&mut self.out, Opcode::Pong, &p),
                WsMessage::Pong(_) => {}
                WsMessage::Close(_) => {
                    // The client ends the WebSocket: answer its close (RFC 6455 §5.5.1).
                    if !self.close_sent {
                        encode_close(&mut self.out, CLOSE_NORMAL, "");
                        self.close_sent = true;
                    }
                    open = false;
                }
            }
        }
        Ok(open)
    }
}

#[async_trait]
impl Transport for WsTransport {
    async fn read(&mut self, events: &mut Vec<StreamEvent>) -> Result<bool, TransportError> {
        if let Some(t) = self.wait_until {
            tokio::time::sleep_until(t).await;
            self.wait_until = None;
        }
        let Some(io) = self.io.as_mut() else { return Ok(false) };
        let data = loop {
            let deadline = self.last_rx + self.ping_interval + if self.ping_sent { self.ping_timeout } else { Duration::ZERO };
            self.ping_timer.arm(deadline);
            tokio::select! {
                r = self.buf.fill(io) => break r?,
                _ = &mut self.ping_timer => {
                    if Instant::now() < deadline {
                        continue;
                    }
                    if self.ping_sent {
                        tracing::info!(peer = %self.peer, secs = self.ping_timeout.as_secs(), "no answer to a WebSocket ping: dropping the connection");
                        return Err(TransportError::Io(io::Error::new(io::ErrorKind::TimedOut, "no answer to WebSocket ping")));
                    }
                    encode_frame(&mut self.out, Opcode::Ping, b"");
                    self.ping_sent = true;
                    return Ok(true);
                }
            }
        };
        if data.is_empty() {
            return Ok(false);
        }
        let now = Instant::now();
        self.last_rx = now;
        self.ping_sent = false;
        let wait = self.throttle.consume(data.len(), now.into_std());
        if !wait.is_zero() {
            self.wait_until = Some(now + wait);
        }
        let fed = self.codec.feed(data, &mut self.messages);
        let open = self.on_messages(events)?;
        if let Err(e) = fed {
            return Err(self.fail(&e));
        }
        Ok(open)
    }

    fn queue_open(&mut self, id: &str, from: Option<&str>, features: Option<&Element>) {
        self.text(&ws_open(from.unwrap_or(""), id, Some("en")));
        if let Some(f) = features {
            self.queue(f);
        }
    }

    fn queue(&mut self, el: &Element) {
        encode_frame_with(&mut self.out, Opcode::Text, |out| tern_wire::write_element(out, el, None));
    }

    fn queue_close(&mut self, err: Option<&StreamError>) {
        let redirect = match err {
            Some(e) if e.condition == StreamCondition::SystemShutdown => self.redirect.clone(),
            _ => None,
        };
        if let (Some(e), None) = (err, &redirect) {
            self.text(&tern_wire::to_string(&e.to_element()));
        }
        self.text(&ws_close(redirect.as_deref()));
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let Some(io) = self.io.as_mut() else { return Err(io::ErrorKind::NotConnected.into()) };
        let r = write_all_timed(io, &self.out).await;
        crate::c2s::transport::release(&mut self.out);
        r
    }

    async fn start_tls(&mut self, _domain: &str) -> Result<(), TransportError> {
        Err(TransportError::Unsupported)
    }

    fn reset(&mut self) {}

    async fn shutdown(&mut self) {
        if !self.close_sent {
            encode_close(&mut self.out, self.close_code, "");
            self.close_sent = true;
        }
        let _ = self.flush().await;
        if let Some(mut io) = self.io.take() {
            let _ = io.shutdown().await;
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", if self.secure { "wss" } else { "ws" }, self.peer)
    }
}
