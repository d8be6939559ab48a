//! Delivery rules for stanzas addressed to local accounts (RFC 6121 §8.5), as pure functions
//! over the recipient's sessions.

use smallvec::SmallVec;

use crate::error::StanzaCondition;

/// Indices of the chosen sessions: an account rarely has more than a few, so they stay inline.
pub type Targets = SmallVec<[usize; 4]>;

/// What the router knows about one connected resource of the recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceInfo<'a> {
    pub resource: &'a str,
    /// Presence priority (-128..=127); meaningful only when `available`.
    pub priority: i8,
    /// Has sent initial presence and not gone unavailable.
    pub available: bool,
}

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// To these resources (indices into the slice given).
    To(Targets),
    /// Into offline storage (RFC 6121 §8.5.2.2.1; XEP-0160).
    Offline,
    /// Back to the sender as an error.
    Bounce(StanzaCondition),
    /// Silently dropped (as the RFC allows for this type).
    Drop,
}

fn non_negative(resources: &[ResourceInfo<'_>]) -> Targets {
    resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.available && r.priority >= 0)
        .map(|(i, _)| i)
        .collect()
}

/// A message to the bare JID of an existing account (RFC 6121 §8.5.2).
/// `normal` and `chat` go to the highest-priority non-negative resources (every one that ties),
/// `headline` to all non-negative ones; with none, `normal`/`chat` are stored offline.
pub fn message_to_bare(msg_type: &str, resources: &[ResourceInfo<'_>]) -> Delivery {
    let candidates = non_negative(resources);
    match msg_type {
        "error" => Delivery::Drop,
        "groupchat" => Delivery::Bounce(StanzaCondition::ServiceUnavailable),
        "headline" if candidates.is_empty() => Delivery::Drop,
        "headline" => Delivery::To(candidates),
        _ if candidates.is_empty() => Delivery::Offline,
        _ => {
            let top = candidates.iter().map(|&i| resources[i].priority).max().unwrap_or(0);
            Delivery::To(candidates.into_iter().filter(|&i| resources[i].priority == top).collect())
        }
    }
}

/// A message to a full JID of an existing account (RFC 6121 §8.5.3). `target` is the index of
/// the session with that resource, if one is connected.
pub fn message_to_full(msg_type: &str, target: Option<usize>, resources: &[ResourceInfo<'_>]) -> Delivery {
    match (target, msg_type) {
        (_, "error") => Delivery::Drop,
        (Some(i), _) => Delivery::To(smallvec::smallvec![i]),
        (None, "groupchat") => Delivery::Bounce(StanzaCondition::ServiceUnavailable),
        (None, "headline") => Delivery::Drop,
        (None, t) => message_to_bare(t, resources),
    }
}

/// A message to a local JID whose account does not exist (RFC 6121 §8.5.1).
pub fn message_to_nobody(msg_type: &str) -> Delivery {
    match msg_type {
        "error" | "headline" | "groupchat" => Delivery::Drop,
        _ => Delivery::Bounce(StanzaCondition::ServiceUnavailable),
    }
}

/// An IQ to a full JID (RFC 6121 §8.5.3.2.2): delivered if connected, else an error for
/// get/set and nothing for result/error.
pub fn iq_to_full(iq_type: &str, target: Option<usize>) -> Delivery {
    match (target, iq_type) {
        (Some(i), _) => Delivery::To(smallvec::smallvec![i]),
        (None, "get") | (None, "set") => Delivery::Bounce(StanzaCondition::ServiceUnavailable),
        (None, _) => Delivery::Drop,
    }
}

/// Sessions that receive presence broadcasts and roster pushes: the available ones
/// (RFC 6121 §4.4.2) — negative priority still receives presence.
pub fn available(resources: &[ResourceInfo<'_>]) -> Vec<usize> {
    resources.iter().enumerate().filter(|(_, r)| r.available).map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(resource: &str, priority: i8, available: bool) -> ResourceInfo<'_> {
        ResourceInfo { resource, priority, available }
    }

    #[test]
    fn bare_chat_goes_to_highest_priority_ties() {
        let rs = [r("a", 1, true), r("b", 5, true), r("c", 5, true), r("d", 9, false)];
        assert_eq!(message_to_bare("chat", &rs), Delivery::To(Targets::from_slice(&[1, 2])));
        assert_eq!(message_to_bare("normal", &rs), Delivery::To(Targets::from_slice(&[1, 2])));
    }

    #[test]
    fn negative_priority_never_gets_bare_messages() {
        let rs = [r("a", -1, true)];
        assert_eq!(message_to_bare("chat", &rs), Delivery::Offline);
        assert_eq!(message_to_bare("headline", &rs), Delivery::Drop);
    }

    #[test]
    fn bare_without_resources() {
        assert_eq!(message_to_bare("chat", &[]), Delivery::Offline);
        assert_eq!(message_to_bare("normal", &[]), Delivery::Offline);
        assert_eq!(message_to_bare("groupchat", &[]), Delivery::Bounce(StanzaCondition::ServiceUnavailable));
        assert_eq!(message_to_bare("error", &[]), Delivery::Drop);
    }

    #[test]
    fn headline_to_all_non_negative() {
        let rs = [r("a", 0, true), r("b", 3, true), r("c", -5, true)];
        assert_eq!(message_to_bare("headline", &rs), Delivery::To(Targets::from_slice(&[0, 1])));
    }

    #[test]
    fn full_jid_rules() {
        let rs = [r("a", 0, true), r("b", -1, true)];
        assert_eq!(message_to_full("chat", Some(1), &rs), Delivery::To(Targets::from_slice(&[1])));
        assert_eq!(message_to_full("chat", None, &rs), Delivery::To(Targets::from_slice(&[0])));
        assert_eq!(message_to_full("chat", None, &[]), Delivery::Offline);
        assert_eq!(message_to_full("headline", None, &rs), Delivery::Drop);
        assert_eq!(message_to_full("groupchat", None, &rs), Delivery::Bounce(StanzaCondition::ServiceUnavailable));
    }

    #[test]
    fn iq_rules() {
        assert_eq!(iq_to_full("get", None), Delivery::Bounce(StanzaCondition::ServiceUnavailable));
        assert_eq!(iq_to_full("result", None), Delivery::Drop);
        assert_eq!(iq_to_full("set", Some(0)), Delivery::To(Targets::from_slice(&[0])));
    }

    #[test]
    fn nobody() {
        assert_eq!(message_to_nobody("chat"), Delivery::Bounce(StanzaCondition::ServiceUnavailable));
        assert_eq!(message_to_nobody("headline"), Delivery::Drop);
    }
}
