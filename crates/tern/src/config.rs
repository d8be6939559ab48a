//! Server configuration: the `tern.toml` file (see `tern.example.toml`).
//!
//! Covers the virtual hosts served (RFC 6120 §2 domains, with their TLS
//! certificates for RFC 6120 §5 / RFC 7590 STARTTLS and XEP-0368 direct TLS),
//! the listeners, storage, per-connection limits (RFC 6120 §13.12 stanza size,
//! XEP-0198 resumption window, XEP-0199 pings, XEP-0160 offline storage) and
//! the in-band registration policy (XEP-0077).
//!
//! Parsing is strict (`deny_unknown_fields`): a misspelt key is an error that
//! names the key and line. Semantic checks live in [`Config::validate`], which
//! reports every problem at once instead of stopping at the first one.

mod validate;
mod web;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use web::{BoshSettings, HttpSettings, WebSocketSettings};

pub use validate::ConfigProblem;

/// Errors from [`Config::load`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema; `message`
    /// names the offending key and line.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A `tracing_subscriber::EnvFilter` directive, e.g. `"info,tern=debug"`.
    pub log_level: String,
    /// Directory for the SQLite database and generated dev certificates.
    pub data_dir: PathBuf,
    pub storage: StorageConfig,
    pub limits: Limits,
    /// Listening sockets; when absent from the file, [`default_listeners`].
    pub listeners: Vec<ListenerConfig>,
    /// Served XMPP domains.
    pub vhosts: Vec<VhostConfig>,
    /// Extra certificates (e.g. cluster node host names), selected by SNI.
    pub certificates: Vec<CertificateConfig>,
    /// HTTP listeners (CORS, proxies, timeouts).
    pub http: HttpSettings,
    /// The BOSH connection manager.
    pub bosh: BoshSettings,
    /// XMPP over WebSocket (RFC 7395).
    pub websocket: WebSocketSettings,
    /// The file this configuration was read from (set by the command line, not by the file):
    /// certificate reloads re-read it.
    #[serde(skip)]
    pub config_path: Option<PathBuf>,
}

/// `[storage]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite:<path>` or `postgres://…`; `None` means `sqlite:<data_dir>/tern.db`.
    pub url: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted stanza (RFC 6120 §13.12: at least 10000).
    pub max_stanza_bytes: usize,
    /// Unauthenticated connections idle this long are closed.
    pub auth_timeout_secs: u64,
    /// Per-connection read throttle rate (token bucket refill).
    pub bytes_per_second: u64,
    /// Per-connection token bucket size.
    pub burst_bytes: u64,
    /// SASL failures from one IP before responses start being delayed.
    pub max_auth_failures_before_delay: u32,
    /// XEP-0198 stream resumption window.
    pub sm_resume_timeout_secs: u64,
    /// XEP-0199 ping of idle clients after this long.
    pub ping_interval_secs: u64,
    /// Time to wait for the ping reply before closing.
    pub ping_timeout_secs: u64,
    /// Offline message store size per user.
    pub max_offline_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 262_144,
            auth_timeout_secs: 30,
            bytes_per_second: 65_536,
            burst_bytes: 262_144,
            max_auth_failures_before_delay: 1,
            sm_resume_timeout_secs: 300,
            ping_interval_secs: 60,
            ping_timeout_secs: 30,
            max_offline_messages: 1000,
        }
    }
}

impl Limits {
    pub fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout_secs)
    }
    pub fn sm_resume_timeout(&self) -> Duration {
        Duration::from_secs(self.sm_resume_timeout_secs)
    }
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_secs(self.ping_timeout_secs)
    }
}

/// Kind of a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerKind {
    /// Client-to-server with STARTTLS (RFC 6120 §5).
    C2s,
    /// Client-to-server with direct TLS (XEP-0368).
    C2sTls,
    /// HTTP: BOSH (XEP-0124/0206), WebSocket (RFC 7395) at `[websocket].path`.
    Http,
    /// HTTPS (certificate by SNI): BOSH (XEP-0124/0206), WebSocket at `[websocket].path`.
    Https,
    /// XMPP over WebSocket (RFC 7395), plain `ws`, at `/` and `[websocket].path`.
    Ws,
    /// XMPP over WebSocket with direct TLS (`wss`, certificate by SNI).
    Wss,
}

impl ListenerKind {
    /// Whether connections start with a TLS handshake.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::C2sTls | Self::Https | Self::Wss)
    }
}

/// `[[listeners]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub kind: ListenerKind,
    /// `ip:port`; checked by [`Config::validate`], parsed by [`ListenerConfig::socket_addr`].
    pub address: String,
    /// `c2s` only: STARTTLS must be negotiated before authentication (RFC 7590). Default true;
    /// false offers STARTTLS as optional (e.g. for side-by-side benchmarks on loopback).
    #[serde(default = "require_encryption_default")]
    pub require_encryption: bool,
}

fn require_encryption_default() -> bool {
    true
}

impl ListenerConfig {
    pub fn new(kind: ListenerKind, address: impl Into<String>) -> Self {
        ListenerConfig {
            kind,
            address: address.into(),
            require_encryption: true,
        }
    }

    pub fn socket_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.address.parse()
    }
}

/// In-band registration policy (XEP-0077).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    #[default]
    Closed,
    Open,
}

/// `[[vhosts]]`: one served XMPP domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VhostConfig {
    /// Lowercased by [`Config::load`].
    pub domain: String,
    /// PEM certificate chain (leaf first).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Generate (once) and reuse a self-signed certificate under
    /// `<data_dir>/certs/` when `cert`/`key` are not given.
    #[serde(default)]
    pub self_signed: bool,
    #[serde(default)]
    pub registration: Registration,
    /// Allow SASL PLAIN on connections without TLS (testing only).
    #[serde(default)]
    pub allow_plain_unencrypted: bool,
}

impl VhostConfig {
    /// A vhost with defaults (no certificate, closed registration).
    pub fn new(domain: impl Into<String>) -> Self {
        VhostConfig {
            domain: domain.into(),
            cert: None,
            key: None,
            self_signed: false,
            registration: Registration::Closed,
            allow_plain_unencrypted: false,
        }
    }
}

/// `[[certificates]]`: an extra certificate selected by SNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// Host name, or `*.example.com` for a wildcard certificate.
    pub domain: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Listeners used when the file has no `[[listeners]]`: STARTTLS on 127.0.0.1:5222,
/// direct TLS on 127.0.0.1:5223, HTTP on 127.0.0.1:5280, HTTPS on 127.0.0.1:5281, and
/// WebSocket on 127.0.0.1:5290 (`ws`) and 127.0.0.1:5291 (`wss`).
pub fn default_listeners() -> Vec<ListenerConfig> {
    vec![
        ListenerConfig::new(ListenerKind::C2s, "127.0.0.1:5222"),
        ListenerConfig::new(ListenerKind::C2sTls, "127.0.0.1:5223"),
        ListenerConfig::new(ListenerKind::Http, "127.0.0.1:5280"),
        ListenerConfig::new(ListenerKind::Https, "127.0.0.1:5281"),
        ListenerConfig::new(ListenerKind::Ws, "127.0.0.1:5290"),
        ListenerConfig::new(ListenerKind::Wss, "127.0.0.1:5291"),
    ]
}

impl Default for Config {
    fn default() -> Self {
        Config {
            log_level: "info".to_owned(),
            data_dir: PathBuf::from("./tern-data"),
            storage: StorageConfig::default(),
            limits: Limits::default(),
            listeners: default_listeners(),
            vhosts: Vec::new(),
            certificates: Vec::new(),
            http: HttpSettings::default(),
            bosh: BoshSettings::default(),
            websocket: WebSocketSettings::default(),
            config_path: None,
        }
    }
}

impl Config {
    /// Read and parse a TOML file. Domains are normalised (lowercased,
    /// trailing dot removed); nothing else is checked — call
    /// [`Config::validate`] for that.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml_str(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parse TOML text; the error message names the key and line.
    pub fn from_toml_str(text: &str) -> Result<Config, String> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.normalize();
        Ok(cfg)
    }

    /// The configuration used by `tern serve` without `--config`: vhost
    /// `localhost` with a self-signed certificate and open registration,
    /// listeners on 127.0.0.1:5222 (STARTTLS) and 127.0.0.1:5223 (direct TLS).
    pub fn development_default() -> Config {
        let mut localhost = VhostConfig::new("localhost");
        localhost.self_signed = true;
        localhost.registration = Registration::Open;
        Config {
            vhosts: vec![localhost],
            ..Config::default()
        }
    }

    /// Override `data_dir` (the `--data-dir` command line flag).
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.data_dir = dir.into();
        self
    }

    /// The storage URL, defaulting to `sqlite:<data_dir>/tern.db`.
    pub fn storage_url(&self) -> String {
        match &self.storage.url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.data_dir.join("tern.db").display()),
        }
    }

    /// Where self-signed certificates are generated: `<data_dir>/certs`.
    pub fn certs_dir(&self) -> PathBuf {
        self.data_dir.join("certs")
    }

    /// Look up a vhost by (case-insensitive) domain.
    pub fn vhost(&self, domain: &str) -> Option<&VhostConfig> {
        let domain = normalize_domain(domain);
        self.vhosts.iter().find(|v| v.domain == domain)
    }

    /// Check everything that can be checked without binding sockets:
    /// domains, certificate files, listener addresses, storage URL, limits
    /// and log level. An empty result means the configuration is usable.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        validate::validate(self)
    }

    fn normalize(&mut self) {
        for v in &mut self.vhosts {
            v.domain = normalize_domain(&v.domain);
        }
        for c in &mut self.certificates {
            c.domain = normalize_domain(&c.domain);
        }
    }
}

/// Lowercase a domain and strip one trailing dot (RFC 7622 §3.2).
pub fn normalize_domain(domain: &str) -> String {
    let d = domain.trim();
    d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase()
}
