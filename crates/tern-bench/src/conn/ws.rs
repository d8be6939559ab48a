//! The client side of XMPP over WebSocket (RFC 7395): the RFC 6455 §4.1 opening handshake
//! asking for the `xmpp` subprotocol (§3.1: the server must echo it), masked client frames
//! (RFC 6455 §5.3), one element per text message (§3.3.3), pings answered with pongs
//! (§3.4), and the close handshake (RFC 6455 §7.1.2).

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::Rng as _;
use sha1::{Digest as _, Sha1};
use tern_wire::websocket::{Opcode, WsCodec, WsMessage, encode_masked_frame, parse_ws_message};
use tern_wire::{Limits, StreamEvent};

use super::Event;
use super::http::Head;
use crate::error::ClientError;
use crate::net::{Dialer, Io, read_into};
use crate::opts::Target;

/// RFC 6455 §1.3: appended to the key to compute `Sec-WebSocket-Accept`.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest handshake response accepted.
const MAX_RESPONSE: usize = 16 * 1024;
/// RFC 6455 §7.4.1: normal closure.
const CLOSE_NORMAL: u16 = 1000;

pub(super) struct WsFraming {
    codec: WsCodec,
    limits: Limits,
    /// Reused between reads.
    messages: Vec<WsMessage>,
    close_sent: bool,
    /// Frames that arrived with the handshake response.
    early: Vec<u8>,
}

impl WsFraming {
    /// Send the opening handshake for the target's path and check the server's answer.
    pub(super) async fn handshake(
        io: &mut Io,
        dialer: &Dialer,
        target: &Target,
        max_message: usize,
    ) -> Result<WsFraming, ClientError> {
        use tokio::io::AsyncWriteExt as _;
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        let key = B64.encode(raw);
        let mut req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n",
            dialer.http_path(),
            dialer.http_host(),
        );
        if let Some(origin) = &target.origin {
            req.push_str(&format!("Origin: {origin}\r\n"));
        }
        req.push_str("\r\n");
        io.write_all(req.as_bytes()).await?;
        io.flush().await?;
        let mut got = Vec::new();
        let end = loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if got.len() > MAX_RESPONSE {
                return Err(ClientError::Handshake("response headers too long".into()));
            }
            if read_into(io, |b| got.extend_from_slice(b)).await?.is_none() {
                return Err(ClientError::Handshake("connection closed".into()));
            }
        };
        check_response(&String::from_utf8_lossy(&got[..end]), &key)?;
        Ok(WsFraming {
            codec: WsCodec::client(max_message),
            limits: Limits {
                max_stanza_bytes: max_message,
                ..Limits::default()
            },
            messages: Vec::new(),
            close_sent: false,
            early: got.split_off(end + 4),
        })
    }

    /// The bytes that followed the handshake response (to be decoded first).
    pub(super) fn take_early(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.early)
    }

    /// Append `text` as one masked text frame.
    pub(super) fn frame_text(&mut self, out: &mut Vec<u8>, text: &str) {
        encode_masked_frame(out, Opcode::Text, text.as_bytes(), mask());
    }

    /// Append a close frame (once).
    pub(super) fn queue_close_frame(&mut self, out: &mut Vec<u8>) {
        if !self.close_sent {
            encode_masked_frame(out, Opcode::Close, &CLOSE_NORMAL.to_be_bytes(), mask());
            self.close_sent = true;
        }
    }

    /// Decode the server's frames; pongs and the answer to a close frame go to `out`.
    pub(super) fn decode(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        events: &mut VecDeque<Event>,
    ) -> Result<(), ClientError> {
        let fed = self.codec.feed(bytes, &mut self.messages);
        let mut messages = std::mem::take(&mut self.messages);
        let mut parsed = Ok(());
        for m in messages.drain(..) {
            match m {
                WsMessage::Text(text) => match parse_ws_message(text.as_bytes(), &self.limits) {
                    Ok(Some(StreamEvent::Open(_))) => events.push_back(Event::Open),
                    Ok(Some(StreamEvent::Element(el))) => events.push_back(Event::Element(el)),
                    Ok(Some(StreamEvent::Close)) => events.push_back(Event::Close),
                    Ok(None) => {}
                    Err(e) => parsed = parsed.and(Err(e)),
                },
                WsMessage::Ping(payload) => {
                    encode_masked_frame(out, Opcode::Pong, &payload, mask());
                    events.push_back(Event::Control);
                }
                WsMessage::Pong(_) => {}
                WsMessage::Close(_) => {
                    self.queue_close_frame(out);
                    events.push_back(Event::Close);
                }
            }
        }
        self.messages = messages;
        fed?;
        Ok(parsed?)
    }
}

/// A fresh masking key (RFC 6455 §5.3: unpredictable, one per frame).
fn mask() -> [u8; 4] {
    let mut m = [0u8; 4];
    rand::rng().fill_bytes(&mut m);
    m
}

/// The expected `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2).
pub(crate) fn accept_for(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(ACCEPT_GUID.as_bytes());
    B64.encode(h.finalize())
}

/// Check the response head (status line and headers, without the blank line): 101, the
/// accept value for `key`, and the `xmpp` subprotocol (RFC 7395 §3.1).
fn check_response(head: &str, key: &str) -> Result<(), ClientError> {
    let fail = |m: String| Err(ClientError::Handshake(m));
    let Ok(head) = Head::parse(head) else {
        return fail("bad status line".into());
    };
    if head.status != 101 {
        return fail(format!("HTTP status {}, not 101", head.status));
    }
    if head.field("sec-websocket-accept") != Some(accept_for(key).as_str()) {
        return fail("wrong or missing Sec-WebSocket-Accept".into());
    }
    let protocol = head.field("sec-websocket-protocol");
    if protocol != Some("xmpp") {
        return fail(format!("subprotocol {protocol:?} echoed, not xmpp"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tern_wire::websocket::encode_frame;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn accept_matches_rfc6455_example() {
        assert_eq!(accept_for(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn response_checks() {
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: xmpp";
        assert!(check_response(ok, KEY).is_ok());
        assert!(check_response(&ok.replace("101", "400"), KEY).is_err());
        assert!(check_response(&ok.replace("xmpp", "chat"), KEY).is_err());
        assert!(check_response(&ok.replace("\r\nSec-WebSocket-Protocol: xmpp", ""), KEY).is_err());
        assert!(check_response(&ok.replace("s3pP", "AAAA"), KEY).is_err());
    }

    #[test]
    fn decodes_messages_and_answers_control_frames() {
        let mut f = WsFraming {
            codec: WsCodec::client(4096),
            limits: Limits::default(),
            messages: Vec::new(),
            close_sent: false,
            early: Vec::new(),
        };
        let mut wire = Vec::new();
        encode_frame(&mut wire, Opcode::Text, b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='x' version='1.0'/>");
        encode_frame(&mut wire, Opcode::Ping, b"hi");
        encode_frame(
            &mut wire,
            Opcode::Text,
            b"<message xmlns='jabber:client'><body>1</body></message>",
        );
        encode_frame(&mut wire, Opcode::Close, &1000u16.to_be_bytes());
        let (mut out, mut events) = (Vec::new(), VecDeque::new());
        for chunk in wire.chunks(7) {
            f.decode(chunk, &mut out, &mut events).unwrap();
        }
        assert!(matches!(events.pop_front(), Some(Event::Open)));
        assert!(matches!(events.pop_front(), Some(Event::Control)));
        assert!(matches!(events.pop_front(), Some(Event::Element(m)) if m.name() == "message"));
        assert!(matches!(events.pop_front(), Some(Event::Close)));
        let mut server = WsCodec::new(4096);
        let mut got = Vec::new();
        server.feed(&out, &mut got).unwrap();
        assert_eq!(
            got,
            vec![
                WsMessage::Pong(b"hi".to_vec()),
                WsMessage::Close(Some((1000, String::new())))
            ]
        );
    }
}
