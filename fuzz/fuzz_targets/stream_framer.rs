//! Fuzz target for the RFC 6120 §4 stream framer (`tern_wire::StreamFramer`).
//!
//! Input layout: `[ctl][n][n chunk lengths][payload]`.
//! * `ctl` bit 0: small stanza limit (exercises §13.12 limits), bit 1:
//!   prepend a valid stream header (reach stanza parsing quickly);
//! * `n % 16` chunk length bytes: the payload is fed in pieces of these
//!   lengths (cycled; 0 means an empty feed), i.e. split at arbitrary points.
//!
//! Checks: no panic; `buffered()` never exceeds the stanza limit plus a
//! small constant; the split feed gives exactly the events and the error
//! condition of feeding the payload in one piece; errors are sticky.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_wire::{FramerError, Limits, StreamEvent, StreamFramer};

/// Documented bound: `buffered() <= max_stanza_bytes + 1`.
const SLACK: usize = 1;

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream to='example.com' version='1.0' \
    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

fn limits(small: bool) -> Limits {
    if small {
        Limits {
            max_stanza_bytes: 512,
            max_depth: 8,
            max_attributes: 16,
        }
    } else {
        Limits::default()
    }
}

/// Feed in one piece; events and the outcome (condition of the error).
fn whole(payload: &[u8], limits: Limits) -> (Vec<StreamEvent>, Result<(), &'static str>) {
    let mut f = StreamFramer::new(limits);
    let mut out = Vec::new();
    let r = f.feed(payload, &mut out).and_then(|()| f.eof());
    (out, r.map_err(|e| e.condition()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (lens, body) = rest.split_at(n);
    let limits = limits(ctl & 1 == 1);
    let mut payload = Vec::with_capacity(HEADER.len() + body.len());
    if ctl & 2 == 2 {
        payload.extend_from_slice(HEADER);
    }
    payload.extend_from_slice(body);

    let bound = limits.max_stanza_bytes + SLACK;
    let mut framer = StreamFramer::new(limits.clone());
    let mut events = Vec::new();
    let mut result: Result<(), FramerError> = Ok(());
    let mut pos = 0;
    let mut i = 0;
    while pos < payload.len() {
        let mut len = match lens.get(i % lens.len().max(1)) {
            Some(&l) => usize::from(l),
            None => payload.len(),
        };
        i += 1;
        if len == 0 {
            // an empty feed must be harmless
            result = framer.feed(&[], &mut events);
            if result.is_err() {
                break;
            }
            len = 1;
        }
        let end = (pos + len).min(payload.len());
        result = framer.feed(&payload[pos..end], &mut events);
        assert!(
            framer.buffered() <= bound,
            "buffered {} > {bound}",
            framer.buffered()
        );
        if result.is_err() {
            break;
        }
        pos = end;
    }
    if let Err(e) = &result {
        // the framer is dead: the same error again, nothing new emitted
        let before = events.len();
        assert_eq!(framer.feed(b"<presence/>", &mut events).as_ref(), Err(e));
        assert_eq!(framer.eof().as_ref(), Err(e));
        assert_eq!(events.len(), before);
    } else {
        result = framer.eof();
    }
    assert!(framer.buffered() <= bound);

    let (expected_events, expected) = whole(&payload, limits);
    assert_eq!(events, expected_events, "split feeding changed the events");
    assert_eq!(
        result.map_err(|e| e.condition()),
        expected,
        "split feeding changed the outcome"
    );

    // a reset framer accepts a fresh stream
    framer.reset();
    let mut fresh = Vec::new();
    assert!(framer.feed(HEADER, &mut fresh).is_ok());
    assert!(matches!(fresh.as_slice(), [StreamEvent::Open(_)]));
});
