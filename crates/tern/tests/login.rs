//! Stream negotiation against the real binary: STARTTLS (RFC 6120 §5), SASL (§6: SCRAM-SHA-256,
//! SCRAM-SHA-1, PLAIN only under TLS, failures and the per-IP delay), direct TLS (XEP-0368),
//! resource binding (§7, random resource, conflicts), XEP-0077 registration per vhost, and the
//! `tern user` / `tern check-config` commands.

mod common;

use std::time::{Duration, Instant};

use common::client::{show, Client};
use common::{TestServer, CLOSED_DOMAIN, DOMAIN};
use tern_auth::ScramHash;
use tern_core::ns;

#[tokio::test]
async fn starttls_then_scram_sha256() {
    let srv = TestServer::start("");
    srv.add_user("alice@localhost", "wonderland");
    let mut c = srv.connect(DOMAIN).await;
    let f = c.open_stream().await;
    let h = c.header.clone().expect("server stream header");
    assert_eq!(h.from.as_deref(), Some(DOMAIN), "{h:?}");
    assert!(h.id.as_deref().is_some_and(|id| !id.is_empty()), "stream id: {h:?}");
    assert_eq!(h.version.as_deref(), Some("1.0"), "{h:?}");
    let tls = f.get_child("starttls", ns::TLS).unwrap_or_else(|| panic!("no starttls: {}", show(&f)));
    assert!(tls.has_child("required", ns::TLS), "STARTTLS must be required: {}", show(&f));
    assert!(c.mechanisms().is_empty(), "no SASL before TLS: {}", show(&f));
    c.starttls().await;
    let mechs = c.mechanisms();
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] {
        assert!(mechs.iter().any(|x| x == m), "{m} not offered after TLS: {mechs:?}");
    }
    c.auth_scram(ScramHash::Sha256, "alice", "wonderland").await.expect("SCRAM-SHA-256 succeeds");
    let f = c.features.clone().expect("features after SASL");
    assert!(f.has_child("bind", ns::BIND), "bind offered after SASL: {}", show(&f));
    assert!(f.has_child("sm", ns::SM), "XEP-0198 offered: {}", show(&f));
    assert!(!f.has_child("mechanisms", ns::SASL), "no second SASL: {}", show(&f));
    let jid = c.bind(Some("desk")).await;
    assert_eq!(jid, "alice@localhost/desk");
    c.iq_ok("<iq type='set' id='{id}'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>").await;
    c.ping_server().await;
    c.close().await;
}

#[tokio::test]
async fn scram_sha1_login() {
    let srv = TestServer::start("");
    srv.add_user("bob@localhost", "builder");
    let mut c = srv.connect(DOMAIN).await;
    c.open_stream().await;
    c.starttls().await;
    c.auth_scram(ScramHash::Sha1, "bob", "builder").await.expect("SCRAM-SHA-1 succeeds");
    assert_eq!(c.bind(Some("r")).await, "bob@localhost/r");
    c.ping_server().await;
}

#[tokio::test]
async fn plain_over_direct_tls() {
    let srv = TestServer::start("");
    srv.add_user("carol@localhost", "s3cret pw");
    let mut c = Client::connect_tls(srv.c2s_tls, DOMAIN, &srv.certs_dir()).await;
    let f = c.open_stream().await;
    assert!(!f.has_child("starttls", ns::TLS), "no STARTTLS on direct TLS: {}", show(&f));
    assert!(c.mechanisms().iter().any(|m| m == "PLAIN"), "PLAIN offered under TLS: {}", show(&f));
    let fail = c.auth_plain("carol", "wrong").await.expect_err("wrong password is refused");
    assert!(fail.has_child("not-authorized", ns::SASL), "{}", show(&fail));
    c.auth_plain("carol", "s3cret pw").await.expect("PLAIN succeeds under TLS");
    c.bind(None).await;
    c.ping_server().await;
}

#[tokio::test]
async fn plain_refused_before_tls() {
    let srv = TestServer::start("");
    srv.add_user("dave@localhost", "pw");
    let mut c = srv.connect(DOMAIN).await;
    c.open_stream().await;
    // STARTTLS is required on 5222: no SASL, PLAIN least of all, before it (RFC 6120 §5.3.1).
    let msg = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"\0dave\0pw");
    c.send_str(&format!("<auth xmlns='{}' mechanism='PLAIN'>{msg}</auth>", ns::SASL)).await;
    c.expect_stream_error("policy-violation").await;
    assert!(!c.stashed().iter().any(|e| e.is("success", ns::SASL)), "no success: {:?}", c.stashed());
    srv.assert_alive("dave", "pw").await;
}

/// Time from sending a wrong SCRAM proof to the `<failure/>`.
async fn failed_attempt(srv: &TestServer) -> Duration {
    let mut c = srv.connect(DOMAIN).await;
    c.open_stream().await;
    c.starttls().await;
    let mut scram = tern_auth::client::ScramClient::new(ScramHash::Sha256, "erin", "not her password").expect("client");
    let b64 = base64::engine::general_purpose::STANDARD;
    let first = base64::Engine::encode(&b64, scram.client_first());
    c.send_str(&format!("<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{first}</auth>", ns::SASL)).await;
    let ch = c.expect("challenge", |e| e.is("challenge", ns::SASL)).await;
    let server_first = base64::Engine::decode(&b64, ch.text().trim()).expect("b64");
    let fin = base64::Engine::encode(&b64, scram.handle_server_first(&server_first).expect("server-first"));
    let start = Instant::now();
    c.send_str(&format!("<response xmlns='{}'>{fin}</response>", ns::SASL)).await;
    let f = c.expect("SASL failure", |e| e.ns() == ns::SASL).await;
    let took = start.elapsed();
    assert!(f.is("failure", ns::SASL) && f.has_child("not-authorized", ns::SASL), "{}", show(&f));
    took
}

#[tokio::test]
async fn wrong_password_is_refused_with_a_growing_per_ip_delay() {
    let srv = TestServer::start("max_auth_failures_before_delay = 1");
    srv.add_user("erin@localhost", "right");
    // Each attempt on a new connection: the delay is per IP, not per stream.
    let d1 = failed_attempt(&srv).await;
    let d2 = failed_attempt(&srv).await;
    let d3 = failed_attempt(&srv).await;
    // The server's delay doubles from 250 ms; a 100 ms margin keeps noise from passing for it.
    let margin = Duration::from_millis(100);
    assert!(d2 > d1 + margin, "second failure should be slower than the first: {d1:?} then {d2:?}");
    assert!(d3 > d2 + margin, "third failure should be slower than the second: {d2:?} then {d3:?}");
    // The right password still works, and clears the record.
    srv.assert_alive("erin", "right").await;
    let d4 = failed_attempt(&srv).await;
    assert!(d4 < d3, "a success resets the delay: {d4:?} vs {d3:?}");
}

#[tokio::test]
async fn random_resource_when_none_requested() {
    let srv = TestServer::start("");
    srv.add_user("frank@localhost", "pw");
    let a = srv.login("frank", "pw", None).await;
    let b = srv.login("frank", "pw", None).await;
    let (ja, jb) = (a.full_jid(), b.full_jid());
    for j in [&ja, &jb] {
        let res = j.strip_prefix("frank@localhost/").unwrap_or_else(|| panic!("bad jid {j}"));
        assert!(!res.is_empty(), "empty resource in {j}");
    }
    assert_ne!(ja, jb, "two sessions get different random resources");
}

#[tokio::test]
async fn resource_conflict_kicks_the_first_session() {
    let srv = TestServer::start("");
    srv.add_user("gina@localhost", "pw");
    let mut first = srv.login("gina", "pw", Some("phone")).await;
    first.ping_server().await;
    let mut second = srv.login("gina", "pw", Some("phone")).await;
    first.expect_stream_error("conflict").await;
    assert_eq!(second.full_jid(), "gina@localhost/phone");
    second.ping_server().await;
}

/// Open a TLS-protected, unauthenticated stream to `domain`.
async fn secured(srv: &TestServer, domain: &str) -> Client {
    let mut c = srv.connect(domain).await;
    c.open_stream().await;
    c.starttls().await;
    c
}

#[tokio::test]
async fn in_band_registration_depends_on_the_vhost() {
    let srv = TestServer::start("");
    let mut c = secured(&srv, DOMAIN).await;
    let f = c.features.clone().expect("features");
    assert!(f.has_child("register", ns::REGISTER_FEATURE), "open vhost advertises registration: {}", show(&f));
    let form = c.iq_ok("<iq type='get' id='{id}'><query xmlns='jabber:iq:register'/></iq>").await;
    let q = form.get_child("query", ns::REGISTER).expect("form");
    assert!(q.has_child("username", ns::REGISTER) && q.has_child("password", ns::REGISTER), "{}", show(&form));
    let set = "<iq type='set' id='{id}'><query xmlns='jabber:iq:register'>\
               <username>newbie</username><password>fresh pw</password></query></iq>";
    c.iq_ok(set).await;
    let again = c.iq(set).await;
    assert_eq!(common::client::stanza_error_condition(&again).as_deref(), Some("conflict"), "{}", show(&again));
    c.auth_scram(ScramHash::Sha256, "newbie", "fresh pw").await.expect("the registered account logs in");
    c.bind(None).await;
    c.ping_server().await;

    let mut closed = secured(&srv, CLOSED_DOMAIN).await;
    let f = closed.features.clone().expect("features");
    assert!(!f.has_child("register", ns::REGISTER_FEATURE), "closed vhost hides registration: {}", show(&f));
    let r = closed.iq(set).await;
    assert_eq!(common::client::stanza_error_condition(&r).as_deref(), Some("not-allowed"), "{}", show(&r));
    let fail = closed.auth_scram(ScramHash::Sha256, "newbie", "fresh pw").await.expect_err("no account there");
    assert!(fail.has_child("not-authorized", ns::SASL), "{}", show(&fail));
    let (_, out, _) = srv.cli(&["user", "list", CLOSED_DOMAIN]);
    assert!(out.trim().is_empty(), "nothing registered on the closed vhost: {out}");
}

#[tokio::test]
async fn account_password_change_and_removal_in_band() {
    let srv = TestServer::start("");
    srv.add_user("jane@localhost", "old pw");
    let mut c = srv.login("jane", "old pw", None).await;
    let form = c.iq_ok("<iq type='get' id='{id}'><query xmlns='jabber:iq:register'/></iq>").await;
    assert!(show(&form).contains("registered"), "XEP-0077 §3.1 registered state: {}", show(&form));
    c.iq_ok("<iq type='set' id='{id}'><query xmlns='jabber:iq:register'>\
             <username>jane</username><password>new pw</password></query></iq>")
        .await;
    let mut other = secured(&srv, DOMAIN).await;
    assert!(other.auth_scram(ScramHash::Sha256, "jane", "old pw").await.is_err(), "old password refused");
    let mut d = srv.login("jane", "new pw", None).await;
    d.iq_ok("<iq type='set' id='{id}'><query xmlns='jabber:iq:register'><remove/></query></iq>").await;
    d.expect_stream_error("not-authorized").await;
    // The account is gone: no more logins, not listed.
    let mut e = secured(&srv, DOMAIN).await;
    assert!(e.auth_scram(ScramHash::Sha256, "jane", "new pw").await.is_err(), "removed account");
    let (_, out, _) = srv.cli(&["user", "list", DOMAIN]);
    assert!(!out.contains("jane"), "{out}");
}

#[tokio::test]
async fn sigterm_ends_sessions_with_system_shutdown() {
    let mut srv = TestServer::start("");
    srv.add_user("kim@localhost", "pw");
    let mut c = srv.login("kim", "pw", None).await;
    c.ping_server().await;
    let waiter = tokio::spawn(async move {
        c.expect_stream_error("system-shutdown").await;
    });
    let code = tokio::task::spawn_blocking(move || {
        let code = srv.terminate(Duration::from_secs(20));
        (code, srv)
    })
    .await
    .expect("join");
    waiter.await.expect("the client got system-shutdown");
    assert_eq!(code.0, Some(0), "clean exit after SIGTERM");
}

#[tokio::test]
async fn cli_manages_accounts_of_a_running_server() {
    let srv = TestServer::start("");
    srv.add_user("hank@localhost", "first");
    srv.add_user("ida@localhost", "pw");
    let (code, out, err) = srv.cli(&["user", "add", "hank@localhost", "--password", "dup"]);
    assert_ne!(code, 0, "adding an existing account fails: {out}{err}");
    let (code, out, err) = srv.cli(&["user", "add", "x@nowhere.example", "--password", "pw"]);
    assert_ne!(code, 0, "unknown vhost is refused: {out}{err}");
    let (code, out, _) = srv.cli(&["user", "list", DOMAIN]);
    assert_eq!(code, 0);
    let mut listed: Vec<&str> = out.lines().collect();
    listed.sort_unstable();
    assert_eq!(listed, ["hank@localhost", "ida@localhost"]);

    srv.assert_alive("hank", "first").await;
    let (code, out, err) = srv.cli(&["user", "passwd", "hank@localhost", "--password", "second"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut c = secured(&srv, DOMAIN).await;
    assert!(c.auth_scram(ScramHash::Sha256, "hank", "first").await.is_err(), "old password no longer works");
    srv.assert_alive("hank", "second").await;

    let (code, out, err) = srv.cli(&["user", "del", "ida@localhost"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut c = secured(&srv, DOMAIN).await;
    assert!(c.auth_scram(ScramHash::Sha256, "ida", "pw").await.is_err(), "deleted account can't log in");
    let (_, out, _) = srv.cli(&["user", "list", DOMAIN]);
    assert_eq!(out.trim(), "hank@localhost");
}

#[test]
fn check_config_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = std::process::Command::new(common::tern_bin()).arg("check-config").arg(&path).output().expect("run");
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), all)
    };
    let data = dir.path().join("data");
    let good = format!(
        "data_dir = \"{}\"\n[[listeners]]\nkind = \"c2s\"\naddress = \"127.0.0.1:0\"\n\
         [[vhosts]]\ndomain = \"example.test\"\nself_signed = true\n",
        data.display()
    );
    let (code, out) = run("good.toml", &good);
    assert_eq!(code, Some(0), "valid config: {out}");
    assert!(out.contains("ok"), "{out}");

    let (code, out) = run("typo.toml", &format!("{good}\n[limits]\nmax_stanza_byte = 20000\n"));
    assert_eq!(code, Some(1), "unknown key: {out}");
    assert!(out.contains("max_stanza_byte"), "the message names the key: {out}");

    let (code, out) = run("small.toml", &format!("{good}\n[limits]\nmax_stanza_bytes = 100\n"));
    assert_eq!(code, Some(1), "stanza limit below RFC 6120's 10000: {out}");
    assert!(out.contains("max_stanza_bytes"), "{out}");

    let (code, out) = run("novhost.toml", &format!("data_dir = \"{}\"\n", data.display()));
    assert_eq!(code, Some(1), "no vhosts: {out}");

    let missing = dir.path().join("does-not-exist.toml");
    let out = std::process::Command::new(common::tern_bin()).arg("check-config").arg(&missing).output().expect("run");
    assert_eq!(out.status.code(), Some(1), "missing file");
}
