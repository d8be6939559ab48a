//! Frame codec and RFC 7395 message tests: every RFC 6455 failure with its close code,
//! reassembly at every split point, and the XMPP message rules.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::{FramerError, Limits, StreamEvent, NS_CLIENT, NS_STREAMS};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

fn decode(bytes: &[u8]) -> Result<Vec<WsMessage>, WsError> {
    let mut codec = WsCodec::new(1000);
    let mut out = Vec::new();
    codec.feed(bytes, &mut out).map(|()| out)
}

#[test]
fn text_ping_pong_close() {
    let mut bytes = frame(true, 1, b"<presence/>");
    bytes.extend(frame(true, 9, b"p1"));
    bytes.extend(frame(true, 0xA, b""));
    bytes.extend(frame(true, 8, &[0x03, 0xE8, b'b', b'y', b'e']));
    bytes.extend(frame(true, 1, b"ignored after close"));
    let out = decode(&bytes).unwrap();
    assert_eq!(
        out,
        vec![
            WsMessage::Text("<presence/>".into()),
            WsMessage::Ping(b"p1".to_vec()),
            WsMessage::Pong(Vec::new()),
            WsMessage::Close(Some((1000, "bye".into()))),
        ]
    );
}

#[test]
fn fragments_with_interleaved_ping() {
    let mut bytes = frame(false, 1, b"<message>");
    bytes.extend(frame(true, 9, b""));
    bytes.extend(frame(false, 0, b"<body>h\xc3"));
    bytes.extend(frame(true, 0, b"\xa9</body></message>"));
    let out = decode(&bytes).unwrap();
    assert_eq!(out, vec![WsMessage::Ping(Vec::new()), WsMessage::Text("<message><body>hé</body></message>".into())]);
}

#[test]
fn extended_lengths() {
    let medium = "a".repeat(300);
    let mut codec = WsCodec::new(100_000);
    let mut out = Vec::new();
    codec.feed(&frame(true, 1, medium.as_bytes()), &mut out).unwrap();
    let big = "b".repeat(70_000);
    codec.feed(&frame(true, 1, big.as_bytes()), &mut out).unwrap();
    assert_eq!(out, vec![WsMessage::Text(medium), WsMessage::Text(big)]);
    assert_eq!(codec.buffered(), 0);
}

#[test]
fn failures_and_close_codes() {
    let unmasked = [0x81, 0x02, b'h', b'i'];
    let cases: Vec<(Vec<u8>, WsError, u16)> = vec![
        (unmasked.to_vec(), WsError::Unmasked, 1002),
        ({ let mut f = frame(true, 1, b"x"); f[0] |= 0x40; f }, WsError::ReservedBits, 1002),
        (frame(true, 3, b""), WsError::UnknownOpcode(3), 1002),
        (frame(true, 0xB, b""), WsError::UnknownOpcode(0xB), 1002),
        (frame(false, 9, b""), WsError::BadControlFrame, 1002),
        (frame(true, 9, &[0; 126]), WsError::BadControlFrame, 1002),
        (frame(true, 0, b"x"), WsError::UnexpectedContinuation, 1002),
        ([frame(false, 1, b"a"), frame(true, 1, b"b")].concat(), WsError::ExpectedContinuation, 1002),
        (frame(true, 2, b"\x00\x01"), WsError::Binary, 1003),
        (frame(true, 1, b"\xff\xfe"), WsError::InvalidUtf8, 1007),
        (frame(true, 1, &[b'a'; 1001]), WsError::TooBig(1000), 1009),
        ([frame(false, 1, &[b'a'; 600]), frame(true, 0, &[b'a'; 401])].concat(), WsError::TooBig(1000), 1009),
        (frame(true, 8, &[3]), WsError::BadClose, 1002),
        (frame(true, 8, &[0x03, 0xED]), WsError::BadClose, 1002),
        (frame(true, 8, &[0x03, 0xE8, 0xff]), WsError::InvalidUtf8, 1007),
    ];
    for (bytes, err, code) in cases {
        assert_eq!(decode(&bytes), Err(err.clone()), "{bytes:02x?}");
        assert_eq!(err.close_code(), code);
    }
    let mut huge = vec![0x81, 0xFF];
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    huge.extend_from_slice(&MASK);
    assert_eq!(decode(&huge), Err(WsError::BadLength));
}

#[test]
fn too_big_is_refused_before_the_payload_arrives() {
    let mut codec = WsCodec::new(1000);
    let header = &frame(true, 1, &[b'a'; 70_000])[..14];
    assert_eq!(codec.feed(header, &mut Vec::new()), Err(WsError::TooBig(1000)));
    assert_eq!(codec.buffered(), 0);
    assert_eq!(codec.feed(b"more", &mut Vec::new()), Err(WsError::TooBig(1000)), "stays failed");
}

#[test]
fn client_side() {
    let mut masked = Vec::new();
    encode_masked_frame(&mut masked, Opcode::Text, b"<presence/>", MASK);
    assert_eq!(masked, frame(true, 1, b"<presence/>"), "the tests' client frames are RFC 6455 frames");
    let mut codec = WsCodec::client(1000);
    let mut out = Vec::new();
    let mut server = Vec::new();
    encode_frame(&mut server, Opcode::Text, b"<open/>");
    encode_frame(&mut server, Opcode::Ping, b"");
    codec.feed(&server, &mut out).unwrap();
    assert_eq!(out, vec![WsMessage::Text("<open/>".into()), WsMessage::Ping(Vec::new())]);
    assert_eq!(WsCodec::client(1000).feed(&masked, &mut out), Err(WsError::Masked));
}

#[test]
fn server_frames() {
    let mut out = Vec::new();
    encode_frame(&mut out, Opcode::Text, b"hi");
    assert_eq!(out, [0x81, 2, b'h', b'i']);
    out.clear();
    encode_frame(&mut out, Opcode::Text, &[b'x'; 300]);
    assert_eq!(&out[..4], &[0x81, 126, 1, 44]);
    out.clear();
    encode_frame(&mut out, Opcode::Ping, &[b'x'; 70_000]);
    assert_eq!(&out[..10], &[0x89, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    out.clear();
    encode_close(&mut out, 1002, &"é".repeat(100));
    assert_eq!(&out[..4], &[0x88, 124, 0x03, 0xEA], "reason cut at a char boundary within 125 bytes");
    assert!(std::str::from_utf8(&out[4..]).is_ok());
}

#[test]
fn frames_written_in_place_match_copied_ones() {
    for len in [0, 1, 125, 126, 300, 65_535, 65_536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut copied = b"queued".to_vec();
        encode_frame(&mut copied, Opcode::Text, &payload);
        let mut in_place = b"queued".to_vec();
        encode_frame_with(&mut in_place, Opcode::Text, |out| out.extend_from_slice(&payload));
        assert_eq!(in_place, copied, "payload of {len} bytes");
    }
}

proptest! {
    /// Any split of a valid byte sequence decodes to the same messages.
    #[test]
    fn split_anywhere(cuts in proptest::collection::vec(0usize..400, 0..6)) {
        let mut bytes = frame(false, 1, "<iq type='get'>".as_bytes());
        bytes.extend(frame(true, 9, b"ping"));
        bytes.extend(frame(true, 0, "<query xmlns='x'>ünï</query></iq>".as_bytes()));
        bytes.extend(frame(true, 1, &[b' '; 200]));
        let whole = decode(&bytes).unwrap();
        let mut codec = WsCodec::new(1000);
        let mut out = Vec::new();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut at = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            codec.feed(&bytes[at..c], &mut out).unwrap();
            at = c;
        }
        prop_assert_eq!(out, whole);
    }
}

fn msg(s: &str) -> Result<Option<StreamEvent>, FramerError> {
    parse_ws_message(s.as_bytes(), &Limits::default())
}

#[test]
fn open_close_and_stanzas() {
    let open = msg("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0' xml:lang='de'/>");
    let Ok(Some(StreamEvent::Open(h))) = open else { panic!("{open:?}") };
    assert_eq!((h.to.as_deref(), h.version.as_deref(), h.lang.as_deref()), (Some("example.com"), Some("1.0"), Some("de")));
    assert_eq!((h.name.as_str(), h.stream_ns.as_str(), h.content_ns.as_str()), ("stream", NS_STREAMS, NS_CLIENT));
    assert_eq!(msg("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"), Ok(Some(StreamEvent::Close)));
    let Ok(Some(StreamEvent::Element(m))) = msg("<message to='a@b'><body>x</body></message>") else { panic!() };
    assert!(m.is("message", NS_CLIENT), "stanzas default to jabber:client");
    assert!(m.get_child("body", NS_CLIENT).is_some());
    let Ok(Some(StreamEvent::Element(a))) = msg("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth>") else { panic!() };
    assert_eq!(a.ns(), "urn:ietf:params:xml:ns:xmpp-sasl");
    assert_eq!(msg(" \n"), Ok(None));
}

#[test]
fn message_rule_violations() {
    let cond = |s: &str| msg(s).unwrap_err().condition();
    assert_eq!(cond("<presence/><presence/>"), "not-well-formed", "two elements");
    assert_eq!(cond("<message><body>"), "not-well-formed", "partial element");
    assert_eq!(cond("<message></presence>"), "not-well-formed");
    assert_eq!(cond("hello"), "not-well-formed");
    assert_eq!(cond("<presence><!-- c --></presence>"), "restricted-xml");
    assert_eq!(
        cond("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a' version='1.0'>"),
        "invalid-namespace"
    );
    assert_eq!(cond("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='a'/>"), "invalid-namespace");
    assert_eq!(cond("<opening xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"), "invalid-namespace");
    let big = format!("<message><body>{}</body></message>", "a".repeat(300_000));
    assert_eq!(cond(&big), "policy-violation");
}

#[test]
fn server_open_and_close() {
    assert_eq!(
        ws_open("example.com", "s'1", Some("en")),
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' id='s&apos;1' version='1.0' xml:lang='en'/>"
    );
    assert_eq!(ws_close(None), "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    assert_eq!(
        ws_close(Some("wss://t2.example.com/xmpp-websocket")),
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://t2.example.com/xmpp-websocket'/>"
    );
}
