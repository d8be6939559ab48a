//! The null relay (issue 6): the thinnest server that takes the connections an XMPP server
//! takes, TCP and WebSocket (the RFC 6455 §4.2 opening handshake with the `xmpp`
//! subprotocol of RFC 7395 §3.1), and forwards each client's traffic to its paired client
//! with no XMPP processing at all. Measured by the same `chat` scenario (`--relay`), it is
//! the machine's limit that a server is compared with.
//!
//! After connecting (and the handshake) a client sends `pair <n> <side>`, side 0 or 1, as
//! one line (TCP) or one text message (WebSocket). Once both sides of pair n are there, the
//! relay forwards in both directions: TCP bytes as they are read; WebSocket text messages
//! re-framed, unmasked (RFC 6455 §5.1), towards the peer. When one side ends (end of
//! stream, error, close frame), the peer's connection is ended too.

mod ws;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest pair line accepted.
const MAX_LINE: usize = 64;

/// A running relay; it stops when dropped.
pub struct Relay {
    tcp: SocketAddr,
    ws: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Listen on `host` at `tcp_port` and `ws_port` (0: any free port).
    pub async fn start(host: &str, tcp_port: u16, ws_port: u16) -> io::Result<Relay> {
        let tcp = TcpListener::bind((host, tcp_port)).await?;
        let ws = TcpListener::bind((host, ws_port)).await?;
        let (tcp_addr, ws_addr) = (tcp.local_addr()?, ws.local_addr()?);
        let tcp_pairs = Arc::new(Pairing::default());
        let ws_pairs = Arc::new(Pairing::default());
        let tasks = vec![
            tokio::spawn(accept(tcp, move |s| tcp_client(s, tcp_pairs.clone()))),
            tokio::spawn(accept(ws, move |s| ws::client(s, ws_pairs.clone()))),
        ];
        Ok(Relay {
            tcp: tcp_addr,
            ws: ws_addr,
            tasks,
        })
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.ws
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// `tern-bench relay`: run until interrupted, saying where it listens on stderr.
pub async fn serve(host: &str, tcp_port: u16, ws_port: u16) -> io::Result<()> {
    let relay = Relay::start(host, tcp_port, ws_port).await?;
    eprintln!(
        "tern-bench relay: tcp on {}, ws on {} (pid {})",
        relay.tcp_addr(),
        relay.ws_addr(),
        std::process::id()
    );
    tokio::signal::ctrl_c().await
}

/// Accept connections for ever, one task each (past a failed accept, such as running out
/// of descriptors, after a pause).
async fn accept<F, Fut>(listener: TcpListener, handle: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if stream.set_nodelay(true).is_ok() {
                    tokio::spawn(handle(stream));
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Connections waiting for their partner, by pair number.
struct Pairing<T> {
    waiting: Mutex<HashMap<u64, (u8, oneshot::Sender<T>)>>,
}

impl<T> Default for Pairing<T> {
    fn default() -> Self {
        Pairing {
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Pairing<T> {
    /// Join pair `n` as `side`. The second of a pair hands itself to the first and gets
    /// `None`; the first waits and gets both (itself first). A side joining again replaces
    /// its earlier connection.
    async fn join(&self, n: u64, side: u8, me: T) -> Option<(T, T)> {
        let rx = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            match waiting.remove(&n) {
                Some((other, tx)) if other != side => {
                    let _ = tx.send(me);
                    return None;
                }
                _ => {
                    let (tx, rx) = oneshot::channel();
                    waiting.insert(n, (side, tx));
                    rx
                }
            }
        };
        rx.await.ok().map(|partner| (me, partner))
    }
}

/// `pair <n> <side>`.
fn parse_pair(line: &[u8]) -> io::Result<(u64, u8)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "expected `pair <n> <0|1>`");
    let line = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut words = line.split_ascii_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("pair"), Some(n), Some(side @ ("0" | "1")), None) => {
            Ok((n.parse().map_err(|_| bad())?, u8::from(side == "1")))
        }
        _ => Err(bad()),
    }
}

/// A TCP client and the bytes it sent after its pair line.
struct TcpSide {
    stream: TcpStream,
    early: Vec<u8>,
}

async fn tcp_client(mut stream: TcpStream, pairs: Arc<Pairing<TcpSide>>) -> io::Result<()> {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            break i;
        }
        if buf.len() > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "pair line too long",
            ));
        }
        let mut chunk = [0u8; MAX_LINE];
        match stream.read(&mut chunk).await? {
            0 => return Ok(()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let (n, side) = parse_pair(&buf[..end])?;
    let early = buf.split_off(end + 1);
    let Some((a, b)) = pairs.join(n, side, TcpSide { stream, early }).await else {
        return Ok(());
    };
    let (mut ar, mut aw) = a.stream.into_split();
    let (mut br, mut bw) = b.stream.into_split();
    let (ab, ba) = tokio::join!(
        copy(&a.early, &mut ar, &mut bw),
        copy(&b.early, &mut br, &mut aw)
    );
    ab.and(ba)
}

/// `early`, then everything `from` sends, to `to`; then end `to`'s stream.
async fn copy(
    early: &[u8],
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
) -> io::Result<()> {
    let mut copied = to.write_all(early).await;
    if copied.is_ok() {
        copied = tokio::io::copy(from, to).await.map(drop);
    }
    let _ = to.shutdown().await;
    copied
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn pair_lines() {
        assert_eq!(parse_pair(b"pair 12 1").unwrap(), (12, 1));
        assert_eq!(parse_pair(b" pair 0 0\r").unwrap(), (0, 0));
        for bad in [
            &b"pair 1 2"[..],
            b"pair x 0",
            b"pair 1",
            b"pair 1 0 x",
            b"PAIR 1 0",
        ] {
            assert!(
                parse_pair(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[tokio::test]
    async fn the_second_of_a_pair_meets_the_first() {
        let pairing = Arc::new(Pairing::<&str>::default());
        let first = tokio::spawn({
            let p = pairing.clone();
            async move { p.join(7, 0, "a").await }
        });
        while pairing.waiting.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        assert!(pairing.join(7, 1, "b").await.is_none());
        assert_eq!(first.await.unwrap(), Some(("a", "b")));
    }
}
