//! The server's checks of a WebSocket opening handshake (RFC 6455 §4.2.1-4.2.2) for XMPP
//! (RFC 7395 §3.1: the `xmpp` subprotocol must be offered; a client offering none gets no
//! XMPP stream), and `Sec-WebSocket-Accept` (§4.2.2 item 5.4). No I/O.

use axum::http::{header, HeaderMap, Method, StatusCode};
use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use super::SUBPROTOCOL;

/// The GUID of RFC 6455 §1.3.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a handshake is refused, and the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: &'static str,
}

fn refuse(status: StatusCode, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

/// Whether a comma-separated header list (possibly over several header lines) holds
/// `token`, compared case-insensitively or exactly.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str, exact: bool) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| if exact { t == token } else { t.eq_ignore_ascii_case(token) })
}

/// Check an upgrade request; on success return the `Sec-WebSocket-Accept` value.
/// `allowed_origins` empty means any origin; clients sending no `Origin` (not browsers)
/// are always allowed.
pub fn check_handshake(method: &Method, headers: &HeaderMap, allowed_origins: &[String]) -> Result<String, Refusal> {
    if method != Method::GET {
        return Err(refuse(StatusCode::METHOD_NOT_ALLOWED, "a WebSocket handshake is a GET request"));
    }
    if !has_token(headers, header::UPGRADE, "websocket", false) || !has_token(headers, header::CONNECTION, "upgrade", false) {
        return Err(refuse(StatusCode::BAD_REQUEST, "not a WebSocket upgrade (Upgrade: websocket, Connection: Upgrade)"));
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()).map(str::trim) != Some("13") {
        return Err(refuse(StatusCode::UPGRADE_REQUIRED, "unsupported Sec-WebSocket-Version (13 is required)"));
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or_default();
    let key_ok = base64::engine::general_purpose::STANDARD.decode(key).is_ok_and(|k| k.len() == 16);
    if !key_ok {
        return Err(refuse(StatusCode::BAD_REQUEST, "missing or malformed Sec-WebSocket-Key"));
    }
    if !has_token(headers, header::SEC_WEBSOCKET_PROTOCOL, SUBPROTOCOL, true) {
        return Err(refuse(StatusCode::BAD_REQUEST, "the xmpp subprotocol is required (RFC 7395 §3.1)"));
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !allowed_origins.is_empty()
        && !origin.to_str().is_ok_and(|o| allowed_origins.iter().any(|a| a == o))
    {
        return Err(refuse(StatusCode::FORBIDDEN, "Origin not allowed"));
    }
    Ok(accept_key(key))
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(header::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
        }
        h
    }

    const GOOD: [(&str, &str); 5] = [
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-protocol", "chat, xmpp"),
    ];

    #[test]
    fn rfc6455_sample_key() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(check_handshake(&Method::GET, &headers(&GOOD), &[]), Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned()));
    }

    #[test]
    fn refusals() {
        let without = |name: &str| headers(&GOOD.iter().copied().filter(|(k, _)| *k != name).collect::<Vec<_>>());
        let with = |name: &str, value: &str| {
            let mut h = without(name);
            h.insert(header::HeaderName::from_bytes(name.as_bytes()).expect("name"), value.parse().expect("value"));
            h
        };
        let status = |m: &Method, h: &HeaderMap| check_handshake(m, h, &[]).map_err(|r| r.status);
        assert_eq!(status(&Method::POST, &headers(&GOOD)), Err(StatusCode::METHOD_NOT_ALLOWED));
        assert_eq!(status(&Method::GET, &without("sec-websocket-protocol")), Err(StatusCode::BAD_REQUEST));
        assert_eq!(status(&Method::GET, &with("sec-websocket-protocol", "XMPP")), Err(StatusCode::BAD_REQUEST), "tokens are case-sensitive");
        assert_eq!(status(&Method::GET, &with("sec-websocket-version", "8")), Err(StatusCode::UPGRADE_REQUIRED));
        assert_eq!(status(&Method::GET, &with("sec-websocket-key", "c2hvcnQ=")), Err(StatusCode::BAD_REQUEST));
        assert_eq!(status(&Method::GET, &without("upgrade")), Err(StatusCode::BAD_REQUEST));
        assert_eq!(status(&Method::GET, &with("connection", "keep-alive")), Err(StatusCode::BAD_REQUEST));
        let allowed = ["https://chat.example.com".to_owned()];
        let from = |o: &str| check_handshake(&Method::GET, &with("origin", o), &allowed).map_err(|r| r.status);
        assert!(from("https://chat.example.com").is_ok());
        assert_eq!(from("https://evil.example"), Err(StatusCode::FORBIDDEN));
        assert!(check_handshake(&Method::GET, &headers(&GOOD), &allowed).is_ok(), "no Origin: not a browser");
    }
}
