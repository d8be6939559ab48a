//! XML namespaces used by the session core (RFC 6120 §4.8, §5-§7; RFC 6121; XEPs named beside each).

pub const STREAMS: &str = "http://etherx.jabber.org/streams";
pub const CLIENT: &str = "jabber:client";
pub const XMPP_STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const XMPP_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// RFC 3921 §3 session establishment, kept as a no-op (RFC 6121 Appendix E).
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// XEP-0198 stream management.
pub const SM: &str = "urn:xmpp:sm:3";
/// XEP-0237 roster versioning stream feature.
pub const ROSTERVER: &str = "urn:xmpp:features:rosterver";
pub const ROSTER: &str = "jabber:iq:roster";
/// XEP-0077 in-band registration.
pub const REGISTER: &str = "jabber:iq:register";
pub const REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";
/// XEP-0199 ping.
pub const PING: &str = "urn:xmpp:ping";
/// XEP-0030 service discovery.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0092 software version.
pub const VERSION: &str = "jabber:iq:version";
/// XEP-0280 message carbons.
pub const CARBONS: &str = "urn:xmpp:carbons:2";
/// XEP-0297 stanza forwarding (carbons payload).
pub const FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0334 message processing hints.
pub const HINTS: &str = "urn:xmpp:hints";
/// XEP-0191 blocking command.
pub const BLOCKING: &str = "urn:xmpp:blocking";
pub const BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
/// XEP-0203 delayed delivery.
pub const DELAY: &str = "urn:xmpp:delay";
