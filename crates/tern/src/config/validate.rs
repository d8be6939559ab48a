//! Semantic checks of a parsed [`Config`]: RFC 6120 §2 / RFC 7622 domain
//! names, certificate files for RFC 6120 §5 TLS, listener addresses, storage
//! URL, limits (RFC 6120 §13.12 minimum stanza size) and log level.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use super::{Config, Limits, normalize_domain};
use crate::tls::{self, TlsError};

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Path of the offending key, e.g. `vhosts[1].domain` or `limits.burst_bytes`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            key: key.into(),
            message: message.into(),
        });
    }
}

pub(super) fn validate(cfg: &Config) -> Vec<ConfigProblem> {
    let mut p = Problems::default();
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&cfg.log_level) {
        p.push("log_level", format!("invalid filter directive {:?}: {e}", cfg.log_level));
    }
    if cfg.data_dir.as_os_str().is_empty() {
        p.push("data_dir", "must not be empty");
    }
    check_storage(cfg, &mut p);
    check_limits(&cfg.limits, &mut p);
    check_listeners(cfg, &mut p);
    check_vhosts(cfg, &mut p);
    check_certificates(cfg, &mut p);
    check_websocket(cfg, &mut p);
    p.0
}

/// `[websocket]`: a path of its own, sane keepalive times, and only `ws`/`wss` URLs where
/// RFC 7395 §3.6.1 and XEP-0156 expect WebSocket URLs.
fn check_websocket(cfg: &Config, p: &mut Problems) {
    let ws = &cfg.websocket;
    if !ws.path.starts_with('/') || ws.path == "/" {
        p.push("websocket.path", format!("{:?} must start with '/' and not be '/' itself", ws.path));
    } else if ws.path == cfg.bosh.path {
        p.push("websocket.path", "must differ from bosh.path");
    }
    for (key, value) in [("ping_interval_secs", ws.ping_interval_secs), ("ping_timeout_secs", ws.ping_timeout_secs)] {
        if !(1..=3600).contains(&value) {
            p.push(format!("websocket.{key}"), format!("{value} is out of range (allowed 1..=3600)"));
        }
    }
    let is_ws = |u: &str| u.starts_with("ws://") || u.starts_with("wss://");
    for (i, url) in ws.public_urls.iter().enumerate() {
        if !is_ws(url) {
            p.push(format!("websocket.public_urls[{i}]"), format!("{url:?} is not a ws:// or wss:// URL"));
        }
    }
    if let Some(url) = ws.shutdown_redirect_uri.as_deref().filter(|u| !is_ws(u)) {
        p.push("websocket.shutdown_redirect_uri", format!("{url:?} is not a ws:// or wss:// URL"));
    }
}

fn check_storage(cfg: &Config, p: &mut Problems) {
    let Some(url) = &cfg.storage.url else { return };
    let ok = if let Some(path) = url.strip_prefix("sqlite:") {
        !path.trim_start_matches('/').is_empty()
    } else if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        !rest.is_empty()
    } else {
        false
    };
    if !ok {
        p.push(
            "storage.url",
            format!("{url:?} is neither sqlite:<path> nor postgres://user@host/db"),
        );
    }
}

fn check_limits(l: &Limits, p: &mut Problems) {
    let mut range = |name: &str, value: u64, min: u64, max: u64| {
        if value < min || value > max {
            p.push(
                format!("limits.{name}"),
                format!("{value} is out of range (allowed {min}..={max})"),
            );
        }
    };
    const MIB: u64 = 1024 * 1024;
    const DAY: u64 = 86_400;
    let stanza = u64::try_from(l.max_stanza_bytes).unwrap_or(u64::MAX);
    // RFC 6120 §13.12: servers must accept stanzas of at least 10000 bytes.
    range("max_stanza_bytes", stanza, 10_000, 64 * MIB);
    range("auth_timeout_secs", l.auth_timeout_secs, 1, 3600);
    range("bytes_per_second", l.bytes_per_second, 1, 1024 * MIB);
    range("burst_bytes", l.burst_bytes, 1, 1024 * MIB);
    range(
        "max_auth_failures_before_delay",
        u64::from(l.max_auth_failures_before_delay),
        1,
        1000,
    );
    range("sm_resume_timeout_secs", l.sm_resume_timeout_secs, 1, DAY);
    range("ping_interval_secs", l.ping_interval_secs, 1, DAY);
    range("ping_timeout_secs", l.ping_timeout_secs, 1, 3600);
    let offline = u64::try_from(l.max_offline_messages).unwrap_or(u64::MAX);
    range("max_offline_messages", offline, 1, 1_000_000);
}

fn check_listeners(cfg: &Config, p: &mut Problems) {
    if cfg.listeners.is_empty() {
        p.push("listeners", "at least one listener is required");
    }
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    for (i, l) in cfg.listeners.iter().enumerate() {
        match l.socket_addr() {
            // Port 0 asks the OS for a fresh port each time: never a clash.
            Ok(addr) if addr.port() == 0 => {}
            Ok(addr) => {
                if let Some(first) = seen.insert(addr, i) {
                    p.push(
                        format!("listeners[{i}].address"),
                        format!("{addr} is already used by listeners[{first}]"),
                    );
                }
            }
            Err(e) => p.push(
                format!("listeners[{i}].address"),
                format!("{:?} is not an ip:port address: {e}", l.address),
            ),
        }
    }
}

fn check_vhosts(cfg: &Config, p: &mut Problems) {
    if cfg.vhosts.is_empty() {
        p.push("vhosts", "at least one [[vhosts]] entry is required");
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, v) in cfg.vhosts.iter().enumerate() {
        let key = format!("vhosts[{i}]");
        let domain = normalize_domain(&v.domain);
        if let Err(msg) = check_domain(&domain, false) {
            p.push(format!("{key}.domain"), format!("{:?}: {msg}", v.domain));
        } else if let Some(first) = seen.insert(domain.clone(), i) {
            p.push(
                format!("{key}.domain"),
                format!("duplicate vhost {domain} (also vhosts[{first}])"),
            );
        }
        match (&v.cert, &v.key) {
            (Some(cert), Some(key_path)) => check_pair(&key, cert, key_path, p),
            (None, None) if v.self_signed => {}
            (None, None) => p.push(
                format!("{key}.cert"),
                "cert and key are required unless self_signed = true",
            ),
            (Some(_), None) => p.push(format!("{key}.key"), "cert is set but key is missing"),
            (None, Some(_)) => p.push(format!("{key}.cert"), "key is set but cert is missing"),
        }
    }
}

fn check_certificates(cfg: &Config, p: &mut Problems) {
    let vhosts: Vec<String> = cfg.vhosts.iter().map(|v| normalize_domain(&v.domain)).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, c) in cfg.certificates.iter().enumerate() {
        let key = format!("certificates[{i}]");
        let domain = normalize_domain(&c.domain);
        if let Err(msg) = check_domain(&domain, true) {
            p.push(format!("{key}.domain"), format!("{:?}: {msg}", c.domain));
        } else if vhosts.contains(&domain) {
            p.push(
                format!("{key}.domain"),
                format!("{domain} is a vhost; set its cert/key in [[vhosts]] instead"),
            );
        } else if let Some(first) = seen.insert(domain.clone(), i) {
            p.push(
                format!("{key}.domain"),
                format!("duplicate certificate for {domain} (also certificates[{first}])"),
            );
        }
        check_pair(&key, &c.cert, &c.key, p);
    }
}

/// Both files must exist; then they must parse and match each other.
fn check_pair(prefix: &str, cert: &Path, key: &Path, p: &mut Problems) {
    let mut missing = false;
    for (name, path) in [("cert", cert), ("key", key)] {
        if !path.is_file() {
            missing = true;
            p.push(
                format!("{prefix}.{name}"),
                format!("file not found: {}", path.display()),
            );
        }
    }
    if missing {
        return;
    }
    if let Err(e) = tls::load_certified_key(cert, key) {
        let name = match &e {
            TlsError::File { path, .. } if path == cert => "cert",
            _ => "key",
        };
        p.push(format!("{prefix}.{name}"), e.to_string());
    }
}

/// RFC 1035/1123 host name (ASCII; IDNs in their `xn--` form), already
/// lowercased. `*.` is accepted as first label when `wildcard` is set.
fn check_domain(domain: &str, wildcard: bool) -> Result<(), &'static str> {
    if domain.is_empty() {
        return Err("empty domain");
    }
    if domain.len() > 253 {
        return Err("domain longer than 253 characters");
    }
    let rest = match domain.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        Some(_) => return Err("wildcards are only allowed in [[certificates]]"),
        None => domain,
    };
    for label in rest.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > 63 {
            return Err("label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("only letters, digits, '-' and '.' are allowed (use xn-- form for IDNs)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("labels must not start or end with '-'");
        }
    }
    Ok(())
}
