//! Tests of the SCRAM server, including the RFC 5802 §5 and RFC 7677 §3
//! test vectors, and of the client helper against it.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::client::ScramClient;
use crate::{
    AuthError, Mechanism, SaslServer, SaslStep, ScramHash, StoredCredentials, derive_credentials,
};

const VHOST: &str = "example.com";

fn pencil() -> &'static StoredCredentials {
    static C: OnceLock<StoredCredentials> = OnceLock::new();
    C.get_or_init(|| StoredCredentials::from_password("pencil").unwrap())
}

fn mech(hash: ScramHash) -> Mechanism {
    match hash {
        ScramHash::Sha1 => Mechanism::ScramSha1,
        ScramHash::Sha256 => Mechanism::ScramSha256,
    }
}

fn challenge(step: Result<SaslStep, AuthError>) -> Vec<u8> {
    match step {
        Ok(SaslStep::Challenge(c)) => c,
        other => panic!("expected challenge, got {other:?}"),
    }
}

fn is_malformed(r: &Result<SaslStep, AuthError>) -> bool {
    matches!(r, Err(AuthError::MalformedRequest(_)))
}

/// A server that has sent server-first for `user`/"pencil"; returns it and
/// the challenge.
fn after_first(client_first: &str) -> (SaslServer, String) {
    let mut s = SaslServer::with_server_nonce(Mechanism::ScramSha256, VHOST, "SERVERNONCE");
    assert!(matches!(
        s.start(client_first.as_bytes()),
        Ok(SaslStep::NeedCredentials { .. })
    ));
    let c = challenge(s.credentials(Some(pencil())));
    (s, String::from_utf8(c).unwrap())
}

/// Runs the RFC vector exchange, checking every message against the RFC.
fn rfc_vector(hash: ScramHash, cnonce: &str, snonce: &str, salt: &str, proof: &str, v: &str) {
    let salt_raw = STANDARD.decode(salt).unwrap();
    let scram = derive_credentials(hash, "pencil", &salt_raw, 4096).unwrap();
    let stored = StoredCredentials {
        sha1: scram.clone(),
        sha256: scram,
    };
    let client_first = format!("n,,n=user,r={cnonce}");
    let server_first = format!("r={cnonce}{snonce},s={salt},i=4096");
    let client_final = format!("c=biws,r={cnonce}{snonce},p={proof}");

    let mut client = ScramClient::with_nonce(hash, "user", "pencil", cnonce).unwrap();
    assert_eq!(client.client_first(), client_first.as_bytes());
    assert_eq!(
        client.handle_server_first(server_first.as_bytes()).unwrap(),
        client_final.as_bytes()
    );
    client.verify_server_final(v.as_bytes()).unwrap();

    let mut s = SaslServer::with_server_nonce(mech(hash), VHOST, snonce);
    assert_eq!(
        s.start(client_first.as_bytes()),
        Ok(SaslStep::NeedCredentials {
            username: "user".into()
        })
    );
    assert_eq!(
        challenge(s.credentials(Some(&stored))),
        server_first.as_bytes()
    );
    assert_eq!(
        s.step(client_final.as_bytes()),
        Ok(SaslStep::Success {
            username: "user".into(),
            additional_data: v.as_bytes().to_vec()
        })
    );
}

#[test]
fn rfc5802_sha1_vector() {
    rfc_vector(
        ScramHash::Sha1,
        "fyko+d2lbbFgONRv9qkxdawL",
        "3rfcNHYJY1ZVvWVs7j",
        "QSXCR+Q6sek8bf92",
        "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    );
}

#[test]
fn rfc7677_sha256_vector() {
    rfc_vector(
        ScramHash::Sha256,
        "rOprNGfwEbeRWgbNEkqO",
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "W22ZaJ0SNY7soEsUEjb6gQ==",
        "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    );
}

/// Runs a full exchange with the client helper; `creds` None = unknown user.
fn exchange(
    hash: ScramHash,
    user: &str,
    password: &str,
    creds: Option<&StoredCredentials>,
) -> (Result<SaslStep, AuthError>, Vec<u8>, ScramClient) {
    let mut client = ScramClient::new(hash, user, password).unwrap();
    let mut s = SaslServer::new(mech(hash), VHOST);
    let need = s.start(&client.client_first()).unwrap();
    assert!(matches!(need, SaslStep::NeedCredentials { .. }), "{need:?}");
    let server_first = challenge(s.credentials(creds));
    let fin = client.handle_server_first(&server_first).unwrap();
    (s.step(&fin), server_first, client)
}

#[test]
fn client_round_trip_both_hashes() {
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        for user in ["user", "us,er=x", "j\u{00FC}rgen"] {
            let (r, _, client) = exchange(hash, user, "pencil", Some(pencil()));
            let Ok(SaslStep::Success {
                username,
                additional_data,
            }) = r
            else {
                panic!("{hash:?} {user}: {r:?}");
            };
            assert_eq!(username, user);
            client.verify_server_final(&additional_data).unwrap();
            assert_eq!(
                client.verify_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
                Err(AuthError::NotAuthorized)
            );
            assert_eq!(
                client.verify_server_final(b"e=invalid-proof"),
                Err(AuthError::NotAuthorized)
            );
        }
    }
}

#[test]
fn wrong_password() {
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        let (r, _, _) = exchange(hash, "user", "pencil2", Some(pencil()));
        assert_eq!(r, Err(AuthError::NotAuthorized));
    }
}

/// Splits a server-first-message into (nonce, salt, iterations).
fn fields(server_first: &[u8]) -> (String, String, String) {
    let s = std::str::from_utf8(server_first).unwrap();
    let v: Vec<&str> = s.split(',').collect();
    assert_eq!(v.len(), 3, "{s}");
    let strip = |a: &str, p: &str| a.strip_prefix(p).unwrap().to_owned();
    (strip(v[0], "r="), strip(v[1], "s="), strip(v[2], "i="))
}

#[test]
fn unknown_user_is_indistinguishable() {
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        let (r1, sf1, _) = exchange(hash, "nobody", "pencil", None);
        let (r2, sf2, _) = exchange(hash, "nobody", "pencil", None);
        let (_, known, _) = exchange(hash, "user", "pencil", Some(pencil()));
        assert_eq!(r1, Err(AuthError::NotAuthorized));
        assert_eq!(r2, Err(AuthError::NotAuthorized));
        let (n1, s1, i1) = fields(&sf1);
        let (n2, s2, i2) = fields(&sf2);
        let (nk, sk, ik) = fields(&known);
        assert_eq!(s1, s2, "same salt on two attempts");
        assert_ne!(n1, n2, "fresh nonce on each attempt");
        assert_eq!((n1.len(), s1.len(), &i1), (nk.len(), sk.len(), &ik));
        assert_eq!(i1, i2);
        let (_, other, _) = exchange(hash, "somebody", "pencil", None);
        assert_ne!(fields(&other).1, s1, "salt depends on the username");
    }
}

#[test]
fn bad_nonce_channel_binding_and_proof() {
    let cf = "n,,n=user,r=abc";
    let good = |s: &str| s.to_owned();
    for (fin, why) in [
        (good("c=biws,r=abcSERVERNONCEx,p=AAAA"), "longer nonce"),
        (good("c=biws,r=abcSERVERNONC,p=AAAA"), "shorter nonce"),
        (good("c=biws,r=abc,p=AAAA"), "client nonce only"),
        (good("c=eSws,r=abcSERVERNONCE,p=AAAA"), "cbind y,, for n,,"),
        (
            good("c=cD10bHMtdW5pcXVlLCw=,r=abcSERVERNONCE,p=AAAA"),
            "cbind p=",
        ),
        (good("c=bi*s,r=abcSERVERNONCE,p=AAAA"), "invalid base64 c="),
        (good("c=biws,r=abcSERVERNONCE,p=AAAA"), "proof too short"),
        (good("c=biws,r=abcSERVERNONCE,p=!!"), "invalid base64 proof"),
        (good("c=biws,r=abcSERVERNONCE"), "missing proof"),
        (good("r=abcSERVERNONCE,p=AAAA"), "missing c"),
        (good("c=biws,p=AAAA"), "missing r"),
        (good("c=biws,r=abcSERVERNONCE,m=x,p=AAAA"), "m extension"),
        (good(""), "empty"),
    ] {
        let (mut s, _) = after_first(cf);
        let r = s.step(fin.as_bytes());
        assert!(is_malformed(&r), "{why}: {r:?}");
        // the exchange is over after an error
        assert!(is_malformed(&s.step(fin.as_bytes())), "{why}");
    }
    let (mut s, _) = after_first(cf);
    assert!(is_malformed(&s.step(b"c=biws,r=abcSERVERNONCE,p=\xff\xfe")));
    let (mut s, _) = after_first(cf);
    let mut big = b"c=biws,r=abcSERVERNONCE,x=".to_vec();
    big.resize(crate::MAX_MESSAGE_LEN + 1, b'a');
    assert!(is_malformed(&s.step(&big)));
    // a well-formed proof of the right length that is wrong
    let (mut s, _) = after_first(cf);
    let proof = STANDARD.encode([0u8; 32]);
    let r = s.step(format!("c=biws,r=abcSERVERNONCE,p={proof}").as_bytes());
    assert_eq!(r, Err(AuthError::NotAuthorized));
}

#[test]
fn malformed_client_first() {
    for (msg, why) in [
        ("p=tls-unique,,n=user,r=abc", "channel binding requested"),
        (
            "p=tls-server-end-point,,n=user,r=abc",
            "channel binding requested",
        ),
        ("x,,n=user,r=abc", "bad flag"),
        ("n,,r=abc", "missing n"),
        ("n,,n=user", "missing r"),
        ("n,,n=user,r=", "empty nonce"),
        ("n,,n=,r=abc", "empty username"),
        ("n,,", "missing bare"),
        ("n,n=user,r=abc", "missing gs2 comma"),
        ("n", "no comma"),
        ("n,,m=ext,n=user,r=abc", "m extension first"),
        ("n,,n=user,r=abc,m=ext", "m extension later"),
        ("n,,n=user,r=abc,1=x", "bad extension name"),
        ("n,,n=user,r=abc,x=", "empty extension value"),
        ("n,,n=us=er,r=abc", "bad escape"),
        ("n,,n=us=2c,r=abc", "lowercase escape"),
        ("n,,n=user=,r=abc", "truncated escape"),
        ("n,,n=user,r=a\u{e9}", "non-ASCII nonce"),
        ("n,,n=user,r=a b", "space in nonce"),
        ("n,,n=u\0ser,r=abc", "NUL"),
        ("n,,n=\u{00AD},r=abc", "empty after SASLprep"),
        ("n,x=y,n=user,r=abc", "bad authzid attribute"),
    ] {
        let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
        let r = s.start(msg.as_bytes());
        assert!(is_malformed(&r), "{why}: {r:?}");
    }
    let mut s = SaslServer::new(Mechanism::ScramSha1, VHOST);
    assert!(is_malformed(&s.start(b"n,,n=us\xffer,r=abc")));
    let mut s = SaslServer::new(Mechanism::ScramSha1, VHOST);
    let r = s.start("n,,n=a\u{0007},r=abc".as_bytes());
    assert!(matches!(r, Err(AuthError::Saslprep(_))), "{r:?}");
    assert_eq!(r.unwrap_err().condition(), "malformed-request");
}

#[test]
fn client_first_accepted_forms() {
    for (msg, user) in [
        ("n,,n=user,r=abc", "user"),
        ("y,,n=user,r=abc", "user"),
        ("n,,n=us=2Cer=3D,r=abc", "us,er="),
        ("n,,n=I\u{00AD}X,r=abc", "IX"),
        ("n,,n=user,r=abc,x=ignored", "user"),
        ("n,a=user@example.com,n=user,r=abc", "user"),
    ] {
        let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
        assert_eq!(
            s.start(msg.as_bytes()),
            Ok(SaslStep::NeedCredentials {
                username: user.into()
            })
        );
    }
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    assert_eq!(
        s.start(b"n,a=admin@example.com,n=user,r=abc"),
        Err(AuthError::InvalidAuthzid)
    );
}

#[test]
fn y_flag_binds_its_own_header() {
    let (mut s, _) = after_first("y,,n=user,r=abc");
    let r = s.step(b"c=biws,r=abcSERVERNONCE,p=AAAA");
    assert!(is_malformed(&r), "{r:?}");
    let mut client = ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "abc").unwrap();
    let (mut s, sf) = after_first("y,,n=user,r=abc");
    let fin = String::from_utf8(client.handle_server_first(sf.as_bytes()).unwrap()).unwrap();
    let fin = fin.replace("c=biws", "c=eSws");
    // the proof covers c=, so it no longer verifies, but the binding passes
    assert_eq!(s.step(fin.as_bytes()), Err(AuthError::NotAuthorized));
}

#[test]
fn authzid_round_trip() {
    let mut client = ScramClient::new(ScramHash::Sha256, "user", "pencil")
        .unwrap()
        .with_authzid("user@example.com");
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    s.start(&client.client_first()).unwrap();
    let sf = challenge(s.credentials(Some(pencil())));
    let fin = client.handle_server_first(&sf).unwrap();
    let Ok(SaslStep::Success {
        additional_data, ..
    }) = s.step(&fin)
    else {
        panic!()
    };
    client.verify_server_final(&additional_data).unwrap();
}

#[test]
fn empty_initial_response() {
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    assert_eq!(s.start(b""), Ok(SaslStep::Challenge(vec![])));
    let mut client = ScramClient::new(ScramHash::Sha256, "user", "pencil").unwrap();
    assert!(matches!(
        s.step(&client.client_first()),
        Ok(SaslStep::NeedCredentials { .. })
    ));
    let sf = challenge(s.credentials(Some(pencil())));
    let fin = client.handle_server_first(&sf).unwrap();
    assert!(matches!(s.step(&fin), Ok(SaslStep::Success { .. })));
}

#[test]
fn out_of_order_calls() {
    let cf = b"n,,n=user,r=abc";
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    assert!(is_malformed(&s.step(cf)));
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    assert!(is_malformed(&s.credentials(Some(pencil()))));
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    s.start(cf).unwrap();
    assert!(is_malformed(&s.step(cf)), "step instead of credentials");
    assert!(
        is_malformed(&s.credentials(Some(pencil()))),
        "after an error"
    );
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    s.start(cf).unwrap();
    assert!(is_malformed(&s.start(cf)), "start twice");
    let (mut s, _) = after_first("n,,n=user,r=abc");
    assert!(
        is_malformed(&s.credentials(Some(pencil()))),
        "credentials twice"
    );
    // after success
    let mut client = ScramClient::new(ScramHash::Sha256, "user", "pencil").unwrap();
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    s.start(&client.client_first()).unwrap();
    let fin = client
        .handle_server_first(&challenge(s.credentials(Some(pencil()))))
        .unwrap();
    assert!(matches!(s.step(&fin), Ok(SaslStep::Success { .. })));
    assert!(is_malformed(&s.step(&fin)), "replay after success");
    assert!(is_malformed(&s.start(cf)));
}

#[test]
fn unusable_stored_credentials() {
    let mut weak = pencil().clone();
    weak.sha256.iterations = 1000;
    let mut s = SaslServer::new(Mechanism::ScramSha256, VHOST);
    s.start(b"n,,n=user,r=abc").unwrap();
    let r = s.credentials(Some(&weak));
    assert!(matches!(r, Err(AuthError::InvalidCredentials(_))), "{r:?}");
    // SHA-1 credentials are still fine
    let mut s = SaslServer::new(Mechanism::ScramSha1, VHOST);
    s.start(b"n,,n=user,r=abc").unwrap();
    challenge(s.credentials(Some(&weak)));
}
