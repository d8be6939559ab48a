//! CORS for browser clients (Fetch standard): configured origins (default any), `OPTIONS`
//! preflights answered with methods, the `Content-Type` header and a max-age, and the same
//! headers on every response, a held BOSH request's included.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Deferred;
use crate::server::Server;

/// Preflight: nothing but the headers (added by [`add_headers`]).
pub async fn preflight() -> impl IntoResponse {
    StatusCode::NO_CONTENT
}

/// Add the CORS headers to a response.
pub async fn add_headers(State(server): State<Arc<Server>>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = next.run(req).await;
    let allowed = &server.config.http.cors_origins;
    let allow = if allowed.is_empty() {
        Some(HeaderValue::from_static("*"))
    } else {
        origin.filter(|o| o.to_str().is_ok_and(|o| allowed.iter().any(|a| a == o)))
    };
    let Some(allow) = allow else { return resp };
    let vary = !allowed.is_empty();
    if let Some(later) = resp.extensions().get::<Deferred>() {
        let allow = allow.clone();
        later.map(move |mut r| {
            set(r.headers_mut(), allow, vary);
            r
        });
    }
    set(resp.headers_mut(), allow, vary);
    resp
}

fn set(h: &mut HeaderMap, allow: HeaderValue, vary: bool) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    if vary {
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}
