//! Several vhosts on one server, against the real binary with certificates from a test CA:
//! the certificate each TLS handshake gets (SNI on direct TLS, XEP-0368, and on HTTPS for
//! XEP-0206; the stream's `to` on RFC 6120 §5 STARTTLS), per-vhost accounts and XEP-0077
//! registration policy, RFC 6121 routing between the vhosts, and reloading certificates with
//! `tern cert reload` and SIGHUP without dropping connections.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::ca::{Leaf, Sni, TestCa};
use common::client::{show, stanza_error_condition, Client};
use common::TestServer;
use minidom::Element;
use rustls::pki_types::CertificateDer;
use tern_auth::ScramHash;
use tern_core::ns;

/// The first vhost (registration open): its certificate is the default.
const A: &str = "a.test";
/// The second vhost (registration closed).
const B: &str = "b.test";
/// A node host name with its own `[[certificates]]` entry (no vhost certificate covers it).
const NODE: &str = "t2.a.test";
const UNKNOWN: &str = "unknown.test";
/// Deadline for waits on the server (start-up, exit, a reload to take effect).
const WAIT: Duration = Duration::from_secs(30);

/// A test CA and the certificates of A, B and NODE it issued, in `dir`.
struct Certs {
    ca: TestCa,
    dir: PathBuf,
    a: Leaf,
    b: Leaf,
    node: Leaf,
}

impl Certs {
    fn new(dir: PathBuf) -> Certs {
        std::fs::create_dir_all(&dir).expect("pki dir");
        let ca = TestCa::new(&dir);
        let (a, b, node) = (ca.issue(&dir, "a", A), ca.issue(&dir, "b", B), ca.issue(&dir, "node", NODE));
        Certs { ca, dir, a, b, node }
    }

    /// The configuration: `a` is A's certificate (A is listed first), then B and NODE.
    fn config_toml(&self, data_dir: &Path, a: &Leaf, with_http: bool) -> String {
        let kinds: &[&str] = if with_http { &["c2s", "c2s_tls", "http", "https"] } else { &["c2s", "c2s_tls"] };
        let listeners: String = kinds.iter().map(|k| format!("[[listeners]]\nkind = \"{k}\"\naddress = \"127.0.0.1:0\"\n")).collect();
        let files = |l: &Leaf| format!("cert = \"{}\", key = \"{}\"", l.cert.display(), l.key.display());
        format!(
            "log_level = \"info\"\ndata_dir = \"{data}\"\n\
             vhosts = [{{ domain = \"{A}\", {a}, registration = \"open\" }}, \
                       {{ domain = \"{B}\", {b}, registration = \"closed\" }}]\n\
             certificates = [{{ domain = \"{NODE}\", {node} }}]\n\
             {listeners}[limits]\nmax_auth_failures_before_delay = 20\n",
            data = data_dir.display(),
            a = files(a),
            b = files(&self.b),
            node = files(&self.node),
        )
    }

    /// Which of these certificates `der` is, for failure messages.
    fn name_of(&self, der: &CertificateDer<'_>) -> &'static str {
        [(&self.a, A), (&self.b, B), (&self.node, NODE)]
            .into_iter()
            .find(|(leaf, _)| leaf.der == *der)
            .map_or("another certificate", |(_, name)| name)
    }

    fn assert_is(&self, got: &CertificateDer<'_>, want: &Leaf, what: &str) {
        assert!(got == &want.der, "{what}: the server presented {}'s certificate", self.name_of(got));
    }
}

/// A running server configured by [`Certs::config_toml`].
struct Fixture {
    srv: TestServer,
    c: Certs,
}

fn start(with_http: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Certs::new(dir.path().join("pki"));
    let toml = c.config_toml(&dir.path().join("data"), &c.a, with_http);
    let srv = TestServer::start_toml(dir, &toml, with_http);
    Fixture { srv, c }
}

impl Fixture {
    fn trust(&self) -> &Path {
        self.c.ca.trust_dir()
    }

    /// A TCP connection to the STARTTLS port with a stream opened to `domain`.
    async fn opened(&self, domain: &str) -> Client {
        let mut c = Client::connect(self.srv.c2s, domain, self.trust()).await;
        c.open_stream().await;
        c
    }

    async fn login(&self, domain: &str, user: &str, password: &str, resource: &str) -> Client {
        self.srv.login_on(domain, self.trust(), user, password, Some(resource)).await
    }

    /// Log in, fetch the roster (so pushes arrive) and send initial presence.
    async fn online(&self, domain: &str, user: &str, resource: &str) -> Client {
        let mut c = self.login(domain, user, "pw", resource).await;
        c.iq_ok("<iq type='get' id='{id}'><query xmlns='jabber:iq:roster'/></iq>").await;
        c.send_str("<presence/>").await;
        c
    }

    /// The certificate a new direct TLS handshake with SNI A gets.
    async fn served_for_a(&self) -> CertificateDer<'static> {
        self.c.ca.direct_tls_cert(self.srv.c2s_tls, Sni::Checked(A)).await
    }

    /// `tern cert reload` against this server; returns (status, stdout + stderr).
    fn cert_reload(&self) -> (i32, String) {
        let (code, out, err) = self.srv.cli(&["cert", "reload"]);
        (code, format!("{out}{err}"))
    }
}

#[tokio::test]
async fn sni_picks_the_certificate_on_direct_tls_and_https() {
    let f = start(true);
    let https = f.srv.https.expect("https listener");
    for (port, addr) in [("c2s_tls", f.srv.c2s_tls), ("https", https)] {
        let cases = [
            (Sni::Checked(A), &f.c.a, "SNI a.test"),
            (Sni::Checked(B), &f.c.b, "SNI b.test"),
            (Sni::Checked(NODE), &f.c.node, "SNI of the node host name"),
            (Sni::Unchecked(UNKNOWN), &f.c.a, "an unknown SNI (default: the first vhost)"),
            (Sni::NoneUnchecked, &f.c.a, "no SNI (default: the first vhost)"),
        ];
        for (sni, want, what) in cases {
            let got = f.c.ca.direct_tls_cert(addr, sni).await;
            f.c.assert_is(&got, want, &format!("{port}, {what}"));
        }
    }
}

#[tokio::test]
async fn starttls_picks_the_certificate_by_stream_to_then_sni() {
    let f = start(false);
    let cases = [
        (Sni::None(B), &f.c.b, "no SNI: the stream's to (b.test)"),
        (Sni::Checked(A), &f.c.a, "SNI a.test on a stream to b.test: SNI wins"),
        (Sni::Unchecked(UNKNOWN), &f.c.b, "an unknown SNI: the stream's to (b.test)"),
    ];
    for (sni, want, what) in cases {
        let mut c = f.opened(B).await;
        let got = f.c.ca.starttls_cert(&mut c, sni).await;
        f.c.assert_is(&got, want, what);
        // The stream goes on over TLS: the restarted stream offers SASL.
        assert!(!c.mechanisms().is_empty(), "{what}: no SASL after STARTTLS: {:?}", c.features.as_ref().map(show));
    }
}

/// XEP-0077 registration of `user` with `password` on an unauthenticated TLS stream.
fn register_iq(user: &str, password: &str) -> String {
    format!(
        "<iq type='set' id='{{id}}'><query xmlns='jabber:iq:register'>\
         <username>{user}</username><password>{password}</password></query></iq>"
    )
}

/// A TLS-protected, unauthenticated stream to `domain`.
async fn secured(f: &Fixture, domain: &str) -> Client {
    let mut c = f.opened(domain).await;
    c.starttls().await;
    c
}

/// SCRAM as `user` on `domain` with `password` is refused with `not-authorized`.
async fn assert_login_refused(f: &Fixture, domain: &str, user: &str, password: &str) {
    let mut c = secured(f, domain).await;
    let fail = c
        .auth_scram(ScramHash::Sha256, user, password)
        .await
        .expect_err(&format!("{user}@{domain} must not log in with {password:?}"));
    assert!(fail.has_child("not-authorized", ns::SASL), "{}", show(&fail));
}

#[tokio::test]
async fn accounts_and_registration_policy_are_per_vhost() {
    let f = start(false);
    let mut open = secured(&f, A).await;
    open.iq_ok(&register_iq("carol", "pw on a")).await;
    let mut closed = secured(&f, B).await;
    let r = closed.iq(&register_iq("carol", "pw on b")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("not-allowed"), "{}", show(&r));
    let (_, listed, _) = f.srv.cli(&["user", "list", B]);
    assert!(listed.trim().is_empty(), "nothing registered on the closed vhost: {listed}");

    // The same local part on the other vhost is another account, with its own password.
    f.srv.add_user(&format!("carol@{B}"), "pw on b");
    let mut on_a = f.login(A, "carol", "pw on a", "x").await;
    let mut on_b = f.login(B, "carol", "pw on b", "x").await;
    assert_eq!(on_a.bare_jid(), format!("carol@{A}"));
    assert_eq!(on_b.bare_jid(), format!("carol@{B}"));
    on_a.ping_server().await;
    on_b.ping_server().await;
    assert_login_refused(&f, A, "carol", "pw on b").await;
    assert_login_refused(&f, B, "carol", "pw on a").await;

    // Removing one leaves the other.
    let (code, out, err) = f.srv.cli(&["user", "del", &format!("carol@{A}")]);
    assert_eq!(code, 0, "{out}{err}");
    assert_login_refused(&f, A, "carol", "pw on a").await;
    f.login(B, "carol", "pw on b", "y").await.ping_server().await;
}

/// A presence of type `ptype` ("available" = no type) from a resource of `from` (bare JID).
fn presence_from(from: &str, ptype: &'static str) -> impl Fn(&Element) -> bool {
    let from = from.to_owned();
    move |e| {
        e.is("presence", ns::CLIENT)
            && e.attr("from").is_some_and(|f| f.split('/').next() == Some(from.as_str()))
            && e.attr("type").unwrap_or("available") == ptype
    }
}

/// The subscription state of `jid` in `c`'s roster.
async fn subscription(c: &mut Client, jid: &str) -> Option<String> {
    let r = c.iq_ok("<iq type='get' id='{id}'><query xmlns='jabber:iq:roster'/></iq>").await;
    let q = r.get_child("query", ns::ROSTER)?;
    q.children().find(|i| i.attr("jid") == Some(jid)).and_then(|i| i.attr("subscription")).map(str::to_owned)
}

#[tokio::test]
async fn stanzas_between_vhosts_are_routed_locally() {
    let f = start(false);
    let (alice, bob) = (format!("alice@{A}"), format!("bob@{B}"));
    f.srv.add_user(&alice, "pw");
    f.srv.add_user(&bob, "pw");
    let mut a = f.online(A, "alice", "home").await;
    let mut b = f.online(B, "bob", "work").await;

    a.send_chat(&bob, "hello from a.test").await;
    assert_eq!(b.expect_message("hello from a.test").await.attr("from"), Some(format!("{alice}/home").as_str()));
    b.send_chat(&format!("{alice}/home"), "hello from b.test").await;
    assert_eq!(a.expect_message("hello from b.test").await.attr("from"), Some(format!("{bob}/work").as_str()));

    // RFC 6121 §3.1 across the vhosts: request, approval, then bob's presence reaches alice.
    a.send_str(&format!("<presence type='subscribe' to='{bob}'/>")).await;
    b.expect("bob: alice's subscription request", presence_from(&alice, "subscribe")).await;
    b.send_str(&format!("<presence type='subscribed' to='{alice}'/>")).await;
    a.expect("alice: subscribed", presence_from(&bob, "subscribed")).await;
    let p = a.expect("alice: bob's presence", presence_from(&bob, "available")).await;
    assert_eq!(p.attr("from"), Some(format!("{bob}/work").as_str()));
    assert_eq!(subscription(&mut a, &bob).await.as_deref(), Some("to"));
    assert_eq!(subscription(&mut b, &alice).await.as_deref(), Some("from"));
    // Bob's presence changes now reach alice, and his going offline too.
    b.send_str("<presence><show>away</show></presence>").await;
    a.expect("alice: bob away", |e| presence_from(&bob, "available")(e) && e.has_child("show", ns::CLIENT)).await;
    b.close().await;
    a.expect("alice: bob offline", presence_from(&bob, "unavailable")).await;
}

#[tokio::test]
async fn certificates_reload_by_command_and_sighup_without_dropping_connections() {
    let f = start(false);
    f.srv.add_user(&format!("alice@{A}"), "pw");
    let mut old = f.login(A, "alice", "pw", "old").await;
    f.c.assert_is(&f.served_for_a().await, &f.c.a, "before any reload");

    // Renewed in place (same paths, new key): `tern cert reload`.
    let y = f.c.ca.issue(&f.c.dir, "a", A);
    let (code, out) = f.cert_reload();
    assert_eq!(code, 0, "tern cert reload failed: {out}");
    assert!(out.contains("3 certificates"), "{out}");
    assert!(f.served_for_a().await == y.der, "a new handshake gets the renewed certificate");
    let mut c = f.opened(A).await;
    assert!(f.c.ca.starttls_cert(&mut c, Sni::None(A)).await == y.der, "STARTTLS gets it too");
    old.ping_server().await;

    // A broken file: the command fails naming it, the server logs it and keeps serving Y.
    let cert_path = y.cert.display().to_string();
    std::fs::write(&y.cert, "not a certificate\n").expect("break the certificate");
    let (code, out) = f.cert_reload();
    assert_ne!(code, 0, "a broken certificate must fail the reload: {out}");
    assert!(out.contains(&cert_path), "the error names {cert_path}: {out}");
    f.srv.wait_for_log(&["certificate reload failed", &cert_path], WAIT).await;
    assert!(f.served_for_a().await == y.der, "the old certificate stays after a failed reload");

    // A configuration file that no longer parses: the command cannot read the data directory
    // from it; with --data-dir it reaches the server, which reports the file and changes nothing.
    let config = f.srv.config_path().to_owned();
    let config_name = config.display().to_string();
    std::fs::write(&config, "vhosts = 3\n").expect("break the config");
    let (code, out) = f.cert_reload();
    assert_ne!(code, 0, "an unparsable configuration must fail the reload: {out}");
    assert!(out.contains(&config_name) && out.contains("nothing was reloaded"), "{out}");
    let data_dir = f.srv.data_dir().display().to_string();
    let (code, out, err) = f.srv.cli(&["cert", "reload", "--data-dir", &data_dir]);
    assert_ne!(code, 0, "the server must refuse an unparsable configuration: {out}{err}");
    assert!(err.contains(&config_name) && err.contains("keeping the old certificates"), "{err}");
    f.srv.wait_for_log(&["configuration file does not parse", &config_name], WAIT).await;
    assert!(f.served_for_a().await == y.der, "the old certificate stays");
    old.ping_server().await;

    // SIGHUP after the configuration moved A to a certificate at a new path.
    let z = f.c.ca.issue(&f.c.dir, "a-next", A);
    std::fs::write(&config, f.c.config_toml(&f.srv.data_dir(), &z, false)).expect("write config");
    let status = std::process::Command::new("kill").arg("-HUP").arg(f.srv.pid().to_string()).status().expect("kill");
    assert!(status.success(), "kill -HUP failed");
    let deadline = Instant::now() + WAIT;
    loop {
        let got = f.served_for_a().await;
        if got == z.der {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not bring the new certificate within {WAIT:?}\n{}", f.srv.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection made before every reload still carries stanzas both ways.
    let mut fresh = f.login(A, "alice", "pw", "fresh").await;
    old.send_chat(&format!("alice@{A}/fresh"), "still here").await;
    fresh.expect_message("still here").await;
    old.ping_server().await;
}

/// A configuration file in a new directory; `spoil` damages one file and returns its path.
fn unstarted(spoil: impl FnOnce(&Certs) -> PathBuf) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Certs::new(dir.path().join("pki"));
    let file = spoil(&c).display().to_string();
    let config = dir.path().join("tern.toml");
    std::fs::write(&config, c.config_toml(&dir.path().join("data"), &c.a, false)).expect("write config");
    let config = config.display().to_string();
    (dir, config, file)
}

/// `tern serve` after `spoil` damaged a file: exits non-zero, naming the file.
fn assert_start_fails(spoil: impl FnOnce(&Certs) -> PathBuf) {
    let (_dir, config, file) = unstarted(spoil);
    let (code, out, err) = common::run_to_exit(&["serve", "--config", &config], WAIT);
    assert_ne!(code, 0, "the server must not start: {out}{err}");
    assert!(err.contains(&file), "the error names {file}: {err}");
}

#[test]
fn a_bad_certificate_file_stops_start_up_naming_the_file() {
    assert_start_fails(|c| {
        std::fs::write(&c.b.cert, "-----BEGIN CERTIFICATE-----\nbroken\n").expect("write");
        c.b.cert.clone()
    });
    // A key that belongs to another certificate.
    assert_start_fails(|c| {
        let other = c.ca.issue(&c.dir, "other", NODE);
        std::fs::copy(&other.key, &c.node.key).expect("copy key");
        c.node.key.clone()
    });
}

#[test]
fn cert_reload_without_a_server_says_none_is_running() {
    let (_dir, config, _) = unstarted(|c| c.a.cert.clone());
    let (code, out, err) = common::run_to_exit(&["cert", "reload", "--config", &config], WAIT);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("no tern server is running"), "{err}");
}

#[tokio::test]
async fn one_server_per_data_directory_and_stale_control_sockets_are_replaced() {
    let mut f = start(false);
    let config = f.srv.config_path().display().to_string();
    let (code, out, err) = common::run_to_exit(&["serve", "--config", &config], WAIT);
    assert_ne!(code, 0, "a second server on the same data directory must not start: {out}");
    assert!(err.contains("another tern server is running"), "{err}");
    assert_eq!(f.cert_reload().0, 0, "the first server still answers");
    // SIGKILL leaves the socket file behind; the next start replaces it.
    f.srv.kill9();
    assert!(f.srv.data_dir().join("tern.ctl").exists(), "SIGKILL leaves the socket");
    assert_ne!(f.cert_reload().0, 0, "nobody answers on a stale socket");
    f.srv.kill9_and_restart();
    let (code, out) = f.cert_reload();
    assert_eq!(code, 0, "{out}");
}
