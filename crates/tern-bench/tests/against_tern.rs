//! tern-bench against the real tern binary on ephemeral ports: register, login, idle and
//! chat over TCP (RFC 6120), direct TLS (XEP-0368), WebSocket and secure WebSocket (RFC
//! 7395) and BOSH (XEP-0124/0206) over HTTP and HTTPS, and presence fan-out (RFC 6121),
//! through the library API. Asserts what must hold, never how fast anything was.

mod common;

use common::{Server, assert_clean, assert_server_figures, bench};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_over_every_transport() {
    let server = Server::start();
    let pid = Some(server.child.id());
    let transports = [
        ("tcp", server.c2s),
        ("tls", server.tls),
        ("ws", server.http),
        ("wss", server.wss),
        ("bosh", server.http),
        ("boshs", server.https),
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
        let bosh = transport.starts_with("bosh");
        assert_eq!(
            r.bosh_held,
            bosh.then_some(10),
            "one request held per BOSH session"
        );
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
    // ignored them (XEP-0199 iq, also inside BOSH bodies, or WebSocket ping) would be gone
    // within the 3 s hold.
    for (transport, addr) in [
        ("tcp", server.c2s),
        ("ws", server.http),
        ("bosh", server.http),
    ] {
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
    let open_loop = [
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
    ];
    let r = bench("bosh", server.http, None, &open_loop).await;
    assert_clean(&r, 4);
    assert!(r.delivered.is_some_and(|d| d > 100), "{}", r.to_json());
    let r = bench("ws", server.http, None, &open_loop).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_reaches_every_contact_and_rosters_are_set_up_once() {
    let server = Server::start();
    let pid = Some(server.child.id());
    let users = ["--users", "8", "--first", "200"];
    let r = bench(
        "tcp",
        server.c2s,
        None,
        &["register", "--count", "8", "--first", "200"],
    )
    .await;
    assert_clean(&r, 8);
    let presence = [
        "presence",
        "--contacts",
        "3",
        "--rate",
        "40",
        "--warmup",
        "0.3",
        "--duration",
        "1",
    ];
    let mut runs = Vec::new();
    for transport in ["tcp", "bosh"] {
        let addr = if transport == "tcp" {
            server.c2s
        } else {
            server.http
        };
        let args: Vec<&str> = presence.iter().chain(&users).copied().collect();
        let r = bench(transport, addr, pid, &args).await;
        assert_clean(&r, 8);
        assert_server_figures(&r);
        assert!(r.delivered.is_some_and(|d| d > 0), "{}", r.to_json());
        assert!(r.latency_ms.is_some() && r.server.server_cpu_s_per_10k_msgs.is_some());
        // Every change reaches the user's 3 contacts (all online), give or take the
        // changes in flight at the edges of the measured second.
        let fanout = r.fanout.unwrap_or(0.0);
        assert!(
            (fanout - 3.0).abs() < 0.5,
            "fan-out {fanout}: {}",
            r.to_json()
        );
        runs.push(r.roster_requests);
    }
    assert!(
        runs[0].is_some_and(|n| n > 0),
        "the first run subscribes: {runs:?}"
    );
    assert_eq!(runs[1], Some(0), "the second finds the rosters right");
}
