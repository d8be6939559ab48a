//! Roster management (RFC 6121 §2): get with XEP-0237 versioning, set, remove, and pushes
//! to every interested resource.

use jid::{BareJid, Jid};
use minidom::Element;
use tern_core::roster::SubState;
use tern_core::stanza::iq_result;
use tern_core::xml::{elem, set_attr, text_elem};
use tern_core::{ns, StanzaCondition, StanzaError};
use tern_store::{RosterItem, Subscription};
use tracing::warn;

use super::{presence, ImSession, Reply};
use crate::router::deliver_to;
use crate::server::Server;

/// Longest accepted item name or group name (RFC 6121 §2.3.3 lets the server limit them).
const MAX_NAME: usize = 1024;

pub(super) fn item_element(item: &RosterItem) -> Element {
    let mut el = elem("item", ns::ROSTER, &[("jid", &item.jid), ("subscription", item.subscription.as_str())]);
    if let Some(n) = &item.name {
        set_attr(&mut el, "name", n.as_str());
    }
    if item.ask {
        set_attr(&mut el, "ask", "subscribe");
    }
    for g in &item.groups {
        el.append_child(text_elem("group", ns::ROSTER, g.as_str()));
    }
    el
}

/// The subscription state with one contact, as the state machine sees it.
pub(super) fn sub_state(item: Option<&RosterItem>, pending_in: bool) -> SubState {
    let sub = item.map(|i| i.subscription.as_str()).unwrap_or("none");
    SubState::from_parts(sub, item.is_some_and(|i| i.ask), pending_in)
}

/// Apply a new state to an item (creating it when it must exist).
pub(super) fn updated_item(contact: &str, old: Option<RosterItem>, st: SubState) -> RosterItem {
    let subscription = Subscription::parse(st.subscription()).unwrap_or(Subscription::None);
    let mut item = old.unwrap_or(RosterItem {
        jid: contact.to_owned(),
        name: None,
        subscription: Subscription::None,
        ask: false,
        groups: Vec::new(),
    });
    item.subscription = subscription;
    item.ask = st.pending_out;
    item
}

/// Send a roster push for `item_el` at version `ver` to `owner`'s interested resources (§2.1.6).
pub(super) fn push(server: &Server, owner: &BareJid, item_el: Element, ver: u64) {
    for r in server.router.resources(owner) {
        if !r.interested {
            continue;
        }
        let mut q = elem("query", ns::ROSTER, &[("ver", &ver.to_string())]);
        q.append_child(item_el.clone());
        let id = format!("push-{}", tern_core::xml::random_id(6));
        let mut iq = elem("iq", ns::CLIENT, &[("type", "set"), ("id", &id), ("to", r.jid.as_str())]);
        iq.append_child(q);
        deliver_to(&r, iq, false);
    }
}

/// Persist an item and push it.
pub(super) async fn save(server: &Server, owner: &BareJid, item: &RosterItem) {
    let (vhost, user) = parts(owner);
    match server.store.roster_put(vhost, user, item).await {
        Ok(ver) => push(server, owner, item_element(item), ver),
        Err(e) => warn!(error = %e, owner = %owner, "roster update failed"),
    }
}

pub(super) fn parts(b: &BareJid) -> (&str, &str) {
    (b.domain().as_str(), b.node().map(|n| n.as_str()).unwrap_or(""))
}

/// `jabber:iq:roster` get/set from the client.
pub(super) async fn handle(server: &Server, s: &mut ImSession, iq: &Element, query: &Element) -> Reply {
    if let Some(to) = iq.attr("to")
        && Jid::new(to).map(|j| j.to_bare() != s.bare).unwrap_or(true) {
            return Reply::error(iq, StanzaError::new(StanzaCondition::Forbidden));
        }
    let (vhost, user) = parts(&s.bare);
    match iq.attr("type") {
        Some("get") => {
            server.router.update(&s.jid, |r| r.interested = true);
            let (ver, items) = match server.store.roster(vhost, user).await {
                Ok(r) => r,
                Err(e) => return store_error(iq, e),
            };
            let ver_s = ver.to_string();
            if query.attr("ver") == Some(ver_s.as_str()) {
                return Reply::one(iq_result(iq, None));
            }
            let mut q = elem("query", ns::ROSTER, &[("ver", &ver_s)]);
            for item in &items {
                q.append_child(item_element(item));
            }
            Reply::one(iq_result(iq, Some(q)))
        }
        Some("set") => set(server, s, iq, query).await,
        _ => Reply::error(iq, StanzaError::new(StanzaCondition::BadRequest)),
    }
}

fn store_error(iq: &Element, e: tern_store::StoreError) -> Reply {
    warn!(error = %e, "roster storage failed");
    Reply::error(iq, StanzaError::new(StanzaCondition::InternalServerError))
}

async fn set(server: &Server, s: &mut ImSession, iq: &Element, query: &Element) -> Reply {
    let items: Vec<&Element> = query.children().filter(|c| c.is("item", ns::ROSTER)).collect();
    let [item] = items[..] else {
        return Reply::error(iq, StanzaError::new(StanzaCondition::BadRequest).with_text("exactly one item"));
    };
    let Some(contact) = item.attr("jid").and_then(|j| Jid::new(j).ok()) else {
        return Reply::error(iq, StanzaError::new(StanzaCondition::BadRequest).with_text("bad jid"));
    };
    let contact = contact.to_bare();
    if item.attr("subscription") == Some("remove") {
        return remove(server, s, iq, contact.as_str()).await;
    }
    let (vhost, user) = parts(&s.bare);
    let _guard = server.roster_lock(&s.bare, contact.as_str()).await;
    let existing = match server.store.roster_item(vhost, user, contact.as_str()).await {
        Ok(i) => i,
        Err(e) => return store_error(iq, e),
    };
    let mut groups: Vec<String> = Vec::new();
    for g in item.children().filter(|c| c.is("group", ns::ROSTER)) {
        let name = g.text();
        if name.is_empty() || name.len() > MAX_NAME {
            return Reply::error(iq, StanzaError::new(StanzaCondition::NotAcceptable).with_text("bad group name"));
        }
        if groups.contains(&name) {
            return Reply::error(iq, StanzaError::new(StanzaCondition::BadRequest).with_text("duplicate group"));
        }
        groups.push(name);
    }
    let name = item.attr("name").filter(|n| !n.is_empty()).map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
        return Reply::error(iq, StanzaError::new(StanzaCondition::NotAcceptable).with_text("name too long"));
    }
    // The subscription state is the server's: a client can't set it (§2.1.2.5).
    let mut new = existing.unwrap_or_else(|| updated_item(contact.as_str(), None, SubState::default()));
    new.name = name;
    new.groups = groups;
    save(server, &s.bare, &new).await;
    Reply::one(iq_result(iq, None))
}

/// §2.5: removing an item cancels subscriptions both ways.
async fn remove(server: &Server, s: &mut ImSession, iq: &Element, contact: &str) -> Reply {
    let (vhost, user) = parts(&s.bare);
    let guard = server.roster_lock(&s.bare, contact).await;
    let old = match server.store.roster_item(vhost, user, contact).await {
        Ok(Some(old)) => old,
        Ok(None) => return Reply::error(iq, StanzaError::new(StanzaCondition::ItemNotFound)),
        Err(e) => return store_error(iq, e),
    };
    let pending_in = server.store.pending_in_remove(vhost, user, contact).await.unwrap_or(false);
    let ver = match server.store.roster_remove(vhost, user, contact).await {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::error(iq, StanzaError::new(StanzaCondition::ItemNotFound)),
        Err(e) => return store_error(iq, e),
    };
    // Sending the subscription changes takes the contact's lock: not while holding this one.
    drop(guard);
    let gone = elem("item", ns::ROSTER, &[("jid", contact), ("subscription", "remove")]);
    push(server, &s.bare, gone, ver);
    let st = sub_state(Some(&old), pending_in);
    if let Ok(contact_jid) = BareJid::new(contact) {
        if st.to || st.pending_out {
            presence::send_subscription(server, &s.bare, &contact_jid, "unsubscribe").await;
        }
        if st.from || st.pending_in {
            presence::send_subscription(server, &s.bare, &contact_jid, "unsubscribed").await;
        }
    }
    Reply::one(iq_result(iq, None))
}
