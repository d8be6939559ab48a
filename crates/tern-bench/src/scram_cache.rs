//! The client's SCRAM SaltedPassword (RFC 5802 §3: `Hi(password, salt, i)`, 4096 HMACs
//! or more) cached per (hash, password, salt, iterations), so logging the same account in
//! again costs the loader two HMACs instead of a PBKDF2 run. Optionally kept in a JSON
//! file between runs; its keys are SHA-256 digests of the inputs, so it holds no password.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};
use tern_auth::client::SaltInput;
use tern_auth::{AuthError, ScramHash};

use crate::error::SetupError;

type Key = [u8; 32];

/// SaltedPasswords by digest of their inputs.
#[derive(Default)]
pub struct ScramCache {
    map: Mutex<HashMap<Key, Vec<u8>>>,
    file: Option<PathBuf>,
    loaded: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ScramCache {
    /// An empty in-memory cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache backed by `file`: loaded now if it exists, written by [`save`](Self::save).
    pub fn with_file(file: PathBuf) -> Result<Self, SetupError> {
        let read_err = |source| SetupError::Read {
            path: file.display().to_string(),
            source,
        };
        let mut map = HashMap::new();
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let json: HashMap<String, String> = serde_json::from_str(&text)
                    .map_err(|e| SetupError::Invalid(format!("{}: {e}", file.display())))?;
                for (k, v) in json {
                    let key = B64.decode(k).ok().and_then(|k| Key::try_from(k).ok());
                    if let (Some(key), Ok(value)) = (key, B64.decode(v)) {
                        map.insert(key, value);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_err(e)),
        }
        let loaded = map.len();
        Ok(ScramCache {
            map: Mutex::new(map),
            file: Some(file),
            loaded,
            ..Self::default()
        })
    }

    /// The SaltedPassword for `input`, derived (outside the lock) on a miss.
    pub fn salted(&self, input: &SaltInput<'_>) -> Result<Vec<u8>, AuthError> {
        let key = key(input);
        if let Some(v) = self.lock().get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let salted = input.salted_password()?;
        self.lock().insert(key, salted.clone());
        Ok(salted)
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Write the cache to its file, if it has one and gained entries.
    pub fn save(&self) -> Result<(), SetupError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let json: HashMap<String, String> = {
            let map = self.lock();
            if map.len() == self.loaded {
                return Ok(());
            }
            map.iter()
                .map(|(k, v)| (B64.encode(k), B64.encode(v)))
                .collect()
        };
        let write_err = |source| SetupError::Read {
            path: file.display().to_string(),
            source,
        };
        let text = serde_json::to_string(&json).map_err(|e| SetupError::Invalid(e.to_string()))?;
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(write_err)?;
        std::fs::rename(&tmp, file).map_err(write_err)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<u8>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(input: &SaltInput<'_>) -> Key {
    let mut h = Sha256::new();
    h.update(match input.hash {
        ScramHash::Sha1 => b"sha1\0",
        ScramHash::Sha256 => b"s256\0",
    });
    h.update(input.iterations.to_be_bytes());
    h.update((input.salt.len() as u64).to_be_bytes());
    h.update(input.salt);
    h.update(input.password.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn input<'a>(salt: &'a [u8], password: &'a str) -> SaltInput<'a> {
        SaltInput {
            hash: ScramHash::Sha1,
            password,
            salt,
            iterations: 4096,
        }
    }

    #[test]
    fn caches_per_input_and_survives_a_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scram.json");
        let cache = ScramCache::with_file(file.clone()).unwrap();
        let a = cache.salted(&input(b"salt-a", "pass")).unwrap();
        assert_eq!(a, input(b"salt-a", "pass").salted_password().unwrap());
        assert_eq!(cache.salted(&input(b"salt-a", "pass")).unwrap(), a);
        assert_eq!(cache.stats(), (1, 1));
        let other = cache.salted(&input(b"salt-a", "word")).unwrap();
        assert_ne!(other, a, "the password is part of the key");
        let sha256 = SaltInput {
            hash: ScramHash::Sha256,
            ..input(b"salt-a", "pass")
        };
        assert_eq!(cache.salted(&sha256).unwrap().len(), 32);
        assert_eq!(cache.stats(), (1, 3));
        cache.save().unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("pass"), "no password in the file");

        let again = ScramCache::with_file(file).unwrap();
        assert_eq!(again.salted(&input(b"salt-a", "pass")).unwrap(), a);
        assert_eq!(again.stats(), (1, 0));
    }

    #[test]
    fn bad_inputs_fail_and_missing_file_is_empty() {
        let cache = ScramCache::new();
        assert!(cache.salted(&input(b"", "pass")).is_err(), "empty salt");
        assert!(cache.save().is_ok(), "no file: nothing to do");
        let dir = tempfile::tempdir().unwrap();
        assert!(ScramCache::with_file(dir.path().join("none.json")).is_ok());
        std::fs::write(dir.path().join("bad.json"), "not json").unwrap();
        assert!(ScramCache::with_file(dir.path().join("bad.json")).is_err());
    }
}
