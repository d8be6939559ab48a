//! Fuzzes the SCRAM server of tern-auth (RFC 5802 §7, RFC 7677) with
//! arbitrary client-first and client-final messages.
//!
//! Input: one selector byte, then the client-first-message, a 0xFF byte
//! (never valid in UTF-8), then the client-final-message. Selector bits:
//! 0 = SCRAM-SHA-1 instead of SCRAM-SHA-256, 1 = unknown user,
//! 2 = send an empty initial response and client-first through `step()`.
//! The server nonce part is fixed ("SERVERNONCE", via the `fuzzing`
//! feature) so that the fuzzer can get past the nonce check, and the salts
//! are fixed too, so that a seed can carry a valid client proof and reach
//! the success path (`seeds/scram_server/*-valid`, made by `gen_seeds.py`).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tern_auth::{
    DEFAULT_ITERATIONS, Mechanism, SaslServer, SaslStep, ScramHash, StoredCredentials,
    derive_credentials,
};

/// Password and salts of the one known user; `gen_seeds.py` uses the same.
const PASSWORD: &str = "pencil";
const SALT_SHA1: &[u8] = b"tern-fuzz-salt-1";
const SALT_SHA256: &[u8] = b"tern-fuzz-salt-2";

/// Fixed credentials, derived once (PBKDF2 is slow).
static CREDS: LazyLock<Option<StoredCredentials>> = LazyLock::new(|| {
    let derive = |hash, salt| derive_credentials(hash, PASSWORD, salt, DEFAULT_ITERATIONS).ok();
    Some(StoredCredentials {
        sha1: derive(ScramHash::Sha1, SALT_SHA1)?,
        sha256: derive(ScramHash::Sha256, SALT_SHA256)?,
    })
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (first, last) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mech = if selector & 1 == 0 {
        Mechanism::ScramSha256
    } else {
        Mechanism::ScramSha1
    };
    let creds = if selector & 2 == 0 {
        CREDS.as_ref()
    } else {
        None
    };
    let mut server = SaslServer::with_server_nonce(mech, "example.com", "SERVERNONCE");

    let step = if selector & 4 == 0 {
        server.start(first)
    } else {
        match server.start(b"") {
            Ok(SaslStep::Challenge(c)) => assert!(c.is_empty()),
            other => panic!("empty initial response: {other:?}"),
        }
        server.step(first)
    };
    let username = match step {
        Ok(SaslStep::NeedCredentials { username }) => username,
        // an empty initial response asks for client-first in a challenge
        Ok(SaslStep::Challenge(c)) if c.is_empty() && first.is_empty() && selector & 4 == 0 => {
            return;
        }
        Ok(other) => panic!("client-first gave {other:?}"),
        Err(e) => {
            let _ = e.condition();
            return;
        }
    };
    assert!(!username.is_empty());
    match server.credentials(creds) {
        Ok(SaslStep::Challenge(c)) => assert!(c.starts_with(b"r=")),
        other => panic!("credentials gave {other:?}"),
    }
    match server.step(last) {
        Ok(SaslStep::Success {
            username: u,
            additional_data,
        }) => {
            assert!(creds.is_some(), "unknown user authenticated");
            assert_eq!(u, username);
            assert!(additional_data.starts_with(b"v="));
        }
        Ok(other) => panic!("client-final gave {other:?}"),
        Err(e) => {
            let _ = e.condition();
        }
    }
    // The exchange is over: any further call is refused.
    assert!(server.step(last).is_err());
});
