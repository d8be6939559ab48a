//! XMPP over WebSocket (RFC 7395): the opening handshake of RFC 6455 §4.2 with the `xmpp`
//! subprotocol required and echoed (RFC 7395 §3.1-3.2), an optional `Origin` allow-list
//! (RFC 6455 §10.2), then the upgraded connection runs the same session driver as TCP and
//! BOSH through [`WsTransport`].

mod handshake;
mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tracing::{debug, warn};

pub use handshake::{accept_key, check_handshake, Refusal};
pub use transport::WsTransport;

use crate::c2s::driver::{self, ConnInfo};
use crate::c2s::throttle::ByteThrottle;
use crate::server::Server;

/// The subprotocol of RFC 7395 §3.1.
pub const SUBPROTOCOL: &str = "xmpp";

/// Handle a request on a WebSocket endpoint: upgrade it, refuse it with the HTTP error
/// RFC 6455 §4.2.2 names, or show a page to a browser that just opened the URL.
pub async fn endpoint(server: Arc<Server>, peer: SocketAddr, secure: bool, mut req: Request<Body>) -> Response {
    let ip = crate::http::client_ip(&server, peer, req.headers());
    if req.headers().get(header::UPGRADE).is_none() && req.method() == axum::http::Method::GET {
        return Html(PAGE).into_response();
    }
    let accept = match check_handshake(req.method(), req.headers(), &server.config.websocket.allowed_origins) {
        Ok(accept) => accept,
        Err(refusal) => {
            warn!(peer = %ip, reason = refusal.reason, "WebSocket handshake refused");
            return refusal.into_response();
        }
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        warn!(peer = %ip, "WebSocket handshake on a connection that cannot be upgraded");
        return (StatusCode::BAD_REQUEST, "this connection cannot be upgraded\n").into_response();
    };
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let l = &server.config.limits;
                let throttle = ByteThrottle::new(l.bytes_per_second, l.burst_bytes, Instant::now());
                let transport = WsTransport::new(TokioIo::new(upgraded), SocketAddr::new(ip, peer.port()), secure, &server.config, throttle);
                let info = ConnInfo { peer: ip, encrypted: secure, starttls: false, tls_required: false };
                driver::run(server, Box::new(transport), info).await;
            }
            Err(e) => debug!(peer = %ip, error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut resp = (self.status, format!("{}\n", self.reason)).into_response();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            resp.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        resp
    }
}

const PAGE: &str = "<!DOCTYPE html><html><head><title>tern WebSocket</title></head><body><h1>tern</h1>\
    <p>This is an XMPP over WebSocket endpoint (RFC 7395). Point an XMPP client at this URL \
    (<code>ws://</code> or <code>wss://</code>) with the <code>xmpp</code> subprotocol.</p></body></html>";
