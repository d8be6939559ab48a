//! The HTTP listeners (plain on 5280, TLS with SNI on 5281; `ws`/`wss` on 5290/5291): our
//! own accept loop so TLS picks a certificate per vhost, our own HTTP/1.1 connections
//! ([`h1`], with request and idle timeouts: slow-loris bounds), and the axum routes: BOSH
//! (XEP-0124/0206) with a human-readable page on `GET`, XMPP over WebSocket (RFC 7395) at `[websocket].path` (and
//! at `/` on the WebSocket listeners), XEP-0156 host-meta, and CORS on every response with
//! `OPTIONS` preflights answered.

mod cors;
mod h1;
mod hostmeta;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::bosh::handler::Posted;
use crate::config::ListenerKind;
use crate::server::Server;

/// The TCP peer of a request.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

#[derive(Clone)]
struct AppState {
    server: Arc<Server>,
    https: bool,
    serves_bosh: bool,
}

/// The routes of one HTTP(S) or WebSocket listener.
pub fn router(server: Arc<Server>, kind: ListenerKind) -> Router {
    let https = kind.is_tls();
    let serves_bosh = matches!(kind, ListenerKind::Http | ListenerKind::Https);
    let state = AppState { server: server.clone(), https, serves_bosh };
    let ws_path = server.config.websocket.path.clone();
    let routes = match serves_bosh {
        false => Router::new().route("/", any(websocket)),
        true => Router::new().route(&server.config.bosh.path, post(bosh_post).get(bosh_page).options(cors::preflight)),
    };
    routes
        .route(&ws_path, any(websocket))
        .route("/.well-known/host-meta", get(hostmeta::xrd).options(cors::preflight))
        .route("/.well-known/host-meta.json", get(hostmeta::jrd).options(cors::preflight))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(server, cors::add_headers))
        .with_state(state)
}

/// Accept HTTP(S) or WebSocket connections until the task is dropped.
pub async fn serve(server: Arc<Server>, listener: TcpListener, kind: ListenerKind) {
    let tls = kind.is_tls();
    let app = router(server.clone(), kind);
    // One TLS configuration per listener; its resolver sees certificate reloads.
    let acceptor = tokio_rustls::TlsAcceptor::from(server.certs.server_config());
    crate::listen::accept_forever(listener, move |stream, peer| {
        let app = app.clone();
        let acceptor = acceptor.clone();
        let timeout = server.config.http.request_timeout();
        let limits = h1::Limits {
            request: timeout,
            // A BOSH client's second connection waits while the first holds a request.
            idle: timeout + Duration::from_secs(u64::from(server.config.bosh.max_wait_secs)),
            // Room for the BOSH endpoint to see an oversized body and name the condition.
            max_body: 2 * crate::bosh::handler::body_limit(&server),
        };
        async move {
            if tls {
                // Boxed: a TLS connection's state (handshake, then a larger stream) is
                // larger, and plain connections should not reserve room for it.
                Box::pin(serve_tls(acceptor, stream, app, peer, limits)).await;
            } else {
                h1::serve(stream, app, peer, limits).await;
            }
        }
    })
    .await;
}

/// An HTTPS connection: the TLS handshake within the request timeout, then HTTP/1.1.
async fn serve_tls(acceptor: tokio_rustls::TlsAcceptor, stream: tokio::net::TcpStream, app: Router, peer: SocketAddr, limits: h1::Limits) {
    match tokio::time::timeout(limits.request, acceptor.accept(stream)).await {
        Ok(Ok(s)) => h1::serve(s, app, peer, limits).await,
        _ => debug!(peer = %peer, "HTTPS handshake failed or timed out"),
    }
}

/// The client address: the TCP peer, or `X-Forwarded-For` when the peer is a trusted proxy
/// (the rightmost address that is not itself a trusted proxy).
pub fn client_ip(server: &Server, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = &server.config.http.trusted_proxies;
    if !trusted.contains(&peer.ip()) {
        return peer.ip();
    }
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let hops: Vec<IpAddr> = forwarded.flat_map(|v| v.split(',')).filter_map(|s| s.trim().parse().ok()).collect();
    hops.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer.ip())
}

async fn bosh_post(
    State(st): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ip = client_ip(&st.server, peer, &headers);
    let limit = crate::bosh::handler::body_limit(&st.server);
    let timeout = st.server.config.http.request_timeout();
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            warn!(peer = %ip, "BOSH: body over the size limit");
            return reply(crate::bosh::HttpReply::terminal("policy-violation"));
        }
        Err(_) => {
            warn!(peer = %ip, "BOSH: body not received in time");
            return (StatusCode::REQUEST_TIMEOUT, [(header::CONNECTION, "close")]).into_response();
        }
    };
    match crate::bosh::handler::post(&st.server, ip, st.https, &bytes) {
        Posted::Now(r) => reply(r),
        Posted::Later(answer) => {
            // The routes finish now with a placeholder; the connection waits for the
            // session's answer alone (see [`Deferred`]).
            let mut resp = StatusCode::OK.into_response();
            resp.extensions_mut().insert(Deferred::new(async move { reply(answer.await) }));
            resp
        }
    }
}

/// The real response to a request whose placeholder went through the routes: a held BOSH
/// request then keeps only this small future, not the routes' and middleware's (KBs per
/// idle session). The connection takes it out and awaits it; middleware that sets header
/// fields (CORS) sets them on this response too ([`Deferred::map`]).
#[derive(Clone)]
pub struct Deferred(Arc<std::sync::Mutex<Option<DeferredResponse>>>);

pub(crate) type DeferredResponse = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

impl Deferred {
    fn new(f: impl std::future::Future<Output = Response> + Send + 'static) -> Self {
        Deferred(Arc::new(std::sync::Mutex::new(Some(Box::pin(f)))))
    }

    /// The future, once.
    pub fn take(&self) -> Option<DeferredResponse> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Pass the response through `f` once it comes.
    pub fn map(&self, f: impl FnOnce(Response) -> Response + Send + 'static) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(later) = slot.take() {
            *slot = Some(Box::pin(async move { f(later.await) }));
        }
    }
}

fn reply(r: crate::bosh::HttpReply) -> Response {
    if r.refuse_connection {
        return (StatusCode::FORBIDDEN, [(header::CONNECTION, "close")]).into_response();
    }
    ([(header::CONTENT_TYPE, r.content_type)], r.body).into_response()
}

async fn websocket(State(st): State<AppState>, Extension(Peer(peer)): Extension<Peer>, req: Request<Body>) -> Response {
    crate::ws::endpoint(st.server, peer, st.https, req).await
}

async fn bosh_page(State(st): State<AppState>) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html><head><title>tern BOSH</title></head><body><h1>tern</h1>\
         <p>This is an XMPP over BOSH endpoint (XEP-0124, XEP-0206). Point an XMPP client at \
         <code>{}</code> and POST &lt;body/&gt; requests here.</p></body></html>",
        st.server.config.bosh.path
    ))
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found\n")
}
