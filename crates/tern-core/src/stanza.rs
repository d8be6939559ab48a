//! Stanza classification and addressing (RFC 6120 §8.1-§8.2).

use jid::Jid;
use minidom::Element;

use crate::error::{StanzaCondition, StanzaError};
use crate::ns;

/// The three stanza kinds of RFC 6120 §8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StanzaKind {
    Message,
    Presence,
    Iq,
}

impl StanzaKind {
    /// Classify a top-level element in the `jabber:client` namespace.
    pub fn of(el: &Element) -> Option<Self> {
        if !el.has_ns(ns::CLIENT) {
            return None;
        }
        match el.name() {
            "message" => Some(Self::Message),
            "presence" => Some(Self::Presence),
            "iq" => Some(Self::Iq),
            _ => None,
        }
    }
}

/// The `type` attribute with the RFC defaults: `normal` for messages, `available` for presence.
pub fn stanza_type(el: &Element) -> &str {
    match (el.name(), el.attr("type")) {
        (_, Some(t)) => t,
        ("message", None) => "normal",
        ("presence", None) => "available",
        _ => "",
    }
}

/// Parse the `to` attribute; `Ok(None)` when absent (addressed to the sender's account).
pub fn parse_to(el: &Element) -> Result<Option<Jid>, StanzaError> {
    match el.attr("to") {
        None => Ok(None),
        Some(s) => Jid::new(s)
            .map(Some)
            .map_err(|_| StanzaError::new(StanzaCondition::JidMalformed)),
    }
}

/// The normalized localpart of account `user` on `vhost` (RFC 7622 §3.3 nodeprep, applied
/// until it is stable: the `jid` crate can change a string again on a second pass, e.g.
/// U+213B FACSIMILE SIGN → "FAX" → "fax", and an account must have one key).
pub fn account_localpart(user: &str, vhost: &str) -> Option<String> {
    let mut node = user.to_owned();
    for _ in 0..3 {
        let parsed = jid::BareJid::new(&format!("{node}@{vhost}")).ok()?;
        let next = parsed.node()?.as_str().to_owned();
        if next == node {
            return Some(node);
        }
        node = next;
    }
    None
}

/// Check an IQ's shape (RFC 6120 §8.2.3): an `id`, a known type, and exactly one payload
/// child for `get`/`set`.
pub fn validate_iq(el: &Element) -> Result<(), StanzaError> {
    if el.attr("id").is_none() {
        return Err(StanzaError::new(StanzaCondition::BadRequest).with_text("iq without id"));
    }
    match el.attr("type") {
        Some("get") | Some("set") => {
            if el.children().count() != 1 {
                return Err(StanzaError::new(StanzaCondition::BadRequest)
                    .with_text("get/set iq needs exactly one child"));
            }
            Ok(())
        }
        Some("result") | Some("error") => Ok(()),
        _ => Err(StanzaError::new(StanzaCondition::BadRequest).with_text("bad iq type")),
    }
}

/// A `type='result'` reply to an IQ, with an optional payload.
pub fn iq_result(iq: &Element, payload: Option<Element>) -> Element {
    let mut r = Element::bare("iq", ns::CLIENT);
    crate::xml::set_attr(&mut r, "type", "result");
    if let Some(id) = iq.attr("id") {
        crate::xml::set_attr(&mut r, "id", id);
    }
    if let Some(from) = iq.attr("from") {
        crate::xml::set_attr(&mut r, "to", from);
    }
    if let Some(to) = iq.attr("to") {
        crate::xml::set_attr(&mut r, "from", to);
    }
    if let Some(p) = payload {
        r.append_child(p);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::elem;

    #[test]
    fn types_default() {
        assert_eq!(stanza_type(&elem("message", ns::CLIENT, &[])), "normal");
        assert_eq!(stanza_type(&elem("presence", ns::CLIENT, &[])), "available");
        assert_eq!(stanza_type(&elem("iq", ns::CLIENT, &[("type", "get")])), "get");
    }

    #[test]
    fn iq_shape() {
        let mut iq = elem("iq", ns::CLIENT, &[("type", "get"), ("id", "a")]);
        assert!(validate_iq(&iq).is_err());
        iq.append_child(elem("query", ns::ROSTER, &[]));
        assert!(validate_iq(&iq).is_ok());
        iq.append_child(elem("x", "y", &[]));
        assert!(validate_iq(&iq).is_err());
        assert!(validate_iq(&elem("iq", ns::CLIENT, &[("type", "result")])).is_err());
    }

    #[test]
    fn malformed_to() {
        let m = elem("message", ns::CLIENT, &[("to", "@@bad")]);
        assert_eq!(parse_to(&m).err().map(|e| e.condition), Some(StanzaCondition::JidMalformed));
        assert_eq!(StanzaKind::of(&m), Some(StanzaKind::Message));
        assert_eq!(StanzaKind::of(&elem("message", "other", &[])), None);
    }

    #[test]
    fn account_localparts_are_stable() {
        assert_eq!(account_localpart("Alice", "example.com").as_deref(), Some("alice"));
        assert_eq!(account_localpart("\u{213B}", "example.com").as_deref(), Some("fax"));
        assert_eq!(account_localpart("a@b", "example.com"), None);
        assert_eq!(account_localpart("", "example.com"), None);
    }

    /// RFC 7622 address handling as tern relies on it: case folding of localpart and
    /// domain, the resource kept as is, malformed addresses refused.
    #[test]
    fn jid_normalization_and_rejection() {
        let to = |s: &str| parse_to(&elem("message", ns::CLIENT, &[("to", s)]));
        let j = to("Alice@Example.COM/Res").expect("valid").expect("present");
        assert_eq!(j.as_str(), "alice@example.com/Res");
        assert_eq!(j.to_bare().as_str(), "alice@example.com");
        assert!(to("example.com").expect("domain only").is_some_and(|j| j.node().is_none()));
        for bad in ["@example.com", "a@", "a@b/", "", "a@b@c", &format!("{}@x", "n".repeat(1024))] {
            assert!(to(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(parse_to(&elem("message", ns::CLIENT, &[])).expect("no to").is_none());
    }
}
