//! Serialization of stream headers (RFC 6120 §4.2, §4.7) and of stanzas and
//! other top-level elements (RFC 6120 §4.3, namespaces per §4.8), producing
//! only restricted XML (RFC 6120 §11.1: no declarations, comments or PIs).
//!
//! Escaping: `&`, `<`, `>` everywhere; `'`, `"`, tab and newline in
//! attribute values; carriage return everywhere (as a character reference,
//! so it survives line-end and attribute-value normalization). Characters
//! that XML 1.0 cannot represent at all (C0 controls other than tab, LF,
//! CR; U+FFFE; U+FFFF) are replaced by U+FFFD.
//!
//! Element names are written as stored; elements produced by the framers
//! always carry valid names, and code building elements must use valid
//! NCNames. Attributes literally named `xmlns` without a namespace, and
//! attributes in the `xmlns` namespace, are skipped: namespace
//! declarations are derived from the elements' namespaces.

use std::borrow::Cow;

use minidom::{Element, Node};

use crate::NS_STREAMS;

/// Serialize a stanza/element to a self-contained String (no XML
/// declaration): the element declares its own namespace
/// (`<message xmlns='jabber:client'>`), so it is correct inside a stream
/// whose default namespace is jabber:client and on its own. Elements in
/// [`NS_STREAMS`] are written with the conventional `stream:` prefix
/// (declared on them), e.g. `<stream:features xmlns:stream='...'>`.
pub fn to_string(el: &Element) -> String {
    let mut out = String::new();
    write_element(&mut out, el, None);
    out
}

/// Serialize an element for sending inside an open stream whose header
/// declared `content_ns` as default namespace and the `stream` prefix
/// (as [`stream_header`] does): an element in `content_ns` omits its
/// `xmlns`, elements in [`NS_STREAMS`] use the `stream:` prefix without
/// redeclaring it. Saves bytes on the hot path; not valid standalone XML.
pub fn to_string_in_stream(el: &Element, content_ns: &str) -> String {
    let mut out = String::new();
    write_element(&mut out, el, Some(content_ns));
    out
}

/// Room made before each element is written: a typical stanza fits, so an
/// empty buffer is not grown several times over.
const INITIAL_CAPACITY: usize = 256;

/// Where serialized XML goes: a `String`, or the bytes of an outgoing
/// frame (always whole UTF-8 strings are appended).
pub trait XmlSink {
    fn push_str(&mut self, s: &str);
    /// Make room for at least `n` more bytes.
    fn reserve(&mut self, n: usize);
}

impl XmlSink for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
    fn reserve(&mut self, n: usize) {
        String::reserve(self, n);
    }
}

impl XmlSink for Vec<u8> {
    fn push_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }
}

/// Append the serialization of `el` to `out`. `in_stream` is `None` for
/// self-contained output ([`to_string`]) or the stream's content namespace
/// ([`to_string_in_stream`]).
pub fn write_element<S: XmlSink + ?Sized>(out: &mut S, el: &Element, in_stream: Option<&str>) {
    out.reserve(INITIAL_CAPACITY);
    let mut w = Writer {
        out,
        next_prefix: 0,
    };
    match in_stream {
        None => w.element(el, "", false),
        Some(ns) => w.element(el, ns, true),
    }
}

/// Serialize an opening stream header the server sends:
/// `<?xml version='1.0'?><stream:stream xmlns='jabber:client'
/// xmlns:stream='http://etherx.jabber.org/streams' id='..' from='..'
/// to='..' version='1.0' xml:lang='..'>`, attribute values escaped; `to`
/// and `xml:lang` are omitted when `None`.
pub fn stream_header(
    content_ns: &str,
    from: &str,
    to: Option<&str>,
    id: &str,
    lang: Option<&str>,
) -> String {
    let mut out = String::with_capacity(192);
    out.push_str("<?xml version='1.0'?><stream:stream");
    push_attr(&mut out, "xmlns", content_ns);
    push_attr(&mut out, "xmlns:stream", NS_STREAMS);
    push_attr(&mut out, "id", id);
    push_attr(&mut out, "from", from);
    if let Some(to) = to {
        push_attr(&mut out, "to", to);
    }
    push_attr(&mut out, "version", "1.0");
    if let Some(lang) = lang {
        push_attr(&mut out, "xml:lang", lang);
    }
    out.push('>');
    out
}

/// Append ` name='value'` with the value escaped.
pub(crate) fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("='");
    escape_into(out, value, true);
    out.push('\'');
}

struct Writer<'a, S: ?Sized> {
    out: &'a mut S,
    /// counter for generated attribute namespace prefixes
    next_prefix: usize,
}

impl<S: XmlSink + ?Sized> Writer<'_, S> {
    /// `default_ns`: default namespace in scope; `stream_declared`: whether
    /// the `stream` prefix is bound to [`NS_STREAMS`] in scope.
    fn element(&mut self, el: &Element, default_ns: &str, stream_declared: bool) {
        let out = &mut *self.out;
        let own_ns;
        let mut child_default = default_ns;
        let mut child_stream = stream_declared;
        out.push_str("<");
        if el.has_ns(NS_STREAMS) {
            out.push_str("stream:");
            out.push_str(el.name());
            if !stream_declared {
                out.push_str(" xmlns:stream='");
                out.push_str(NS_STREAMS);
                out.push_str("'");
                child_stream = true;
            }
        } else {
            out.push_str(el.name());
            if !el.has_ns(default_ns) {
                // `Element::ns` copies the URI: the usual one is taken from here instead.
                own_ns = if el.has_ns(crate::NS_CLIENT) { Cow::Borrowed(crate::NS_CLIENT) } else { Cow::Owned(el.ns()) };
                out.push_str(" xmlns='");
                escape_into(out, &own_ns, true);
                out.push_str("'");
                child_default = &own_ns;
            }
        }
        self.attributes(el);
        let out = &mut *self.out;
        if el.nodes().len() == 0 {
            out.push_str("/>");
            return;
        }
        out.push_str(">");
        for node in el.nodes() {
            match node {
                Node::Element(child) => self.element(child, child_default, child_stream),
                Node::Text(text) => escape_into(self.out, text, false),
            }
        }
        let out = &mut *self.out;
        out.push_str("</");
        if el.has_ns(NS_STREAMS) {
            out.push_str("stream:");
        }
        out.push_str(el.name());
        out.push_str(">");
    }

    fn attributes(&mut self, el: &Element) {
        for ((ns, name), value) in el.attrs().iter() {
            let out = &mut *self.out;
            if ns.is_none() {
                if name.as_str() == "xmlns" {
                    continue;
                }
                out.push_str(" ");
            } else if ns.as_str() == rxml::XMLNS_XML {
                out.push_str(" xml:");
            } else if ns.as_str() == rxml::XMLNS_XMLNS {
                continue;
            } else {
                let n = self.next_prefix.to_string();
                self.next_prefix += 1;
                out.push_str(" xmlns:ns");
                out.push_str(&n);
                out.push_str("='");
                escape_into(out, ns.as_str(), true);
                out.push_str("' ns");
                out.push_str(&n);
                out.push_str(":");
            }
            out.push_str(name.as_str());
            out.push_str("='");
            escape_into(out, value, true);
            out.push_str("'");
        }
    }
}

/// Append `s` to `out`, escaped for text content or (`attr`) for a
/// single-quoted attribute value.
fn escape_into<S: XmlSink + ?Sized>(out: &mut S, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (rep, len) = match b {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\r' => ("&#13;", 1),
            b'\'' if attr => ("&apos;", 1),
            b'"' if attr => ("&quot;", 1),
            b'\t' if attr => ("&#9;", 1),
            b'\n' if attr => ("&#10;", 1),
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            0x00..=0x1f => ("\u{FFFD}", 1),
            // U+FFFE and U+FFFF are EF BF BE / EF BF BF
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                ("\u{FFFD}", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        // `start` and `i` are always on char boundaries: they only ever
        // point at ASCII bytes, UTF-8 lead bytes or the end.
        out.push_str(&s[start..i]);
        out.push_str(rep);
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests;
