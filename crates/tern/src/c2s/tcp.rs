//! TCP client connections (RFC 6120 §4 over TCP): the stream framer over a socket, STARTTLS
//! upgrading in place (§5.4.3.3: parser reset exactly there), direct TLS (XEP-0368), and
//! the per-connection read throttle.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use minidom::Element;
use tern_core::StreamError;
use tern_wire::{Limits, StreamEvent, StreamFramer};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::readbuf::ReadBuf;
use super::throttle::ByteThrottle;
use super::transport::{write_all_timed, Transport, TransportError};
use crate::tls::CertStore;

enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

/// A c2s connection on 5222 (STARTTLS) or 5223 (direct TLS).
pub struct TcpTransport {
    conn: Conn,
    framer: StreamFramer,
    out: String,
    buf: ReadBuf,
    throttle: ByteThrottle,
    wait_until: Option<tokio::time::Instant>,
    peer: SocketAddr,
    certs: Arc<CertStore>,
}

impl TcpTransport {
    pub fn plain(stream: TcpStream, peer: SocketAddr, limits: Limits, throttle: ByteThrottle, certs: Arc<CertStore>) -> Self {
        Self::new(Conn::Plain(stream), peer, limits, throttle, certs)
    }

    pub fn tls(stream: TlsStream<TcpStream>, peer: SocketAddr, limits: Limits, throttle: ByteThrottle, certs: Arc<CertStore>) -> Self {
        Self::new(Conn::Tls(Box::new(stream)), peer, limits, throttle, certs)
    }

    fn new(conn: Conn, peer: SocketAddr, limits: Limits, throttle: ByteThrottle, certs: Arc<CertStore>) -> Self {
        Self {
            conn,
            framer: StreamFramer::new(limits),
            out: String::new(),
            buf: ReadBuf::default(),
            throttle,
            wait_until: None,
            peer,
            certs,
        }
    }
}

#[async_trait]
impl Transport for TcpTransport {
    async fn read(&mut self, events: &mut Vec<StreamEvent>) -> Result<bool, TransportError> {
        if let Some(t) = self.wait_until {
            tokio::time::sleep_until(t).await;
            self.wait_until = None;
        }
        let data = match &mut self.conn {
            Conn::Plain(s) => self.buf.fill(s).await?,
            Conn::Tls(s) => self.buf.fill(s.as_mut()).await?,
            Conn::Gone => return Ok(false),
        };
        let n = data.len();
        if n == 0 {
            self.framer.eof()?;
            return Ok(false);
        }
        let now = Instant::now();
        let wait = self.throttle.consume(n, now);
        if !wait.is_zero() {
            self.wait_until = Some(tokio::time::Instant::from_std(now + wait));
        }
        self.framer.feed(data, events)?;
        Ok(true)
    }

    fn queue_open(&mut self, id: &str, from: Option<&str>, features: Option<&Element>) {
        self.out.push_str(&tern_wire::stream_header(tern_wire::NS_CLIENT, from.unwrap_or(""), None, id, Some("en")));
        if let Some(f) = features {
            tern_wire::write_element(&mut self.out, f, Some(tern_wire::NS_CLIENT));
        }
    }

    fn queue(&mut self, el: &Element) {
        tern_wire::write_element(&mut self.out, el, Some(tern_wire::NS_CLIENT));
    }

    fn queue_close(&mut self, err: Option<&StreamError>) {
        if let Some(e) = err {
            tern_wire::write_element(&mut self.out, &e.to_element(), Some(tern_wire::NS_CLIENT));
        }
        self.out.push_str(tern_wire::STREAM_CLOSE);
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = match &mut self.conn {
            Conn::Plain(s) => write_all_timed(s, self.out.as_bytes()).await,
            Conn::Tls(s) => write_all_timed(s, self.out.as_bytes()).await,
            Conn::Gone => Err(io::Error::from(io::ErrorKind::NotConnected)),
        };
        // Written: the session may now wait for a long time, keep no buffer (see `release`).
        self.out = String::new();
        r
    }

    async fn start_tls(&mut self, domain: &str) -> Result<(), TransportError> {
        self.flush().await?;
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            return Err(TransportError::Unsupported);
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(self.certs.server_config_for(domain));
        let tls = acceptor.accept(tcp).await.map_err(|e| TransportError::Tls(e.to_string()))?;
        self.conn = Conn::Tls(Box::new(tls));
        self.reset();
        Ok(())
    }

    fn reset(&mut self) {
        self.framer.reset();
    }

    async fn shutdown(&mut self) {
        let _ = self.flush().await;
        match &mut self.conn {
            Conn::Plain(s) => {
                let _ = s.shutdown().await;
            }
            Conn::Tls(s) => {
                let _ = s.shutdown().await;
            }
            Conn::Gone => {}
        }
        self.conn = Conn::Gone;
    }

    fn describe(&self) -> String {
        let kind = match self.conn {
            Conn::Tls(_) => "tcp+tls",
            _ => "tcp",
        };
        format!("{kind} {}", self.peer)
    }
}
