//! XEP-0156 discovery over HTTP: `/.well-known/host-meta` (XRD, RFC 6415) and
//! `/.well-known/host-meta.json` (JRD) listing the BOSH endpoint (`urn:xmpp:alt-connections:
//! xbosh`) as clients outside see it.

use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::{AppState, Peer};

const XBOSH: &str = "urn:xmpp:alt-connections:xbosh";

/// The advertised BOSH URLs: configured ones, or the request's own origin plus the path.
fn bosh_urls(st: &AppState, peer: Peer, headers: &HeaderMap) -> Vec<String> {
    let http = &st.server.config.http;
    if !http.public_bosh_urls.is_empty() {
        return http.public_bosh_urls.clone();
    }
    let trusted = http.trusted_proxies.contains(&peer.0.ip());
    let forwarded = |name: &str| {
        trusted.then(|| headers.get(name).and_then(|v| v.to_str().ok())).flatten().map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
    };
    let host = forwarded("x-forwarded-host").or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned));
    let scheme = forwarded("x-forwarded-proto").unwrap_or_else(|| if st.https { "https".into() } else { "http".into() });
    // A Host header is client-controlled: accept only host[:port] characters.
    let valid = |h: &str| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    match host.filter(|h| valid(h)) {
        Some(h) if scheme == "http" || scheme == "https" => vec![format!("{scheme}://{h}{}", st.server.config.bosh.path)],
        _ => Vec::new(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('\'', "&apos;").replace('"', "&quot;")
}

pub(super) async fn xrd(State(st): State<AppState>, Extension(peer): Extension<Peer>, headers: HeaderMap) -> Response {
    let mut body = String::from("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n");
    for url in bosh_urls(&st, peer, &headers) {
        body.push_str(&format!("  <Link rel='{XBOSH}' href='{}'/>\n", escape(&url)));
    }
    body.push_str("</XRD>\n");
    ([(header::CONTENT_TYPE, "application/xrd+xml; charset=utf-8")], body).into_response()
}

pub(super) async fn jrd(State(st): State<AppState>, Extension(peer): Extension<Peer>, headers: HeaderMap) -> Response {
    let links: Vec<String> = bosh_urls(&st, peer, &headers)
        .iter()
        .map(|u| format!("{{\"rel\":\"{XBOSH}\",\"href\":\"{}\"}}", u.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    let body = format!("{{\"links\":[{}]}}", links.join(","));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
