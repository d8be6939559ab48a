//! BOSH (XEP-0124, XEP-0206): the HTTP handler finds a session by `sid` and hands it the
//! request; the session task's [`transport::BoshTransport`] runs the `BoshSession` state
//! machine and feeds the XMPP session core like any other transport.

pub mod body;
pub mod handler;
pub mod transport;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tern_core::bosh::BodyRequest;
use tokio::sync::oneshot;

use crate::inbox;

/// A request handed from the HTTP handler to the session task.
#[derive(Debug)]
pub struct HttpRequest {
    /// Boxed: the inbox's slots stay small.
    pub body: Box<BodyRequest>,
    pub reply: oneshot::Sender<HttpReply>,
}

/// The HTTP response body and its `Content-Type` (XEP-0124 §7.1 `content`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub body: String,
    pub content_type: String,
    /// Refuse the request and close its connection, leaving the session alone (§16: a
    /// plain request on a session created over HTTPS).
    pub refuse_connection: bool,
}

pub const DEFAULT_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

impl HttpReply {
    /// A terminal binding condition outside any session (XEP-0124 §17.2).
    pub fn terminal(condition: &str) -> Self {
        let body = format!("<body xmlns='{}' type='terminate' condition='{condition}'/>", tern_core::bosh::NS_HTTPBIND);
        Self { body, content_type: DEFAULT_CONTENT_TYPE.to_owned(), refuse_connection: false }
    }

    /// See [`HttpReply::refuse_connection`].
    pub fn refused() -> Self {
        Self { body: String::new(), content_type: DEFAULT_CONTENT_TYPE.to_owned(), refuse_connection: true }
    }
}

/// Live BOSH sessions of this node by `sid`, and per-IP session creation counts.
#[derive(Debug, Default)]
pub struct BoshSessions {
    /// sid → (the session task's inbox, created over HTTPS).
    map: Mutex<HashMap<String, (inbox::Sender<HttpRequest>, bool)>>,
    creations: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// Bound on tracked creating addresses.
const MAX_TRACKED_IPS: usize = 100_000;

impl BoshSessions {
    /// The session's inbox and whether it was created over HTTPS.
    pub fn get(&self, sid: &str) -> Option<(inbox::Sender<HttpRequest>, bool)> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(sid).cloned()
    }

    pub fn insert(&self, sid: &str, tx: inbox::Sender<HttpRequest>, secure: bool) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).insert(sid.to_owned(), (tx, secure));
    }

    pub fn remove(&self, sid: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(sid);
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Count a session creation from `ip`; false once it made `per_minute` this minute.
    pub fn allow_creation(&self, ip: IpAddr, per_minute: u32, now: Instant) -> bool {
        let mut m = self.creations.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_TRACKED_IPS {
            m.retain(|_, (_, t)| now.saturating_duration_since(*t) < Duration::from_secs(60));
        }
        let e = m.entry(ip).or_insert((0, now));
        if now.saturating_duration_since(e.1) >= Duration::from_secs(60) {
            *e = (0, now);
        }
        e.0 += 1;
        e.0 <= per_minute
    }
}
