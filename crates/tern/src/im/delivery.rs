//! Message delivery to local accounts (RFC 6121 §5, §8.5), with XEP-0191 block checks,
//! XEP-0280 carbon copies and XEP-0160 offline storage.

use jid::{BareJid, Jid};
use minidom::Element;
use tern_core::error::error_reply;
use tern_core::routing::{self, Delivery};
use tern_core::stanza::stanza_type;
use tern_core::{StanzaCondition, StanzaError};
use tracing::{debug, warn};

use super::{carbons, offline, recipient, remote_error, ImSession, Reply};
use crate::router::{deliver_to, resource_infos, SessionMsg};
use crate::server::Server;

/// A message from the client.
pub(super) async fn outbound_message(server: &Server, s: &mut ImSession, stanza: Element) -> Reply {
    let to = match recipient(s, &stanza) {
        Ok(t) => t,
        Err(e) => return Reply::error(&stanza, e),
    };
    if server.blocks(&s.bare, &to).await {
        let mut err = StanzaError::new(StanzaCondition::NotAcceptable);
        err.app = Some(Box::new(Element::bare("blocked", tern_core::ns::BLOCKING_ERRORS)));
        return Reply::error(&stanza, err);
    }
    carbons::copy_sent(server, s, &stanza);
    let sender = Jid::from(s.jid.clone());
    match deliver_from(server, &stanza, &to, Some(&sender)).await {
        Ok(()) => Reply::default(),
        Err(e) => Reply::error(&stanza, e),
    }
}

/// Deliver a message to a local JID following RFC 6121 §8.5. `Err` is what to bounce.
pub async fn deliver_message(server: &Server, stanza: &Element, to: &Jid) -> Result<(), StanzaError> {
    let sender = crate::router::jid_of(stanza.attr("from"));
    deliver_from(server, stanza, to, sender.as_ref()).await
}

/// [`deliver_message`] with the sender (the stanza's `from`) already known.
async fn deliver_from(server: &Server, stanza: &Element, to: &Jid, sender: Option<&Jid>) -> Result<(), StanzaError> {
    let domain = to.domain().as_str();
    if !server.is_local(domain) {
        return Err(remote_error());
    }
    let bare = to.to_bare();
    if bare.node().is_none() {
        // A message to the server itself: nothing here consumes messages.
        return Ok(());
    }
    if let Some(from) = sender
        && server.blocks(&bare, from).await {
            // XEP-0191 §3.5: the blocked entity learns nothing but that delivery failed.
            return Err(StanzaError::new(StanzaCondition::ServiceUnavailable));
        }
    let mtype = stanza_type(stanza);
    let resources = server.router.resources(&bare);
    let infos = resource_infos(&resources);
    let decision = if resources.is_empty() && !account_exists(server, &bare).await {
        routing::message_to_nobody(mtype)
    } else {
        match to.resource() {
            Some(res) => {
                let target = resources.iter().position(|r| r.jid.resource() == res);
                if target.is_none() && forward_remote(server, to, stanza).await {
                    return Ok(());
                }
                routing::message_to_full(mtype, target, &infos)
            }
            None => routing::message_to_bare(mtype, &infos),
        }
    };
    match decision {
        Delivery::To(indices) => {
            let mut delivered = false;
            for &i in &indices {
                let rewrite = to.resource().is_none();
                delivered |= deliver_to(&resources[i], stanza.clone(), rewrite);
            }
            if !delivered {
                warn!(to = %bare, "recipient sessions refused the message; storing offline");
                return offline::store(server, &bare, stanza).await;
            }
            carbons::copy_received(&resources, &indices, &bare, stanza);
            Ok(())
        }
        Delivery::Offline => offline::store(server, &bare, stanza).await,
        Delivery::Bounce(c) => Err(StanzaError::new(c)),
        Delivery::Drop => Ok(()),
    }
}

async fn account_exists(server: &Server, bare: &BareJid) -> bool {
    let Some(node) = bare.node() else { return false };
    match server.store.account_exists(bare.domain().as_str(), node.as_str()).await {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "account lookup failed");
            false
        }
    }
}

/// Route a stanza between local entities: the generic path for messages, presence and IQs
/// that the server or a session forwards. Errors go back to the sender when it is local.
pub async fn route(server: &Server, stanza: Element) {
    let Some(to) = crate::router::jid_of(stanza.attr("to")) else { return };
    let result = match stanza.name() {
        "message" => deliver_message(server, &stanza, &to).await,
        "iq" => deliver_iq(server, &stanza, &to).await,
        _ => {
            let _: () = super::presence::deliver_inbound(server, stanza.clone(), &to).await;
            Ok(())
        },
    };
    if let Err(e) = result {
        bounce(server, &stanza, e);
    }
}

/// An IQ to a full JID of a local account (RFC 6121 §8.5.3.2.2).
pub(super) async fn deliver_iq(server: &Server, iq: &Element, to: &Jid) -> Result<(), StanzaError> {
    if !server.is_local(to.domain().as_str()) {
        return Err(remote_error());
    }
    let bare = to.to_bare();
    if let Some(from) = crate::router::jid_of(iq.attr("from"))
        && server.blocks(&bare, &from).await {
            return Err(StanzaError::new(StanzaCondition::ServiceUnavailable));
        }
    let resources = server.router.resources(&bare);
    let target = to.resource().and_then(|res| resources.iter().position(|r| r.jid.resource() == res));
    if target.is_none() && forward_remote(server, to, iq).await {
        return Ok(());
    }
    match routing::iq_to_full(iq.attr("type").unwrap_or(""), target) {
        Delivery::To(i) => {
            for idx in i {
                if !deliver_to(&resources[idx], iq.clone(), false) {
                    return Err(StanzaError::new(StanzaCondition::ServiceUnavailable));
                }
            }
            Ok(())
        }
        Delivery::Bounce(c) => Err(StanzaError::new(c)),
        _ => Ok(()),
    }
}

/// Send an error reply to the stanza's (local) sender.
pub(super) fn bounce(server: &Server, stanza: &Element, err: StanzaError) {
    let Some(reply) = error_reply(stanza, &err) else { return };
    let Some(Ok(to)) = crate::router::jid_of(reply.attr("to")).map(Jid::try_into_full) else { return };
    if let Some(r) = server.router.resource(&to)
        && !r.handle.send(SessionMsg::Stanza(Box::new(reply))) {
            debug!(to = %to, "error reply dropped: inbox full");
        }
}

/// A stanza left in an ended session's inbox: deliver it elsewhere (other resources or
/// offline storage), or bounce it — never drop a message (XEP-0198 §5, RFC 6121 §8.5.3.2).
pub async fn reroute(server: &Server, stanza: Element) {
    match stanza.name() {
        "message" => {
            let Some(to) = crate::router::jid_of(stanza.attr("to")) else { return };
            let bare = Jid::from(to.to_bare());
            if let Err(e) = deliver_message(server, &stanza, &bare).await {
                bounce(server, &stanza, e);
            }
        }
        "iq" if matches!(stanza.attr("type"), Some("get") | Some("set")) => {
            bounce(server, &stanza, StanzaError::new(StanzaCondition::ServiceUnavailable));
        }
        _ => {}
    }
}

/// Stanzas a client never acknowledged when its session ended (XEP-0198 §5).
pub async fn deliver_unacked(server: &Server, stanzas: Vec<Element>) {
    for st in stanzas {
        if st.ns() == tern_core::ns::CLIENT {
            reroute(server, st).await;
        }
    }
}

/// A full JID held by another node: hand the stanza to the cluster bus (the seam a
/// multi-node deployment fills in; a single node has no remote sessions).
async fn forward_remote(server: &Server, to: &Jid, stanza: &Element) -> bool {
    let Ok(full) = to.clone().try_into_full() else { return false };
    let remote = match server.registry.remote_sessions(&full.to_bare()).await {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "cluster registry lookup failed");
            return false;
        }
    };
    let Some((_, node)) = remote.into_iter().find(|(j, _)| *j == full) else { return false };
    let env = tern_cluster::Envelope { to: full.to_string(), stanza: tern_wire::to_string(stanza) };
    match server.bus.publish(&node, env).await {
        Ok(()) => true,
        Err(e) => {
            warn!(node = %node, error = %e, "forwarding to another node failed");
            false
        }
    }
}
