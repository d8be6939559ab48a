//! The PLAIN mechanism, server side (RFC 4616 §2), as used by XMPP
//! (RFC 6120 §6.3.8: the authzid, if any, must be the user's bare JID).
//!
//! ```text
//! message = [authzid] UTF8NUL authcid UTF8NUL passwd
//! ```
//!
//! The authcid is SASLprep'd (RFC 4616 §2 refers to RFC 4013); the password
//! is SASLprep'd and checked against the stored SCRAM-SHA-256 credentials.

use std::mem;

use crate::credentials::fake_credentials;
use crate::{
    AuthError, SaslStep, ScramHash, StoredCredentials, check_authzid, check_len, saslprep,
};

#[derive(Debug)]
pub(crate) struct PlainServer {
    vhost: String,
    state: State,
}

enum State {
    Initial,
    /// An empty challenge was sent; the message comes through `step()`.
    AwaitingResponse,
    NeedCredentials {
        username: String,
        password: String,
    },
    Done,
}

impl std::fmt::Debug for State {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Initial => f.write_str("Initial"),
            Self::AwaitingResponse => f.write_str("AwaitingResponse"),
            Self::NeedCredentials { username, .. } => {
                write!(f, "NeedCredentials {{ username: {username:?} }}")
            }
            Self::Done => f.write_str("Done"),
        }
    }
}

impl PlainServer {
    pub(crate) fn new(vhost: &str) -> Self {
        Self {
            vhost: vhost.to_owned(),
            state: State::Initial,
        }
    }

    pub(crate) fn start(&mut self, initial: &[u8]) -> Result<SaslStep, AuthError> {
        match mem::replace(&mut self.state, State::Done) {
            State::Initial if initial.is_empty() => {
                self.state = State::AwaitingResponse;
                Ok(SaslStep::Challenge(Vec::new()))
            }
            State::Initial => self.parse(initial),
            _ => Err(AuthError::malformed("unexpected initial response")),
        }
    }

    pub(crate) fn step(&mut self, response: &[u8]) -> Result<SaslStep, AuthError> {
        match mem::replace(&mut self.state, State::Done) {
            State::AwaitingResponse => self.parse(response),
            _ => Err(AuthError::malformed("unexpected response")),
        }
    }

    pub(crate) fn credentials(
        &mut self,
        creds: Option<&StoredCredentials>,
    ) -> Result<SaslStep, AuthError> {
        let State::NeedCredentials { username, password } =
            mem::replace(&mut self.state, State::Done)
        else {
            return Err(AuthError::malformed("unexpected credentials"));
        };
        match creds {
            Some(creds) => {
                creds.sha256.validate(ScramHash::Sha256)?;
                if creds.verify_password(&password) {
                    Ok(SaslStep::Success {
                        username,
                        additional_data: Vec::new(),
                    })
                } else {
                    Err(AuthError::NotAuthorized)
                }
            }
            None => {
                // Spend the same PBKDF2 work as for a real account.
                let fake = fake_credentials(ScramHash::Sha256, &username)?;
                let fake = StoredCredentials {
                    sha1: fake.clone(),
                    sha256: fake,
                };
                let _ = fake.verify_password(&password);
                Err(AuthError::NotAuthorized)
            }
        }
    }

    fn parse(&mut self, msg: &[u8]) -> Result<SaslStep, AuthError> {
        check_len(msg)?;
        let mut parts = msg.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::malformed("PLAIN message needs exactly two NULs"));
        };
        let utf8 = |b| std::str::from_utf8(b).map_err(|_| AuthError::malformed("invalid UTF-8"));
        let (authzid, authcid, password) = (utf8(authzid)?, utf8(authcid)?, utf8(password)?);
        if authcid.is_empty() || password.is_empty() {
            return Err(AuthError::malformed("empty authcid or password"));
        }
        let username = saslprep(authcid)?;
        if username.is_empty() {
            return Err(AuthError::malformed("empty username after SASLprep"));
        }
        saslprep(password)?;
        check_authzid(authzid, &username, &self.vhost)?;
        self.state = State::NeedCredentials {
            username: username.clone(),
            password: password.to_owned(),
        };
        Ok(SaslStep::NeedCredentials { username })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::OnceLock;

    use crate::{AuthError, Mechanism, SaslServer, SaslStep, StoredCredentials};

    fn creds() -> &'static StoredCredentials {
        static C: OnceLock<StoredCredentials> = OnceLock::new();
        C.get_or_init(|| StoredCredentials::from_password("pencil").unwrap())
    }

    fn run(msg: &[u8], known: bool) -> Result<SaslStep, AuthError> {
        let mut s = SaslServer::new(Mechanism::Plain, "example.com");
        match s.start(msg)? {
            SaslStep::NeedCredentials { .. } => s.credentials(known.then(creds)),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn success(user: &str) -> SaslStep {
        SaslStep::Success {
            username: user.into(),
            additional_data: vec![],
        }
    }

    #[test]
    fn good_password() {
        assert_eq!(run(b"\0user\0pencil", true), Ok(success("user")));
        // authcid is SASLprep'd
        assert_eq!(
            run("\0us\u{00AD}er\0pencil".as_bytes(), true),
            Ok(success("user"))
        );
    }

    #[test]
    fn bad_password_and_unknown_user() {
        assert_eq!(run(b"\0user\0pencils", true), Err(AuthError::NotAuthorized));
        assert_eq!(run(b"\0user\0pencil", false), Err(AuthError::NotAuthorized));
    }

    #[test]
    fn authzid() {
        assert_eq!(
            run(b"user@example.com\0user\0pencil", true),
            Ok(success("user"))
        );
        assert_eq!(
            run(b"admin@example.com\0user\0pencil", true),
            Err(AuthError::InvalidAuthzid)
        );
        assert_eq!(
            run(b"user@example.org\0user\0pencil", true),
            Err(AuthError::InvalidAuthzid)
        );
        assert_eq!(
            run(b"user\0user\0pencil", true),
            Err(AuthError::InvalidAuthzid)
        );
    }

    #[test]
    fn malformed() {
        for msg in [
            &b"user\0pencil"[..],
            b"\0user\0pencil\0",
            b"\0\0pencil",
            b"\0user\0",
            b"",
            b"\0\xff\0pencil",
            b"\0user\0\xc3",
        ] {
            let mut s = SaslServer::new(Mechanism::Plain, "example.com");
            let r = s.start(msg).and_then(|_| s.step(msg));
            assert!(
                matches!(r, Err(AuthError::MalformedRequest(_))),
                "{msg:?}: {r:?}"
            );
        }
        assert!(matches!(
            run(b"\0user\0a\x07", true),
            Err(AuthError::Saslprep(_))
        ));
        assert!(matches!(
            run(b"\0\xc2\xad\0pencil", true),
            Err(AuthError::MalformedRequest(_))
        ));
    }

    #[test]
    fn empty_initial_response_then_step() {
        let mut s = SaslServer::new(Mechanism::Plain, "example.com");
        assert_eq!(s.start(b""), Ok(SaslStep::Challenge(vec![])));
        assert_eq!(
            s.step(b"\0user\0pencil"),
            Ok(SaslStep::NeedCredentials {
                username: "user".into()
            })
        );
        assert_eq!(s.credentials(Some(creds())), Ok(success("user")));
    }

    #[test]
    fn out_of_order() {
        let mut s = SaslServer::new(Mechanism::Plain, "example.com");
        assert!(matches!(
            s.step(b"\0user\0pencil"),
            Err(AuthError::MalformedRequest(_))
        ));
        let mut s = SaslServer::new(Mechanism::Plain, "example.com");
        assert!(matches!(
            s.credentials(Some(creds())),
            Err(AuthError::MalformedRequest(_))
        ));
        let mut s = SaslServer::new(Mechanism::Plain, "example.com");
        s.start(b"\0user\0pencil").unwrap();
        assert!(matches!(
            s.start(b"\0user\0pencil"),
            Err(AuthError::MalformedRequest(_))
        ));
        let mut s = SaslServer::new(Mechanism::Plain, "example.com");
        s.start(b"\0user\0pencil").unwrap();
        s.credentials(Some(creds())).unwrap();
        assert!(matches!(
            s.credentials(Some(creds())),
            Err(AuthError::MalformedRequest(_))
        ));
        assert!(matches!(s.step(b""), Err(AuthError::MalformedRequest(_))));
    }
}
