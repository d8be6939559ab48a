//! Tests for the RFC 6120 §5 / RFC 7590 / XEP-0368 certificate store, with
//! real TLS handshakes over in-memory streams.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::config::{CertificateConfig, Config, VhostConfig};

/// A test CA issuing leaf certificates into a temporary directory.
pub(crate) struct TestPki {
    pub dir: tempfile::TempDir,
    pub ca_der: CertificateDer<'static>,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// Paths and DER of one issued leaf.
pub(crate) struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl TestPki {
    pub fn new() -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestPki {
            dir: tempfile::tempdir().unwrap(),
            ca_der: issuer.der().clone(),
            issuer,
        }
    }

    /// Issue a certificate with SAN `name`, stored as `<file>.crt/.key`.
    pub fn leaf(&self, file: &str, name: &str) -> Leaf {
        let params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf {
            cert: self.dir.path().join(format!("{file}.crt")),
            key: self.dir.path().join(format!("{file}.key")),
            der: cert.der().clone(),
        };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }
}

fn vhost(domain: &str, leaf: &Leaf) -> VhostConfig {
    let mut v = VhostConfig::new(domain);
    v.cert = Some(leaf.cert.clone());
    v.key = Some(leaf.key.clone());
    v
}

struct Fixture {
    pki: TestPki,
    a: Leaf,
    b: Leaf,
    nodes: Leaf,
    cfg: Config,
}

/// Vhosts a.test (default) and b.test, plus a `*.nodes.test` certificate.
fn fixture() -> Fixture {
    let pki = TestPki::new();
    let a = pki.leaf("a", "a.test");
    let b = pki.leaf("b", "b.test");
    let nodes = pki.leaf("nodes", "*.nodes.test");
    let mut cfg = Config::default().with_data_dir(pki.dir.path());
    cfg.vhosts = vec![vhost("a.test", &a), vhost("B.Test", &b)];
    cfg.certificates = vec![CertificateConfig {
        domain: "*.nodes.test".into(),
        cert: nodes.cert.clone(),
        key: nodes.key.clone(),
    }];
    Fixture { pki, a, b, nodes, cfg }
}

fn client(ca: &CertificateDer<'static>, tls12_only: bool) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Handshake over a duplex pipe; returns the server's leaf and the version.
async fn handshake(
    server: Arc<ServerConfig>,
    client: ClientConfig,
    name: &str,
) -> Result<(CertificateDer<'static>, ProtocolVersion), std::io::Error> {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let accept = tokio::spawn(TlsAcceptor::from(server).accept(s));
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let tls = TlsConnector::from(Arc::new(client)).connect(name, c).await;
    let _server_side = accept.await.unwrap();
    let tls = tls?;
    let conn = tls.get_ref().1;
    let leaf = conn.peer_certificates().unwrap()[0].clone();
    Ok((leaf.into_owned(), conn.protocol_version().unwrap()))
}

#[tokio::test]
async fn sni_selects_certificate() {
    let f = fixture();
    let store = Arc::new(CertStore::load(&f.cfg).unwrap());
    let server = store.server_config();
    for (name, leaf) in [("a.test", &f.a), ("b.test", &f.b), ("t1.nodes.test", &f.nodes)] {
        let (der, version) = handshake(server.clone(), client(&f.pki.ca_der, false), name)
            .await
            .unwrap();
        assert_eq!(der, leaf.der, "certificate for {name}");
        assert_eq!(version, ProtocolVersion::TLSv1_3);
    }
}

#[tokio::test]
async fn unknown_sni_gets_default() {
    let f = fixture();
    let store = Arc::new(CertStore::load(&f.cfg).unwrap());
    let mut cfg = client(&f.pki.ca_der, false);
    cfg.dangerous()
        .set_certificate_verifier(Arc::new(AcceptAny(provider())));
    let (der, _) = handshake(store.server_config(), cfg.clone(), "unknown.test")
        .await
        .unwrap();
    assert_eq!(der, f.a.der);
    // STARTTLS to b.test with an unknown SNI: the stream's domain wins.
    let (der, _) = handshake(store.server_config_for("b.test"), cfg, "unknown.test")
        .await
        .unwrap();
    assert_eq!(der, f.b.der);
}

#[tokio::test]
async fn no_sni_gets_default_or_starttls_domain() {
    let f = fixture();
    let store = Arc::new(CertStore::load(&f.cfg).unwrap());
    let mut cfg = client(&f.pki.ca_der, false);
    cfg.enable_sni = false;
    let (der, _) = handshake(store.server_config(), cfg.clone(), "a.test")
        .await
        .unwrap();
    assert_eq!(der, f.a.der);
    let (der, _) = handshake(store.server_config_for("B.TEST"), cfg.clone(), "b.test")
        .await
        .unwrap();
    assert_eq!(der, f.b.der);
    // Without SNI the default certificate does not verify for b.test.
    assert!(handshake(store.server_config(), cfg, "b.test").await.is_err());
}

#[tokio::test]
async fn tls12_allowed_tls11_refused() {
    let f = fixture();
    let store = Arc::new(CertStore::load(&f.cfg).unwrap());
    let (_, version) = handshake(store.server_config(), client(&f.pki.ca_der, true), "b.test")
        .await
        .unwrap();
    assert_eq!(version, ProtocolVersion::TLSv1_2);

    // A raw TLS 1.1 ClientHello: legacy version 3.2, no supported_versions.
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]); // ECDHE-*-AES128-GCM
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    body.extend_from_slice(&[0x00, 0x12]); // extensions:
    body.extend_from_slice(&[0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04]); // sig algs
    body.extend_from_slice(&[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d]); // groups: x25519
    let mut hello = vec![0x01, 0x00, 0x00, body.len() as u8];
    hello.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, hello.len() as u8];
    record.extend_from_slice(&hello);

    let (mut c, s) = tokio::io::duplex(64 * 1024);
    let accept = tokio::spawn(TlsAcceptor::from(store.server_config()).accept(s));
    c.write_all(&record).await.unwrap();
    let err = accept.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("Tls12NotOffered"), "{err}");
    let mut alert = Vec::new();
    c.read_to_end(&mut alert).await.unwrap();
    assert_eq!(alert.first(), Some(&0x15), "expected an alert record: {alert:?}");
    assert_eq!(alert.get(6), Some(&70), "expected protocol_version: {alert:?}");
}

#[tokio::test]
async fn reload_keeps_old_certs_on_error_and_swaps_on_success() {
    let f = fixture();
    let store = Arc::new(CertStore::load(&f.cfg).unwrap());
    let server = store.server_config();

    let bad = f.pki.dir.path().join("bad.crt");
    std::fs::write(&bad, "not a certificate").unwrap();
    let mut broken = f.cfg.clone();
    broken.vhosts[1].cert = Some(bad.clone());
    let err = store.reload(&broken).unwrap_err();
    assert!(matches!(&err, TlsError::File { path, .. } if *path == bad), "{err}");
    assert!(err.to_string().contains("bad.crt"), "{err}");
    assert_eq!(store.get("b.test").unwrap().cert[0], f.b.der);

    let mut missing = f.cfg.clone();
    missing.vhosts[0].key = Some(f.pki.dir.path().join("nope.key"));
    let err = store.reload(&missing).unwrap_err();
    assert!(err.to_string().contains("nope.key: file not found"), "{err}");

    // Swap b.test to a new certificate: an existing server config sees it.
    let b2 = f.pki.leaf("b2", "b.test");
    let mut swapped = f.cfg.clone();
    swapped.vhosts[1] = vhost("b.test", &b2);
    store.reload(&swapped).unwrap();
    let (der, _) = handshake(server, client(&f.pki.ca_der, false), "b.test")
        .await
        .unwrap();
    assert_eq!(der, b2.der);
}

#[test]
fn load_errors_name_the_file() {
    let f = fixture();
    // Key of another certificate.
    let mut cfg = f.cfg.clone();
    cfg.vhosts[0].key = Some(f.b.key.clone());
    let err = CertStore::load(&cfg).unwrap_err();
    assert!(matches!(&err, TlsError::File { path, .. } if *path == f.b.key), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");
    // A certificate file given as key.
    let err = load_certified_key(&f.a.cert, &f.a.cert).unwrap_err();
    assert!(err.to_string().contains("no PEM private key"), "{err}");
    // No certificate and not self-signed.
    let mut cfg = f.cfg.clone();
    cfg.vhosts[1].cert = None;
    let err = CertStore::load(&cfg).unwrap_err();
    assert!(matches!(err, TlsError::MissingCertificate { ref domain } if domain == "b.test"));
    assert!(matches!(
        CertStore::load(&Config::default()),
        Err(TlsError::NoCertificates)
    ));
}

#[test]
fn get_matches_exact_then_wildcard() {
    let f = fixture();
    let store = CertStore::load(&f.cfg).unwrap();
    assert_eq!(store.get("A.TEST.").unwrap().cert[0], f.a.der);
    assert_eq!(store.get("t1.nodes.test").unwrap().cert[0], f.nodes.der);
    assert!(store.get("x.t1.nodes.test").is_none());
    assert!(store.get("nodes.test").is_none());
    assert!(store.get("c.test").is_none());
    assert_eq!(store.default_cert().unwrap().cert[0], f.a.der);
    assert_eq!(store.domains(), ["*.nodes.test", "a.test", "b.test"]);
}

#[test]
fn self_signed_generated_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::development_default().with_data_dir(dir.path().join("data"));
    let store = CertStore::load(&cfg).unwrap();
    let cert_path = cfg.certs_dir().join("localhost.crt");
    let key_path = cfg.certs_dir().join("localhost.key");
    let first = std::fs::read(&cert_path).unwrap();
    let der = CertificateDer::from_pem_slice(&first).unwrap();
    assert_eq!(store.get("localhost").unwrap().cert[0], der);
    assert_eq!(store.get("conference.localhost").unwrap().cert[0], der);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let again = CertStore::load(&cfg).unwrap();
    assert_eq!(std::fs::read(&cert_path).unwrap(), first);
    assert_eq!(again.get("localhost").unwrap().cert[0], der);

    // A missing key regenerates both files.
    std::fs::remove_file(&key_path).unwrap();
    CertStore::load(&cfg).unwrap();
    assert_ne!(std::fs::read(&cert_path).unwrap(), first);
}

/// Accepts any server certificate (to observe which one is sent).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        msg: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(msg, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        msg: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(msg, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
