//! Fuzz target: the whole-document fast path (`tern_wire` `fastpath`, used for WebSocket
//! messages and BOSH bodies) against the full incremental parser. Whenever the fast path
//! returns an element, the full parser must accept the same bytes and build the same
//! element; the fast path may only decline. Checked with and without a default namespace
//! and with small limits (depth, attributes, size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_wire::fuzzing::{parse_fast, parse_full};
use tern_wire::Limits;

fuzz_target!(|data: &[u8]| {
    let small = Limits { max_stanza_bytes: 512, max_depth: 4, max_attributes: 3 };
    for limits in [Limits::default(), small] {
        for ns in [None, Some("jabber:client")] {
            if let Some(fast) = parse_fast(data, &limits, ns) {
                let full = parse_full(data, limits.clone(), ns);
                assert_eq!(full.as_ref().ok(), Some(&fast), "fast path accepted what the full parser reads as {full:?}");
            }
        }
    }
});
