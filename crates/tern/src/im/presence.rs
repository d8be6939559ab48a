//! Presence (RFC 6121 §4): initial presence with probes and offline delivery, broadcasts,
//! directed presence, unavailable on session end, and the subscription flows of §3 driven
//! by the pure state machine in `tern_core::roster`.

use jid::{BareJid, Jid};
use minidom::Element;
use tern_core::roster::{apply, SubEvent};
use tern_core::stanza::stanza_type;
use tern_core::xml::{elem, set_attr};
use tern_core::ns;
use tracing::warn;

use super::roster::{self, parts, sub_state, updated_item};
use super::{offline, recipient, ImSession, Reply};
use crate::router::{deliver_to, StoredPresence};
use crate::server::Server;

/// A presence stanza from the client.
pub(super) async fn outbound(server: &Server, s: &mut ImSession, stanza: Element, to: Option<Jid>) -> Reply {
    let ptype = stanza_type(&stanza).to_owned();
    match ptype.as_str() {
        "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" => {
            let to = recipient(s, to).to_bare();
            subscription_out(server, &s.bare, &to, stanza, &ptype).await;
            Reply::default()
        }
        "available" | "unavailable" if let Some(to) = to => directed(server, s, stanza, to).await,
        "available" => broadcast_available(server, s, stanza).await,
        "unavailable" => {
            broadcast_unavailable(server, s, stanza).await;
            Reply::default()
        }
        _ => Reply::default(),
    }
}

/// Directed presence (§4.6): routed, and remembered for the unavailable broadcast.
async fn directed(server: &Server, s: &mut ImSession, stanza: Element, to: Jid) -> Reply {
    if server.blocks(&s.bare, &to).await {
        return Reply::default();
    }
    if stanza_type(&stanza) == "unavailable" {
        s.directed.remove(&to);
    } else if s.available {
        s.directed.insert(to.clone());
    }
    deliver_inbound(server, stanza, &to).await;
    Reply::default()
}

fn priority_of(p: &Element) -> i8 {
    p.get_child("priority", ns::CLIENT).and_then(|e| e.text().trim().parse::<i8>().ok()).unwrap_or(0)
}

/// Available presence without `to` (§4.2 initial, §4.4 updates).
async fn broadcast_available(server: &Server, s: &mut ImSession, stanza: Element) -> Reply {
    let initial = !s.available;
    let priority = priority_of(&stanza);
    server.router.update(&s.jid, |r| {
        r.presence = Some(StoredPresence::new(&stanza));
        r.priority = priority;
    });
    s.available = true;
    let (vhost, user) = parts(&s.bare);
    let items = server.store.roster(vhost, user).await.map(|(_, i)| i).unwrap_or_default();
    broadcast(server, s, &stanza, &items).await;
    let mut reply = Reply::default();
    if !initial {
        return reply;
    }
    // §4.2.2: probes to contacts we are subscribed to, answered from local state.
    for item in items.iter().filter(|i| sub_state(Some(i), false).to) {
        let Ok(contact) = BareJid::new(&item.jid) else { continue };
        if server.is_local(contact.domain().as_str()) {
            reply.to_client.extend(probe_answer(server, &contact, s).await);
        }
    }
    // The user's other available resources (§4.2.2, last bullet).
    for r in server.router.resources(&s.bare) {
        if r.jid != s.jid
            && let Some(mut p) = r.presence.as_ref().and_then(StoredPresence::element) {
                set_attr(&mut p, "from", r.jid.as_str());
                set_attr(&mut p, "to", s.jid.as_str());
                reply.to_client.push(p);
            }
    }
    // Subscription requests awaiting approval are delivered again (§3.1.3).
    if let Ok(pending) = server.store.pending_in(vhost, user).await {
        for (_, stanza) in pending {
            if let Ok(p) = stanza.parse::<Element>() {
                reply.to_client.push(p);
            }
        }
    }
    // Offline messages (XEP-0160) once a non-negative priority session is available.
    if priority >= 0 {
        let (msgs, last) = offline::load(server, &s.bare).await;
        reply.to_client.extend(msgs);
        if let Some(last) = last {
            offline::delete(server, &s.bare, last).await;
        }
    }
    reply
}

/// Send `stanza` from this session to subscribed contacts and the user's other resources.
async fn broadcast(server: &Server, s: &ImSession, stanza: &Element, items: &[tern_store::RosterItem]) {
    let mut p = stanza.clone();
    set_attr(&mut p, "from", s.jid.as_str());
    for item in items.iter().filter(|i| sub_state(Some(i), false).from) {
        let Ok(contact) = Jid::new(&item.jid) else { continue };
        if server.blocks(&s.bare, &contact).await {
            continue;
        }
        let mut c = p.clone();
        set_attr(&mut c, "to", item.jid.as_str());
        deliver_inbound(server, c, &contact).await;
    }
    for r in server.router.resources(&s.bare) {
        if r.jid != s.jid && r.available() {
            deliver_to(&r, p.clone(), true);
        }
    }
}

async fn broadcast_unavailable(server: &Server, s: &mut ImSession, stanza: Element) {
    if !s.available {
        return;
    }
    s.available = false;
    server.router.update(&s.jid, |r| r.presence = None);
    let (vhost, user) = parts(&s.bare);
    let items = server.store.roster(vhost, user).await.map(|(_, i)| i).unwrap_or_default();
    broadcast(server, s, &stanza, &items).await;
    for to in std::mem::take(&mut s.directed) {
        let mut p = stanza.clone();
        set_attr(&mut p, "from", s.jid.as_str());
        set_attr(&mut p, "to", to.as_str());
        deliver_inbound(server, p, &to).await;
    }
}

/// The session ended for any reason: unavailable to everyone who saw it available (§4.5.2).
pub async fn session_ended(server: &Server, s: &mut ImSession) {
    let p = elem("presence", ns::CLIENT, &[("type", "unavailable")]);
    broadcast_unavailable(server, s, p).await;
}

/// The presence of `contact`'s available resources, if `contact` lets `s` see it.
async fn probe_answer(server: &Server, contact: &BareJid, s: &ImSession) -> Vec<Element> {
    let (vhost, user) = parts(contact);
    let theirs = server.store.roster_item(vhost, user, s.bare.as_str()).await.ok().flatten();
    if !sub_state(theirs.as_ref(), false).from || server.blocks(contact, &Jid::from(s.bare.clone())).await {
        return Vec::new();
    }
    server
        .router
        .resources(contact)
        .into_iter()
        .filter_map(|r| {
            let mut p = r.presence.as_ref().and_then(StoredPresence::element)?;
            set_attr(&mut p, "from", r.jid.as_str());
            set_attr(&mut p, "to", s.jid.as_str());
            Some(p)
        })
        .collect()
}

/// Deliver presence to a local JID: subscription types through the state machine, the rest
/// to the available resources (§4.3, §8.5.2.1.2) or the one full JID.
pub async fn deliver_inbound(server: &Server, stanza: Element, to: &Jid) {
    if !server.is_local(to.domain().as_str()) || to.node().is_none() {
        return;
    }
    let ptype = stanza_type(&stanza).to_owned();
    let from = crate::router::jid_of(stanza.attr("from"));
    if let Some(from) = &from
        && server.blocks(&to.to_bare(), from).await {
            return;
        }
    if matches!(ptype.as_str(), "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed") {
        if let Some(from) = from {
            subscription_in(server, &to.to_bare(), &from.to_bare(), stanza, &ptype).await;
        }
        return;
    }
    if ptype == "probe" || ptype == "error" && to.resource().is_none() {
        return;
    }
    for r in server.router.resources(&to.to_bare()) {
        let matches = match to.resource() {
            Some(res) => r.jid.resource() == res,
            None => r.available(),
        };
        if matches {
            deliver_to(&r, stanza.clone(), to.resource().is_none());
        }
    }
}

/// Build and send a subscription stanza from `user` to `contact` (roster removal, §2.5.2).
pub(super) async fn send_subscription(server: &Server, user: &BareJid, contact: &BareJid, ptype: &str) {
    let p = elem("presence", ns::CLIENT, &[("type", ptype)]);
    subscription_out(server, user, contact, p, ptype).await;
}

/// The user's server handling an outbound subscription stanza (§3, Appendix A.2).
async fn subscription_out(server: &Server, user: &BareJid, contact: &BareJid, mut stanza: Element, ptype: &str) {
    if contact == user {
        return;
    }
    let Some(ev) = SubEvent::from_type(ptype, true) else { return };
    let (vhost, u) = parts(user);
    let guard = server.roster_lock(user, contact.as_str()).await;
    let item = server.store.roster_item(vhost, u, contact.as_str()).await.ok().flatten();
    let pending_in = has_pending(server, user, contact).await;
    let old = sub_state(item.as_ref(), pending_in);
    let t = apply(old, ev);
    if old.pending_in && !t.new.pending_in {
        let _ = server.store.pending_in_remove(vhost, u, contact.as_str()).await;
    }
    let item_changed = (old.to, old.from, old.pending_out) != (t.new.to, t.new.from, t.new.pending_out);
    if item_changed && (item.is_some() || t.new.pending_out || t.new.to || t.new.from) {
        roster::save(server, user, &updated_item(contact.as_str(), item, t.new)).await;
    }
    drop(guard);
    // §3.1.2: stamped with the user's bare JID, addressed to the contact's bare JID.
    set_attr(&mut stanza, "from", user.as_str());
    set_attr(&mut stanza, "to", contact.as_str());
    if t.forward && server.is_local(contact.domain().as_str()) {
        Box::pin(subscription_in(server, contact, user, stanza, ptype)).await;
    }
    if t.new == old {
        return;
    }
    match ev {
        // §3.1.5: the approving side sends its current presence to the new subscriber.
        SubEvent::OutSubscribed => send_presence_of(server, user, contact, None).await,
        // §3.2.2: cancelling sends unavailable from every available resource.
        SubEvent::OutUnsubscribed => send_presence_of(server, user, contact, Some("unavailable")).await,
        _ => {}
    }
}

/// The contact's server handling an inbound subscription stanza (§3, Appendix A.3).
async fn subscription_in(server: &Server, owner: &BareJid, from: &BareJid, stanza: Element, ptype: &str) {
    let Some(ev) = SubEvent::from_type(ptype, false) else { return };
    let (vhost, u) = parts(owner);
    if !server.store.account_exists(vhost, u).await.unwrap_or(false) {
        if ev == SubEvent::InSubscribe {
            // §3.1.3: no such user — answer unsubscribed on its behalf.
            let p = elem("presence", ns::CLIENT, &[("type", "unsubscribed")]);
            Box::pin(subscription_in_local(server, from, owner, p, "unsubscribed")).await;
        }
        return;
    }
    let guard = server.roster_lock(owner, from.as_str()).await;
    let item = server.store.roster_item(vhost, u, from.as_str()).await.ok().flatten();
    let pending_in = has_pending(server, owner, from).await;
    let old = sub_state(item.as_ref(), pending_in);
    let t = apply(old, ev);
    if t.auto_reply_subscribed {
        drop(guard);
        let p = elem("presence", ns::CLIENT, &[("type", "subscribed")]);
        Box::pin(subscription_in_local(server, from, owner, p, "subscribed")).await;
        send_presence_of(server, owner, from, None).await;
        return;
    }
    if t.new.pending_in && !old.pending_in {
        let text = tern_wire::to_string(&stanza);
        if let Err(e) = server.store.pending_in_add(vhost, u, from.as_str(), &text).await {
            warn!(error = %e, "storing subscription request failed");
        }
    } else if old.pending_in && !t.new.pending_in {
        let _ = server.store.pending_in_remove(vhost, u, from.as_str()).await;
    }
    let item_changed = (old.to, old.from, old.pending_out) != (t.new.to, t.new.from, t.new.pending_out);
    if item_changed && item.is_some() {
        roster::save(server, owner, &updated_item(from.as_str(), item, t.new)).await;
    }
    drop(guard);
    if t.forward {
        for r in server.router.resources(owner) {
            if r.available() || r.interested {
                deliver_to(&r, stanza.clone(), true);
            }
        }
    }
    if ev == SubEvent::InUnsubscribe && t.new != old {
        send_presence_of(server, owner, from, Some("unavailable")).await;
    }
    if ev == SubEvent::InSubscribed && t.new != old {
        // The new subscription: the contact's resources' presence reaches the user.
        send_presence_of(server, from, owner, None).await;
    }
}

/// Inbound subscription stanza generated by the server on `from`'s behalf to `owner`.
async fn subscription_in_local(server: &Server, owner: &BareJid, from: &BareJid, mut p: Element, ptype: &str) {
    set_attr(&mut p, "from", from.as_str());
    set_attr(&mut p, "to", owner.as_str());
    if server.is_local(owner.domain().as_str()) {
        subscription_in(server, owner, from, p, ptype).await;
    }
}

/// Send the presence of `of`'s available resources (or unavailable) to `to`'s resources.
async fn send_presence_of(server: &Server, of: &BareJid, to: &BareJid, ptype: Option<&str>) {
    if !server.is_local(to.domain().as_str()) {
        return;
    }
    for r in server.router.resources(of) {
        let Some(mut p) = r.presence.as_ref().and_then(StoredPresence::element) else { continue };
        if let Some(t) = ptype {
            p = elem("presence", ns::CLIENT, &[("type", t)]);
        }
        set_attr(&mut p, "from", r.jid.as_str());
        set_attr(&mut p, "to", to.as_str());
        Box::pin(deliver_inbound(server, p, &Jid::from(to.clone()))).await;
    }
}

async fn has_pending(server: &Server, owner: &BareJid, contact: &BareJid) -> bool {
    let (vhost, u) = parts(owner);
    server
        .store
        .pending_in(vhost, u)
        .await
        .map(|l| l.iter().any(|(c, _)| c == contact.as_str()))
        .unwrap_or(false)
}
