//! The presence subscription state machine of RFC 6121 §3 and its Appendix A tables,
//! as a pure function over one roster item's state.

/// One side's view of a subscription with one contact (RFC 6121 §2.1.2.5 and Appendix A.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubState {
    /// The user receives the contact's presence ("to").
    pub to: bool,
    /// The contact receives the user's presence ("from").
    pub from: bool,
    /// The user asked to subscribe and awaits approval ("Pending Out", `ask='subscribe'`).
    pub pending_out: bool,
    /// The contact asked to subscribe and awaits the user's approval ("Pending In").
    pub pending_in: bool,
}

impl SubState {
    /// The `subscription` attribute value.
    pub fn subscription(&self) -> &'static str {
        match (self.to, self.from) {
            (true, true) => "both",
            (true, false) => "to",
            (false, true) => "from",
            (false, false) => "none",
        }
    }

    /// Build from the attribute value and flags.
    pub fn from_parts(subscription: &str, pending_out: bool, pending_in: bool) -> Self {
        let (to, from) = match subscription {
            "both" => (true, true),
            "to" => (true, false),
            "from" => (false, true),
            _ => (false, false),
        };
        Self { to, from, pending_out, pending_in }
    }
}

/// A subscription-related presence stanza, seen from the server of the account whose roster
/// item changes: `Out*` are sent by that account's user, `In*` arrive for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubEvent {
    OutSubscribe,
    OutSubscribed,
    OutUnsubscribe,
    OutUnsubscribed,
    InSubscribe,
    InSubscribed,
    InUnsubscribe,
    InUnsubscribed,
}

impl SubEvent {
    /// Map a presence `type` to the event for the given direction.
    pub fn from_type(presence_type: &str, outbound: bool) -> Option<Self> {
        use SubEvent::*;
        Some(match (presence_type, outbound) {
            ("subscribe", true) => OutSubscribe,
            ("subscribed", true) => OutSubscribed,
            ("unsubscribe", true) => OutUnsubscribe,
            ("unsubscribed", true) => OutUnsubscribed,
            ("subscribe", false) => InSubscribe,
            ("subscribed", false) => InSubscribed,
            ("unsubscribe", false) => InUnsubscribe,
            ("unsubscribed", false) => InUnsubscribed,
            _ => return None,
        })
    }
}

/// What the server does for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub new: SubState,
    /// Outbound: route the stanza to the contact. Inbound: deliver it to the user.
    pub forward: bool,
    /// Inbound subscribe from an already-approved contact: answer `subscribed` on the user's
    /// behalf instead of delivering (RFC 6121 §3.1.3).
    pub auto_reply_subscribed: bool,
}

impl Transition {
    /// Whether the stored roster item changes (and a roster push is due).
    pub fn changed(&self, old: SubState) -> bool {
        self.new != old
    }
}

/// Apply one event (RFC 6121 Appendix A.2 outbound, A.3 inbound).
pub fn apply(old: SubState, ev: SubEvent) -> Transition {
    use SubEvent::*;
    let mut new = old;
    let mut auto_reply_subscribed = false;
    match ev {
        OutSubscribe => {
            if !old.to {
                new.pending_out = true;
            }
        }
        OutUnsubscribe | InUnsubscribed => {
            new.to = false;
            new.pending_out = false;
        }
        OutSubscribed => {
            if old.pending_in {
                new.from = true;
                new.pending_in = false;
            }
        }
        OutUnsubscribed | InUnsubscribe => {
            new.from = false;
            new.pending_in = false;
        }
        InSubscribe => {
            if old.from {
                auto_reply_subscribed = true;
            } else {
                new.pending_in = true;
            }
        }
        InSubscribed => {
            if old.pending_out {
                new.to = true;
                new.pending_out = false;
            }
        }
    }
    let forward = match ev {
        // Outbound subscribe and unsubscribe are always routed (RFC 6121 §3.1.2, §3.3.2);
        // the contact's server decides.
        OutSubscribe | OutUnsubscribe => true,
        // Approvals and cancellations only when they changed something (§3.1.5, §3.2.2).
        OutSubscribed | OutUnsubscribed => new != old,
        // A new request is delivered; a duplicate of a pending one is too (the user may
        // have missed it), but not one answered on the user's behalf.
        InSubscribe => !auto_reply_subscribed,
        InSubscribed | InUnsubscribe | InUnsubscribed => new != old,
    };
    Transition { new, forward, auto_reply_subscribed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubEvent::*;

    /// States named as in RFC 6121 Appendix A.1.
    fn s(name: &str) -> SubState {
        let pending_out = name.contains("Out");
        let pending_in = name.contains("In");
        let sub = name.split('+').next().unwrap_or("None").trim().to_lowercase();
        SubState::from_parts(&sub, pending_out, pending_in)
    }

    fn check(ev: SubEvent, table: &[(&str, &str)]) {
        for (from, to) in table {
            let t = apply(s(from), ev);
            assert_eq!(t.new, s(to), "{ev:?} from {from}");
        }
    }

    #[test]
    fn outbound_subscribe_a21() {
        check(OutSubscribe, &[("None", "None+Out"), ("None+Out", "None+Out"), ("None+In", "None+Out+In"),
            ("None+Out+In", "None+Out+In"), ("To", "To"), ("To+In", "To+In"), ("From", "From+Out"),
            ("From+Out", "From+Out"), ("Both", "Both")]);
    }

    #[test]
    fn outbound_unsubscribe_a22() {
        check(OutUnsubscribe, &[("None", "None"), ("None+Out", "None"), ("None+In", "None+In"),
            ("None+Out+In", "None+In"), ("To", "None"), ("To+In", "None+In"), ("From", "From"),
            ("From+Out", "From"), ("Both", "From")]);
    }

    #[test]
    fn outbound_subscribed_a23() {
        check(OutSubscribed, &[("None", "None"), ("None+Out", "None+Out"), ("None+In", "From"),
            ("None+Out+In", "From+Out"), ("To", "To"), ("To+In", "Both"), ("From", "From"),
            ("From+Out", "From+Out"), ("Both", "Both")]);
        assert!(!apply(s("None"), OutSubscribed).forward);
        assert!(apply(s("None+In"), OutSubscribed).forward);
    }

    #[test]
    fn outbound_unsubscribed_a24() {
        check(OutUnsubscribed, &[("None", "None"), ("None+Out", "None+Out"), ("None+In", "None"),
            ("None+Out+In", "None+Out"), ("To", "To"), ("To+In", "To"), ("From", "None"),
            ("From+Out", "None+Out"), ("Both", "To")]);
    }

    #[test]
    fn inbound_subscribe_a31() {
        check(InSubscribe, &[("None", "None+In"), ("None+Out", "None+Out+In"), ("None+In", "None+In"),
            ("To", "To+In"), ("From", "From"), ("Both", "Both")]);
        let t = apply(s("Both"), InSubscribe);
        assert!(t.auto_reply_subscribed && !t.forward);
        assert!(apply(s("None"), InSubscribe).forward);
    }

    #[test]
    fn inbound_unsubscribe_a32() {
        check(InUnsubscribe, &[("None", "None"), ("None+In", "None"), ("None+Out+In", "None+Out"),
            ("To+In", "To"), ("From", "None"), ("From+Out", "None+Out"), ("Both", "To")]);
        assert!(!apply(s("None"), InUnsubscribe).forward);
    }

    #[test]
    fn inbound_subscribed_a33() {
        check(InSubscribed, &[("None", "None"), ("None+Out", "To"), ("None+In", "None+In"),
            ("None+Out+In", "To+In"), ("To", "To"), ("From", "From"), ("From+Out", "Both"), ("Both", "Both")]);
        assert!(!apply(s("None"), InSubscribed).forward);
        assert!(apply(s("None+Out"), InSubscribed).forward);
    }

    #[test]
    fn inbound_unsubscribed_a34() {
        check(InUnsubscribed, &[("None", "None"), ("None+Out", "None"), ("None+In", "None+In"),
            ("None+Out+In", "None+In"), ("To", "None"), ("To+In", "None+In"), ("From", "From"),
            ("From+Out", "From"), ("Both", "From")]);
    }
}
