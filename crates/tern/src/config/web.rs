//! `[http]`, `[bosh]` and `[websocket]` settings: the HTTP listeners that serve BOSH
//! (XEP-0124/0206), XMPP over WebSocket (RFC 7395) and XEP-0156 discovery. Defaults are chosen for real networks: every
//! held request ends before common proxies' 60 s read timeout, and inactivity/maxpause
//! outlast browsers' throttling of background tabs (timers fire at most once a minute).

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Origins allowed by CORS; empty means any (`*`).
    pub cors_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (for logs and per-IP limits).
    pub trusted_proxies: Vec<IpAddr>,
    /// Longest time to receive a request's headers and body (slow-loris bound).
    pub request_timeout_secs: u64,
    /// BOSH URLs as clients outside see them, for XEP-0156 discovery. When empty, the URL
    /// is built from the request's own `Host` (and a trusted proxy's `X-Forwarded-Host`
    /// and `X-Forwarded-Proto`), so an internal address is never advertised by accident.
    pub public_bosh_urls: Vec<String>,
    /// This node's public host name (e.g. `t1.example.com`): sent as `host` on BOSH
    /// session creation so a client can send every request of its session to this node.
    pub public_hostname: Option<String>,
    /// Send `host` on BOSH session creation (on by default when `public_hostname` is set).
    pub pin_sessions: bool,
    /// When this node shuts down, send BOSH clients here (`see-other-uri`, XEP-0124 §17.2)
    /// instead of `system-shutdown`, e.g. another node's BOSH URL.
    pub shutdown_redirect_uri: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            request_timeout_secs: 10,
            public_bosh_urls: Vec::new(),
            public_hostname: None,
            pin_sessions: true,
            shutdown_redirect_uri: None,
        }
    }
}

impl HttpSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// `[bosh]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoshSettings {
    /// URL path of the connection manager.
    pub path: String,
    /// Longest a request is held (below 60 s so proxies never cut it).
    pub max_wait_secs: u32,
    /// Most requests held at once.
    pub max_hold: u32,
    /// A session with no request for this long is dropped (XEP-0124 §7.5).
    pub inactivity_secs: u32,
    /// Longest `pause` granted (XEP-0124 §10).
    pub maxpause_secs: u32,
    /// Shortest interval between empty polls of polling sessions.
    pub polling_secs: u32,
    /// Stanzas queued for a client that is not polling before its session ends.
    pub max_queue: usize,
    /// New sessions one IP may create per minute.
    pub creations_per_minute: u32,
}

impl Default for BoshSettings {
    fn default() -> Self {
        Self {
            path: "/http-bind".to_owned(),
            max_wait_secs: 50,
            max_hold: 1,
            inactivity_secs: 90,
            maxpause_secs: 300,
            polling_secs: 2,
            max_queue: 1000,
            creations_per_minute: 120,
        }
    }
}

/// `[websocket]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketSettings {
    /// URL path of the endpoint on the HTTP(S) listeners; `ws`/`wss` listeners also serve `/`.
    pub path: String,
    /// A WebSocket ping goes out after this long without traffic from the client (below
    /// common proxies' 60 s idle timeout).
    pub ping_interval_secs: u64,
    /// A client that sends nothing for this long after a ping is gone: its connection is
    /// closed, its session kept for XEP-0198 resumption.
    pub ping_timeout_secs: u64,
    /// Allowed `Origin` values of browser handshakes; empty means any.
    pub allowed_origins: Vec<String>,
    /// WebSocket URLs as clients outside see them, for XEP-0156 discovery. When empty, the
    /// URL is built from the request's `Host` like `[http] public_bosh_urls`.
    pub public_urls: Vec<String>,
    /// When this node shuts down, send WebSocket clients here (`<close see-other-uri/>`,
    /// RFC 7395 §3.6.1) instead of a `system-shutdown` stream error; a `ws://` or `wss://`
    /// URL, e.g. another node's.
    pub shutdown_redirect_uri: Option<String>,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        Self {
            path: "/xmpp-websocket".to_owned(),
            ping_interval_secs: 30,
            ping_timeout_secs: 30,
            allowed_origins: Vec::new(),
            public_urls: Vec::new(),
            shutdown_redirect_uri: None,
        }
    }
}

impl WebSocketSettings {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_secs(self.ping_timeout_secs)
    }
}
