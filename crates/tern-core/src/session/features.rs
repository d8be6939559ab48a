//! Stream features offered at each step of negotiation (RFC 6120 §4.3.2, §5.3.1, §6.3.1,
//! §7.3.1; XEP-0077 §8; XEP-0198 §2; XEP-0237 §2).

use minidom::Element;

use super::C2sSession;
use crate::ns;
use crate::xml::text_elem;

impl C2sSession {
    /// The `<stream:features/>` for the current state.
    pub(super) fn features(&self) -> Element {
        let mut f = Element::bare("features", ns::STREAMS);
        if !self.encrypted && self.cfg.starttls {
            let mut tls = Element::bare("starttls", ns::TLS);
            if self.cfg.tls_required {
                tls.append_child(Element::bare("required", ns::TLS));
                f.append_child(tls);
                return f;
            }
            f.append_child(tls);
        }
        let policy = self.policy();
        if self.username.is_none() {
            let mut mechs = Element::bare("mechanisms", ns::SASL);
            for m in self.mechanisms() {
                mechs.append_child(text_elem("mechanism", ns::SASL, m.name()));
            }
            f.append_child(mechs);
            if policy.registration && (self.encrypted || policy.allow_plain_unencrypted) {
                f.append_child(Element::bare("register", ns::REGISTER_FEATURE));
            }
            return f;
        }
        if self.jid.is_none() {
            f.append_child(Element::bare("bind", ns::BIND));
            let mut session = Element::bare("session", ns::SESSION);
            session.append_child(Element::bare("optional", ns::SESSION));
            f.append_child(session);
            f.append_child(Element::bare("sm", ns::SM));
            f.append_child(Element::bare("ver", ns::ROSTERVER));
        }
        f
    }

    /// SASL mechanisms offered: SCRAM always, PLAIN only over TLS unless the vhost allows it.
    pub(super) fn mechanisms(&self) -> Vec<tern_auth::Mechanism> {
        use tern_auth::Mechanism::*;
        let mut v = vec![ScramSha256, ScramSha1];
        if self.encrypted || self.policy().allow_plain_unencrypted {
            v.push(Plain);
        }
        v
    }
}
