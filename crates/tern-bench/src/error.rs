//! Why one client's connection, login, registration or exchange failed, and the short
//! kind under which the report counts it (RFC 6120 §4.9 stream errors and §6.5 SASL
//! failures by their condition; XEP-0124 §17 binding conditions; socket errors by their
//! cause).

use std::io;

use tern_wire::FramerError;
use tern_wire::websocket::WsError;

/// The failure of one client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(io::Error),
    #[error("TLS handshake: {0}")]
    Tls(io::Error),
    #[error("WebSocket handshake: {0}")]
    Handshake(String),
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("XML: {0}")]
    Xml(#[from] FramerError),
    #[error("WebSocket: {0}")]
    Ws(#[from] WsError),
    #[error("http: {0}")]
    Http(String),
    #[error("bosh: {0}")]
    Bosh(String),
    #[error("connection closed by the server")]
    Eof,
    #[error("connection closed by the server during {0}")]
    EofDuring(&'static str),
    #[error("stream closed by the server during {0}")]
    StreamClosed(&'static str),
    #[error("stream error: {0}")]
    StreamError(String),
    #[error("SASL failure: {0}")]
    SaslFailure(String),
    #[error("SASL: {0}")]
    Sasl(#[from] tern_auth::AuthError),
    #[error("{0} not offered by the server")]
    NotOffered(&'static str),
    #[error("unexpected <{got}/> while waiting for {waiting}")]
    Unexpected { got: String, waiting: &'static str },
    #[error("{what} failed: {condition}")]
    IqError {
        what: &'static str,
        condition: String,
    },
    #[error("timed out during {0}")]
    Timeout(&'static str),
}

impl ClientError {
    /// A stable key for counting errors: no addresses, ids or other per-connection detail.
    pub fn kind(&self) -> String {
        match self {
            Self::Connect(e) => format!("connect: {}", io_kind(e)),
            Self::Tls(e) => format!("tls: {}", io_kind(e)),
            Self::Io(e) => format!("io: {}", io_kind(e)),
            Self::Handshake(m) => format!("ws handshake: {m}"),
            Self::Xml(e) => format!("xml: {}", e.condition()),
            Self::Ws(e) => format!("ws: close code {}", e.close_code()),
            other => other.to_string(),
        }
    }

    /// Whether this is the process running out of file descriptors.
    pub fn is_fd_limit(&self) -> bool {
        matches!(self, Self::Connect(e) | Self::Io(e) if is_fd_limit(e))
    }
}

fn is_fd_limit(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// The cause of a socket error, with a hint where the fix is on our side.
fn io_kind(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(24) => "too many open files (EMFILE: raise `ulimit -n`)".to_owned(),
        Some(23) => "too many open files in the system (ENFILE)".to_owned(),
        Some(99) => "no free local port (EADDRNOTAVAIL: add --source-ips)".to_owned(),
        _ => e.kind().to_string(),
    }
}

/// A failure to set a run up (bad options, unreachable /proc, unresolvable host).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("resolving {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("{0}")]
    Tls(String),
    #[error("reading {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_name_the_cause_without_detail() {
        let emfile = ClientError::Connect(io::Error::from_raw_os_error(24));
        assert!(emfile.is_fd_limit());
        assert!(emfile.kind().contains("ulimit -n"), "{}", emfile.kind());
        let refused = ClientError::Connect(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(!refused.is_fd_limit());
        assert_eq!(refused.kind(), "connect: connection refused");
        let sasl = ClientError::SaslFailure("not-authorized".into());
        assert_eq!(sasl.kind(), "SASL failure: not-authorized");
        let t = ClientError::Timeout("bind");
        assert_eq!(t.kind(), "timed out during bind");
    }
}
