//! Property tests: feeding the same bytes split at any positions gives the
//! same events and the same outcome (RFC 6120 §4.2: a stream is one XML
//! document, however TCP segments it), and memory stays bounded
//! (RFC 6120 §13.12).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::tests::{DECL, HEADER, SHORT, run, run_split, small};
use crate::{FramerError, Limits, StreamEvent, StreamFramer};

/// Stanzas and other top-level fragments, valid ones and broken ones.
const FRAGMENTS: &[&str] = &[
    "<message to='juliet@example.com/balcony' type='chat' id='m1'><body>Wherefore art thou?</body></message>",
    "<message><body>&lt;&amp;&gt;&apos;&quot; &#x263A; &#9731;</body><thread>t1</thread></message>",
    "<presence/>",
    "<presence xml:lang='de'><show>away</show><status>B\u{e4}r \u{1d11e} \u{263a}</status></presence>",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
    "<iq type='result' id='r1'><query xmlns='jabber:iq:roster' ver='v1'><item jid='a@b' name='A&amp;B'>\
     <group>Friends</group></item></query></iq>",
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
    "<x:y xmlns:x='urn:x' x:a='1' a='2'><x:z/>text<w xmlns=''/></x:y>",
    "<message><body><![CDATA[<not> &markup;]]></body></message>",
    "<message><body>line1\r\nline2\rline3</body></message>",
    "<message to='a\r\nb\tc'/>",
    "\n",
    "  \r\n\t ",
    "<message><body>long body text that is repeated. long body text that is repeated. long body \
     text that is repeated. long body text that is repeated. long body text that is repeated.</body></message>",
];

const BROKEN: &[&[u8]] = &[
    b"<!-- comment -->",
    b"<message><body>&nbsp;</body></message>",
    b"<message><body>\x01</body></message>",
    b"<message><body>\xff\xfe</body></message>",
    b"<message></presence>",
    b"<foo:bar/>",
    b"stray text",
    b"<?pi?>",
    b"<!DOCTYPE x>",
    b"<message a='1' a='2'/>",
];

fn document() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(0..FRAGMENTS.len(), 0..12),
        prop::option::of(0..BROKEN.len()),
        any::<bool>(),
    )
        .prop_map(|(decl, short, frags, broken, close)| {
            let mut doc = Vec::new();
            if decl {
                doc.extend_from_slice(DECL.as_bytes());
            }
            doc.extend_from_slice(if short { SHORT } else { HEADER }.as_bytes());
            for f in frags {
                doc.extend_from_slice(FRAGMENTS[f].as_bytes());
            }
            if let Some(b) = broken {
                doc.extend_from_slice(BROKEN[b]);
            }
            if close {
                doc.extend_from_slice(b"</stream:stream>");
            }
            doc
        })
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        Just(small(150)),
        Just(small(300)),
        Just(Limits {
            max_depth: 2,
            max_attributes: 5,
            ..Limits::default()
        }),
    ]
}

fn outcome(r: &Result<(), FramerError>) -> Result<(), &'static str> {
    r.as_ref().map(|_| ()).map_err(|e| e.condition())
}

fn eof_after(doc: &[u8], cuts: &[usize], limits: Limits) -> Option<Result<(), FramerError>> {
    let mut f = StreamFramer::new(limits);
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&doc.len())) {
        let cut = cut.clamp(start, doc.len());
        f.feed(&doc[start..cut], &mut out).ok()?;
        start = cut;
    }
    Some(f.eof())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn split_feeding_is_equivalent(
        doc in document(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        limits in limits(),
    ) {
        let cuts: Vec<usize> = cuts.iter().map(|i| i.index(doc.len() + 1)).collect();
        let (whole, whole_r) = run(&doc, limits.clone());
        let (split, split_r) = run_split(&doc, &cuts, limits.clone());
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(outcome(&whole_r), outcome(&split_r));
        let mut sorted = cuts.clone();
        sorted.sort_unstable();
        let a = eof_after(&doc, &[], limits.clone()).map(|r| outcome(&r));
        let b = eof_after(&doc, &sorted, limits).map(|r| outcome(&r));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn arbitrary_bytes_never_exceed_the_buffer_bound(
        prefix in prop::bool::ANY,
        junk in prop::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..300,
    ) {
        let limit = 200;
        let mut f = StreamFramer::new(small(limit));
        let mut out = Vec::new();
        let mut ok = !prefix || f.feed(SHORT.as_bytes(), &mut out).is_ok();
        for piece in junk.chunks(chunk) {
            if !ok {
                break;
            }
            ok = f.feed(piece, &mut out).is_ok();
            prop_assert!(f.buffered() <= limit + 1);
        }
        let _ = f.eof();
    }
}

#[test]
fn split_at_every_byte_is_equivalent() {
    let mut doc = format!("{DECL}{HEADER}").into_bytes();
    for f in FRAGMENTS {
        doc.extend_from_slice(f.as_bytes());
    }
    doc.extend_from_slice(b"</stream:stream>");
    let (whole, r) = run(&doc, Limits::default());
    r.unwrap();
    assert_eq!(whole.len(), FRAGMENTS.len() - 2 + 2, "{whole:?}");
    assert!(matches!(whole.last(), Some(StreamEvent::Close)));
    // one byte at a time
    let mut f = StreamFramer::new(Limits::default());
    let mut bytewise = Vec::new();
    for b in &doc {
        f.feed(std::slice::from_ref(b), &mut bytewise).unwrap();
    }
    f.eof().unwrap();
    assert_eq!(whole, bytewise);
    // every single split position
    for cut in 0..=doc.len() {
        let (split, r) = run_split(&doc, &[cut], Limits::default());
        r.unwrap();
        assert_eq!(whole, split, "split at {cut}");
    }
}
