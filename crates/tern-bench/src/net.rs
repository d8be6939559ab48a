//! Outgoing connections: TCP from a round-robin of local source addresses (more than one
//! ephemeral port range on loopback), optionally wrapped in TLS (rustls with the ring
//! provider; XEP-0368 direct TLS, or HTTPS for RFC 7395 `wss` and XEP-0124 BOSH). Reads go through a stack
//! buffer ([`read_into`]) so an idle connection holds no read buffer of its own.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::{ClientError, SetupError};
use crate::opts::Target;

/// Bytes read from the socket at a time.
pub const READ_CHUNK: usize = 4096;

/// A connected socket, plain or TLS.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Wait for bytes and hand at most [`READ_CHUNK`] of them to `sink`; `Ok(None)` at end of
/// stream. Cancel-safe: the bytes are consumed by `sink` within the poll that read them.
pub async fn read_into<R>(io: &mut Io, mut sink: impl FnMut(&[u8]) -> R) -> io::Result<Option<R>> {
    std::future::poll_fn(|cx| poll_read_into(io, cx, &mut sink)).await
}

/// One poll of [`read_into`], for a caller polling several connections at once.
pub fn poll_read_into<R>(
    io: &mut Io,
    cx: &mut Context<'_>,
    sink: impl FnOnce(&[u8]) -> R,
) -> Poll<io::Result<Option<R>>> {
    let mut buf = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
    let mut rb = ReadBuf::uninit(&mut buf);
    match Pin::new(io).poll_read(cx, &mut rb) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Ok(None)),
        Poll::Ready(Ok(())) => Poll::Ready(Ok(Some(sink(rb.filled())))),
    }
}

/// Write all of `bytes` and, over TLS, flush the record out.
pub async fn write_all(io: &mut Io, bytes: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    io.write_all(bytes).await?;
    if let Io::Tls(_) = io {
        io.flush().await?;
    }
    Ok(())
}

/// Opens connections to one target.
pub struct Dialer {
    addr: SocketAddr,
    /// The `Host` header of HTTP requests (RFC 9112 §3.2): the name given, or the address.
    http_host: String,
    /// The path of the WebSocket or BOSH endpoint.
    http_path: String,
    sources: Vec<IpAddr>,
    next_source: AtomicUsize,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Dialer {
    /// Resolve the target's host once and prepare TLS if its transport uses it.
    pub async fn new(target: &Target) -> Result<Self, SetupError> {
        let host = (target.host.as_str(), target.port());
        let resolve = |source| SetupError::Resolve {
            host: target.host.clone(),
            source,
        };
        let addr = tokio::net::lookup_host(host)
            .await
            .map_err(resolve)?
            .next()
            .ok_or_else(|| resolve(io::Error::new(io::ErrorKind::NotFound, "no address")))?;
        let tls = match target.transport.is_tls() {
            true => {
                let name = target
                    .tls_name
                    .clone()
                    .unwrap_or_else(|| target.domain.clone());
                let name = ServerName::try_from(name)
                    .map_err(|e| SetupError::Tls(format!("TLS server name: {e}")))?;
                Some((TlsConnector::from(tls_config(target)?), name))
            }
            false => None,
        };
        if target.sources_mismatch(addr) {
            return Err(SetupError::Invalid(
                "--source-ips must be of the server address's family".into(),
            ));
        }
        let http_host = match target.host.parse::<IpAddr>() {
            Ok(_) => addr.to_string(),
            Err(_) => format!("{}:{}", target.host, addr.port()),
        };
        Ok(Dialer {
            addr,
            http_host,
            http_path: target.path().to_owned(),
            sources: target.source_ips.clone(),
            next_source: AtomicUsize::new(0),
            tls,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `Host` header for HTTP requests to the server.
    pub fn http_host(&self) -> &str {
        &self.http_host
    }

    /// The HTTP path of the endpoint (WebSocket or BOSH).
    pub fn http_path(&self) -> &str {
        &self.http_path
    }

    /// A new connection: TCP (with TCP_NODELAY), then the TLS handshake if configured.
    pub async fn dial(&self) -> Result<Io, ClientError> {
        let socket = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(ClientError::Connect)?;
        if !self.sources.is_empty() {
            let i = self.next_source.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            socket
                .bind(SocketAddr::new(self.sources[i], 0))
                .map_err(ClientError::Connect)?;
        }
        let tcp = socket
            .connect(self.addr)
            .await
            .map_err(ClientError::Connect)?;
        tcp.set_nodelay(true).map_err(ClientError::Connect)?;
        match &self.tls {
            None => Ok(Io::Plain(tcp)),
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(ClientError::Tls)?;
                Ok(Io::Tls(Box::new(tls)))
            }
        }
    }
}

impl Target {
    fn sources_mismatch(&self, addr: SocketAddr) -> bool {
        self.source_ips
            .iter()
            .any(|ip| ip.is_ipv4() != addr.is_ipv4())
    }
}

/// TLS client configuration: roots from `--ca-file`, or no verification with
/// `--insecure`; no session resumption, so every login pays a full handshake as the
/// first connection of a real client does.
fn tls_config(target: &Target) -> Result<Arc<rustls::ClientConfig>, SetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Tls(e.to_string()))?;
    let mut config = match (&target.ca_file, target.insecure) {
        (_, true) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth(),
        (Some(path), false) => {
            let mut roots = rustls::RootCertStore::empty();
            let bad = |e: rustls_pki_types::pem::Error| {
                SetupError::Tls(format!("{}: {e}", path.display()))
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(bad)? {
                roots
                    .add(cert.map_err(bad)?)
                    .map_err(|e| SetupError::Tls(format!("{}: {e}", path.display())))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        (None, false) => {
            return Err(SetupError::Invalid(
                "TLS needs --ca-file PEM or --insecure".into(),
            ));
        }
    };
    config.resumption = rustls::client::Resumption::disabled();
    if target.transport == crate::opts::TransportKind::Tls {
        config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    }
    Ok(Arc::new(config))
}

/// Accepts any certificate (`--insecure`), still checking the handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
