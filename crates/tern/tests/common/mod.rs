//! Shared harness of the integration tests: runs the real `tern` binary on ephemeral ports
//! with a SQLite data directory in a tempdir, and a small XMPP client ([`client::Client`])
//! that talks to it over real sockets (STARTTLS or direct TLS, SCRAM/PLAIN, bind).
#![allow(dead_code)]

pub mod bosh;
pub mod ca;
pub mod client;
pub mod http;
mod sasl;
mod session;
pub mod ws;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub use client::Client;

/// The vhost with open registration every test server serves.
pub const DOMAIN: &str = "localhost";
/// A second vhost with registration closed.
pub const CLOSED_DOMAIN: &str = "closed.test";

/// How long to wait for the server to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Server log lines kept for failure messages.
const LOG_KEEP: usize = 400;

/// The `tern` binary under test.
pub fn tern_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tern")
}

/// A running `tern serve` process; killed (SIGKILL) when dropped.
pub struct TestServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    config: PathBuf,
    /// STARTTLS listener.
    pub c2s: SocketAddr,
    /// Direct TLS listener (XEP-0368).
    pub c2s_tls: SocketAddr,
    /// BOSH over plain HTTP (servers started with [`TestServer::start_with`] only).
    pub http: Option<SocketAddr>,
    /// BOSH over HTTPS (servers started with [`TestServer::start_with`] only).
    pub https: Option<SocketAddr>,
    /// XMPP over WebSocket, `ws` (servers started with [`TestServer::start_with`] only).
    pub ws: Option<SocketAddr>,
    /// XMPP over WebSocket, `wss` (servers started with [`TestServer::start_with`] only).
    pub wss: Option<SocketAddr>,
    with_http: bool,
    /// `[[listeners]]` in the configuration: start-up waits until all are listening.
    listeners: usize,
    log: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    /// Start a server with the default test configuration; `limits` is extra TOML placed
    /// in the `[limits]` table (e.g. `"max_stanza_bytes = 10000"`).
    pub fn start(limits: &str) -> TestServer {
        Self::start_config(limits, None)
    }

    /// Like [`start`](Self::start), with `http`, `https` (BOSH, WebSocket at
    /// `/xmpp-websocket`), `ws` and `wss` listeners too, and `extra`
    /// TOML appended to the configuration (e.g. `"[bosh]\ninactivity_secs = 2"`).
    pub fn start_with(limits: &str, extra: &str) -> TestServer {
        Self::start_config(limits, Some(extra))
    }

    fn start_config(limits: &str, http_extra: Option<&str>) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut toml = config_toml(&dir.path().join("data"), limits);
        if let Some(extra) = http_extra {
            toml.push_str("\n[[listeners]]\nkind = \"http\"\naddress = \"127.0.0.1:0\"\n");
            toml.push_str("\n[[listeners]]\nkind = \"https\"\naddress = \"127.0.0.1:0\"\n");
            toml.push_str("\n[[listeners]]\nkind = \"ws\"\naddress = \"127.0.0.1:0\"\n");
            toml.push_str("\n[[listeners]]\nkind = \"wss\"\naddress = \"127.0.0.1:0\"\n\n");
            toml.push_str(extra);
            toml.push('\n');
        }
        Self::start_toml(dir, &toml, http_extra.is_some())
    }

    /// Start a server with a complete configuration `toml`, written to `<dir>/tern.toml`. It
    /// must set `data_dir` to [`data_dir`](Self::data_dir) (`<dir>/data`) and have `c2s` and
    /// `c2s_tls` listeners on port 0, plus `http` and `https` ones when `with_http`.
    pub fn start_toml(dir: tempfile::TempDir, toml: &str, with_http: bool) -> TestServer {
        let config = dir.path().join("tern.toml");
        std::fs::write(&config, toml).expect("write config");
        let mut s = TestServer {
            child: None,
            dir,
            config,
            c2s: SocketAddr::from(([127, 0, 0, 1], 0)),
            c2s_tls: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: None,
            https: None,
            ws: None,
            wss: None,
            with_http,
            listeners: toml.matches("[[listeners]]").count(),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut child = Command::new(tern_bin())
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tern serve");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel::<String>();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening") {
                    let _ = tx.send(line.clone());
                }
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                if l.len() >= LOG_KEEP {
                    l.remove(0);
                }
                l.push(line);
            }
        });
        self.child = Some(child);
        let (mut c2s, mut tls, mut http, mut https, mut ws, mut wss) = (None, None, None, None, None, None);
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let mut seen = 0;
        while seen < self.listeners || c2s.is_none() || tls.is_none() || (self.with_http && (http.is_none() || https.is_none())) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!("server did not report its listeners in time\n{}", self.log_tail()),
            };
            let Some(addr) = field(&line, "addr=").and_then(|a| a.parse::<SocketAddr>().ok()) else { continue };
            seen += 1;
            match field(&line, "kind=") {
                Some("C2s") => c2s = Some(addr),
                Some("C2sTls") => tls = Some(addr),
                Some("Http") => http = Some(addr),
                Some("Https") => https = Some(addr),
                Some("Ws") => ws = Some(addr),
                Some("Wss") => wss = Some(addr),
                _ => {}
            }
        }
        self.http = http;
        self.https = https;
        self.ws = ws;
        self.wss = wss;
        self.c2s = c2s.expect("c2s address");
        self.c2s_tls = tls.expect("c2s_tls address");
    }

    /// SIGKILL the server (no clean shutdown), then start it again on the same data
    /// directory; the listeners get new ephemeral ports.
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGKILL the server and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (a clean shutdown) and wait up to `within` for the process to exit; returns
    /// its exit code.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        let mut c = self.child.take().expect("server running");
        let status = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(st) = c.try_wait().expect("try_wait") {
                return st.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("the server did not exit within {within:?} of SIGTERM\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Wait up to `within` for a server log line containing every one of `parts`.
    pub async fn wait_for_log(&self, parts: &[&str], within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            {
                let l = self.log.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(line) = l.iter().find(|line| parts.iter().all(|p| line.contains(p))) {
                    return line.clone();
                }
            }
            if std::time::Instant::now() > deadline {
                panic!("no server log line with {parts:?} within {within:?}\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines the server logged (for failure messages).
    pub fn log_tail(&self) -> String {
        let l = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let start = l.len().saturating_sub(60);
        format!("--- server log (last lines) ---\n{}", l[start..].join("\n"))
    }

    /// Run `tern ARGS --config <this server's config>`; returns (status code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(tern_bin())
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .output()
            .expect("run tern cli");
        outcome(&out)
    }

    /// `tern user add JID --password PW` on this server's data directory.
    pub fn add_user(&self, jid: &str, password: &str) {
        let (code, out, err) = self.cli(&["user", "add", jid, "--password", password]);
        assert_eq!(code, 0, "tern user add {jid} failed: {out}{err}");
    }

    /// Trust anchors for the generated self-signed vhost certificates.
    pub fn certs_dir(&self) -> PathBuf {
        self.data_dir().join("certs")
    }

    /// A TCP connection to the STARTTLS listener, stream not yet opened.
    pub async fn connect(&self, domain: &str) -> Client {
        Client::connect(self.c2s, domain, &self.certs_dir()).await
    }

    /// STARTTLS, SCRAM-SHA-256 as `user@DOMAIN`, bind `resource` (random if None).
    pub async fn login(&self, user: &str, password: &str, resource: Option<&str>) -> Client {
        self.login_on(DOMAIN, &self.certs_dir(), user, password, resource).await
    }

    /// Like [`login`](Self::login), as `user@domain`, trusting the certificates in `trust`.
    pub async fn login_on(&self, domain: &str, trust: &Path, user: &str, password: &str, resource: Option<&str>) -> Client {
        let mut c = Client::connect(self.c2s, domain, trust).await;
        c.open_stream().await;
        c.starttls().await;
        c.auth_scram(tern_auth::ScramHash::Sha256, user, password)
            .await
            .unwrap_or_else(|f| panic!("login of {user} failed: {}\n{}", tern_wire::to_string(&f), self.log_tail()));
        c.bind(resource).await;
        c
    }

    /// Login, then initial presence; waits for nothing.
    pub async fn login_available(&self, user: &str, password: &str, resource: Option<&str>) -> Client {
        let mut c = self.login(user, password, resource).await;
        c.send_str("<presence/>").await;
        c
    }

    /// The BOSH endpoint over plain HTTP.
    pub fn bosh_ep(&self) -> http::Endpoint {
        http::Endpoint::plain(self.http.expect("server started with start_with (http listener)"))
    }

    /// The BOSH endpoint over HTTPS (the generated certificates are trusted).
    pub fn bosh_tls_ep(&self) -> http::Endpoint {
        http::Endpoint::tls(self.https.expect("server started with start_with (https listener)"), &self.certs_dir())
    }

    /// A fresh BOSH login and ping round trip works, then the session is terminated.
    pub async fn assert_bosh_alive(&self, ep: &http::Endpoint, user: &str, password: &str) {
        let mut b = bosh::Bosh::login(ep, 10, user, password, None).await;
        b.barrier().await;
        let r = b.terminate("").await;
        bosh::assert_terminal(&r, "");
    }

    /// A fresh login and ping round trip works: the server is alive and serving.
    pub async fn assert_alive(&self, user: &str, password: &str) {
        let mut c = self.login(user, password, None).await;
        c.ping_server().await;
        c.close().await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        self.kill9();
    }
}

/// (status code, stdout, stderr) of a finished `tern` command.
fn outcome(out: &std::process::Output) -> (i32, String, String) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Run `tern ARGS` to completion; returns [`outcome`]. Panics (after killing it) if it is
/// still running after `within`.
pub fn run_to_exit(args: &[&str], within: Duration) -> (i32, String, String) {
    let mut cmd = Command::new(tern_bin());
    cmd.args(args).env_remove("RUST_LOG").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn tern");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(within) else {
        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        panic!("tern {args:?} was still running after {within:?}");
    };
    outcome(&out.expect("wait for tern"))
}

/// The value after `key` up to the next space.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let i = line.find(key)? + key.len();
    line[i..].split_whitespace().next()
}

fn config_toml(data_dir: &Path, limits: &str) -> String {
    format!(
        r#"log_level = "info"
data_dir = "{data}"

[limits]
{limits}

[[listeners]]
kind = "c2s"
address = "127.0.0.1:0"

[[listeners]]
kind = "c2s_tls"
address = "127.0.0.1:0"

[[vhosts]]
domain = "{DOMAIN}"
self_signed = true
registration = "open"

[[vhosts]]
domain = "{CLOSED_DOMAIN}"
self_signed = true
registration = "closed"
"#,
        data = data_dir.display()
    )
}
