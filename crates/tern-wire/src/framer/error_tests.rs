//! Tests pinning how each kind of bad input maps onto an RFC 6120 §4.9.3
//! stream error condition (restricted XML per §11.1).

#![allow(clippy::unwrap_used)]

use super::tests::{DECL, HEADER, condition_of, elements, in_stream, run};
use crate::{Limits, NS_CLIENT, StreamFramer};

#[test]
fn text_directly_under_root_is_not_well_formed() {
    assert_eq!(condition_of(&in_stream("hello")), Some("not-well-formed"));
    assert_eq!(
        condition_of(&in_stream("<presence/> x <presence/>")),
        Some("not-well-formed")
    );
}

#[test]
fn dtd_is_restricted() {
    assert_eq!(condition_of(b"<!DOCTYPE stream>"), Some("restricted-xml"));
    assert_eq!(
        condition_of(format!("{DECL}<!DOCTYPE s [<!ENTITY x 'y'>]>").as_bytes()),
        Some("restricted-xml")
    );
    assert_eq!(
        condition_of(&in_stream("<!DOCTYPE foo>")),
        Some("restricted-xml")
    );
    assert_eq!(
        condition_of(&in_stream("<message><!ENTITY x 'y'></message>")),
        Some("restricted-xml")
    );
}

#[test]
fn comments_are_restricted() {
    assert_eq!(condition_of(b"<!-- hi -->"), Some("restricted-xml"));
    assert_eq!(
        condition_of(&in_stream("<!-- hi -->")),
        Some("restricted-xml")
    );
    assert_eq!(
        condition_of(&in_stream("<message><!-- hi --></message>")),
        Some("restricted-xml")
    );
}

#[test]
fn processing_instructions_are_restricted() {
    assert_eq!(condition_of(b"<?foo bar?>"), Some("restricted-xml"));
    assert_eq!(
        condition_of(&in_stream("<?foo bar?>")),
        Some("restricted-xml")
    );
    assert_eq!(
        condition_of(&in_stream("<?xml-stylesheet href='a'?>")),
        Some("restricted-xml")
    );
    assert_eq!(
        condition_of(&in_stream("<message><?foo?></message>")),
        Some("restricted-xml")
    );
    // a second XML declaration inside the stream
    assert_eq!(condition_of(&in_stream(DECL)), Some("restricted-xml"));
}

#[test]
fn xml_declaration_variants() {
    let ok = format!("<?xml version='1.0' encoding='UTF-8'?>{HEADER}");
    assert_eq!(condition_of(ok.as_bytes()), None);
    let latin = format!("<?xml version='1.0' encoding='ISO-8859-1'?>{HEADER}");
    assert_eq!(condition_of(latin.as_bytes()), Some("restricted-xml"));
    let v11 = format!("<?xml version='1.1'?>{HEADER}");
    assert_eq!(condition_of(v11.as_bytes()), Some("restricted-xml"));
}

#[test]
fn entity_references() {
    assert_eq!(
        condition_of(&in_stream("<message><body>&foo;</body></message>")),
        Some("restricted-xml")
    );
    assert_eq!(
        condition_of(&in_stream("<message to='&foo;'/>")),
        Some("restricted-xml")
    );
    let doc =
        in_stream("<message to='&apos;&quot;'><body>&lt;&gt;&amp;&#65;&#x42;</body></message>");
    let (out, r) = run(&doc, Limits::default());
    r.unwrap();
    let els = elements(&out);
    assert_eq!(els[0].attr("to"), Some("'\""));
    assert_eq!(els[0].get_child("body", NS_CLIENT).unwrap().text(), "<>&AB");
}

#[test]
fn cdata_sections_are_allowed() {
    let (out, r) = run(
        &in_stream("<message><body><![CDATA[<hi> & bye]]></body></message>"),
        Limits::default(),
    );
    r.unwrap();
    assert_eq!(
        elements(&out)[0]
            .get_child("body", NS_CLIENT)
            .unwrap()
            .text(),
        "<hi> & bye"
    );
}

#[test]
fn mismatched_tags_are_not_well_formed() {
    assert_eq!(
        condition_of(&in_stream("<message><body></message>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("</message>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("</stream:foo>")),
        Some("not-well-formed")
    );
}

#[test]
fn bad_characters_are_not_well_formed() {
    assert_eq!(
        condition_of(&in_stream("<message><body>\u{1}</body></message>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("<message><body>\0</body></message>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("<message><body>&#0;</body></message>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("<message to='\u{1}'/>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("<1message/>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("<message to=x/>")),
        Some("not-well-formed")
    );
}

#[test]
fn invalid_utf8_is_not_well_formed() {
    let mut doc = in_stream("<message><body>");
    doc.extend_from_slice(b"\xff\xfe</body></message>");
    assert_eq!(condition_of(&doc), Some("not-well-formed"));
    let mut doc = in_stream("<message><body>");
    doc.extend_from_slice(b"\xe2\x98</body></message>"); // truncated sequence
    assert_eq!(condition_of(&doc), Some("not-well-formed"));
    let mut doc = in_stream("");
    doc.extend_from_slice(b"\xc3\x28");
    // directly under the root a short invalid sequence is only detected
    // with the next markup (or at EOF)
    let mut f = StreamFramer::new(Limits::default());
    f.feed(&doc, &mut Vec::new()).unwrap();
    assert_eq!(f.eof().map_err(|e| e.condition()), Err("not-well-formed"));
    doc.extend_from_slice(b"<presence/>");
    assert_eq!(condition_of(&doc), Some("not-well-formed"));
    let mut doc = in_stream("<message to='");
    doc.extend_from_slice(b"\xc0\xaf'/>"); // overlong encoding
    assert_eq!(condition_of(&doc), Some("not-well-formed"));
}

#[test]
fn namespace_violations_are_not_well_formed() {
    assert_eq!(
        condition_of(&in_stream("<foo:message/>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("<message foo:to='x'/>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(&in_stream("<message to='a' to='b'/>")),
        Some("not-well-formed")
    );
    assert_eq!(
        condition_of(b"<stream:stream xmlns='jabber:client'>"),
        Some("not-well-formed")
    );
}

/// Found by fuzzing: a malformed byte after root-level whitespace must give the same
/// outcome at EOF whatever the split (rxml attributes it to the whitespace event).
#[test]
fn malformed_byte_after_whitespace_is_split_independent() {
    let header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='x' version='1.0'>";
    for tail in [&b"\n\xD6"[..], &b"\r\xFE\r"[..], &b" \xC3"[..]] {
        let mut input = header.as_bytes().to_vec();
        input.extend_from_slice(tail);
        let outcome = |chunk: usize| {
            let mut f = StreamFramer::new(Limits::default());
            let mut out = Vec::new();
            let fed = input.chunks(chunk).try_for_each(|c| f.feed(c, &mut out));
            fed.and_then(|()| f.eof()).map_err(|e| e.condition())
        };
        let whole = outcome(input.len());
        assert!(whole.is_err(), "{tail:?} must not end cleanly");
        for chunk in [1, 2, 3, 5] {
            assert_eq!(outcome(chunk), whole, "{tail:?} in chunks of {chunk}");
        }
    }
}
