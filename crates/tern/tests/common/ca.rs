//! A test certificate authority (rcgen) for the RFC 6120 §5 / XEP-0368 certificate tests, and
//! TLS handshakes that report which certificate the server presented: direct TLS, and
//! STARTTLS with or without SNI.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, IpAddr, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tern_core::ns;
use tokio::net::TcpStream;

use super::client::{Client, Io, TIMEOUT};

/// A CA whose certificate is the only trust anchor in `<dir>/trust/ca.crt`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    trust: PathBuf,
}

/// One issued certificate: its files and its DER.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

/// What the client puts in the ClientHello's server_name extension.
#[derive(Debug, Clone, Copy)]
pub enum Sni<'a> {
    /// SNI `name`, and the certificate must be valid for it.
    Checked(&'a str),
    /// SNI `name`; any CA-issued certificate is accepted (for names without one).
    Unchecked(&'a str),
    /// No SNI; the certificate must be valid for `name`.
    None(&'a str),
    /// No SNI; any CA-issued certificate is accepted.
    NoneUnchecked,
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA cert");
        let trust = dir.join("trust");
        std::fs::create_dir_all(&trust).expect("trust dir");
        std::fs::write(trust.join("ca.crt"), issuer.pem()).expect("write CA cert");
        TestCa { issuer, trust }
    }

    /// The directory holding only the CA certificate (what [`Client::connect`] trusts).
    pub fn trust_dir(&self) -> &Path {
        &self.trust
    }

    /// Issue a certificate for `name` (a fresh key each time) into `<dir>/<file>.crt/.key`,
    /// replacing the files if they exist.
    pub fn issue(&self, dir: &Path, file: &str, name: &str) -> Leaf {
        let params = CertificateParams::new(vec![name.to_owned()]).expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let leaf = Leaf {
            cert: dir.join(format!("{file}.crt")),
            key: dir.join(format!("{file}.key")),
            der: cert.der().clone(),
        };
        std::fs::write(&leaf.cert, cert.pem()).expect("write leaf cert");
        std::fs::write(&leaf.key, key.serialize_pem()).expect("write leaf key");
        leaf
    }

    fn verifier(&self) -> Arc<WebPkiServerVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).expect("add CA");
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build().expect("verifier")
    }

    /// A client config for `sni`: the CA is the only trust anchor, names are checked unless
    /// `sni` says otherwise, and SNI is sent only when `sni` names one.
    pub fn client_config(&self, sni: Sni<'_>) -> Arc<ClientConfig> {
        let webpki = self.verifier();
        let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().expect("versions");
        let mut cfg = match sni {
            Sni::Checked(_) | Sni::None(_) => builder.with_webpki_verifier(webpki).with_no_client_auth(),
            Sni::Unchecked(_) | Sni::NoneUnchecked => {
                builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName(webpki))).with_no_client_auth()
            }
        };
        cfg.enable_sni = matches!(sni, Sni::Checked(_) | Sni::Unchecked(_));
        Arc::new(cfg)
    }

    /// TLS handshake on `io`; returns the TLS stream and the leaf certificate the server sent.
    async fn handshake(&self, io: Box<dyn Io>, sni: Sni<'_>) -> (Box<dyn Io>, CertificateDer<'static>) {
        let name = match sni {
            Sni::Checked(n) | Sni::Unchecked(n) | Sni::None(n) => ServerName::try_from(n.to_owned()).expect("server name"),
            Sni::NoneUnchecked => ServerName::IpAddress(IpAddr::from(std::net::IpAddr::from([127, 0, 0, 1]))),
        };
        let connector = tokio_rustls::TlsConnector::from(self.client_config(sni));
        let tls = tokio::time::timeout(TIMEOUT, connector.connect(name, io))
            .await
            .expect("TLS handshake timed out")
            .unwrap_or_else(|e| panic!("TLS handshake with {sni:?} failed: {e}"));
        let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).expect("a server certificate").clone();
        (Box::new(tls), leaf.into_owned())
    }

    /// Direct TLS (XEP-0368 c2s, or HTTPS) to `addr`: the certificate the server presents.
    pub async fn direct_tls_cert(&self, addr: SocketAddr, sni: Sni<'_>) -> CertificateDer<'static> {
        let tcp = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        self.handshake(Box::new(tcp), sni).await.1
    }

    /// RFC 6120 §5 STARTTLS on `c` (stream opened, features received) with `sni`, then the
    /// stream restart; returns the certificate the server presented.
    pub async fn starttls_cert(&self, c: &mut Client, sni: Sni<'_>) -> CertificateDer<'static> {
        c.send_str("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await;
        c.expect("<proceed/>", |e| e.is("proceed", ns::TLS)).await;
        let io = c.io.take().expect("connection open");
        let (tls, leaf) = self.handshake(io, sni).await;
        c.io = Some(tls);
        c.framer.reset();
        c.open_stream().await;
        leaf
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts a chain issued by the test CA whatever names it is for (the handshake signature
/// is still checked); the test compares the certificate itself afterwards.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
