//! Small helpers over `minidom::Element` for building and reading stanzas (RFC 6120 §8).

use minidom::Element;
use rxml::{Namespace, NcName};

/// Set (or replace) an unnamespaced attribute. Names are static protocol names; an invalid
/// name is ignored rather than panicking.
pub fn set_attr(el: &mut Element, name: &str, value: impl Into<String>) {
    if let Ok(n) = NcName::try_from(name) {
        el.attrs_mut().insert(Namespace::NONE, n, value.into());
    }
}

/// Remove an unnamespaced attribute, returning its value.
pub fn remove_attr(el: &mut Element, name: &str) -> Option<String> {
    el.attrs_mut().remove(&Namespace::NONE, name)
}

/// `Element::bare` with attributes, for terse construction.
pub fn elem(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut el = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut el, k, *v);
    }
    el
}

/// An element holding one text node.
pub fn text_elem(name: &str, ns: &str, text: impl Into<String>) -> Element {
    let mut el = Element::bare(name, ns);
    el.append_text_node(text.into());
    el
}

/// A child element in a given namespace with the given name.
pub fn child(name: &str, ns: &str) -> Element {
    Element::bare(name, ns)
}

/// Append a child and return the parent (builder style).
pub fn with_child(mut parent: Element, c: Element) -> Element {
    parent.append_child(c);
    parent
}

/// The first child element, if any.
pub fn first_child(el: &Element) -> Option<&Element> {
    el.children().next()
}

/// A random identifier of `bytes` random bytes, URL-safe base64 encoded.
pub fn random_id(bytes: usize) -> String {
    use base64::Engine as _;
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_roundtrip() {
        let mut el = elem("iq", "jabber:client", &[("type", "get"), ("id", "1")]);
        assert_eq!(el.attr("type"), Some("get"));
        set_attr(&mut el, "type", "result");
        assert_eq!(el.attr("type"), Some("result"));
        assert_eq!(remove_attr(&mut el, "id").as_deref(), Some("1"));
        assert_eq!(el.attr("id"), None);
    }

    #[test]
    fn random_ids_differ() {
        let a = random_id(16);
        assert_eq!(a.len(), 22);
        assert_ne!(a, random_id(16));
    }
}
