//! SCRAM-SHA-1 (RFC 5802 §5, §7) and SCRAM-SHA-256 (RFC 7677), server side,
//! without channel binding (gs2 flag `p` is rejected; `n` and `y` are
//! accepted because no `-PLUS` mechanism is advertised — once one is, `y`
//! must be rejected, RFC 5802 §6).
//!
//! ```text
//! AuthMessage     := client-first-message-bare + "," +
//!                    server-first-message + "," +
//!                    client-final-message-without-proof
//! ClientSignature := HMAC(StoredKey, AuthMessage)
//! ClientProof     := ClientKey XOR ClientSignature
//! ServerSignature := HMAC(ServerKey, AuthMessage)
//! ```
//!
//! The server verifies the proof by checking `H(ClientProof XOR
//! ClientSignature) == StoredKey` in constant time. Unknown users get
//! deterministic fake credentials and fail only at the final step.

pub(crate) mod message;
#[cfg(test)]
mod tests;

use std::mem;

use rand::Rng;
use subtle::ConstantTimeEq;

use crate::credentials::{fake_credentials, h, hmac};
use crate::{
    AuthError, SaslStep, ScramCredentials, ScramHash, StoredCredentials, check_authzid, check_len,
    saslprep,
};
use message::{b64_encode, malformed, parse_client_final, parse_client_first, to_str};

/// Random bytes in the server nonce part (RFC 5802 asks for a
/// non-predictable nonce; we use 24 bytes, 32 base64 characters).
const SERVER_NONCE_BYTES: usize = 24;

#[derive(Debug)]
pub(crate) struct ScramServer {
    hash: ScramHash,
    vhost: String,
    fixed_nonce: Option<String>,
    state: State,
}

#[derive(Debug)]
enum State {
    Initial,
    /// An empty challenge was sent; client-first comes through `step()`.
    AwaitingFirst,
    NeedCredentials {
        gs2_header: String,
        bare: String,
        username: String,
        client_nonce: String,
    },
    AwaitingFinal(Expected),
    Done,
}

impl ScramServer {
    pub(crate) fn new(hash: ScramHash, vhost: &str, fixed_nonce: Option<String>) -> Self {
        Self {
            hash,
            vhost: vhost.to_owned(),
            fixed_nonce,
            state: State::Initial,
        }
    }

    pub(crate) fn hash(&self) -> ScramHash {
        self.hash
    }

    pub(crate) fn start(&mut self, initial: &[u8]) -> Result<SaslStep, AuthError> {
        match mem::replace(&mut self.state, State::Done) {
            State::Initial if initial.is_empty() => {
                self.state = State::AwaitingFirst;
                Ok(SaslStep::Challenge(Vec::new()))
            }
            State::Initial => self.client_first(initial),
            _ => Err(malformed("unexpected initial response")),
        }
    }

    pub(crate) fn step(&mut self, response: &[u8]) -> Result<SaslStep, AuthError> {
        match mem::replace(&mut self.state, State::Done) {
            State::AwaitingFirst => self.client_first(response),
            State::AwaitingFinal(expected) => self.client_final(response, expected),
            _ => Err(malformed("unexpected response")),
        }
    }

    pub(crate) fn credentials(
        &mut self,
        creds: Option<&StoredCredentials>,
    ) -> Result<SaslStep, AuthError> {
        let State::NeedCredentials {
            gs2_header,
            bare,
            username,
            client_nonce,
        } = mem::replace(&mut self.state, State::Done)
        else {
            return Err(malformed("unexpected credentials"));
        };
        let (creds, unknown) = match creds {
            Some(stored) => {
                let c = stored.for_hash(self.hash);
                c.validate(self.hash)?;
                (c.clone(), false)
            }
            None => (fake_credentials(self.hash, &username)?, true),
        };
        let server_nonce = match &self.fixed_nonce {
            Some(n) => n.clone(),
            None => {
                let mut raw = [0u8; SERVER_NONCE_BYTES];
                rand::rng().fill_bytes(&mut raw);
                b64_encode(&raw)
            }
        };
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            b64_encode(&creds.salt),
            creds.iterations
        );
        let auth_prefix = format!("{bare},{server_first}");
        self.state = State::AwaitingFinal(Expected {
            gs2_header,
            username,
            nonce,
            auth_prefix,
            creds,
            unknown,
        });
        Ok(SaslStep::Challenge(server_first.into_bytes()))
    }

    fn client_first(&mut self, msg: &[u8]) -> Result<SaslStep, AuthError> {
        check_len(msg)?;
        let first = parse_client_first(to_str(msg)?)?;
        let username = saslprep(&first.username)?;
        if username.is_empty() {
            return Err(malformed("empty username after SASLprep"));
        }
        check_authzid(&first.authzid, &username, &self.vhost)?;
        self.state = State::NeedCredentials {
            gs2_header: first.gs2_header.to_owned(),
            bare: first.bare.to_owned(),
            username: username.clone(),
            client_nonce: first.nonce.to_owned(),
        };
        Ok(SaslStep::NeedCredentials { username })
    }

    fn client_final(&mut self, msg: &[u8], exp: Expected) -> Result<SaslStep, AuthError> {
        check_len(msg)?;
        let fin = parse_client_final(to_str(msg)?)?;
        if fin.channel_binding != exp.gs2_header.as_bytes() {
            return Err(malformed("channel binding data does not match gs2 header"));
        }
        if fin.nonce != exp.nonce {
            return Err(malformed("nonce mismatch"));
        }
        if fin.proof.len() != self.hash.output_len() {
            return Err(malformed("proof has wrong length"));
        }
        let auth_message = format!("{},{}", exp.auth_prefix, fin.without_proof);
        let client_signature = hmac(self.hash, &exp.creds.stored_key, &[auth_message.as_bytes()])?;
        let client_key: Vec<u8> = fin
            .proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let computed = h(self.hash, &client_key);
        let matches = bool::from(computed.ct_eq(&exp.creds.stored_key));
        if !matches || exp.unknown {
            return Err(AuthError::NotAuthorized);
        }
        let server_signature = hmac(self.hash, &exp.creds.server_key, &[auth_message.as_bytes()])?;
        Ok(SaslStep::Success {
            username: exp.username,
            additional_data: format!("v={}", b64_encode(&server_signature)).into_bytes(),
        })
    }
}

/// What the client-final-message is checked against.
#[derive(Debug)]
struct Expected {
    gs2_header: String,
    username: String,
    /// client nonce + server nonce
    nonce: String,
    /// client-first-message-bare "," server-first-message
    auth_prefix: String,
    creds: ScramCredentials,
    unknown: bool,
}
