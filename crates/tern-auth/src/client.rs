//! A small SCRAM client (RFC 5802 §3, §5; RFC 7677) for tests and load
//! generation, without channel binding (gs2 flag `n`), plus the PLAIN
//! message format (RFC 4616 §2).
//!
//! ```
//! use tern_auth::{client::ScramClient, ScramHash};
//! let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil").unwrap();
//! let first: Vec<u8> = c.client_first();
//! // send `first`, receive server-first, then:
//! // let fin = c.handle_server_first(&server_first)?;
//! // send `fin`, receive server-final, then:
//! // c.verify_server_final(&server_final)?;
//! # let _ = first;
//! ```

use rand::Rng;
use subtle::ConstantTimeEq;

use crate::credentials::{Keys, hmac, keys, salted_password};
use crate::scram::message::{
    b64_encode, encode_saslname, malformed, parse_server_final, parse_server_first, to_str,
    valid_nonce,
};
use crate::{AuthError, ScramHash, saslprep};

/// Highest iteration count the client accepts from a server, to bound the
/// work a server can make it do.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// What `SaltedPassword := Hi(Normalize(password), salt, i)` (RFC 5802 §3) is derived
/// from in one exchange: equal inputs give an equal SaltedPassword, so a caller may cache
/// it under them ([`ScramClient::handle_server_first_with`]).
#[derive(Clone, Copy, Debug)]
pub struct SaltInput<'a> {
    pub hash: ScramHash,
    /// The SASLprep'd password.
    pub password: &'a str,
    /// The salt from the server-first-message (decoded).
    pub salt: &'a [u8],
    pub iterations: u32,
}

impl SaltInput<'_> {
    /// `Hi()`: PBKDF2 with `iterations` rounds (the expensive step of a SCRAM client).
    pub fn salted_password(&self) -> Result<Vec<u8>, AuthError> {
        salted_password(
            self.hash,
            self.password.as_bytes(),
            self.salt,
            self.iterations,
        )
    }
}

/// Client side of one SCRAM exchange.
#[derive(Debug)]
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    gs2_header: String,
    client_first_bare: String,
    client_nonce: String,
    /// ServerSignature expected in server-final, once computed.
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A client with a random 18-byte nonce. `username` and `password` are
    /// SASLprep'd.
    pub fn new(hash: ScramHash, username: &str, password: &str) -> Result<Self, AuthError> {
        let mut raw = [0u8; 18];
        rand::rng().fill_bytes(&mut raw);
        Self::with_nonce(hash, username, password, &b64_encode(&raw))
    }

    /// A client with a given nonce (printable ASCII except `,`).
    pub fn with_nonce(
        hash: ScramHash,
        username: &str,
        password: &str,
        nonce: &str,
    ) -> Result<Self, AuthError> {
        if !valid_nonce(nonce) {
            return Err(malformed("invalid client nonce"));
        }
        let username = saslprep(username)?;
        let password = saslprep(password)?;
        if username.is_empty() || password.is_empty() {
            return Err(malformed("empty username or password"));
        }
        Ok(Self {
            hash,
            password,
            gs2_header: "n,,".to_owned(),
            client_first_bare: format!("n={},r={nonce}", encode_saslname(&username)),
            client_nonce: nonce.to_owned(),
            server_signature: None,
        })
    }

    /// Requests authorization as `authzid` (a bare JID) in the gs2 header.
    #[must_use]
    pub fn with_authzid(mut self, authzid: &str) -> Self {
        self.gs2_header = format!("n,a={},", encode_saslname(authzid));
        self
    }

    /// The client-first-message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.client_first_bare).into_bytes()
    }

    /// Takes the server-first-message and returns the client-final-message.
    pub fn handle_server_first(&mut self, server_first: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.handle_server_first_with(server_first, |s| s.salted_password())
    }

    /// Like [`handle_server_first`](Self::handle_server_first), with the SaltedPassword
    /// supplied by `salted` from the exchange's [`SaltInput`]: a load generator logging the
    /// same accounts in again and again caches it instead of paying PBKDF2 each time
    /// (falling back to [`SaltInput::salted_password`] on a miss). Fails if `salted`
    /// fails or returns a key of the wrong length for the hash.
    pub fn handle_server_first_with(
        &mut self,
        server_first: &[u8],
        salted: impl FnOnce(&SaltInput<'_>) -> Result<Vec<u8>, AuthError>,
    ) -> Result<Vec<u8>, AuthError> {
        let server_first = to_str(server_first)?;
        let sf = parse_server_first(server_first)?;
        if !sf.nonce.starts_with(&self.client_nonce) || sf.nonce.len() == self.client_nonce.len() {
            return Err(malformed("server nonce does not extend client nonce"));
        }
        if sf.iterations > MAX_ITERATIONS {
            return Err(malformed("iteration count too high"));
        }
        let salted = salted(&SaltInput {
            hash: self.hash,
            password: &self.password,
            salt: &sf.salt,
            iterations: sf.iterations,
        })?;
        if salted.len() != self.hash.output_len() {
            return Err(AuthError::InvalidCredentials(
                "SaltedPassword length".into(),
            ));
        }
        let Keys {
            client_key,
            stored_key,
            server_key,
        } = keys(self.hash, &salted)?;
        let without_proof = format!(
            "c={},r={}",
            b64_encode(self.gs2_header.as_bytes()),
            sf.nonce
        );
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac(self.hash, &stored_key, &[auth_message.as_bytes()])?;
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.server_signature = Some(hmac(self.hash, &server_key, &[auth_message.as_bytes()])?);
        Ok(format!("{without_proof},p={}", b64_encode(&proof)).into_bytes())
    }

    /// Checks the server-final-message (the `<success/>` data). Fails with
    /// [`AuthError::NotAuthorized`] if the server could not prove that it
    /// knows the credentials, or reported an error.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), AuthError> {
        let expected = self
            .server_signature
            .as_ref()
            .ok_or_else(|| malformed("server-final before server-first"))?;
        let verifier = parse_server_final(to_str(server_final)?)?;
        if bool::from(verifier.ct_eq(expected)) {
            Ok(())
        } else {
            Err(AuthError::NotAuthorized)
        }
    }
}

/// A PLAIN message: `authzid NUL authcid NUL passwd` (RFC 4616 §2).
pub fn plain_message(authzid: &str, authcid: &str, password: &str) -> Vec<u8> {
    format!("{authzid}\0{authcid}\0{password}").into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Mechanism, SaslServer, SaslStep, StoredCredentials};

    #[test]
    fn round_trip_against_server() {
        let creds = StoredCredentials::from_password("p\u{00E4}ssw\u{00F6}rd").unwrap();
        for (hash, mech) in [
            (ScramHash::Sha1, Mechanism::ScramSha1),
            (ScramHash::Sha256, Mechanism::ScramSha256),
        ] {
            let mut c = ScramClient::new(hash, "romeo", "p\u{00E4}ssw\u{00F6}rd").unwrap();
            let mut s = SaslServer::new(mech, "example.com");
            let need = s.start(&c.client_first()).unwrap();
            assert_eq!(
                need,
                SaslStep::NeedCredentials {
                    username: "romeo".into()
                }
            );
            let Ok(SaslStep::Challenge(sf)) = s.credentials(Some(&creds)) else {
                panic!()
            };
            let fin = c.handle_server_first(&sf).unwrap();
            let Ok(SaslStep::Success {
                username,
                additional_data,
            }) = s.step(&fin)
            else {
                panic!()
            };
            assert_eq!(username, "romeo");
            c.verify_server_final(&additional_data).unwrap();
        }
        let mut s = SaslServer::new(Mechanism::Plain, "example.com");
        s.start(&plain_message(
            "romeo@example.com",
            "romeo",
            "p\u{00E4}ssw\u{00F6}rd",
        ))
        .unwrap();
        assert!(matches!(
            s.credentials(Some(&creds)),
            Ok(SaslStep::Success { .. })
        ));
    }

    #[test]
    fn supplied_salted_password_is_used() {
        let creds = StoredCredentials::from_password("pencil").unwrap();
        let mut cached: Option<Vec<u8>> = None;
        for round in 0..2 {
            let mut c = ScramClient::new(ScramHash::Sha1, "user", "pencil").unwrap();
            let mut s = SaslServer::new(Mechanism::ScramSha1, "example.com");
            s.start(&c.client_first()).unwrap();
            let Ok(SaslStep::Challenge(sf)) = s.credentials(Some(&creds)) else {
                panic!()
            };
            let mut derived = 0;
            let fin = c
                .handle_server_first_with(&sf, |input| {
                    assert_eq!((input.hash, input.password), (ScramHash::Sha1, "pencil"));
                    assert_eq!(
                        (input.salt, input.iterations),
                        (&creds.sha1.salt[..], creds.sha1.iterations)
                    );
                    if let Some(hit) = &cached {
                        return Ok(hit.clone());
                    }
                    derived += 1;
                    input.salted_password()
                })
                .unwrap();
            assert_eq!(derived, 1 - round, "derived on the first round only");
            if cached.is_none() {
                cached = Some(
                    SaltInput {
                        hash: ScramHash::Sha1,
                        password: "pencil",
                        salt: &creds.sha1.salt,
                        iterations: creds.sha1.iterations,
                    }
                    .salted_password()
                    .unwrap(),
                );
            }
            let Ok(SaslStep::Success {
                additional_data, ..
            }) = s.step(&fin)
            else {
                panic!("round {round}")
            };
            c.verify_server_final(&additional_data).unwrap();
        }
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "abc").unwrap();
        let sf = b"r=abcDEF,s=QSXCR+Q6sek8bf92,i=4096";
        assert!(
            c.handle_server_first_with(sf, |_| Ok(vec![0; 20])).is_err(),
            "wrong length for SHA-256"
        );
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "abc").unwrap();
        assert!(
            c.handle_server_first_with(sf, |_| Err(AuthError::NotAuthorized))
                .is_err()
        );
    }

    #[test]
    fn client_rejects_bad_server_first() {
        let mk = || ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "abc").unwrap();
        for sf in [
            "r=xyzDEF,s=QSXCR+Q6sek8bf92,i=4096",
            "r=abc,s=QSXCR+Q6sek8bf92,i=4096",
            "r=abcDEF,s=QSXCR+Q6sek8bf92,i=4095",
            "r=abcDEF,s=QSXCR+Q6sek8bf92,i=99999999",
            "r=abcDEF,s=QSXCR+Q6sek8bf92",
            "r=abcDEF,s=,i=4096",
            "m=x,r=abcDEF,s=QSXCR+Q6sek8bf92,i=4096",
        ] {
            assert!(mk().handle_server_first(sf.as_bytes()).is_err(), "{sf}");
        }
        assert!(
            mk().verify_server_final(b"v=AAAA").is_err(),
            "before server-first"
        );
        assert!(ScramClient::with_nonce(ScramHash::Sha1, "user", "pencil", "a,b").is_err());
        assert!(ScramClient::new(ScramHash::Sha1, "user", "\u{0007}").is_err());
    }
}
