//! SCRAM credential derivation and storage (RFC 5802 §3 and §5; RFC 7677
//! for SHA-256).
//!
//! A server stores, per hash, only `salt`, `iterations`, `StoredKey` and
//! `ServerKey`, never the password:
//!
//! ```text
//! SaltedPassword  := Hi(Normalize(password), salt, i)
//! ClientKey       := HMAC(SaltedPassword, "Client Key")
//! StoredKey       := H(ClientKey)
//! ServerKey       := HMAC(SaltedPassword, "Server Key")
//! ```
//!
//! `Hi` is PBKDF2 with HMAC as the PRF and an output of one hash length.

use std::sync::OnceLock;

use hmac::digest::{Digest, KeyInit, Mac};
use hmac::{EagerHash, Hmac};
use rand::Rng;
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{AuthError, ScramHash, saslprep};

/// Iteration count used for new credentials, and the minimum accepted
/// anywhere (RFC 7677 §4 recommends at least 4096).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// Length of the random salt of new credentials, in bytes.
const SALT_LEN: usize = 16;

/// What a server stores per hash: never the password (RFC 5802 §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramCredentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl ScramCredentials {
    /// Checks that these credentials are usable with `hash`.
    pub fn validate(&self, hash: ScramHash) -> Result<(), AuthError> {
        if self.salt.is_empty() {
            return Err(AuthError::InvalidCredentials("empty salt".into()));
        }
        if self.iterations < DEFAULT_ITERATIONS {
            return Err(AuthError::InvalidCredentials(format!(
                "iteration count {} below minimum {DEFAULT_ITERATIONS}",
                self.iterations
            )));
        }
        let len = hash.output_len();
        if self.stored_key.len() != len || self.server_key.len() != len {
            return Err(AuthError::InvalidCredentials("wrong key length".into()));
        }
        Ok(())
    }
}

/// Both hashes, as stored for an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCredentials {
    pub sha1: ScramCredentials,
    pub sha256: ScramCredentials,
}

impl StoredCredentials {
    /// SASLprep the password, random 16-byte salt per hash,
    /// [`DEFAULT_ITERATIONS`].
    pub fn from_password(password: &str) -> Result<Self, AuthError> {
        let prepared = saslprep(password)?;
        let mut rng = rand::rng();
        let mut salt1 = vec![0u8; SALT_LEN];
        let mut salt256 = vec![0u8; SALT_LEN];
        rng.fill_bytes(&mut salt1);
        rng.fill_bytes(&mut salt256);
        Ok(Self {
            sha1: derive_prepared(ScramHash::Sha1, &prepared, &salt1, DEFAULT_ITERATIONS)?,
            sha256: derive_prepared(ScramHash::Sha256, &prepared, &salt256, DEFAULT_ITERATIONS)?,
        })
    }

    /// The credentials for one hash.
    pub fn for_hash(&self, h: ScramHash) -> &ScramCredentials {
        match h {
            ScramHash::Sha1 => &self.sha1,
            ScramHash::Sha256 => &self.sha256,
        }
    }

    /// Constant-time check of a plaintext password (used by PLAIN), against
    /// the SHA-256 credentials. Costs one PBKDF2 run.
    pub fn verify_password(&self, password: &str) -> bool {
        let creds = &self.sha256;
        let Ok(derived) =
            derive_credentials(ScramHash::Sha256, password, &creds.salt, creds.iterations)
        else {
            return false;
        };
        bool::from(derived.stored_key.ct_eq(&creds.stored_key))
    }
}

/// Derives the credentials of `password` (SASLprep'd here) for one hash.
/// Fails if `iterations` is below [`DEFAULT_ITERATIONS`], the salt or the
/// prepared password is empty, or SASLprep rejects the password.
pub fn derive_credentials(
    hash: ScramHash,
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<ScramCredentials, AuthError> {
    let prepared = saslprep(password)?;
    derive_prepared(hash, &prepared, salt, iterations)
}

fn derive_prepared(
    hash: ScramHash,
    prepared: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<ScramCredentials, AuthError> {
    if prepared.is_empty() {
        return Err(AuthError::InvalidCredentials("empty password".into()));
    }
    let salted = salted_password(hash, prepared.as_bytes(), salt, iterations)?;
    let Keys {
        stored_key,
        server_key,
        ..
    } = keys(hash, &salted)?;
    Ok(ScramCredentials {
        salt: salt.to_vec(),
        iterations,
        stored_key,
        server_key,
    })
}

/// `Hi(password, salt, i)`: PBKDF2-HMAC with one hash length of output.
pub(crate) fn salted_password(
    hash: ScramHash,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Vec<u8>, AuthError> {
    if salt.is_empty() {
        return Err(AuthError::InvalidCredentials("empty salt".into()));
    }
    if iterations < DEFAULT_ITERATIONS {
        return Err(AuthError::InvalidCredentials(format!(
            "iteration count {iterations} below minimum {DEFAULT_ITERATIONS}"
        )));
    }
    let mut out = vec![0u8; hash.output_len()];
    let res = match hash {
        ScramHash::Sha1 => pbkdf2::pbkdf2::<Hmac<Sha1>>(password, salt, iterations, &mut out),
        ScramHash::Sha256 => pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt, iterations, &mut out),
    };
    res.map_err(|_| AuthError::InvalidCredentials("PBKDF2 key length".into()))?;
    Ok(out)
}

/// The keys derived from a SaltedPassword.
pub(crate) struct Keys {
    pub client_key: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// `ClientKey`, `StoredKey` and `ServerKey` from a SaltedPassword.
pub(crate) fn keys(hash: ScramHash, salted: &[u8]) -> Result<Keys, AuthError> {
    let client_key = hmac(hash, salted, &[b"Client Key"])?;
    let stored_key = h(hash, &client_key);
    let server_key = hmac(hash, salted, &[b"Server Key"])?;
    Ok(Keys {
        client_key,
        stored_key,
        server_key,
    })
}

/// `HMAC(key, parts[0] || parts[1] || ...)`.
pub(crate) fn hmac(hash: ScramHash, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, AuthError> {
    match hash {
        ScramHash::Sha1 => hmac_generic::<Sha1>(key, parts),
        ScramHash::Sha256 => hmac_generic::<Sha256>(key, parts),
    }
}

fn hmac_generic<D: EagerHash>(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, AuthError> {
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key)
        .map_err(|_| AuthError::InvalidCredentials("HMAC key length".into()))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().to_vec())
}

/// `H(data)`.
pub(crate) fn h(hash: ScramHash, data: &[u8]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => Sha1::digest(data).to_vec(),
        ScramHash::Sha256 => Sha256::digest(data).to_vec(),
    }
}

/// Per-process random key for fake credentials of unknown users.
fn fake_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        key
    })
}

/// Credentials for an unknown user: salt, StoredKey and ServerKey are
/// HMACs of the username under a per-process random key, so that repeated
/// attempts see the same salt, as they would for a real account.
pub(crate) fn fake_credentials(
    hash: ScramHash,
    username: &str,
) -> Result<ScramCredentials, AuthError> {
    let label: &[u8] = match hash {
        ScramHash::Sha1 => b"sha1",
        ScramHash::Sha256 => b"sha256",
    };
    let derive = |purpose: &[u8], len: usize| -> Result<Vec<u8>, AuthError> {
        let mut out = hmac(
            ScramHash::Sha256,
            fake_key(),
            &[
                b"tern-auth fake ",
                purpose,
                b"\0",
                label,
                b"\0",
                username.as_bytes(),
            ],
        )?;
        out.truncate(len);
        Ok(out)
    };
    Ok(ScramCredentials {
        salt: derive(b"salt", SALT_LEN)?,
        iterations: DEFAULT_ITERATIONS,
        stored_key: derive(b"stored", hash.output_len())?,
        server_key: derive(b"server", hash.output_len())?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn rfc5802_keys() {
        let salt = STANDARD.decode("QSXCR+Q6sek8bf92").unwrap();
        let c = derive_credentials(ScramHash::Sha1, "pencil", &salt, 4096).unwrap();
        assert_eq!(c.salt, salt);
        assert_eq!(c.iterations, 4096);
        assert_eq!(c.stored_key.len(), 20);
        c.validate(ScramHash::Sha1).unwrap();
        assert!(c.validate(ScramHash::Sha256).is_err());
    }

    #[test]
    fn from_password_and_verify() {
        let s = StoredCredentials::from_password("pencil").unwrap();
        assert_eq!(s.sha1.salt.len(), 16);
        assert_eq!(s.sha256.salt.len(), 16);
        assert_ne!(s.sha1.salt, s.sha256.salt);
        assert_eq!(s.sha256.iterations, DEFAULT_ITERATIONS);
        assert_eq!(s.for_hash(ScramHash::Sha1), &s.sha1);
        assert_eq!(s.for_hash(ScramHash::Sha256), &s.sha256);
        assert!(s.verify_password("pencil"));
        assert!(!s.verify_password("pencil "));
        assert!(!s.verify_password("Pencil"));
        assert!(!s.verify_password(""));
        assert!(!s.verify_password("\u{0007}"));
        // SASLprep equivalence: soft hyphen maps to nothing
        assert!(s.verify_password("pen\u{00AD}cil"));
    }

    #[test]
    fn derive_rejects_bad_parameters() {
        assert!(matches!(
            derive_credentials(ScramHash::Sha256, "pencil", b"salt", 4095),
            Err(AuthError::InvalidCredentials(_))
        ));
        assert!(derive_credentials(ScramHash::Sha256, "pencil", b"", 4096).is_err());
        assert!(derive_credentials(ScramHash::Sha256, "", b"salt", 4096).is_err());
        assert!(matches!(
            derive_credentials(ScramHash::Sha256, "a\u{0007}", b"salt", 4096),
            Err(AuthError::Saslprep(_))
        ));
        assert!(StoredCredentials::from_password("\u{0007}").is_err());
    }

    #[test]
    fn fake_credentials_are_deterministic() {
        let a = fake_credentials(ScramHash::Sha256, "nobody").unwrap();
        let b = fake_credentials(ScramHash::Sha256, "nobody").unwrap();
        let c = fake_credentials(ScramHash::Sha256, "somebody").unwrap();
        let d = fake_credentials(ScramHash::Sha1, "nobody").unwrap();
        assert_eq!(a, b);
        assert_ne!(a.salt, c.salt);
        assert_ne!(a.salt, d.salt);
        a.validate(ScramHash::Sha256).unwrap();
        d.validate(ScramHash::Sha1).unwrap();
    }
}
