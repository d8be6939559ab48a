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
use crate::router::{deliver_to, resource_infos, try_deliver, Resource, SessionMsg};
use crate::server::Server;

/// A message from the client.
pub(super) async fn outbound_message(server: &Server, s: &mut ImSession, stanza: Element, to: Option<Jid>) -> Reply {
    let to = recipient(s, to);
    if server.blocks(&s.bare, &to).await {
        let mut err = StanzaError::new(StanzaCondition::NotAcceptable);
        err.app = Some(Box::new(Element::bare("blocked", tern_core::ns::BLOCKING_ERRORS)));
        return Reply::error(&stanza, err);
    }
    carbons::copy_sent(server, s, &stanza);
    match deliver_from(server, stanza, &to, Some(&s.jid)).await {
        Ok(()) => Reply::default(),
        Err(u) => Reply::error(&u.stanza, u.error),
    }
}

/// A stanza that could not be delivered, given back with the error its sender is owed.
#[derive(Debug)]
pub struct Undelivered {
    pub error: StanzaError,
    pub stanza: Box<Element>,
}

impl Undelivered {
    fn new(error: StanzaError, stanza: Element) -> Self {
        Self { error, stanza: Box::new(stanza) }
    }
}

/// Deliver a message to a local JID following RFC 6121 §8.5.
pub async fn deliver_message(server: &Server, stanza: Element, to: &Jid) -> Result<(), Undelivered> {
    let sender = crate::router::jid_of(stanza.attr("from"));
    deliver_from(server, stanza, to, sender.as_ref()).await
}

/// What [`deliver_from`] decided while it held the router's lock, or what it must wait for
/// without it.
enum Step {
    Done,
    /// No session of the account is connected: does the account exist?
    AskStore(Element),
    /// No session has the resource here: another node may hold it.
    AskCluster(Element),
    Store(Element),
    Refuse(StanzaCondition, Element),
}

/// What is known, beyond the connected sessions, about where a message can go.
#[derive(Clone, Copy, Default)]
struct Known {
    /// The account exists (asked only when none of its sessions is connected).
    account: Option<bool>,
    /// The cluster was asked for the full JID and does not have it.
    not_remote: bool,
}

/// [`deliver_message`] with the sender (the stanza's `from`) already known.
async fn deliver_from(server: &Server, stanza: Element, to: &Jid, sender: Option<&Jid>) -> Result<(), Undelivered> {
    let domain = to.domain().as_str();
    if !server.is_local(domain) {
        return Err(Undelivered::new(remote_error(), stanza));
    }
    let bare = to.clone().into_bare();
    if bare.node().is_none() {
        // A message to the server itself: nothing here consumes messages.
        return Ok(());
    }
    if let Some(from) = sender
        && server.blocks(&bare, from).await {
            // XEP-0191 §3.5: the blocked entity learns nothing but that delivery failed.
            return Err(Undelivered::new(StanzaError::new(StanzaCondition::ServiceUnavailable), stanza));
        }
    let mut known = Known::default();
    let mut stanza = stanza;
    loop {
        match server.router.with_resources(&bare, |rs| send_to_sessions(rs, stanza, to, &bare, known)) {
            Step::Done => return Ok(()),
            Step::AskStore(st) => {
                known.account = Some(account_exists(server, &bare).await);
                stanza = st;
            }
            Step::AskCluster(st) => {
                if forward_remote(server, to, &st).await {
                    return Ok(());
                }
                known.not_remote = true;
                stanza = st;
            }
            Step::Store(st) => return offline::store(server, &bare, &st).await.map_err(|e| Undelivered::new(e, st)),
            Step::Refuse(c, st) => return Err(Undelivered::new(StanzaError::new(c), st)),
        }
    }
}

/// Apply RFC 6121 §8.5 to the account's connected sessions `rs` and send to the chosen ones:
/// copies to all but the last, the stanza itself to the last. Runs under the router's lock.
fn send_to_sessions(rs: &[Resource], stanza: Element, to: &Jid, bare: &BareJid, known: Known) -> Step {
    let mtype = stanza_type(&stanza);
    let infos = resource_infos(rs);
    let decision = if rs.is_empty() && known.account != Some(true) {
        match known.account {
            None => return Step::AskStore(stanza),
            Some(_) => routing::message_to_nobody(mtype),
        }
    } else {
        match to.resource() {
            Some(res) => {
                let target = rs.iter().position(|r| r.jid.resource() == res);
                if target.is_none() && !known.not_remote {
                    return Step::AskCluster(stanza);
                }
                routing::message_to_full(mtype, target, &infos)
            }
            None => routing::message_to_bare(mtype, &infos),
        }
    };
    match decision {
        Delivery::To(indices) => {
            let copies = carbons::received_copies(rs, &indices, bare, &stanza);
            let rewrite = to.resource().is_none();
            let Some((&last, rest)) = indices.split_last() else { return Step::Store(stanza) };
            let mut delivered = false;
            for &i in rest {
                delivered |= deliver_to(&rs[i], stanza.clone(), rewrite);
            }
            let refused = try_deliver(&rs[last], stanza, rewrite);
            delivered |= refused.is_none();
            match refused {
                Some(st) if !delivered => {
                    warn!(to = %bare, "recipient sessions refused the message; storing offline");
                    Step::Store(st)
                }
                _ => {
                    for (r, copy) in copies {
                        deliver_to(r, copy, false);
                    }
                    Step::Done
                }
            }
        }
        Delivery::Offline => Step::Store(stanza),
        Delivery::Bounce(c) => Step::Refuse(c, stanza),
        Delivery::Drop => Step::Done,
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
    match stanza.name() {
        "message" => {
            if let Err(u) = deliver_message(server, stanza, &to).await {
                bounce(server, &u.stanza, u.error);
            }
        }
        "iq" => {
            if let Err(e) = deliver_iq(server, &stanza, &to).await {
                bounce(server, &stanza, e);
            }
        }
        _ => super::presence::deliver_inbound(server, stanza, &to).await,
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
            if let Err(u) = deliver_message(server, stanza, &bare).await {
                bounce(server, &u.stanza, u.error);
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
        if st.has_ns(tern_core::ns::CLIENT) {
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
