//! SASL authentication for tern, an XMPP server (RFC 6120 §6).
//!
//! This crate does no I/O. It implements the server side of the SASL
//! mechanisms SCRAM-SHA-256 (RFC 7677), SCRAM-SHA-1 (RFC 5802) and PLAIN
//! (RFC 4616), with SASLprep (RFC 4013) for usernames and passwords, plus a
//! small SCRAM client ([`client::ScramClient`]) for tests and load generation.
//!
//! Channel binding (the `-PLUS` variants) is not supported yet: a client
//! requesting it (gs2 flag `p`) is rejected.
//!
//! The caller drives a [`SaslServer`] with the (base64-decoded) data of the
//! client's `<auth/>` and `<response/>` elements and answers
//! [`SaslStep::NeedCredentials`] by looking up the account's
//! [`StoredCredentials`].

pub mod client;
mod credentials;
mod plain;
mod saslprep;
mod scram;

pub use credentials::{
    DEFAULT_ITERATIONS, ScramCredentials, StoredCredentials, derive_credentials,
};
pub use saslprep::saslprep;

/// Largest client message (after base64 decoding) that is accepted, in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// A SASL mechanism offered by the server (RFC 6120 §6.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// SCRAM-SHA-256 (RFC 7677)
    ScramSha256,
    /// SCRAM-SHA-1 (RFC 5802)
    ScramSha1,
    /// PLAIN (RFC 4616); only to be offered over TLS
    Plain,
}

impl Mechanism {
    /// All mechanisms, most preferred first.
    pub const ALL: [Mechanism; 3] = [Self::ScramSha256, Self::ScramSha1, Self::Plain];

    /// The IANA-registered mechanism name, as sent in `<mechanism/>`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::Plain => "PLAIN",
        }
    }

    /// Parses a mechanism name (exact, case-sensitive, as SASL names are).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The SCRAM hash of this mechanism, `None` for PLAIN.
    pub fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Self::ScramSha256 => Some(ScramHash::Sha256),
            Self::ScramSha1 => Some(ScramHash::Sha1),
            Self::Plain => None,
        }
    }
}

/// The hash function of a SCRAM mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramHash {
    /// SHA-1 (SCRAM-SHA-1)
    Sha1,
    /// SHA-256 (SCRAM-SHA-256)
    Sha256,
}

impl ScramHash {
    /// Output length of the hash in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }
}

/// Why an exchange failed. [`AuthError::condition`] gives the RFC 6120 §6.5
/// `<failure/>` child element to send.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AuthError {
    /// The data violates the syntax of the mechanism, or arrived out of order.
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    /// Bad password or unknown user (deliberately indistinguishable).
    #[error("not authorized")]
    NotAuthorized,
    /// An authzid was given that is not the user's own bare JID.
    #[error("invalid authzid")]
    InvalidAuthzid,
    /// The requested mechanism is not offered (for callers).
    #[error("invalid mechanism")]
    InvalidMechanism,
    /// The mechanism requires TLS (for callers, e.g. PLAIN before STARTTLS).
    #[error("encryption required")]
    EncryptionRequired,
    /// The outer base64 of the client data is invalid (for callers).
    #[error("incorrect encoding")]
    IncorrectEncoding,
    /// The client sent `<abort/>` (for callers).
    #[error("aborted")]
    Aborted,
    /// A string was rejected by SASLprep (RFC 4013).
    #[error("SASLprep failed: {0}")]
    Saslprep(String),
    /// Stored credentials or derivation parameters are unusable (e.g.
    /// iterations below [`DEFAULT_ITERATIONS`], empty salt, wrong key length).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(String),
}

impl AuthError {
    /// The RFC 6120 §6.5 defined condition (element name inside `<failure/>`).
    pub fn condition(&self) -> &'static str {
        match self {
            Self::MalformedRequest(_) | Self::Saslprep(_) => "malformed-request",
            Self::NotAuthorized => "not-authorized",
            Self::InvalidAuthzid => "invalid-authzid",
            Self::InvalidMechanism => "invalid-mechanism",
            Self::EncryptionRequired => "encryption-required",
            Self::IncorrectEncoding => "incorrect-encoding",
            Self::Aborted => "aborted",
            Self::InvalidCredentials(_) => "temporary-auth-failure",
        }
    }

    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        Self::MalformedRequest(msg.into())
    }
}

/// What the caller must do next in an exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// The server needs the stored credentials of this (SASLprep'd) username
    /// to continue; call [`SaslServer::credentials`] next.
    NeedCredentials { username: String },
    /// Send this challenge (raw bytes; the caller base64-encodes) and feed
    /// the client's response to [`SaslServer::step`].
    Challenge(Vec<u8>),
    /// Authenticated. `additional_data` goes into `<success/>`
    /// (server-final-message for SCRAM; empty for PLAIN).
    Success {
        username: String,
        additional_data: Vec<u8>,
    },
}

/// Server side of one SASL exchange. Sans-IO: the caller looks up
/// credentials itself. After an error or success, every further call fails
/// with [`AuthError::MalformedRequest`].
#[derive(Debug)]
pub struct SaslServer {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Scram(scram::ScramServer),
    Plain(plain::PlainServer),
}

impl SaslServer {
    /// A new exchange for `mech` on the virtual host `vhost` (used to check
    /// an authzid against the user's bare JID).
    pub fn new(mech: Mechanism, vhost: &str) -> Self {
        let inner = match mech.scram_hash() {
            Some(hash) => Inner::Scram(scram::ScramServer::new(hash, vhost, None)),
            None => Inner::Plain(plain::PlainServer::new(vhost)),
        };
        Self { inner }
    }

    /// Like [`SaslServer::new`], but with a fixed SCRAM server nonce part.
    /// Only for reproducing test vectors and fuzzing: a fixed nonce defeats
    /// replay protection.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn with_server_nonce(mech: Mechanism, vhost: &str, server_nonce: &str) -> Self {
        let inner = match mech.scram_hash() {
            Some(hash) => Inner::Scram(scram::ScramServer::new(
                hash,
                vhost,
                Some(server_nonce.to_owned()),
            )),
            None => Inner::Plain(plain::PlainServer::new(vhost)),
        };
        Self { inner }
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        match &self.inner {
            Inner::Scram(s) => match s.hash() {
                ScramHash::Sha1 => Mechanism::ScramSha1,
                ScramHash::Sha256 => Mechanism::ScramSha256,
            },
            Inner::Plain(_) => Mechanism::Plain,
        }
    }

    /// Feeds the initial response (already base64-decoded; empty if the
    /// client sent `=` or nothing, in which case an empty challenge is
    /// returned and the client's message is expected through `step()`).
    pub fn start(&mut self, initial: &[u8]) -> Result<SaslStep, AuthError> {
        match &mut self.inner {
            Inner::Scram(s) => s.start(initial),
            Inner::Plain(p) => p.start(initial),
        }
    }

    /// Answers [`SaslStep::NeedCredentials`]. `None` means the user is
    /// unknown: the exchange continues with fake credentials so that the
    /// client cannot tell, and fails with [`AuthError::NotAuthorized`].
    pub fn credentials(
        &mut self,
        creds: Option<&StoredCredentials>,
    ) -> Result<SaslStep, AuthError> {
        match &mut self.inner {
            Inner::Scram(s) => s.credentials(creds),
            Inner::Plain(p) => p.credentials(creds),
        }
    }

    /// Feeds a client response to a challenge.
    pub fn step(&mut self, response: &[u8]) -> Result<SaslStep, AuthError> {
        match &mut self.inner {
            Inner::Scram(s) => s.step(response),
            Inner::Plain(p) => p.step(response),
        }
    }
}

/// Checks a client-supplied authzid: it must be empty or the bare JID
/// `username@vhost` (domain compared ASCII case-insensitively).
pub(crate) fn check_authzid(authzid: &str, username: &str, vhost: &str) -> Result<(), AuthError> {
    if authzid.is_empty() {
        return Ok(());
    }
    match authzid.rsplit_once('@') {
        Some((local, domain)) if local == username && domain.eq_ignore_ascii_case(vhost) => Ok(()),
        _ => Err(AuthError::InvalidAuthzid),
    }
}

/// Rejects client messages longer than [`MAX_MESSAGE_LEN`].
pub(crate) fn check_len(msg: &[u8]) -> Result<(), AuthError> {
    if msg.len() > MAX_MESSAGE_LEN {
        return Err(AuthError::malformed("message too long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn mechanism_names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
        }
        assert_eq!(Mechanism::from_name("scram-sha-1"), None);
        assert_eq!(Mechanism::from_name("SCRAM-SHA-1-PLUS"), None);
        assert_eq!(Mechanism::from_name("DIGEST-MD5"), None);
    }

    #[test]
    fn conditions() {
        assert_eq!(AuthError::malformed("x").condition(), "malformed-request");
        assert_eq!(AuthError::NotAuthorized.condition(), "not-authorized");
        assert_eq!(AuthError::InvalidAuthzid.condition(), "invalid-authzid");
        assert_eq!(AuthError::InvalidMechanism.condition(), "invalid-mechanism");
        assert_eq!(
            AuthError::EncryptionRequired.condition(),
            "encryption-required"
        );
        assert_eq!(
            AuthError::Saslprep("x".into()).condition(),
            "malformed-request"
        );
    }

    #[test]
    fn authzid_rules() {
        assert!(check_authzid("", "juliet", "example.com").is_ok());
        assert!(check_authzid("juliet@example.com", "juliet", "example.com").is_ok());
        assert!(check_authzid("juliet@EXAMPLE.com", "juliet", "example.com").is_ok());
        assert!(check_authzid("romeo@example.com", "juliet", "example.com").is_err());
        assert!(check_authzid("juliet@example.org", "juliet", "example.com").is_err());
        assert!(check_authzid("juliet@example.com/r", "juliet", "example.com").is_err());
        assert!(check_authzid("juliet", "juliet", "example.com").is_err());
    }

    #[test]
    fn oversized_rejected() {
        let mut s = SaslServer::new(Mechanism::ScramSha256, "example.com");
        let mut msg = b"n,,n=user,r=".to_vec();
        msg.resize(MAX_MESSAGE_LEN + 1, b'a');
        assert!(matches!(s.start(&msg), Err(AuthError::MalformedRequest(_))));
        let mut p = SaslServer::new(Mechanism::Plain, "example.com");
        let mut msg = b"\0user\0".to_vec();
        msg.resize(MAX_MESSAGE_LEN + 1, b'a');
        assert!(matches!(p.start(&msg), Err(AuthError::MalformedRequest(_))));
    }
}
