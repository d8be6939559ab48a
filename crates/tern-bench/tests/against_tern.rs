//! tern-bench against the real tern binary on ephemeral ports: register, login, idle and
//! chat over TCP (RFC 6120), direct TLS (XEP-0368), WebSocket and secure WebSocket (RFC
//! 7395), through the
//! library API. Asserts what must hold (every attempt succeeds, server figures present
//! when a pid is given), never how fast anything was.
//!
//! The binary is `$TERN_BIN`, else `target/debug/tern` of this workspace
//! (`cargo build -p tern` first; `scripts/test.sh` builds every binary before testing).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use tern_bench::{Cli, Report};

/// The tern binary under test.
fn tern_bin() -> PathBuf {
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
struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    c2s: SocketAddr,
    tls: SocketAddr,
    http: SocketAddr,
    wss: SocketAddr,
}

impl Server {
    /// Plain c2s allowing auth without TLS, HTTP (WebSocket at /xmpp-websocket) and wss;
    /// open registration; pings after one second of silence, so held sessions must answer.
    fn start() -> Server {
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
        let (mut c2s, mut tls, mut http, mut wss) = (None, None, None, None);
        let mut log = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while c2s.is_none() || tls.is_none() || http.is_none() || wss.is_none() {
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
async fn bench(transport: &str, addr: SocketAddr, pid: Option<u32>, args: &[&str]) -> Report {
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

fn assert_clean(r: &Report, ok: u64) {
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

fn assert_server_figures(r: &Report) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_over_tcp_tls_ws_and_wss() {
    let server = Server::start();
    let pid = Some(server.child.id());
    let transports = [
        ("tcp", server.c2s),
        ("tls", server.tls),
        ("ws", server.http),
        ("wss", server.wss),
    ];

    let r = bench("tcp", server.c2s, pid, &["register", "--count", "20"]).await;
    assert_clean(&r, 20);
    assert_eq!(r.existing, Some(0));
    let r = bench("ws", server.http, pid, &["register", "--count", "20"]).await;
    assert_clean(&r, 20);
    assert_eq!(r.existing, Some(20), "registered already over tcp");

    for (transport, addr) in transports {
        let r = bench(transport, addr, pid, &["login", "--count", "20"]).await;
        assert_clean(&r, 20);
        assert_server_figures(&r);
        assert!(r.server.server_cpu_s_per_1000_logins.is_some());
        assert_eq!(r.login_ms.map(|_| r.logins_per_s.is_some()), Some(true));

        let r = bench(
            transport,
            addr,
            pid,
            &["idle", "--count", "10", "--hold", "1"],
        )
        .await;
        assert_clean(&r, 10);
        assert_server_figures(&r);
        assert_eq!(r.sessions, Some(10));
        assert!(
            r.server.server_rss_per_session_kb.is_some() && r.loader_rss_per_session_kb.is_some()
        );

        let r = bench(
            transport,
            addr,
            pid,
            &["chat", "--pairs", "2", "--warmup", "0.2", "--duration", "1"],
        )
        .await;
        assert_clean(&r, 4);
        assert_server_figures(&r);
        assert!(r.delivered.is_some_and(|d| d > 0), "{}", r.to_json());
        assert!(r.latency_ms.is_some() && r.server.server_cpu_s_per_10k_msgs.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_sessions_answer_pings_and_open_loop_chat_runs() {
    let server = Server::start();
    let r = bench(
        "tcp",
        server.c2s,
        None,
        &["register", "--count", "4", "--first", "100"],
    )
    .await;
    assert_clean(&r, 4);
    let sources = [
        "login",
        "--count",
        "4",
        "--first",
        "100",
        "--source-ips",
        "127.0.0.2,127.0.0.3",
    ];
    assert_clean(&bench("tcp", server.c2s, None, &sources).await, 4);
    // Pings come after 1 s of silence and must be answered within 1 s: a session that
    // ignored them (XEP-0199 iq or WebSocket ping) would be gone within the 3 s hold.
    for (transport, addr) in [("tcp", server.c2s), ("ws", server.http)] {
        let r = bench(
            transport,
            addr,
            None,
            &["idle", "--count", "4", "--first", "100", "--hold", "3"],
        )
        .await;
        assert_clean(&r, 4);
        assert_eq!(r.sessions, Some(4));
        assert!(r.server.server_cpu_s.is_none(), "no pid, no server figures");
    }
    let r = bench(
        "ws",
        server.http,
        None,
        &[
            "chat",
            "--pairs",
            "2",
            "--first",
            "100",
            "--rate",
            "200",
            "--warmup",
            "0.2",
            "--duration",
            "1",
        ],
    )
    .await;
    assert_clean(&r, 4);
    assert!(
        r.sent.is_some_and(|s| s > 100) && r.delivered.is_some_and(|d| d > 100),
        "{}",
        r.to_json()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("runs.jsonl");
    r.emit(true, Some(&out)).expect("emit");
    r.emit(false, Some(&out)).expect("emit");
    let lines = std::fs::read_to_string(&out).expect("read --out file");
    assert_eq!(lines.lines().count(), 2, "one JSON line appended per run");
    let json: serde_json::Value =
        serde_json::from_str(lines.lines().next().unwrap_or("")).expect("JSON");
    assert_eq!(json["scenario"], "chat");
    assert_eq!(json["params"]["loop"], "open");
}
