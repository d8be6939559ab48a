//! The client side of RFC 6455 for the tests, written out by hand so a test can also send
//! what a correct client never would (unmasked, binary, fragmented, oversize frames): the
//! opening handshake, masked client frames, and decoding of the server's frames. With it
//! the test [`Client`] speaks RFC 7395 (`<open/>`, one element per message).

use std::net::SocketAddr;
use std::path::Path;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::client::{tls_config, tls_connect, Client, Io, TIMEOUT};

/// The masking key of every test frame (any key is valid).
const MASK: [u8; 4] = [0xa1, 0x5e, 0x07, 0xc3];

/// A client frame: `fin` and `opcode` as given, masked unless `masked` is false.
pub fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A masked final text frame.
pub fn text(payload: &str) -> Vec<u8> {
    frame(true, 1, payload.as_bytes(), true)
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    Text(String),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

/// Decoder of the server's (unmasked, unfragmented) frames; checks what RFC 6455 requires
/// of a server.
#[derive(Debug, Default)]
pub struct WsReader {
    buf: Vec<u8>,
}

impl WsReader {
    pub fn decode(&mut self, bytes: &[u8]) -> Vec<ServerFrame> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let b = &self.buf;
            if b.len() < 2 {
                break;
            }
            assert_eq!(b[0] & 0x70, 0, "server set reserved bits");
            assert_eq!(b[1] & 0x80, 0, "server frames must not be masked (RFC 6455 §5.1)");
            assert_ne!(b[0] & 0x80, 0, "tern sends every message in one frame");
            let (len, at) = match b[1] & 0x7F {
                126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
                127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize, 10),
                126 | 127 => break,
                n => (usize::from(n), 2),
            };
            if b.len() < at + len {
                break;
            }
            let payload = b[at..at + len].to_vec();
            out.push(match b[0] & 0x0F {
                0x1 => ServerFrame::Text(String::from_utf8(payload).expect("server text is UTF-8")),
                0x8 => ServerFrame::Close((payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))),
                0x9 => ServerFrame::Ping(payload),
                0xA => ServerFrame::Pong(payload),
                op => panic!("unexpected opcode {op:#x} from the server"),
            });
            self.buf.drain(..at + len);
        }
        out
    }
}

/// The HTTP response to an opening handshake.
#[derive(Debug)]
pub struct HandshakeReply {
    pub status: u16,
    /// Header lines, lowercased names.
    pub headers: Vec<(String, String)>,
    /// Bytes after the headers (the first frames, if any).
    pub rest: Vec<u8>,
}

impl HandshakeReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Send an opening handshake for `path` with `Host: host` plus `extra` headers (a
/// `Sec-WebSocket-Protocol: xmpp` is added unless `extra` names the header, empty to omit).
pub async fn handshake(io: &mut Box<dyn Io>, host: &str, path: &str, extra: &[(&str, &str)]) -> HandshakeReply {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol")) {
        req.push_str("Sec-WebSocket-Protocol: xmpp\r\n");
    }
    for (k, v) in extra.iter().filter(|(_, v)| !v.is_empty()) {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    raw_handshake(io, req.trim_end()).await
}

/// Open a TCP (and, with `tls_name`, TLS with that SNI trusting `certs_dir`) connection.
pub async fn dial(addr: SocketAddr, tls_name: Option<&str>, certs_dir: &Path) -> Box<dyn Io> {
    let tcp = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    tcp.set_nodelay(true).expect("nodelay");
    match tls_name {
        Some(name) => tls_connect(tls_config(certs_dir), name, Box::new(tcp)).await,
        None => Box::new(tcp),
    }
}

impl Client {
    /// An RFC 7395 client for `domain` on `addr` at `path` (over TLS when `tls`, with the
    /// domain as SNI); the handshake must succeed; the stream is not opened yet.
    pub async fn connect_ws(addr: SocketAddr, tls: bool, path: &str, domain: &str, certs_dir: &Path) -> Client {
        let mut io = dial(addr, tls.then_some(domain), certs_dir).await;
        let reply = handshake(&mut io, &addr.to_string(), path, &[]).await;
        assert_eq!(reply.status, 101, "WebSocket handshake refused: {reply:?}");
        assert_eq!(reply.header("sec-websocket-protocol"), Some("xmpp"), "subprotocol echoed: {reply:?}");
        assert_eq!(reply.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        Client::over_ws(io, domain, certs_dir, &reply.rest)
    }

    /// Wrap an upgraded connection; `first` holds bytes read past the handshake.
    pub fn over_ws(io: Box<dyn Io>, domain: &str, certs_dir: &Path, first: &[u8]) -> Client {
        let mut c = Client::new(io, domain, tls_config(certs_dir));
        let mut reader = WsReader::default();
        let frames = reader.decode(first);
        c.ws = Some(reader);
        c.ws_frames.extend(frames);
        c
    }

    /// Write bytes as they are (a hand-made frame), bypassing RFC 7395 framing.
    pub async fn send_frame_bytes(&mut self, bytes: &[u8]) -> bool {
        let Some(io) = self.io.as_mut() else { return false };
        io.write_all(bytes).await.is_ok() && io.flush().await.is_ok()
    }
}

impl Client {
    /// Wait for the server's WebSocket close frame; returns its status code.
    pub async fn expect_ws_closed(&mut self) -> Option<u16> {
        self.expect_end().await;
        while self.ws_close.is_none() {
            match self.next_event(TIMEOUT).await {
                Some(super::client::Ev::Eof(_)) | None => break,
                Some(_) => {}
            }
        }
        self.ws_close.unwrap_or_else(|| panic!("no WebSocket close frame from the server"))
    }
}

/// Send `request` (request line and header lines, without the final blank line) as the
/// opening handshake, unchanged, and read the reply: for handshakes [`handshake`] cannot
/// express (another method, a second version, no upgrade headers at all).
pub async fn raw_handshake(io: &mut Box<dyn Io>, request: &str) -> HandshakeReply {
    io.write_all(format!("{request}\r\n\r\n").as_bytes()).await.expect("send handshake");
    let mut got = Vec::new();
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(TIMEOUT, io.read(&mut buf)).await.expect("handshake reply in time").expect("read");
        assert!(n > 0, "connection closed during the handshake: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    HandshakeReply { status, headers, rest: got[end + 4..].to_vec() }
}

impl Client {
    /// The next frame from the server exactly as sent (text not parsed as RFC 7395, pings
    /// not answered), within `within`; None on timeout or once the connection has ended.
    /// For checks of a message's text, e.g. the attributes of the server's `<close/>`.
    /// Call it only when no parsed event is pending.
    pub async fn next_ws_frame(&mut self, within: std::time::Duration) -> Option<ServerFrame> {
        assert!(self.events.is_empty(), "parsed events are pending: {:?}", self.events);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(f) = self.ws_frames.pop_front() {
                if let ServerFrame::Close(code) = &f {
                    self.ws_close = Some(*code);
                }
                return Some(f);
            }
            let io = self.io.as_mut()?;
            let mut buf = vec![0u8; 65536];
            let n = match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0) | Err(_)) => {
                    self.io = None;
                    return None;
                }
                Ok(Ok(n)) => n,
            };
            let frames = self.ws.as_mut().expect("a WebSocket client").decode(&buf[..n]);
            self.ws_frames.extend(frames);
        }
    }

    /// Every frame the server sends until its close frame (included) or the end of the
    /// connection, as sent.
    pub async fn ws_frames_until_closed(&mut self) -> Vec<ServerFrame> {
        let mut frames = Vec::new();
        while let Some(f) = self.next_ws_frame(TIMEOUT).await {
            let last = matches!(f, ServerFrame::Close(_));
            frames.push(f);
            if last {
                break;
            }
        }
        frames
    }
}

impl super::TestServer {
    /// How many of the kept server log lines contain every one of `parts`.
    pub fn count_log(&self, parts: &[&str]) -> usize {
        let l = self.log.lock().unwrap_or_else(|e| e.into_inner());
        l.iter().filter(|line| parts.iter().all(|p| line.contains(p))).count()
    }

    /// Wait up to `within` until at least `n` server log lines contain every one of `parts`
    /// (to tell the line about one case from those about earlier ones).
    pub async fn wait_for_log_count(&self, parts: &[&str], n: usize, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        while self.count_log(parts) < n {
            if std::time::Instant::now() > deadline {
                panic!("fewer than {n} server log lines with {parts:?} within {within:?}\n{}", self.log_tail());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
