//! XEP-0198 stream management: the `h` counters, the queue of unacknowledged outbound
//! stanzas (§4 acks), and the state carried across resumption (§5).

use std::collections::VecDeque;

use minidom::Element;

/// Why an `<a/>` from the client was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    /// The client acknowledged more stanzas than were sent (§4, `handled-count-too-high`).
    TooHigh { h: u32, sent: u32 },
}

/// Stream management state of one session.
#[derive(Debug, Clone)]
pub struct SmState {
    /// The SM-ID (`<enabled id=…/>`), present when resumption was granted.
    pub id: Option<String>,
    /// Stanzas received from the client and handled (mod 2^32).
    pub inbound_h: u32,
    /// Stanzas sent to the client (mod 2^32).
    sent: u32,
    /// The last `h` the client acknowledged.
    acked: u32,
    /// Sent stanzas not yet acknowledged, oldest first.
    unacked: VecDeque<Element>,
    /// Unacked count at which we last asked for an ack.
    last_request_at: u32,
}

/// Ask for an ack every this many unacknowledged stanzas.
pub const ACK_REQUEST_EVERY: u32 = 5;

impl SmState {
    pub fn new(id: Option<String>) -> Self {
        Self { id, inbound_h: 0, sent: 0, acked: 0, unacked: VecDeque::new(), last_request_at: 0 }
    }

    /// Count one stanza handled from the client.
    pub fn received(&mut self) {
        self.inbound_h = self.inbound_h.wrapping_add(1);
    }

    /// Record a stanza sent to the client. Returns true when an `<r/>` should follow.
    pub fn sent(&mut self, stanza: Element) -> bool {
        self.sent = self.sent.wrapping_add(1);
        self.unacked.push_back(stanza);
        let n = self.unacked.len() as u32;
        if n >= self.last_request_at + ACK_REQUEST_EVERY {
            self.last_request_at = n;
            true
        } else {
            false
        }
    }

    /// Apply the client's `h`, dropping acknowledged stanzas (§4).
    pub fn ack(&mut self, h: u32) -> Result<(), AckError> {
        let newly = h.wrapping_sub(self.acked);
        let outstanding = self.sent.wrapping_sub(self.acked);
        if newly > outstanding {
            return Err(AckError::TooHigh { h, sent: self.sent });
        }
        for _ in 0..newly {
            self.unacked.pop_front();
        }
        self.acked = h;
        self.last_request_at = self.last_request_at.saturating_sub(newly);
        Ok(())
    }

    /// Number of stanzas sent and not acknowledged.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// Sent-but-unacked stanzas, oldest first, for resending after `<resumed/>` (§5).
    pub fn unacked(&self) -> impl Iterator<Item = &Element> {
        self.unacked.iter()
    }

    /// Take every unacked stanza (session end: they go to offline storage or bounce, §5).
    /// Free the queue's storage when nothing is unacknowledged.
    pub fn release_idle_buffers(&mut self) {
        if self.unacked.is_empty() && self.unacked.capacity() > 0 {
            self.unacked = VecDeque::new();
        }
    }

    pub fn take_unacked(&mut self) -> Vec<Element> {
        self.acked = self.sent;
        self.last_request_at = 0;
        self.unacked.drain(..).collect()
    }

    /// Resending the queue after resumption: the stanzas stay unacked, counters unchanged.
    pub fn reset_request_mark(&mut self) {
        self.last_request_at = self.unacked.len() as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(n: u32) -> Element {
        crate::xml::elem("message", crate::ns::CLIENT, &[("id", &n.to_string())])
    }

    #[test]
    fn ack_drops_prefix() {
        let mut s = SmState::new(None);
        for i in 0..3 {
            s.sent(st(i));
        }
        s.ack(2).expect("ok");
        assert_eq!(s.unacked_len(), 1);
        assert_eq!(s.unacked().next().and_then(|e| e.attr("id")), Some("2"));
        s.ack(2).expect("repeat ack is fine");
        assert_eq!(s.unacked_len(), 1);
    }

    #[test]
    fn ack_too_high_is_error() {
        let mut s = SmState::new(None);
        s.sent(st(0));
        assert_eq!(s.ack(2), Err(AckError::TooHigh { h: 2, sent: 1 }));
    }

    #[test]
    fn counters_wrap() {
        let mut s = SmState::new(None);
        s.inbound_h = u32::MAX;
        s.received();
        assert_eq!(s.inbound_h, 0);
        s.sent = u32::MAX;
        s.acked = u32::MAX;
        s.sent(st(1));
        s.ack(0).expect("wrapped ack");
        assert_eq!(s.unacked_len(), 0);
    }

    #[test]
    fn requests_ack_periodically() {
        let mut s = SmState::new(None);
        let asks: Vec<bool> = (0..10).map(|i| s.sent(st(i))).collect();
        assert_eq!(asks.iter().filter(|a| **a).count(), 2);
        assert!(asks[4] && asks[9]);
    }
}
