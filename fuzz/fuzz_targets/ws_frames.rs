//! Fuzz target: bytes a WebSocket client sends (RFC 6455 §5 frames carrying RFC 7395
//! messages), decoded by `WsCodec` as one buffer and again split at points the input
//! chooses, each text message then parsed by `parse_ws_message`. Checks: no panic; the
//! messages and the error do not depend on how the bytes were split; buffered bytes stay
//! within the message limit; a parsed stanza serializes to XML that parses back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_wire::websocket::{parse_ws_message, WsCodec, WsMessage};
use tern_wire::{to_string, Limits, StreamEvent};

const MAX: usize = 4096;

fn decode(chunks: &[&[u8]]) -> (Vec<WsMessage>, Option<tern_wire::websocket::WsError>) {
    let mut codec = WsCodec::new(MAX);
    let mut out = Vec::new();
    for c in chunks {
        if let Err(e) = codec.feed(c, &mut out) {
            return (out, Some(e));
        }
        assert!(codec.buffered() <= MAX + 125, "buffered {} bytes", codec.buffered());
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else { return };
    let whole = decode(&[bytes]);
    // Cut the input into pieces of 1..=16 bytes, sized by the first byte's bits.
    let step = usize::from(split % 16) + 1;
    let chunks: Vec<&[u8]> = bytes.chunks(step).collect();
    assert_eq!(whole, decode(&chunks), "split every {step} bytes");
    let limits = Limits { max_stanza_bytes: MAX, ..Limits::default() };
    for m in whole.0 {
        let WsMessage::Text(t) = m else { continue };
        if let Ok(Some(StreamEvent::Element(el))) = parse_ws_message(t.as_bytes(), &limits) {
            let again = parse_ws_message(to_string(&el).as_bytes(), &Limits::default());
            assert_eq!(again, Ok(Some(StreamEvent::Element(el))), "serialization round trip");
        }
    }
});
