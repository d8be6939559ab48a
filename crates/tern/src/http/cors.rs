//! CORS for browser clients (Fetch standard): configured origins (default any), `OPTIONS`
//! preflights answered with methods, the `Content-Type` header and a max-age, and the same
//! headers on every response.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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
    let h = resp.headers_mut();
    if let Some(a) = allow {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, a);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
        if !allowed.is_empty() {
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    resp
}
