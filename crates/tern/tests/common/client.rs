//! A small async XMPP client for the integration tests: RFC 6120 §4 stream handling over TCP
//! or direct TLS (XEP-0368), and waiting for elements with a timeout and a helpful failure
//! message. Negotiation (STARTTLS, SASL, bind) and stanza helpers are in `session.rs`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use minidom::Element;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tern_core::ns;
use tern_wire::{StreamEvent, StreamFramer, StreamHeader};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Default wait for an expected element.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Anything the client can speak XML over (TCP, or TLS over TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What arrives from the server.
#[derive(Debug)]
pub enum Ev {
    Open(StreamHeader),
    El(Element),
    /// `</stream:stream>`.
    Close,
    /// The connection ended (or failed).
    Eof(String),
}

/// One client connection.
pub struct Client {
    pub(super) io: Option<Box<dyn Io>>,
    pub(super) framer: StreamFramer,
    pub(super) events: VecDeque<Ev>,
    /// Elements received while waiting for something else, oldest first.
    pub(super) stash: Vec<Element>,
    pub(super) tls: Arc<rustls::ClientConfig>,
    /// The domain in the stream header and the TLS server name.
    pub domain: String,
    /// The bound full JID.
    pub jid: Option<String>,
    /// The last `<stream:features/>` received.
    pub features: Option<Element>,
    /// The last stream header received from the server.
    pub header: Option<StreamHeader>,
    /// XEP-0198: stanzas received since `<enabled/>` (or `<resumed/>`), as the client's `h`.
    pub h_in: u32,
    pub(super) sm_counting: bool,
    pub(super) next_id: u64,
    /// RFC 7395 framing (see `ws.rs`) when this is a WebSocket client.
    pub(super) ws: Option<super::ws::WsReader>,
    pub(super) ws_frames: VecDeque<super::ws::ServerFrame>,
    /// The server's WebSocket close frame and its status code, once received.
    pub ws_close: Option<Option<u16>>,
    /// WebSocket pings received from the server (each answered with a pong).
    pub ws_pings: usize,
}

/// Short serialization for messages.
pub fn show(el: &Element) -> String {
    let s = tern_wire::to_string(el);
    if s.len() > 400 { format!("{}…", &s[..s.char_indices().nth(400).map(|c| c.0).unwrap_or(s.len())]) } else { s }
}

/// The `<stream:error/>` condition of an element, if it is one.
pub fn stream_error_condition(el: &Element) -> Option<String> {
    if !el.is("error", ns::STREAMS) {
        return None;
    }
    el.children().find(|c| c.ns() == ns::XMPP_STREAMS && c.name() != "text").map(|c| c.name().to_owned())
}

/// The stanza error condition of an `type='error'` stanza, if any.
pub fn stanza_error_condition(el: &Element) -> Option<String> {
    let e = el.get_child("error", ns::CLIENT)?;
    e.children().find(|c| c.ns() == ns::XMPP_STANZAS && c.name() != "text").map(|c| c.name().to_owned())
}

pub(super) fn tls_config(certs_dir: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let dir = std::fs::read_dir(certs_dir).unwrap_or_else(|e| panic!("reading {}: {e}", certs_dir.display()));
    for entry in dir {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "crt") {
            for cert in CertificateDer::pem_file_iter(&path).expect("open cert") {
                roots.add(cert.expect("parse cert")).expect("add root");
            }
        }
    }
    assert!(!roots.is_empty(), "no certificates in {}", certs_dir.display());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

pub(super) async fn tls_connect(cfg: Arc<rustls::ClientConfig>, domain: &str, io: Box<dyn Io>) -> Box<dyn Io> {
    let name = ServerName::try_from(domain.to_owned()).expect("server name");
    let tls = tokio::time::timeout(TIMEOUT, tokio_rustls::TlsConnector::from(cfg).connect(name, io))
        .await
        .expect("TLS handshake timed out")
        .expect("TLS handshake (the server's certificate must verify against the generated one)");
    Box::new(tls)
}

impl Client {
    pub(super) fn new(io: Box<dyn Io>, domain: &str, tls: Arc<rustls::ClientConfig>) -> Client {
        let limits = tern_wire::Limits { max_stanza_bytes: 64 << 20, ..tern_wire::Limits::default() };
        Client {
            io: Some(io),
            framer: StreamFramer::new(limits),
            events: VecDeque::new(),
            stash: Vec::new(),
            tls,
            domain: domain.to_owned(),
            jid: None,
            features: None,
            header: None,
            h_in: 0,
            sm_counting: false,
            next_id: 0,
            ws: None,
            ws_frames: VecDeque::new(),
            ws_close: None,
            ws_pings: 0,
        }
    }

    /// A plain TCP connection (for STARTTLS); nothing sent yet.
    pub async fn connect(addr: SocketAddr, domain: &str, certs_dir: &Path) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        tcp.set_nodelay(true).expect("nodelay");
        Client::new(Box::new(tcp), domain, tls_config(certs_dir))
    }

    /// A direct TLS connection (XEP-0368); nothing sent yet.
    pub async fn connect_tls(addr: SocketAddr, domain: &str, certs_dir: &Path) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        tcp.set_nodelay(true).expect("nodelay");
        let cfg = tls_config(certs_dir);
        let io = tls_connect(cfg.clone(), domain, Box::new(tcp)).await;
        Client::new(io, domain, cfg)
    }

    pub fn bare_jid(&self) -> String {
        let j = self.jid.as_deref().expect("bound");
        j.split('/').next().unwrap_or(j).to_owned()
    }

    pub fn full_jid(&self) -> String {
        self.jid.clone().expect("bound")
    }

    /// A fresh stanza id.
    pub fn id(&mut self) -> String {
        self.next_id += 1;
        format!("t{}", self.next_id)
    }

    // ---- raw I/O ----

    /// Send bytes on the stream (on a WebSocket: as one text message).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        assert!(self.try_send_raw(bytes).await, "write to server failed");
    }

    /// Write, tolerating a connection the server already closed.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        let framed;
        let bytes = match self.ws {
            Some(_) => {
                framed = super::ws::frame(true, 1, bytes, true);
                &framed[..]
            }
            None => bytes,
        };
        let Some(io) = self.io.as_mut() else { return false };
        io.write_all(bytes).await.is_ok() && io.flush().await.is_ok()
    }

    pub async fn send_str(&mut self, s: &str) {
        self.send_raw(s.as_bytes()).await;
    }

    pub async fn send(&mut self, el: &Element) {
        self.send_raw(tern_wire::to_string(el).as_bytes()).await;
    }

    /// Read more bytes and queue the parsed events.
    async fn fill(&mut self) {
        if !self.ws_frames.is_empty() {
            return self.on_ws_frames().await;
        }
        let Some(io) = self.io.as_mut() else {
            self.events.push_back(Ev::Eof("connection already gone".into()));
            return;
        };
        let mut buf = vec![0u8; 65536];
        let n = match io.read(&mut buf).await {
            Ok(0) => {
                self.io = None;
                self.events.push_back(Ev::Eof("server closed the connection".into()));
                return;
            }
            Ok(n) => n,
            Err(e) => {
                self.io = None;
                self.events.push_back(Ev::Eof(format!("read error: {e}")));
                return;
            }
        };
        if let Some(reader) = self.ws.as_mut() {
            let frames = reader.decode(&buf[..n]);
            self.ws_frames.extend(frames);
            return self.on_ws_frames().await;
        }
        let mut evs = Vec::new();
        let r = self.framer.feed(&buf[..n], &mut evs);
        for ev in evs {
            self.push_event(ev);
        }
        if let Err(e) = r {
            panic!("the server sent bad XML: {e}");
        }
    }

    /// Handle the server's WebSocket frames: RFC 7395 messages become events, pings are
    /// answered, a close frame ends the connection.
    async fn on_ws_frames(&mut self) {
        use super::ws::ServerFrame;
        while let Some(f) = self.ws_frames.pop_front() {
            match f {
                ServerFrame::Text(t) => {
                    match tern_wire::websocket::parse_ws_message(t.as_bytes(), &tern_wire::Limits::default()) {
                        Ok(Some(ev)) => self.push_event(ev),
                        Ok(None) => panic!("the server sent a whitespace message"),
                        Err(e) => panic!("the server sent a bad RFC 7395 message ({e}): {t}"),
                    }
                }
                ServerFrame::Ping(p) => {
                    self.ws_pings += 1;
                    self.send_frame_bytes(&super::ws::frame(true, 0xA, &p, true)).await;
                }
                ServerFrame::Pong(_) => {}
                ServerFrame::Close(code) => {
                    self.ws_close = Some(code);
                    self.io = None;
                    self.events.push_back(Ev::Eof(format!("WebSocket closed by the server ({code:?})")));
                }
            }
        }
    }

    fn push_event(&mut self, ev: StreamEvent) {
        let ev = match ev {
            StreamEvent::Open(h) => Ev::Open(h),
            StreamEvent::Element(el) => {
                if el.is("enabled", ns::SM) {
                    self.sm_counting = true;
                    self.h_in = 0;
                } else if el.is("resumed", ns::SM) {
                    self.sm_counting = true;
                } else if self.sm_counting && el.ns() == ns::CLIENT {
                    self.h_in = self.h_in.wrapping_add(1);
                }
                Ev::El(el)
            }
            StreamEvent::Close => Ev::Close,
        };
        self.events.push_back(ev);
    }

    /// The next event within `within`, or None on timeout.
    pub async fn next_event(&mut self, within: Duration) -> Option<Ev> {
        if let Some(ev) = self.events.pop_front() {
            return Some(ev);
        }
        let deadline = tokio::time::Instant::now() + within;
        while self.events.is_empty() {
            if tokio::time::timeout_at(deadline, self.fill()).await.is_err() {
                return None;
            }
        }
        self.events.pop_front()
    }

    fn stash_summary(&self) -> String {
        if self.stash.is_empty() {
            return "nothing".into();
        }
        self.stash.iter().map(show).collect::<Vec<_>>().join("\n  ")
    }

    /// Wait (up to [`TIMEOUT`]) for an element matching `pred`; elements that don't match
    /// are kept for later `expect`s. Panics naming `what` and what arrived instead.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        self.expect_within(what, TIMEOUT, pred).await
    }

    pub async fn expect_within(&mut self, what: &str, within: Duration, pred: impl Fn(&Element) -> bool) -> Element {
        if let Some(i) = self.stash.iter().position(&pred) {
            return self.stash.remove(i);
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(Ev::El(el)) if pred(&el) => return el,
                Some(Ev::El(el)) => self.stash.push(el),
                Some(Ev::Open(h)) => self.header = Some(h),
                Some(ev @ (Ev::Close | Ev::Eof(_))) => {
                    panic!("stream ended ({ev:?}) while waiting for {what}; received meanwhile:\n  {}", self.stash_summary())
                }
                None => panic!("timed out after {within:?} waiting for {what}; received meanwhile:\n  {}", self.stash_summary()),
            }
        }
    }

    /// Take a received element matching `pred` if one already arrived (no waiting).
    pub fn take_stashed(&mut self, pred: impl Fn(&Element) -> bool) -> Option<Element> {
        let i = self.stash.iter().position(pred)?;
        Some(self.stash.remove(i))
    }

    /// Everything received and not consumed yet.
    pub fn stashed(&self) -> &[Element] {
        &self.stash
    }

    /// Wait for a `<stream:error/>` with `condition`, then for the stream to end.
    pub async fn expect_stream_error(&mut self, condition: &str) -> Element {
        let err = self.expect(&format!("<stream:error><{condition}/>"), |e| e.is("error", ns::STREAMS)).await;
        assert_eq!(
            stream_error_condition(&err).as_deref(),
            Some(condition),
            "wrong stream error condition: {}",
            show(&err)
        );
        self.expect_end().await;
        err
    }

    /// Wait for `</stream:stream>` or the end of the connection (elements are stashed).
    pub async fn expect_end(&mut self) {
        self.expect_end_within(TIMEOUT).await;
    }

    pub async fn expect_end_within(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(Ev::Close | Ev::Eof(_)) => return,
                Some(Ev::El(el)) => self.stash.push(el),
                Some(Ev::Open(h)) => self.header = Some(h),
                None => panic!("the stream did not end within {within:?}; received:\n  {}", self.stash_summary()),
            }
        }
    }

    /// Close our stream and wait for the server's close.
    pub async fn close(&mut self) {
        let close = if self.ws.is_some() { tern_wire::websocket::ws_close(None) } else { tern_wire::STREAM_CLOSE.to_owned() };
        if self.try_send_raw(close.as_bytes()).await {
            self.expect_end().await;
        }
        self.io = None;
    }

    /// Drop the TCP connection without closing the stream.
    pub fn drop_connection(&mut self) {
        self.io = None;
    }
}
