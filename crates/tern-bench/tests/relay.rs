//! The null relay, started in-process on ephemeral ports, measured by `chat --relay` over
//! TCP and WebSocket (RFC 7395 framing, the `xmpp` subprotocol), closed and open loop; and
//! the relay seen by bare sockets: bytes forwarded between the two sides of a pair, one
//! side's end (or WebSocket close frame) ending the peer, WebSocket messages re-framed
//! unmasked, a handshake without the `xmpp` subprotocol refused.

mod common;

use std::time::Duration;

use common::{assert_clean, assert_server_figures, bench};
use tern_bench::relay::Relay;
use tern_wire::websocket::{Opcode, encode_masked_frame};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_through_the_relay_over_tcp_and_ws() {
    let relay = Relay::start("127.0.0.1", 0, 0).await.expect("relay");
    // The relay runs in this process: its CPU is this process's.
    let pid = Some(std::process::id());
    for (transport, addr) in [("tcp", relay.tcp_addr()), ("ws", relay.ws_addr())] {
        let common = [
            "--relay",
            "--pairs",
            "2",
            "--warmup",
            "0.2",
            "--duration",
            "1",
        ];
        let closed: Vec<&str> = ["chat"].iter().chain(&common).copied().collect();
        let r = bench(transport, addr, pid, &closed).await;
        assert_clean(&r, 4);
        assert_server_figures(&r);
        assert!(r.delivered.is_some_and(|d| d > 0), "{}", r.to_json());
        assert!(r.latency_ms.is_some() && r.server.server_cpu_s_per_10k_msgs.is_some());
        assert_eq!(r.params["relay"], true);

        let open: Vec<&str> = closed.iter().copied().chain(["--rate", "200"]).collect();
        let r = bench(transport, addr, None, &open).await;
        assert_clean(&r, 4);
        assert!(
            r.sent.is_some_and(|s| s > 100) && r.delivered.is_some_and(|d| d > 100),
            "{}",
            r.to_json()
        );
    }
}

#[tokio::test]
async fn a_pair_of_sockets_talks_through_the_relay() {
    let relay = Relay::start("127.0.0.1", 0, 0).await.expect("relay");
    let mut a = TcpStream::connect(relay.tcp_addr()).await.expect("connect");
    // Bytes after the pair line wait for the partner.
    a.write_all(b"pair 5 0\nearly").await.expect("write");
    let mut b = TcpStream::connect(relay.tcp_addr()).await.expect("connect");
    b.write_all(b"pair 5 1\n").await.expect("write");
    assert_eq!(read_exactly(&mut b, 5).await, b"early");
    b.write_all(b"<x/>").await.expect("write");
    assert_eq!(read_exactly(&mut a, 4).await, b"<x/>");
    drop(a);
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), b.read_to_end(&mut rest)).await;
    assert!(
        matches!(ended, Ok(Ok(0))),
        "the peer's end ends b: {ended:?}"
    );

    let mut c = TcpStream::connect(relay.ws_addr()).await.expect("connect");
    c.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Protocol: chat\r\n\r\n",
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the relay closes a refused handshake");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}

#[tokio::test]
async fn websocket_messages_and_close_frames_cross_over() {
    let relay = Relay::start("127.0.0.1", 0, 0).await.expect("relay");
    let mut a = ws_pair(relay.ws_addr(), "pair 9 1").await;
    let mut b = ws_pair(relay.ws_addr(), "pair 9 0").await;
    let mut frame = Vec::new();
    encode_masked_frame(&mut frame, Opcode::Text, b"<m/>", [1, 2, 3, 4]);
    a.write_all(&frame).await.expect("write");
    // Unmasked, as a server sends it (RFC 6455 §5.1): FIN + text, length 4.
    assert_eq!(read_exactly(&mut b, 6).await, b"\x81\x04<m/>");
    frame.clear();
    encode_masked_frame(
        &mut frame,
        Opcode::Close,
        &1000u16.to_be_bytes(),
        [5, 6, 7, 8],
    );
    b.write_all(&frame).await.expect("write");
    assert_eq!(
        read_exactly(&mut a, 4).await,
        b"\x88\x02\x03\xe8",
        "close passed on"
    );
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), a.read_to_end(&mut rest)).await;
    assert!(
        matches!(ended, Ok(Ok(0))),
        "and a's connection ends: {ended:?}"
    );
}

/// A WebSocket client of the relay past the handshake and its pair message.
async fn ws_pair(addr: std::net::SocketAddr, line: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        b"GET /xmpp-websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Protocol: xmpp\r\n\r\n",
    )
    .await
    .expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.extend(read_exactly(&mut s, 1).await);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    assert!(head.contains("Sec-WebSocket-Protocol: xmpp\r\n"), "{head}");
    let mut frame = Vec::new();
    encode_masked_frame(&mut frame, Opcode::Text, line.as_bytes(), [9, 9, 9, 9]);
    s.write_all(&frame).await.expect("write");
    s
}

async fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut buf))
        .await
        .expect("in time")
        .expect("read");
    buf
}
