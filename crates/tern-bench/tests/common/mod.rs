//! What the integration tests share: the real tern binary started on ephemeral ports
//! ([`Server`]), a scenario run through the library API ([`bench`]), and the assertions
//! every run must pass (every attempt succeeds; server figures present when a pid is
//! given), never how fast anything was.
//!
//! The binary is `$TERN_BIN`, else `target/debug/tern` of this workspace
//! (`cargo build -p tern` first; `scripts/test.sh` builds every binary before testing).
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use tern_bench::{Cli, Report};

/// The tern binary under test.
pub fn tern_bin() -> PathBuf {
    let bin = std::env::var_os("TERN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/tern")
        });
    assert!(
        bin.is_file(),
        "the tern binary is missing at {}: build it with `cargo build -p tern` or set TERN_BIN",
        bin.display()
    );
    bin
}

/// A running `tern serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    _dir: tempfile::TempDir,
    pub c2s: SocketAddr,
    pub tls: SocketAddr,
    pub http: SocketAddr,
    pub wss: SocketAddr,
    pub https: SocketAddr,
}

impl Server {
    /// Plain c2s allowing auth without TLS, HTTP (WebSocket at /xmpp-websocket, BOSH at
    /// /http-bind, any number of BOSH sessions from one address), wss and https; open registration;
    /// pings after one second of silence, so held sessions must answer.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("tern.toml");
        let toml = format!(
            r#"log_level = "info"
data_dir = "{}"

[limits]
ping_interval_secs = 1
ping_timeout_secs = 1

[websocket]
ping_interval_secs = 1
ping_timeout_secs = 1

[bosh]
creations_per_minute = 100000

[[listeners]]
kind = "c2s"
address = "127.0.0.1:0"
require_encryption = false

[[listeners]]
kind = "c2s_tls"
address = "127.0.0.1:0"

[[listeners]]
kind = "http"
address = "127.0.0.1:0"

[[listeners]]
kind = "wss"
address = "127.0.0.1:0"

[[listeners]]
kind = "https"
address = "127.0.0.1:0"

[[vhosts]]
domain = "localhost"
self_signed = true
registration = "open"
allow_plain_unencrypted = true
"#,
            dir.path().join("data").display()
        );
        std::fs::write(&config, toml).expect("write config");
        let mut child = Command::new(tern_bin())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tern serve");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut c2s, mut tls, mut http, mut wss, mut https) = (None, None, None, None, None);
        let mut log = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while [c2s, tls, http, wss, https].iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                panic!(
                    "tern did not report its listeners in time:\n{}",
                    log.join("\n")
                );
            };
            let addr = field(&line, "addr=").and_then(|a| a.parse::<SocketAddr>().ok());
            match (line.contains("listening"), field(&line, "kind="), addr) {
                (true, Some("C2s"), Some(a)) => c2s = Some(a),
                (true, Some("C2sTls"), Some(a)) => tls = Some(a),
                (true, Some("Http"), Some(a)) => http = Some(a),
                (true, Some("Wss"), Some(a)) => wss = Some(a),
                (true, Some("Https"), Some(a)) => https = Some(a),
                _ => {}
            }
            log.push(line);
        }
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Server {
            child,
            _dir: dir,
            c2s: c2s.expect("c2s"),
            tls: tls.expect("c2s_tls"),
            http: http.expect("http"),
            wss: wss.expect("wss"),
            https: https.expect("https"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value after `key` up to the next space (ANSI colour codes removed).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let i = line.find(key)? + key.len();
    line[i..]
        .split(|c: char| c.is_whitespace() || c == '\u{1b}')
        .next()
}

/// Run one scenario: `args` after the common options of this test.
pub async fn bench(transport: &str, addr: SocketAddr, pid: Option<u32>, args: &[&str]) -> Report {
    let port = addr.port().to_string();
    let mut argv = vec!["tern-bench"];
    argv.extend_from_slice(args);
    argv.extend([
        "--transport",
        transport,
        "--port",
        &port,
        "--insecure",
        "--quiet",
        "--prefix",
        "u",
        "--password",
        "s3cret",
    ]);
    argv.extend(["--label", "test", "--concurrency", "5", "--timeout", "20"]);
    let pid = pid.map(|p| p.to_string());
    if let Some(pid) = &pid {
        argv.extend(["--server-pid", pid]);
    }
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let report = tern_bench::run(&cli)
        .await
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    eprintln!("{}", report.to_json());
    report
}

pub fn assert_clean(r: &Report, ok: u64) {
    assert_eq!(
        (r.ok, r.failed),
        (ok, 0),
        "{} over {}: {:?}",
        r.scenario,
        r.transport,
        r.errors
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

pub fn assert_server_figures(r: &Report) {
    let s = &r.server;
    assert!(
        s.server_cpu_s.is_some() && s.server_cpu_util.is_some(),
        "{}",
        r.to_json()
    );
    assert!(
        s.server_rss_before_mb.is_some_and(|m| m > 0.0),
        "{}",
        r.to_json()
    );
    assert!(
        s.server_rss_after_mb.is_some_and(|m| m > 0.0),
        "{}",
        r.to_json()
    );
    assert!(r.loader_rss_mb > 0.0);
}
