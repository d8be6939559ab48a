//! RFC 6120 §4 framing of a client's stream over TCP or direct TLS (XEP-0368): the
//! server's bytes go through tern-wire's [`StreamFramer`], which is reset at each stream
//! restart (§6.4.6); what the client sends is its elements as they are.

use std::collections::VecDeque;

use tern_wire::{Limits, StreamEvent, StreamFramer};

use super::Event;
use crate::error::ClientError;

pub(super) struct StreamFraming {
    framer: StreamFramer,
    /// Reused between reads.
    parsed: Vec<StreamEvent>,
}

impl StreamFraming {
    pub(super) fn new(max_stanza: usize) -> Self {
        let limits = Limits {
            max_stanza_bytes: max_stanza,
            ..Limits::default()
        };
        StreamFraming {
            framer: StreamFramer::new(limits),
            parsed: Vec::new(),
        }
    }

    /// Expect a new stream header from the server.
    pub(super) fn reset(&mut self) {
        self.framer.reset();
    }

    pub(super) fn decode(
        &mut self,
        bytes: &[u8],
        events: &mut VecDeque<Event>,
    ) -> Result<(), ClientError> {
        let fed = self.framer.feed(bytes, &mut self.parsed);
        events.extend(self.parsed.drain(..).map(|ev| match ev {
            StreamEvent::Open(_) => Event::Open,
            StreamEvent::Element(el) => Event::Element(el),
            StreamEvent::Close => Event::Close,
        }));
        Ok(fed?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn decodes_a_stream_and_restarts() {
        let mut f = StreamFraming::new(4096);
        let mut events = VecDeque::new();
        let head = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='a' version='1.0'>";
        f.decode(head, &mut events).unwrap();
        f.decode(
            b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:f",
            &mut events,
        )
        .unwrap();
        f.decode(b"eatures>", &mut events).unwrap();
        assert!(matches!(events.pop_front(), Some(Event::Open)));
        let Some(Event::Element(features)) = events.pop_front() else {
            panic!("features")
        };
        assert_eq!(features.name(), "features");
        f.reset();
        f.decode(head, &mut events).unwrap();
        f.decode(b"</stream:stream>", &mut events).unwrap();
        assert!(matches!(events.pop_front(), Some(Event::Open)));
        assert!(matches!(events.pop_front(), Some(Event::Close)));
        assert!(
            f.decode(b"<more/>", &mut events).is_err(),
            "data after the close"
        );
    }
}
