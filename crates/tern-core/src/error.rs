//! Stream errors (RFC 6120 §4.9) and stanza errors (RFC 6120 §8.3) as values.

use crate::ns;
use crate::xml::{elem, set_attr, text_elem};
use minidom::Element;

macro_rules! conditions {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }
        impl $name {
            /// The condition's element name as the RFC spells it.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
            /// Parse an element name back into a condition.
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

conditions! {
    /// RFC 6120 §4.9.3 defined stream error conditions.
    StreamCondition {
        BadFormat = "bad-format", BadNamespacePrefix = "bad-namespace-prefix", Conflict = "conflict",
        ConnectionTimeout = "connection-timeout", HostGone = "host-gone", HostUnknown = "host-unknown",
        ImproperAddressing = "improper-addressing", InternalServerError = "internal-server-error",
        InvalidFrom = "invalid-from", InvalidNamespace = "invalid-namespace", InvalidXml = "invalid-xml",
        NotAuthorized = "not-authorized", NotWellFormed = "not-well-formed",
        PolicyViolation = "policy-violation", RemoteConnectionFailed = "remote-connection-failed",
        Reset = "reset", ResourceConstraint = "resource-constraint", RestrictedXml = "restricted-xml",
        SeeOtherHost = "see-other-host", SystemShutdown = "system-shutdown",
        UndefinedCondition = "undefined-condition", UnsupportedEncoding = "unsupported-encoding",
        UnsupportedFeature = "unsupported-feature", UnsupportedStanzaType = "unsupported-stanza-type",
        UnsupportedVersion = "unsupported-version",
    }
}

conditions! {
    /// RFC 6120 §8.3.3 defined stanza error conditions.
    StanzaCondition {
        BadRequest = "bad-request", Conflict = "conflict", FeatureNotImplemented = "feature-not-implemented",
        Forbidden = "forbidden", Gone = "gone", InternalServerError = "internal-server-error",
        ItemNotFound = "item-not-found", JidMalformed = "jid-malformed", NotAcceptable = "not-acceptable",
        NotAllowed = "not-allowed", NotAuthorized = "not-authorized", PolicyViolation = "policy-violation",
        RecipientUnavailable = "recipient-unavailable", Redirect = "redirect",
        RegistrationRequired = "registration-required", RemoteServerNotFound = "remote-server-not-found",
        RemoteServerTimeout = "remote-server-timeout", ResourceConstraint = "resource-constraint",
        ServiceUnavailable = "service-unavailable", SubscriptionRequired = "subscription-required",
        UndefinedCondition = "undefined-condition", UnexpectedRequest = "unexpected-request",
    }
}

/// A stream-level error: fatal to the stream (RFC 6120 §4.9.1.1).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamError {
    pub condition: StreamCondition,
    pub text: Option<String>,
    /// An application-specific condition element (e.g. XEP-0198 `handled-count-too-high`).
    pub app: Option<Element>,
}

impl StreamError {
    pub fn new(condition: StreamCondition) -> Self {
        Self { condition, text: None, app: None }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The `<stream:error/>` element (RFC 6120 §4.9.2).
    pub fn to_element(&self) -> Element {
        let mut el = Element::bare("error", ns::STREAMS);
        el.append_child(Element::bare(self.condition.as_str(), ns::XMPP_STREAMS));
        if let Some(t) = &self.text {
            el.append_child(text_elem("text", ns::XMPP_STREAMS, t.clone()));
        }
        if let Some(app) = &self.app {
            el.append_child(app.clone());
        }
        el
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.condition.as_str())?;
        if let Some(t) = &self.text {
            write!(f, " ({t})")?;
        }
        Ok(())
    }
}

impl std::error::Error for StreamError {}

/// RFC 6120 §8.3.2 error types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    Auth,
    Cancel,
    Continue,
    Modify,
    Wait,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Cancel => "cancel",
            Self::Continue => "continue",
            Self::Modify => "modify",
            Self::Wait => "wait",
        }
    }
}

/// A stanza-level error: recoverable, returned to the sender (RFC 6120 §8.3).
#[derive(Clone, Debug, PartialEq)]
pub struct StanzaError {
    pub kind: ErrorType,
    pub condition: StanzaCondition,
    pub text: Option<String>,
    pub app: Option<Box<Element>>,
}

impl StanzaError {
    /// A condition with the error type RFC 6120 §8.3.3 gives it.
    pub fn new(condition: StanzaCondition) -> Self {
        use StanzaCondition::*;
        let kind = match condition {
            BadRequest | JidMalformed | NotAcceptable | PolicyViolation | Redirect => ErrorType::Modify,
            Forbidden | NotAuthorized | RegistrationRequired | SubscriptionRequired => ErrorType::Auth,
            RecipientUnavailable | RemoteServerTimeout | ResourceConstraint | UnexpectedRequest => {
                ErrorType::Wait
            }
            _ => ErrorType::Cancel,
        };
        Self { kind, condition, text: None, app: None }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The `<error/>` child (RFC 6120 §8.3.2).
    pub fn to_element(&self, by: Option<&str>) -> Element {
        let mut el = elem("error", ns::CLIENT, &[("type", self.kind.as_str())]);
        if let Some(by) = by {
            set_attr(&mut el, "by", by);
        }
        el.append_child(Element::bare(self.condition.as_str(), ns::XMPP_STANZAS));
        if let Some(t) = &self.text {
            el.append_child(text_elem("text", ns::XMPP_STANZAS, t.clone()));
        }
        if let Some(app) = &self.app {
            el.append_child(app.as_ref().clone());
        }
        el
    }
}

/// Build the error reply to `stanza` (RFC 6120 §8.3.1): addresses swapped, `type='error'`,
/// the original payload kept for messages and presence. Never replies to an error.
pub fn error_reply(stanza: &Element, err: &StanzaError) -> Option<Element> {
    if stanza.attr("type") == Some("error") {
        return None;
    }
    let mut reply = Element::bare(stanza.name(), ns::CLIENT);
    if let Some(id) = stanza.attr("id") {
        set_attr(&mut reply, "id", id);
    }
    if let Some(from) = stanza.attr("from") {
        set_attr(&mut reply, "to", from);
    }
    if let Some(to) = stanza.attr("to") {
        set_attr(&mut reply, "from", to);
    }
    set_attr(&mut reply, "type", "error");
    if stanza.name() != "iq" {
        for c in stanza.children() {
            reply.append_child(c.clone());
        }
    }
    reply.append_child(err.to_element(None));
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_error_element() {
        let e = StreamError::new(StreamCondition::HostUnknown).with_text("no such host");
        let el = e.to_element();
        assert!(el.is("error", ns::STREAMS));
        assert!(el.has_child("host-unknown", ns::XMPP_STREAMS));
        assert_eq!(el.get_child("text", ns::XMPP_STREAMS).map(|t| t.text()), Some("no such host".into()));
    }

    #[test]
    fn condition_names_roundtrip() {
        for c in [StreamCondition::RestrictedXml, StreamCondition::NotWellFormed, StreamCondition::Conflict] {
            assert_eq!(StreamCondition::from_name(c.as_str()), Some(c));
        }
        assert_eq!(StanzaCondition::from_name("service-unavailable"), Some(StanzaCondition::ServiceUnavailable));
    }

    #[test]
    fn error_reply_swaps_and_types() {
        let mut m = elem("message", ns::CLIENT, &[("from", "a@x/r"), ("to", "b@x"), ("id", "7")]);
        m.append_child(text_elem("body", ns::CLIENT, "hi"));
        let r = error_reply(&m, &StanzaError::new(StanzaCondition::ServiceUnavailable)).expect("reply");
        assert_eq!(r.attr("to"), Some("a@x/r"));
        assert_eq!(r.attr("from"), Some("b@x"));
        assert_eq!(r.attr("type"), Some("error"));
        assert_eq!(r.attr("id"), Some("7"));
        let e = r.get_child("error", ns::CLIENT).expect("error child");
        assert_eq!(e.attr("type"), Some("cancel"));
        assert!(r.has_child("body", ns::CLIENT));
    }

    #[test]
    fn never_reply_to_error() {
        let m = elem("message", ns::CLIENT, &[("type", "error")]);
        assert!(error_reply(&m, &StanzaError::new(StanzaCondition::BadRequest)).is_none());
    }
}
