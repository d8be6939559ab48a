//! A fast path for whole documents in the common subset of XMPP's restricted XML
//! (RFC 6120 §11): ASCII names, no prefixes but `xml:` on attributes, the five predefined
//! entities and character references, no declaration, comment, CDATA or processing
//! instruction. A WebSocket message (RFC 7395 §3.3.3) or a BOSH `<body/>` is one complete
//! document, so it can be read in one pass without the incremental lexer.
//!
//! The rule that keeps it safe: [`parse`] returns an element only for input it is sure is
//! well-formed and within the limits, and then exactly the element the full parser
//! ([`crate::document`]) builds; for anything else it returns `None` and the caller uses
//! the full parser, which decides (and names the error). Unit tests and the
//! `document_fastpath` fuzz target compare the two.

use std::borrow::Cow;

use minidom::Element;
use rxml::strings::Namespace;
use rxml::xml_map::Entry;
use rxml::{AttrMap, NcName};

use crate::limits::Limits;

/// `xml:` and `xmlns:`'s namespace names (Namespaces in XML 1.0 §3, "Reserved Prefixes
/// and Namespace Names").
const RESERVED_NAMESPACES: [&str; 2] = ["http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/"];

/// Parse `doc` (one root element, optional surrounding whitespace); unprefixed element
/// names without an `xmlns` in scope get `default_ns`. `None`: not in the subset, or not
/// well-formed, or over a limit: use the full parser.
pub(crate) fn parse(doc: &[u8], limits: &Limits, default_ns: Option<&str>) -> Option<Element> {
    if doc.len() > limits.max_stanza_bytes {
        return None;
    }
    let text = std::str::from_utf8(doc).ok()?;
    // Line ends are normalized by XML (§2.11) and attribute whitespace too (§3.3.3): leave
    // both to the full parser.
    if text.contains('\r') {
        return None;
    }
    let mut p = Reader { b: text.as_bytes(), i: 0, limits, token_max: limits.token_bytes() / 2 };
    // Whitespace before the root is the full parser's (rxml refuses it, without a declaration).
    let root = p.element(default_ns.unwrap_or(""), 1)?;
    p.skip_ws();
    (p.i == p.b.len()).then_some(root)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    limits: &'a Limits,
    /// Longest name or attribute value taken here (the full parser has a token limit).
    token_max: usize,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n')
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// XML 1.0 `Char` (§2.2).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skip whitespace; whether there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
        self.i > start
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// An ASCII NCName.
    fn name(&mut self) -> Option<&'a str> {
        let start = self.i;
        if !is_name_start(self.peek()?) {
            return None;
        }
        self.i += 1;
        while self.peek().is_some_and(is_name_char) {
            self.i += 1;
        }
        if self.i - start > self.token_max {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i]).ok()
    }

    /// One element, its start tag at `self.i`; `ns` is the default namespace in scope.
    fn element(&mut self, ns: &str, depth: usize) -> Option<Element> {
        if depth > self.limits.max_depth {
            return None;
        }
        self.expect(b'<')?;
        let name = self.name()?;
        let mut own_ns: Option<Cow<'a, str>> = None;
        let mut attrs = AttrMap::new();
        let mut count = 0;
        let empty = loop {
            let spaced = self.skip_ws();
            match self.peek()? {
                b'>' => {
                    self.i += 1;
                    break false;
                }
                b'/' => {
                    self.i += 1;
                    self.expect(b'>')?;
                    break true;
                }
                _ if !spaced => return None,
                _ => {}
            }
            let (attr_ns, local) = self.attr_name()?;
            self.skip_ws();
            self.expect(b'=')?;
            self.skip_ws();
            let value = self.attr_value()?;
            count += 1;
            if count > self.limits.max_attributes {
                return None;
            }
            match (attr_ns, local) {
                (None, "xmlns") => {
                    // A reserved namespace name may not be the default namespace
                    // (Namespaces in XML 1.0 §3): the full parser names the error.
                    if RESERVED_NAMESPACES.contains(&&*value) || own_ns.replace(value).is_some() {
                        return None;
                    }
                }
                (attr_ns, local) => {
                    let key = NcName::try_from(local).ok()?;
                    match attrs.entry(attr_ns.unwrap_or(Namespace::NONE), key) {
                        Entry::Occupied(_) => return None,
                        Entry::Vacant(v) => {
                            v.insert(value.into_owned());
                        }
                    }
                }
            }
        };
        let ns = own_ns.as_deref().unwrap_or(ns);
        let mut el = Element::builder(name, ns).build();
        *el.attrs_mut() = attrs;
        if empty {
            return Some(el);
        }
        loop {
            let text = self.text()?;
            if !text.is_empty() {
                el.append_text(text.into_owned());
            }
            // At '<'.
            match self.b.get(self.i + 1).copied()? {
                b'/' => {
                    self.i += 2;
                    if self.name()? != name {
                        return None;
                    }
                    self.skip_ws();
                    self.expect(b'>')?;
                    return Some(el);
                }
                b'!' | b'?' => return None,
                _ => {
                    let child = self.element(ns, depth + 1)?;
                    el.append_child(child);
                }
            }
        }
    }

    /// An attribute name: a plain NCName, `xmlns`, or `xml:` and an NCName.
    fn attr_name(&mut self) -> Option<(Option<Namespace<'static>>, &'a str)> {
        let first = self.name()?;
        if self.peek() != Some(b':') {
            return Some((None, first));
        }
        if first != "xml" {
            // Other prefixes (and `xmlns:p` declarations) are the full parser's.
            return None;
        }
        self.i += 1;
        Some((Some(Namespace::XML), self.name()?))
    }

    /// A quoted attribute value, entities decoded.
    fn attr_value(&mut self) -> Option<Cow<'a, str>> {
        let quote = self.peek()?;
        if quote != b'\'' && quote != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let len = self.b[start..].iter().position(|&c| c == quote)?;
        self.i = start + len + 1;
        if len > self.token_max {
            return None;
        }
        let raw = std::str::from_utf8(&self.b[start..start + len]).ok()?;
        // Literal tabs and newlines are normalized to spaces (§3.3.3): the full parser's.
        if raw.bytes().any(|c| c == b'<' || c == b'\t' || c == b'\n') {
            return None;
        }
        decode(raw)
    }

    /// Character data up to the next `<` (which must exist), entities decoded.
    fn text(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let len = self.b[start..].iter().position(|&c| c == b'<')?;
        self.i = start + len;
        let raw = std::str::from_utf8(&self.b[start..start + len]).ok()?;
        if raw.contains("]]>") {
            return None;
        }
        decode(raw)
    }
}

/// Decode the predefined entities and character references, checking every character is
/// an XML `Char`; `None` for anything else (an unknown entity, a bare `&`). Text without a
/// reference is returned as it is, uncopied.
fn decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('&') {
        return plain_chars_ok(raw).then_some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        let amp = rest.find('&').unwrap_or(rest.len());
        let (plain, tail) = rest.split_at(amp);
        if !plain_chars_ok(plain) {
            return None;
        }
        out.push_str(plain);
        if tail.is_empty() {
            return Some(Cow::Owned(out));
        }
        let end = tail.find(';')?;
        let c = match &tail[1..end] {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            r => char_ref(r)?,
        };
        out.push(c);
        rest = &tail[end + 1..];
    }
}

/// Whether every character of `s` is an XML `Char`, byte-wise: `s` is UTF-8 already, so
/// only C0 controls other than tab and newline (carriage returns were refused before) and
/// U+FFFE/U+FFFF (EF BF BE, EF BF BF) can be wrong.
fn plain_chars_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| match c {
        b'\t' | b'\n' => true,
        0..0x20 => false,
        0xEF => !(b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF))),
        _ => true,
    })
}

/// `#123` or `#x7B` (XML 1.0 §4.1), a valid `Char`.
fn char_ref(r: &str) -> Option<char> {
    let digits = r.strip_prefix('#')?;
    let (digits, radix) = match digits.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (digits, 10),
    };
    if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let c = char::from_u32(u32::from_str_radix(digits, radix).ok()?)?;
    is_xml_char(c).then_some(c)
}

#[cfg(test)]
#[path = "fastpath_tests.rs"]
mod tests;
