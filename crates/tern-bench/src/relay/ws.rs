//! The null relay's WebSocket side: the server's half of the RFC 6455 §4.2 opening
//! handshake, which must offer the `xmpp` subprotocol (RFC 7395 §3.1) and gets it echoed on
//! any path; then the client's masked frames are decoded (tern-wire's codec, server role),
//! the first text message is the pair line, and every later text message goes to the peer
//! as one unmasked text frame. A close frame from one side goes to the other, and ends it.

use std::io;
use std::sync::Arc;

use tern_wire::websocket::{Opcode, WsCodec, WsMessage, encode_close, encode_frame};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::{Pairing, parse_pair};
use crate::conn::accept_for;
use crate::conn::http::field;

/// Largest message relayed, and largest handshake request.
const MAX_MESSAGE: usize = 1 << 20;
const MAX_HEAD: usize = 16 * 1024;
/// Bytes read at a time.
const CHUNK: usize = 16 * 1024;

/// A WebSocket client after its pair message: its decoder (holding any partial frame) and
/// the text messages that came with the pair message.
pub(super) struct WsSide {
    stream: TcpStream,
    codec: WsCodec,
    early: Vec<String>,
}

pub(super) async fn client(mut stream: TcpStream, pairs: Arc<Pairing<WsSide>>) -> io::Result<()> {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD || read_some(&mut stream, &mut buf).await? == 0 {
            return Ok(());
        }
    };
    let key = match check_request(&String::from_utf8_lossy(&buf[..end])) {
        Ok(key) => key,
        Err(reason) => {
            let refusal = format!(
                "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{reason}",
                reason.len()
            );
            return stream.write_all(refusal.as_bytes()).await;
        }
    };
    let accept = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n",
        accept_for(&key)
    );
    stream.write_all(accept.as_bytes()).await?;
    let mut codec = WsCodec::new(MAX_MESSAGE);
    let mut messages = Vec::new();
    let mut bytes = buf.split_off(end + 4);
    let pair = loop {
        codec
            .feed(&bytes, &mut messages)
            .map_err(io::Error::other)?;
        if let Some(i) = messages
            .iter()
            .position(|m| matches!(m, WsMessage::Text(_)))
        {
            break messages.remove(i);
        }
        if messages.iter().any(|m| matches!(m, WsMessage::Close(_))) {
            return Ok(());
        }
        bytes.clear();
        if read_some(&mut stream, &mut bytes).await? == 0 {
            return Ok(());
        }
    };
    let WsMessage::Text(line) = pair else {
        return Ok(());
    };
    let (n, side) = parse_pair(line.as_bytes())?;
    let early = messages
        .into_iter()
        .filter_map(|m| match m {
            WsMessage::Text(t) => Some(t),
            _ => None,
        })
        .collect();
    let me = WsSide {
        stream,
        codec,
        early,
    };
    let Some((a, b)) = pairs.join(n, side, me).await else {
        return Ok(());
    };
    let (ar, aw) = a.stream.into_split();
    let (br, bw) = b.stream.into_split();
    let (ab, ba) = tokio::join!(
        pump(ar, a.codec, a.early, bw),
        pump(br, b.codec, b.early, aw)
    );
    ab.and(ba)
}

/// Read what is there (up to [`CHUNK`] bytes) onto `buf`; 0 at end of stream.
async fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; CHUNK];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// The `Sec-WebSocket-Key` of an upgrade request offering the `xmpp` subprotocol.
fn check_request(head: &str) -> Result<String, &'static str> {
    let (line, fields) = head.split_once("\r\n").unwrap_or((head, ""));
    if !line.starts_with("GET ") || !line.ends_with(" HTTP/1.1") {
        return Err("not a GET over HTTP/1.1");
    }
    let has = |name: &str, token: &str| {
        field(fields, name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has("upgrade", "websocket") || !has("sec-websocket-protocol", "xmpp") {
        return Err("not a WebSocket upgrade offering the xmpp subprotocol");
    }
    field(fields, "sec-websocket-key")
        .map(str::to_owned)
        .ok_or("no Sec-WebSocket-Key")
}

/// `early`, then every text message `from` sends, to `to` as unmasked frames; a close frame
/// is passed on and ends the pump, as does the end of `from`'s stream. Then `to` ends.
async fn pump(
    mut from: OwnedReadHalf,
    mut codec: WsCodec,
    early: Vec<String>,
    mut to: OwnedWriteHalf,
) -> io::Result<()> {
    let mut out = Vec::new();
    for text in early {
        encode_frame(&mut out, Opcode::Text, text.as_bytes());
    }
    let (mut buf, mut messages) = (vec![0u8; CHUNK], Vec::new());
    let result = loop {
        if !out.is_empty() {
            if let Err(e) = to.write_all(&out).await {
                break Err(e);
            }
            out.clear();
        }
        let n = match from.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        let fed = codec.feed(&buf[..n], &mut messages);
        let mut closed = false;
        for m in messages.drain(..) {
            match m {
                WsMessage::Text(t) => encode_frame(&mut out, Opcode::Text, t.as_bytes()),
                WsMessage::Close(_) => {
                    encode_close(&mut out, 1000, "");
                    closed = true;
                }
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            }
        }
        if closed || fed.is_err() {
            let _ = to.write_all(&out).await;
            break fed.map_err(io::Error::other);
        }
    };
    let _ = to.shutdown().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_requests() {
        let ok = "GET /xmpp-websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Protocol: chat, xmpp";
        assert_eq!(check_request(ok), Ok("k==".to_owned()));
        assert!(check_request(&ok.replace("xmpp", "other")).is_err());
        assert!(check_request(&ok.replace("GET", "POST")).is_err());
        assert!(check_request(&ok.replace("Upgrade: websocket\r\n", "")).is_err());
        assert!(check_request(&ok.replace("Sec-WebSocket-Key: k==\r\n", "")).is_err());
    }
}
