//! TLS for client connections: RFC 6120 §5 (STARTTLS), RFC 7590 (TLS in
//! XMPP: TLS 1.2+ only) and XEP-0368 (direct TLS).
//!
//! One [`CertStore`] holds every certificate (vhosts and extra
//! `[[certificates]]`) and is shared by all TLS ports. The certificate is
//! chosen per handshake by SNI; without a usable SNI the STARTTLS stream's
//! `to` domain is used, then the first vhost. [`CertStore::reload`] swaps the
//! whole set atomically: running connections keep their certificate, new
//! handshakes see the new ones.

mod self_signed;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Config, normalize_domain};

/// Certificate loading errors. File problems name the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {msg}", path = path.display())]
    File { path: PathBuf, msg: String },
    #[error("vhost {domain}: no cert/key configured and self_signed = false")]
    MissingCertificate { domain: String },
    #[error("{domain:?}: not a valid domain for a certificate")]
    InvalidDomain { domain: String },
    #[error("generating self-signed certificate for {domain}: {msg}")]
    Generate { domain: String, msg: String },
    #[error("no certificates configured (at least one vhost is required)")]
    NoCertificates,
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_err(path: &Path, msg: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        msg: msg.into(),
    }
}

fn pem_err(path: &Path, e: pem::Error) -> TlsError {
    match e {
        pem::Error::Io(io) if io.kind() == ErrorKind::NotFound => file_err(path, "file not found"),
        pem::Error::Io(io) => file_err(path, format!("cannot read: {io}")),
        other => file_err(path, format!("invalid PEM: {other}")),
    }
}

/// The ring crypto provider used for every TLS config (no aws-lc).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Load a PEM certificate chain (leaf first) and its PEM private key
/// (PKCS#8, PKCS#1 or SEC1), checking that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    load_with(cert, key, &provider())
}

fn load_with(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(cert, e))?;
    if chain.is_empty() {
        return Err(file_err(cert, "no PEM certificate found"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        pem::Error::NoItemsFound => file_err(key, "no PEM private key found"),
        other => pem_err(key, other),
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
            file_err(key, format!("private key does not match {}", cert.display()))
        }
        rustls::Error::InconsistentKeys(_) => {
            file_err(cert, format!("unusable certificate: {e}"))
        }
        other => file_err(key, format!("unusable private key: {other}")),
    })
}

/// One loaded certificate set; replaced as a whole on reload.
#[derive(Default)]
struct Certs {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl Certs {
    fn build(cfg: &Config, provider: &CryptoProvider) -> Result<Certs, TlsError> {
        let mut certs = Certs::default();
        // Self-signed certificates also cover their subdomains (MUC, upload
        // components); inserted last so explicit certificates take precedence.
        let mut wildcards = Vec::new();
        for vhost in &cfg.vhosts {
            let domain = normalize_domain(&vhost.domain);
            let (ck, generated) = match (&vhost.cert, &vhost.key) {
                (Some(cert), Some(key)) => (load_with(cert, key, provider)?, false),
                _ if vhost.self_signed => {
                    let (cert, key) = self_signed::ensure(&cfg.certs_dir(), &domain)?;
                    (load_with(&cert, &key, provider)?, true)
                }
                _ => return Err(TlsError::MissingCertificate { domain }),
            };
            let ck = Arc::new(ck);
            if certs.default.is_none() {
                certs.default = Some(ck.clone());
            }
            if generated {
                wildcards.push((format!("*.{domain}"), ck.clone()));
            }
            certs.by_name.insert(domain, ck);
        }
        for extra in &cfg.certificates {
            let ck = load_with(&extra.cert, &extra.key, provider)?;
            certs
                .by_name
                .insert(normalize_domain(&extra.domain), Arc::new(ck));
        }
        for (wild, ck) in wildcards {
            certs.by_name.entry(wild).or_insert(ck);
        }
        if certs.default.is_none() {
            return Err(TlsError::NoCertificates);
        }
        Ok(certs)
    }

    fn get(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = normalize_domain(name);
        if let Some(ck) = self.by_name.get(&name) {
            return Some(ck.clone());
        }
        // A wildcard covers exactly one leftmost label (RFC 6125 §6.4.3).
        let (_, parent) = name.split_once('.')?;
        self.by_name.get(&format!("*.{parent}")).cloned()
    }
}

/// All certificates of the server, shared by every TLS listener.
pub struct CertStore {
    certs: ArcSwap<Certs>,
    provider: Arc<CryptoProvider>,
    /// Template with TLS 1.2 + 1.3 only; cloned with a per-use resolver.
    template: Arc<ServerConfig>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let certs = self.certs.load();
        let mut names: Vec<&String> = certs.by_name.keys().collect();
        names.sort();
        f.debug_struct("CertStore").field("domains", &names).finish()
    }
}

impl CertStore {
    /// Load the certificates of every vhost (generating self-signed ones
    /// under `<data_dir>/certs/` if asked to) and of `[[certificates]]`.
    /// The first vhost's certificate is the default.
    pub fn load(cfg: &Config) -> Result<Self, TlsError> {
        let provider = provider();
        let certs = Certs::build(cfg, &provider)?;
        let mut template = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(NoCert));
        template.session_storage = ServerSessionMemoryCache::new(4096);
        Ok(CertStore {
            certs: ArcSwap::from_pointee(certs),
            provider,
            template: Arc::new(template),
        })
    }

    /// Reload from a (new) configuration. On error the old certificates stay
    /// in use and the error names the failing file.
    pub fn reload(&self, cfg: &Config) -> Result<(), TlsError> {
        let certs = Certs::build(cfg, &self.provider)?;
        self.certs.store(Arc::new(certs));
        Ok(())
    }

    /// The certificate for `name`: exact match, then `*.parent` wildcard.
    pub fn get(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.certs.load().get(name)
    }

    /// The default certificate (first vhost).
    pub fn default_cert(&self) -> Option<Arc<CertifiedKey>> {
        self.certs.load().default.clone()
    }

    /// Domains (and `*.` wildcards) with a certificate, sorted.
    pub fn domains(&self) -> Vec<String> {
        let mut names: Vec<String> = self.certs.load().by_name.keys().cloned().collect();
        names.sort();
        names
    }

    /// Server config for direct TLS (XEP-0368): certificate by SNI, the
    /// default one when SNI is missing or unknown. Build once per listener.
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        self.with_resolver(SniResolver::new(self.clone(), None))
    }

    /// Server config for STARTTLS on a stream addressed to `domain`: SNI
    /// first, then `domain`, then the default certificate.
    pub fn server_config_for(self: &Arc<Self>, domain: &str) -> Arc<ServerConfig> {
        self.with_resolver(SniResolver::new(self.clone(), Some(domain)))
    }

    fn with_resolver(&self, resolver: SniResolver) -> Arc<ServerConfig> {
        let mut cfg = ServerConfig::clone(&self.template);
        cfg.cert_resolver = Arc::new(resolver);
        Arc::new(cfg)
    }
}

/// Resolves the certificate from the ClientHello's SNI, falling back to a
/// known domain (STARTTLS `to`) and then to the store's default.
#[derive(Debug)]
pub struct SniResolver {
    store: Arc<CertStore>,
    fallback: Option<String>,
}

impl SniResolver {
    pub fn new(store: Arc<CertStore>, fallback: Option<&str>) -> Self {
        SniResolver {
            store,
            fallback: fallback.map(normalize_domain),
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = self.store.certs.load();
        hello
            .server_name()
            .and_then(|sni| certs.get(sni))
            .or_else(|| self.fallback.as_deref().and_then(|d| certs.get(d)))
            .or_else(|| certs.default.clone())
    }
}

/// Placeholder resolver of the template config; never used for handshakes.
#[derive(Debug)]
struct NoCert;

impl ResolvesServerCert for NoCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        None
    }
}
