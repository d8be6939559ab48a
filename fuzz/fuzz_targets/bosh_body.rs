//! Fuzz target: XEP-0124 request bodies as the BOSH endpoint parses them
//! (`tern_wire::parse_document`, then `BodyRequest::from_element`), then fed to a
//! `BoshSession`. Checks: no panic, the parse result does not depend on the size limit
//! being large, and a session never answers a request twice.
#![no_main]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use tern_core::bosh::{BodyRequest, BoshConfig, BoshOutput, BoshSession};
use tern_wire::{parse_document, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_stanza_bytes: 16_384, ..Limits::default() };
    let Ok(el) = parse_document(data, limits) else { return };
    let Ok(req) = BodyRequest::from_element(el) else { return };
    // Drive a session with the parsed request as creation and as every later request.
    let t0 = Instant::now();
    let mut s = BoshSession::new(BoshConfig::default(), 0, &req, t0);
    let mut answered = HashSet::new();
    for (i, delta) in [0u64, 1, 2, 1, 5, 3].iter().enumerate() {
        let mut r = req.clone();
        r.rid = req.rid.saturating_add(*delta);
        s.request(i as u64 + 1, r, t0 + Duration::from_secs(i as u64));
        s.tick(t0 + Duration::from_secs(60 * i as u64));
        while let Some(o) = s.poll_output() {
            if let BoshOutput::Respond { req, .. } = o {
                assert!(answered.insert(req), "request {req} answered twice");
            }
        }
    }
});
