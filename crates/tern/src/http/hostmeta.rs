//! XEP-0156 discovery over HTTP: `/.well-known/host-meta` (XRD, RFC 6415) and
//! `/.well-known/host-meta.json` (JRD) listing the BOSH (`urn:xmpp:alt-connections:xbosh`)
//! and WebSocket (`urn:xmpp:alt-connections:websocket`, RFC 7395 §4) endpoints as clients
//! outside see them.

use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::{AppState, Peer};

const XBOSH: &str = "urn:xmpp:alt-connections:xbosh";
const WEBSOCKET: &str = "urn:xmpp:alt-connections:websocket";

/// The advertised `(rel, url)` links: configured URLs, or the request's own origin plus
/// the endpoint's path (BOSH only where this listener serves it).
fn links(st: &AppState, peer: Peer, headers: &HeaderMap) -> Vec<(&'static str, String)> {
    let cfg = &st.server.config;
    let origin = request_origin(st, peer, headers);
    let mut links = Vec::new();
    if !cfg.http.public_bosh_urls.is_empty() {
        links.extend(cfg.http.public_bosh_urls.iter().map(|u| (XBOSH, u.clone())));
    } else if let Some((secure, host)) = origin.as_ref().filter(|_| st.serves_bosh) {
        let scheme = if *secure { "https" } else { "http" };
        links.push((XBOSH, format!("{scheme}://{host}{}", cfg.bosh.path)));
    }
    if !cfg.websocket.public_urls.is_empty() {
        links.extend(cfg.websocket.public_urls.iter().map(|u| (WEBSOCKET, u.clone())));
    } else if let Some((secure, host)) = &origin {
        let scheme = if *secure { "wss" } else { "ws" };
        links.push((WEBSOCKET, format!("{scheme}://{host}{}", cfg.websocket.path)));
    }
    links
}

/// Whether the client reached us over TLS, and the host it used (a trusted proxy's
/// `X-Forwarded-Proto`/`X-Forwarded-Host` first).
fn request_origin(st: &AppState, peer: Peer, headers: &HeaderMap) -> Option<(bool, String)> {
    let http = &st.server.config.http;
    let trusted = http.trusted_proxies.contains(&peer.0.ip());
    let forwarded = |name: &str| {
        trusted.then(|| headers.get(name).and_then(|v| v.to_str().ok())).flatten().map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
    };
    let host = forwarded("x-forwarded-host").or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned));
    let scheme = forwarded("x-forwarded-proto").unwrap_or_else(|| if st.https { "https".into() } else { "http".into() });
    // A Host header is client-controlled: accept only host[:port] characters.
    let valid = |h: &str| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    match host.filter(|h| valid(h)) {
        Some(h) if scheme == "http" || scheme == "https" => Some((scheme == "https", h)),
        _ => None,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('\'', "&apos;").replace('"', "&quot;")
}

pub(super) async fn xrd(State(st): State<AppState>, Extension(peer): Extension<Peer>, headers: HeaderMap) -> Response {
    let mut body = String::from("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n");
    for (rel, url) in links(&st, peer, &headers) {
        body.push_str(&format!("  <Link rel='{rel}' href='{}'/>\n", escape(&url)));
    }
    body.push_str("</XRD>\n");
    ([(header::CONTENT_TYPE, "application/xrd+xml; charset=utf-8")], body).into_response()
}

pub(super) async fn jrd(State(st): State<AppState>, Extension(peer): Extension<Peer>, headers: HeaderMap) -> Response {
    let links: Vec<String> = links(&st, peer, &headers)
        .iter()
        .map(|(rel, u)| format!("{{\"rel\":\"{rel}\",\"href\":\"{}\"}}", u.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    let body = format!("{{\"links\":[{}]}}", links.join(","));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
