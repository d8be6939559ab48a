//! XEP-0198 inside the session: `<enable/>` (§3), acks (§4), resumption (§5), and delivery
//! of stanzas to the client through the unacked queue.

use minidom::Element;

use super::{C2sSession, Output};
use crate::error::{StreamCondition, StreamError};
use crate::ns;
use crate::sm::{AckError, SmState};
use crate::xml::{elem, random_id, set_attr};

fn failed(condition: &str) -> Element {
    let mut f = Element::bare("failed", ns::SM);
    f.append_child(Element::bare(condition, ns::XMPP_STANZAS));
    f
}

impl C2sSession {
    pub(super) fn handle_sm(&mut self, el: Element) {
        match el.name() {
            "enable" => self.sm_enable(&el),
            "r" if self.sm.is_some() => {
                let h = self.sm.as_ref().map(|s| s.inbound_h).unwrap_or(0);
                self.send(elem("a", ns::SM, &[("h", &h.to_string())]));
            }
            "a" if self.sm.is_some() => self.sm_ack(&el),
            "resume" => self.sm_resume(&el),
            _ => self.stream_error(StreamCondition::UnsupportedStanzaType, "unexpected stream management element"),
        }
    }

    fn sm_enable(&mut self, el: &Element) {
        if self.jid.is_none() || self.sm.is_some() {
            return self.send(failed("unexpected-request"));
        }
        let resume = matches!(el.attr("resume"), Some("true") | Some("1")) && self.cfg.sm_resume_secs > 0;
        let mut enabled = Element::bare("enabled", ns::SM);
        let id = resume.then(|| random_id(18));
        if let Some(id) = &id {
            set_attr(&mut enabled, "id", id.as_str());
            set_attr(&mut enabled, "resume", "true");
            set_attr(&mut enabled, "max", self.cfg.sm_resume_secs.to_string());
        }
        self.sm = Some(SmState::new(id.clone()));
        self.send(enabled);
        if let Some(id) = id {
            self.out.push_back(Output::SmEnabled { id });
        }
    }

    fn sm_ack(&mut self, el: &Element) {
        let Some(h) = el.attr("h").and_then(|h| h.parse::<u32>().ok()) else {
            return self.stream_error(StreamCondition::InvalidXml, "<a/> without a valid h");
        };
        let Some(sm) = self.sm.as_mut() else { return };
        if let Err(AckError::TooHigh { .. }) = sm.ack(h) {
            let mut err = StreamError::new(StreamCondition::UndefinedCondition)
                .with_text("acknowledged more stanzas than were sent");
            err.app = Some(Element::bare("handled-count-too-high", ns::SM));
            self.close(Some(err));
        }
    }

    fn sm_resume(&mut self, el: &Element) {
        if self.username.is_none() || self.jid.is_some() {
            return self.send(failed("unexpected-request"));
        }
        let previd = el.attr("previd").unwrap_or_default().to_owned();
        let Some(h) = el.attr("h").and_then(|h| h.parse::<u32>().ok()) else {
            return self.send(failed("bad-request"));
        };
        self.out.push_back(Output::Resume { previd, h });
    }

    /// The session to resume was not found or belongs to someone else (XEP-0198 §5):
    /// the client may bind normally.
    pub fn resume_failed(&mut self) {
        self.send(failed("item-not-found"));
    }

    /// Deliver a routed stanza to the client, tracking it for acks when SM is on.
    pub fn deliver(&mut self, stanza: Element) {
        if self.jid.is_none() || (self.is_closed() && !self.hibernating) {
            return;
        }
        if self.hibernating {
            if let Some(sm) = self.sm.as_mut() {
                sm.sent(stanza);
            }
            return;
        }
        let ask = match self.sm.as_mut() {
            Some(sm) => sm.sent(stanza.clone()),
            None => false,
        };
        self.send(stanza);
        if ask {
            self.send(Element::bare("r", ns::SM));
        }
    }

    /// XEP-0198 is enabled (stanzas sent are tracked until acknowledged).
    pub fn sm_enabled(&self) -> bool {
        self.sm.is_some()
    }

    /// XEP-0198 resumable session id, if granted.
    pub fn sm_id(&self) -> Option<&str> {
        self.sm.as_ref().and_then(|s| s.id.as_deref())
    }

    /// Stanzas sent but not acknowledged.
    pub fn unacked_len(&self) -> usize {
        self.sm.as_ref().map(|s| s.unacked_len()).unwrap_or(0)
    }

    /// Take the unacked stanzas at session end (offline storage or bounce; XEP-0198 §5).
    pub fn take_unacked(&mut self) -> Vec<Element> {
        self.sm.as_mut().map(|s| s.take_unacked()).unwrap_or_default()
    }

    /// The transport went away: clear everything queued for it. The session stays
    /// resumable if SM resumption was enabled; the caller keeps it for the window.
    pub fn transport_lost(&mut self) {
        self.out.clear();
        self.ping = None;
        self.hibernating = self.jid.is_some() && self.sm_id().is_some();
        self.phase = super::Phase::Closed;
    }

    /// Waiting for resumption after the transport went away.
    pub fn is_hibernating(&self) -> bool {
        self.hibernating
    }

    /// This hibernated (or still connected) session takes over a new stream that asked to
    /// resume it with `<resume h=…/>` (XEP-0198 §5): ack `h`, answer `<resumed/>` and resend
    /// what is still unacked. The new stream is open and encrypted as `encrypted` says.
    pub fn resume_on_new_stream(&mut self, h: u32, encrypted: bool, now: std::time::Instant) -> bool {
        let Some(sm) = self.sm.as_mut() else { return false };
        let Some(id) = sm.id.clone() else { return false };
        if sm.ack(h).is_err() {
            return false;
        }
        self.out.clear();
        self.hibernating = false;
        self.phase = super::Phase::Open;
        self.encrypted = encrypted;
        self.last_activity = now;
        self.ping = None;
        let inbound = sm.inbound_h.to_string();
        let resend: Vec<Element> = sm.unacked().cloned().collect();
        sm.reset_request_mark();
        self.send(elem("resumed", ns::SM, &[("previd", &id), ("h", &inbound)]));
        for s in resend {
            self.send(s);
        }
        true
    }
}
