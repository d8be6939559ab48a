//! XEP-0280 message carbons: copies of chat messages to a user's other resources
//! (§6 received, §7 sent), skipping private and no-copy messages (§8, XEP-0334).

use jid::BareJid;
use minidom::Element;
use tern_core::ns;
use tern_core::stanza::stanza_type;
use tern_core::xml::{elem, set_attr};

use super::ImSession;
use crate::router::{deliver_to, Resource};
use crate::server::Server;

/// Whether a message gets carbon copies (XEP-0280 §5.1 eligibility).
fn eligible(m: &Element) -> bool {
    let chat_like = match stanza_type(m) {
        "chat" => true,
        "normal" => m.has_child("body", ns::CLIENT),
        _ => false,
    };
    chat_like
        && !m.has_child("private", ns::CARBONS)
        && !m.has_child("no-copy", ns::HINTS)
        && !m.has_child("received", ns::CARBONS)
        && !m.has_child("sent", ns::CARBONS)
}

fn wrap(direction: &str, owner: &BareJid, to: &Resource, m: &Element) -> Element {
    let mut fwd = Element::bare("forwarded", ns::FORWARD);
    fwd.append_child(m.clone());
    let mut dir = Element::bare(direction, ns::CARBONS);
    dir.append_child(fwd);
    let mut outer = elem("message", ns::CLIENT, &[("type", stanza_type(m))]);
    set_attr(&mut outer, "from", owner.as_str());
    set_attr(&mut outer, "to", to.jid.as_str());
    outer.append_child(dir);
    outer
}

/// `<sent/>` copies to the sender's other carbons-enabled resources.
pub(super) fn copy_sent(server: &Server, s: &ImSession, m: &Element) {
    // Most accounts have no other resource with carbons on: no snapshot, no stanza checks.
    if !server.router.any_resource(&s.bare, |r| r.carbons && r.jid != s.jid) || !eligible(m) {
        return;
    }
    for r in server.router.resources(&s.bare) {
        if r.carbons && r.jid != s.jid {
            deliver_to(&r, wrap("sent", &s.bare, &r, m), false);
        }
    }
}

/// `<received/>` copies for the recipient's carbons-enabled resources that do not get the
/// message itself; sent with [`deliver_to`] once the message is delivered.
pub(super) fn received_copies<'r>(
    resources: &'r [Resource],
    delivered: &[usize],
    owner: &BareJid,
    m: &Element,
) -> Vec<(&'r Resource, Element)> {
    if !resources.iter().any(|r| r.carbons) || !eligible(m) {
        return Vec::new();
    }
    resources
        .iter()
        .enumerate()
        .filter(|(i, r)| r.carbons && r.available() && !delivered.contains(i))
        .map(|(_, r)| (r, wrap("received", owner, r, m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::xml::text_elem;

    #[test]
    fn eligibility() {
        let mut chat = elem("message", ns::CLIENT, &[("type", "chat")]);
        assert!(eligible(&chat));
        chat.append_child(Element::bare("private", ns::CARBONS));
        assert!(!eligible(&chat));
        let mut normal = elem("message", ns::CLIENT, &[]);
        assert!(!eligible(&normal));
        normal.append_child(text_elem("body", ns::CLIENT, "x"));
        assert!(eligible(&normal));
        assert!(!eligible(&elem("message", ns::CLIENT, &[("type", "groupchat")])));
    }
}
