//! Tests for configuration parsing and validation (RFC 6120 §5 certificates,
//! RFC 6120 §13.12 limits).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::*;
use crate::tls::tests::TestPki;

fn keys(problems: &[ConfigProblem]) -> BTreeSet<String> {
    problems.iter().map(|p| p.key.clone()).collect()
}

#[test]
fn development_default_is_valid() {
    let cfg = Config::development_default();
    assert_eq!(cfg.validate(), vec![]);
    assert_eq!(cfg.vhosts.len(), 1);
    let v = &cfg.vhosts[0];
    assert_eq!(v.domain, "localhost");
    assert!(v.self_signed);
    assert_eq!(v.registration, Registration::Open);
    assert_eq!(cfg.listeners, default_listeners());
    assert_eq!(cfg.listeners[1].kind, ListenerKind::C2sTls);
    assert_eq!(cfg.storage_url(), "sqlite:./tern-data/tern.db");
}

#[test]
fn example_file_parses() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tern.example.toml");
    let cfg = Config::load(&path).unwrap();
    assert_eq!(cfg.vhosts.len(), 3);
    assert_eq!(cfg.listeners.len(), 7);
    assert_eq!(cfg.bosh.max_wait_secs, 50);
    assert_eq!(cfg.storage_url(), "sqlite:/var/lib/tern/tern.db");
    let problems = cfg.validate();
    assert_eq!(problems.len(), 6, "{problems:#?}");
    for p in problems {
        assert!(
            (p.key.ends_with(".cert") || p.key.ends_with(".key"))
                && p.message.starts_with("file not found: /etc/tern/"),
            "unexpected problem {p}"
        );
    }
}

#[test]
fn partial_file_uses_defaults_and_lowercases_domains() {
    let cfg = Config::from_toml_str(
        "[limits]\nmax_stanza_bytes = 20000\n\n[[vhosts]]\ndomain = \"Example.COM.\"\nself_signed = true\n",
    )
    .unwrap();
    assert_eq!(cfg.limits.max_stanza_bytes, 20000);
    assert_eq!(cfg.limits.sm_resume_timeout_secs, 300);
    assert_eq!(cfg.vhosts[0].domain, "example.com");
    assert_eq!(cfg.vhosts[0].registration, Registration::Closed);
    assert!(cfg.vhost("EXAMPLE.com").is_some());
    assert_eq!(cfg.listeners, default_listeners());
    assert_eq!(cfg.log_level, "info");
    assert_eq!(cfg.validate(), vec![]);
}

#[test]
fn unknown_keys_are_rejected_with_line() {
    for (text, key) in [
        ("log_levle = \"debug\"\n", "log_levle"),
        ("[limits]\nmax_stanza = 1\n", "max_stanza"),
        ("[[vhosts]]\ndomain = \"a\"\nregistraton = \"open\"\n", "registraton"),
        ("[[listeners]]\nkind = \"s2s\"\naddress = \"127.0.0.1:5269\"\n", "s2s"),
    ] {
        let err = Config::from_toml_str(text).unwrap_err();
        assert!(err.contains(key), "{err}");
        assert!(err.contains("line"), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.toml");
    std::fs::write(&path, "data_dir = \"x\"\nbogus = 1\n").unwrap();
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("tern.toml") && err.contains("bogus") && err.contains("line 2"), "{err}");
    assert!(matches!(Config::load(dir.path().join("none.toml")), Err(ConfigError::Io { .. })));
}

#[test]
fn storage_url_and_data_dir_override() {
    let cfg = Config::development_default().with_data_dir("/srv/tern");
    assert_eq!(cfg.storage_url(), "sqlite:/srv/tern/tern.db");
    assert_eq!(cfg.certs_dir(), PathBuf::from("/srv/tern/certs"));
    let mut cfg = cfg;
    cfg.storage.url = Some("postgres://tern@db/tern".into());
    assert_eq!(cfg.storage_url(), "postgres://tern@db/tern");
    assert_eq!(cfg.validate(), vec![]);
    for bad in ["mysql://x/y", "sqlite:", "postgres://", "tern.db"] {
        cfg.storage.url = Some(bad.into());
        assert_eq!(keys(&cfg.validate()), BTreeSet::from(["storage.url".into()]), "{bad}");
    }
    cfg.storage.url = Some("postgresql://u@h/db".into());
    assert_eq!(cfg.validate(), vec![]);
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let mut cfg = Config::development_default();
    cfg.log_level = "tern=loudest".into();
    cfg.limits.max_stanza_bytes = 5000;
    cfg.limits.auth_timeout_secs = 0;
    cfg.limits.sm_resume_timeout_secs = 90_000;
    cfg.limits.burst_bytes = 0;
    cfg.listeners.push(ListenerConfig::new(ListenerKind::C2s, "127.0.0.1:5222"));
    cfg.listeners.push(ListenerConfig::new(ListenerKind::C2sTls, "localhost"));
    cfg.vhosts.push(VhostConfig::new("LocalHost")); // duplicate, no cert
    cfg.vhosts.push(VhostConfig::new("bad_domain"));
    let mut only_key = VhostConfig::new("c.test");
    only_key.key = Some("/nonexistent/c.key".into());
    cfg.vhosts.push(only_key);
    let mut wild = VhostConfig::new("*.test");
    wild.self_signed = true;
    cfg.vhosts.push(wild);
    cfg.certificates.push(CertificateConfig {
        domain: "-x.test".into(),
        cert: "/nonexistent/x.crt".into(),
        key: "/nonexistent/x.key".into(),
    });
    let problems = cfg.validate();
    let expected: BTreeSet<String> = [
        "log_level",
        "limits.max_stanza_bytes",
        "limits.auth_timeout_secs",
        "limits.sm_resume_timeout_secs",
        "limits.burst_bytes",
        "listeners[6].address",
        "listeners[7].address",
        "vhosts[1].domain",
        "vhosts[1].cert",
        "vhosts[2].domain",
        "vhosts[2].cert",
        "vhosts[3].cert",
        "vhosts[4].domain",
        "certificates[0].domain",
        "certificates[0].cert",
        "certificates[0].key",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys(&problems), expected, "{problems:#?}");
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    let dup = problems.iter().find(|p| p.key == "vhosts[1].domain").unwrap();
    assert!(dup.message.contains("duplicate") && dup.message.contains("vhosts[0]"), "{dup}");

    let mut empty = Config::default();
    empty.listeners.clear();
    assert_eq!(
        keys(&empty.validate()),
        BTreeSet::from(["vhosts".into(), "listeners".into()])
    );
}

#[test]
fn certificate_files_are_parsed_and_matched() {
    let pki = TestPki::new();
    let a = pki.leaf("a", "a.test");
    let b = pki.leaf("b", "b.test");
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();

    let mut cfg = Config::default();
    let mut good = VhostConfig::new("a.test");
    good.cert = Some(a.cert.clone());
    good.key = Some(a.key.clone());
    cfg.vhosts.push(good.clone());
    cfg.certificates.push(CertificateConfig {
        domain: "*.b.test".into(),
        cert: b.cert.clone(),
        key: b.key.clone(),
    });
    assert_eq!(cfg.validate(), vec![]);

    let cases = [
        (garbage.clone(), a.key.clone(), "vhosts[1].cert", "no PEM certificate"),
        (a.cert.clone(), garbage.clone(), "vhosts[1].key", "no PEM private key"),
        (a.cert.clone(), b.key.clone(), "vhosts[1].key", "does not match"),
    ];
    for (cert, key, problem_key, msg) in cases {
        let mut cfg = cfg.clone();
        let mut v = VhostConfig::new("other.test");
        v.cert = Some(cert);
        v.key = Some(key);
        cfg.vhosts.push(v);
        let problems = cfg.validate();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].key, problem_key);
        assert!(problems[0].message.contains(msg), "{}", problems[0]);
    }

    // A [[certificates]] entry duplicating a vhost is flagged.
    let mut cfg = cfg.clone();
    cfg.certificates.push(CertificateConfig {
        domain: "A.test".into(),
        cert: a.cert.clone(),
        key: a.key.clone(),
    });
    assert_eq!(
        keys(&cfg.validate()),
        BTreeSet::from(["certificates[1].domain".into()])
    );
}

#[test]
fn ephemeral_ports_never_clash() {
    let mut cfg = Config::development_default();
    cfg.listeners = vec![
        ListenerConfig::new(ListenerKind::C2s, "127.0.0.1:0"),
        ListenerConfig::new(ListenerKind::C2sTls, "127.0.0.1:0"),
    ];
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    cfg.listeners.push(ListenerConfig::new(ListenerKind::C2sTls, "127.0.0.1:5223"));
    cfg.listeners.push(ListenerConfig::new(ListenerKind::C2s, "127.0.0.1:5223"));
    assert_eq!(keys(&cfg.validate()), BTreeSet::from(["listeners[3].address".to_owned()]));
}
