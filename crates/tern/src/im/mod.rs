//! The instant-messaging layer (RFC 6121): what happens to a stanza an established client
//! sent. Shared by every transport; runs inside the sender's session task, so stanzas of
//! one session are handled in order.

mod blocking;
mod carbons;
mod delivery;
mod iq;
mod offline;
mod presence;
mod register;
mod roster;

use std::collections::HashSet;

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use tern_core::error::error_reply;
use tern_core::stanza::StanzaKind;
use tern_core::{StanzaCondition, StanzaError};

use crate::server::Server;

pub use delivery::{deliver_unacked, reroute, route};
pub use offline::format_stamp;
pub use presence::session_ended;

/// IM state of one established session (beside what the router holds).
#[derive(Debug)]
pub struct ImSession {
    pub jid: FullJid,
    pub bare: BareJid,
    pub vhost: String,
    pub session_id: u64,
    /// Sent initial presence and not yet unavailable.
    pub available: bool,
    /// Entities that got directed presence and must hear of unavailability (RFC 6121 §4.6.3).
    pub directed: HashSet<Jid>,
}

impl ImSession {
    pub fn new(jid: FullJid, session_id: u64) -> Self {
        let bare = jid.to_bare();
        let vhost = bare.domain().as_str().to_owned();
        Self { jid, bare, vhost, session_id, available: false, directed: HashSet::new() }
    }
}

/// What handling a stanza produced for the sender's own client.
#[derive(Debug, Default)]
pub struct Reply {
    /// Elements to deliver to this session's client (results, errors, pushes to itself).
    pub to_client: Vec<Element>,
    /// The account was deleted (XEP-0077 `<remove/>`): end the session.
    pub close_session: bool,
}

impl Reply {
    fn one(el: Element) -> Self {
        Self { to_client: vec![el], close_session: false }
    }

    fn error(stanza: &Element, err: StanzaError) -> Self {
        let mut r = Self::default();
        if let Some(e) = error_reply(stanza, &err) {
            r.to_client.push(e);
        }
        r
    }
}

/// Handle one stanza from an established client (`from` already stamped, `to` parsed).
pub async fn handle(server: &Server, s: &mut ImSession, stanza: Element, to: Option<Jid>) -> Reply {
    match StanzaKind::of(&stanza) {
        Some(StanzaKind::Message) => delivery::outbound_message(server, s, stanza, to).await,
        Some(StanzaKind::Presence) => presence::outbound(server, s, stanza, to).await,
        Some(StanzaKind::Iq) => iq::outbound(server, s, stanza, to).await,
        None => Reply::default(),
    }
}

/// The recipient of a stanza: `to`, or the sender's own account when absent (RFC 6120 §8.1.1.1).
fn recipient(s: &ImSession, to: Option<Jid>) -> Jid {
    to.unwrap_or_else(|| Jid::from(s.bare.clone()))
}

/// Error for an address this server does not serve (no s2s yet).
fn remote_error() -> StanzaError {
    StanzaError::new(StanzaCondition::RemoteServerNotFound).with_text("federation is not supported")
}

#[cfg(test)]
mod tests;
