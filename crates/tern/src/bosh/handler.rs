//! The HTTP side of the connection manager (XEP-0124 §7-§8, §17): parse the `<body/>`,
//! refuse bad requests with the terminal binding condition the XEP names (HTTP 200, never a
//! 4xx, §17.1), create sessions (one task each) or hand the request to the session's task.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_core::bosh::{BodyRequest, BoshConfig};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::transport::BoshTransport;
use super::{HttpReply, HttpRequest};
use crate::c2s::driver::{self, ConnInfo};
use crate::inbox;
use crate::server::Server;

/// Requests a session task may have queued from the HTTP side: more than a client may
/// have open at once (`requests`, XEP-0124 §11), so only an overactive client meets it.
const REQUEST_QUEUE: usize = 16;

/// The answer to a POSTed body: now, or once its session responds (a held request).
pub enum Posted {
    Now(HttpReply),
    /// Resolves when the session answers; dropping it tells the session the response was
    /// not delivered (the client went away), so its stanzas stay queued.
    Later(Pin<Box<dyn Future<Output = HttpReply> + Send>>),
}

impl From<HttpReply> for Posted {
    fn from(r: HttpReply) -> Self {
        Posted::Now(r)
    }
}

/// Answer one POSTed body.
pub fn post(server: &Arc<Server>, peer: IpAddr, https: bool, bytes: &[u8]) -> Posted {
    let limits = tern_wire::Limits { max_stanza_bytes: body_limit(server), ..tern_wire::Limits::default() };
    let el = match tern_wire::parse_document(bytes, limits) {
        Ok(el) => el,
        Err(e) => {
            warn!(peer = %peer, condition = e.condition(), error = %e, "BOSH: bad body");
            let cond = if e.condition() == "policy-violation" { "policy-violation" } else { "bad-request" };
            return HttpReply::terminal(cond).into();
        }
    };
    let req = match BodyRequest::from_element(el) {
        Ok(r) => r,
        Err(e) => {
            warn!(peer = %peer, error = %e, "BOSH: bad request");
            return HttpReply::terminal("bad-request").into();
        }
    };
    match req.sid.clone() {
        Some(sid) => match server.bosh.get(&sid) {
            Some((_, true)) if !https => {
                // §16: a secure session stays secure; refuse the connection, keep the session.
                warn!(peer = %peer, "BOSH: plain HTTP request for a session created over HTTPS");
                HttpReply::refused().into()
            }
            Some((tx, _)) => forward(server, peer, &tx, req),
            None => {
                info!(peer = %peer, "BOSH: unknown sid");
                HttpReply::terminal("item-not-found").into()
            }
        },
        None => create(server, peer, https, req),
    }
}

/// Largest body accepted: a stanza at the size limit plus the wrapper.
pub fn body_limit(server: &Server) -> usize {
    server.config.limits.max_stanza_bytes + 4096
}

/// A new session (§7.1): checks, then a session task with a BOSH transport.
fn create(server: &Arc<Server>, peer: IpAddr, https: bool, req: BodyRequest) -> Posted {
    let to = req.to.as_deref().map(str::to_ascii_lowercase);
    if !to.as_deref().is_some_and(|d| server.is_local(d)) {
        info!(peer = %peer, to = ?req.to, "BOSH: host-unknown");
        return HttpReply::terminal("host-unknown").into();
    }
    let cfg = &server.config.bosh;
    if !server.bosh.allow_creation(peer, cfg.creations_per_minute, Instant::now()) {
        warn!(peer = %peer, "BOSH: too many session creations");
        return HttpReply::terminal("policy-violation").into();
    }
    let sid = tern_core::xml::random_id(18);
    let (tx, rx) = inbox::channel(REQUEST_QUEUE);
    server.bosh.insert(&sid, tx.clone(), https);
    let bosh_cfg = BoshConfig {
        max_wait: cfg.max_wait_secs,
        max_hold: cfg.max_hold,
        inactivity: cfg.inactivity_secs,
        maxpause: cfg.maxpause_secs,
        polling: cfg.polling_secs,
        max_queue: cfg.max_queue,
    };
    let http = &server.config.http;
    let host = http.public_hostname.clone().filter(|_| http.pin_sessions);
    let redirect = http.shutdown_redirect_uri.clone();
    let transport = BoshTransport::new(sid, rx, bosh_cfg, server.bosh.clone(), host, peer, https, redirect);
    let info = ConnInfo { peer, encrypted: https, starttls: false, tls_required: false };
    tokio::spawn(driver::run(server.clone(), Box::new(transport), info));
    forward(server, peer, &tx, req)
}

/// Hand a request to its session; the answer comes later.
fn forward(server: &Server, peer: IpAddr, tx: &inbox::Sender<HttpRequest>, body: BodyRequest) -> Posted {
    let (reply, rx) = oneshot::channel();
    if tx.try_send(HttpRequest { body: Box::new(body), reply }).is_err() {
        if tx.is_closed() {
            return HttpReply::terminal("item-not-found").into();
        }
        // §11 overactivity: far more requests at once than the session allows.
        warn!(peer = %peer, "BOSH: too many requests queued for one session");
        return HttpReply::terminal("policy-violation").into();
    }
    // The session answers within `wait`; this only bounds a session task that died.
    let bound = Duration::from_secs(u64::from(server.config.bosh.max_wait_secs) + 30);
    Posted::Later(Box::pin(async move {
        match tokio::time::timeout(bound, rx).await {
            Ok(Ok(r)) => r,
            _ => HttpReply::terminal("item-not-found"),
        }
    }))
}

#[cfg(test)]
mod tests {
    use tern_store::MemoryStore;

    use super::*;
    use crate::config::Config;
    use crate::tls::CertStore;

    fn body(rid: u64) -> BodyRequest {
        let xml = format!("<body xmlns='{}' rid='{rid}' sid='s'/>", tern_core::bosh::NS_HTTPBIND);
        BodyRequest::from_element(xml.parse().expect("xml")).expect("body")
    }

    fn condition(p: Posted) -> Option<String> {
        match p {
            Posted::Now(r) => r.body.parse::<minidom::Element>().ok().and_then(|b| b.attr("condition").map(str::to_owned)),
            Posted::Later(_) => None,
        }
    }

    #[tokio::test]
    async fn a_full_request_queue_is_overactivity_and_a_gone_session_is_unknown() {
        let dir = tempfile::tempdir().expect("dir");
        let cfg = Config::development_default().with_data_dir(dir.path());
        let certs = Arc::new(CertStore::load(&cfg).expect("certs"));
        let server = Server::new(cfg, Arc::new(MemoryStore::new()), certs).0;
        let peer = IpAddr::from([127, 0, 0, 1]);
        // A session task that takes nothing from its queue, which holds one request.
        let (tx, rx) = inbox::channel(1);
        assert!(matches!(forward(&server, peer, &tx, body(1)), Posted::Later(_)), "queued");
        assert_eq!(condition(forward(&server, peer, &tx, body(2))).as_deref(), Some("policy-violation"));
        drop(rx);
        assert_eq!(condition(forward(&server, peer, &tx, body(3))).as_deref(), Some("item-not-found"));
    }
}
