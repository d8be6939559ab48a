//! The router (../shared/DESIGN.md): every stanza bound for a local account goes through
//! here. It knows the local sessions of each account, their availability and priority
//! (RFC 6121 §4 presence, §8.5 delivery rules), and hands stanzas to session tasks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use tern_core::StreamError;
use tern_core::routing::ResourceInfo;

/// Capacity of a session's inbox. A session that falls this far behind is kicked rather
/// than allowed to hold unbounded memory; what could not be delivered goes offline.
pub const INBOX_CAPACITY: usize = 1024;

/// A message to a session task.
#[derive(Debug)]
pub enum SessionMsg {
    /// Deliver this stanza to the client (boxed: the inbox's slots stay small).
    Stanza(Box<Element>),
    /// End the session with this stream error (conflict on resource replacement, shutdown).
    Kick(Box<StreamError>),
    /// XEP-0198: a new connection asks to resume this session.
    Resume(Box<crate::c2s::resume::ResumeRequest>),
}

impl SessionMsg {
    /// The stanza this message carries, if it is one.
    pub fn into_stanza(self) -> Option<Element> {
        match self {
            SessionMsg::Stanza(st) => Some(*st),
            _ => None,
        }
    }
}

/// The sending side of a session's inbox.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    /// Unique per session task, to tell a replaced session from its successor.
    pub id: u64,
    pub tx: crate::inbox::Sender<SessionMsg>,
}

impl SessionHandle {
    /// Queue a message; false when the session is gone or hopelessly behind.
    pub fn send(&self, msg: SessionMsg) -> bool {
        self.tx.try_send(msg).is_ok()
    }
}

/// Router-side state of one bound resource.
#[derive(Clone, Debug)]
pub struct Resource {
    pub jid: FullJid,
    pub handle: SessionHandle,
    /// Last broadcast available presence (RFC 6121 §4.2); None until initial presence.
    /// Kept serialized (see [`StoredPresence`]); shared, since routing takes snapshots of
    /// the resource list for every stanza.
    pub presence: Option<StoredPresence>,
    pub priority: i8,
    /// Requested the roster: receives roster pushes and subscription requests (§2.1.6).
    pub interested: bool,
    /// XEP-0280 carbons enabled.
    pub carbons: bool,
}

impl Resource {
    pub fn available(&self) -> bool {
        self.presence.is_some()
    }
}

/// A resource's last available presence, as its XML: a parsed element costs about a KB
/// in tree nodes for every connected session, this a hundred bytes; it is parsed again
/// only when sent (probes, a new resource of the same account).
#[derive(Clone, Debug)]
pub struct StoredPresence(Arc<str>);

impl StoredPresence {
    pub fn new(p: &Element) -> Self {
        StoredPresence(tern_wire::to_string(p).into())
    }

    /// The presence element.
    pub fn element(&self) -> Option<Element> {
        let limits = tern_wire::Limits::default();
        tern_wire::parse_document_in(self.0.as_bytes(), limits, Some(tern_wire::NS_CLIENT)).ok()
    }
}

/// Local sessions by account.
#[derive(Default)]
pub struct Router {
    /// Looked up for every stanza: a fast, per-process seeded hash (foldhash's quality
    /// variant) instead of SipHash.
    accounts: RwLock<HashMap<BareJid, Vec<Resource>, foldhash::quality::RandomState>>,
}

impl Router {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Bind `jid` to `handle`; returns the session it replaces, if any (RFC 6120 §7.7.2.2:
    /// the new session wins and the old one gets `conflict`).
    pub fn bind(&self, jid: &FullJid, handle: SessionHandle) -> Option<SessionHandle> {
        let mut map = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(jid.to_bare()).or_insert_with(|| Vec::with_capacity(1));
        let new = Resource { jid: jid.clone(), handle, presence: None, priority: 0, interested: false, carbons: false };
        match list.iter_mut().find(|r| r.jid == *jid) {
            Some(slot) => Some(std::mem::replace(slot, new).handle),
            None => {
                list.push(new);
                None
            }
        }
    }

    /// Remove `jid` if it is still held by session `id`.
    pub fn unbind(&self, jid: &FullJid, id: u64) -> bool {
        let mut map = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        let bare = jid.to_bare();
        let Some(list) = map.get_mut(&bare) else { return false };
        let before = list.len();
        list.retain(|r| !(r.jid == *jid && r.handle.id == id));
        let removed = list.len() != before;
        if list.is_empty() {
            map.remove(&bare);
        }
        removed
    }

    /// Update one resource's router state.
    pub fn update(&self, jid: &FullJid, f: impl FnOnce(&mut Resource)) {
        let mut map = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = map.get_mut(&jid.to_bare()).and_then(|l| l.iter_mut().find(|r| r.jid == *jid)) {
            f(r);
        }
    }

    /// Run `f` on an account's resources (empty when none) under the router's read lock,
    /// without taking a snapshot. `f` must be quick and must not wait: sending to inboxes is.
    pub fn with_resources<R>(&self, bare: &BareJid, f: impl FnOnce(&[Resource]) -> R) -> R {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        f(map.get(bare).map_or(&[], Vec::as_slice))
    }

    /// A snapshot of an account's resources.
    pub fn resources(&self, bare: &BareJid) -> Vec<Resource> {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        map.get(bare).cloned().unwrap_or_default()
    }

    /// Whether any resource of `bare` matches `pred` (without taking a snapshot).
    pub fn any_resource(&self, bare: &BareJid, pred: impl Fn(&Resource) -> bool) -> bool {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        map.get(bare).is_some_and(|l| l.iter().any(pred))
    }

    /// One resource, if bound.
    pub fn resource(&self, jid: &FullJid) -> Option<Resource> {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        map.get(&jid.to_bare()).and_then(|l| l.iter().find(|r| r.jid == *jid).cloned())
    }

    /// Number of bound resources across all accounts.
    pub fn session_count(&self) -> usize {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        map.values().map(Vec::len).sum()
    }
}

/// The view the pure routing rules need.
pub fn resource_infos(rs: &[Resource]) -> smallvec::SmallVec<[ResourceInfo<'_>; 4]> {
    rs.iter()
        .map(|r| ResourceInfo { resource: r.jid.resource().as_str(), priority: r.priority, available: r.available() })
        .collect()
}

/// Send a stanza to one resource with `to` rewritten to it; false if the inbox refused it.
pub fn deliver_to(r: &Resource, stanza: Element, rewrite_to: bool) -> bool {
    try_deliver(r, stanza, rewrite_to).is_none()
}

/// [`deliver_to`], giving the stanza back when the inbox refuses it.
pub fn try_deliver(r: &Resource, mut stanza: Element, rewrite_to: bool) -> Option<Element> {
    if rewrite_to {
        tern_core::xml::set_attr(&mut stanza, "to", r.jid.as_str());
    }
    r.handle.tx.try_send(SessionMsg::Stanza(Box::new(stanza))).err().and_then(SessionMsg::into_stanza)
}

/// Parse a JID attribute value.
pub fn jid_of(s: Option<&str>) -> Option<Jid> {
    s.and_then(|s| Jid::new(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: u64) -> (SessionHandle, crate::inbox::Receiver<SessionMsg>) {
        let (tx, rx) = crate::inbox::channel(4);
        (SessionHandle { id, tx }, rx)
    }

    #[test]
    fn stored_presence_round_trips() {
        let p: Element = "<presence xmlns='jabber:client' xml:lang='en'><show>away</show><status>a &amp; b</status>\
            <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/><priority>5</priority></presence>"
            .parse()
            .expect("presence");
        assert_eq!(StoredPresence::new(&p).element(), Some(p));
    }

    #[test]
    fn bind_replaces_same_full_jid() {
        let r = Router::new();
        let jid = FullJid::new("a@x/r").expect("jid");
        let (h1, _rx1) = handle(1);
        let (h2, _rx2) = handle(2);
        assert!(r.bind(&jid, h1).is_none());
        assert_eq!(r.bind(&jid, h2).map(|h| h.id), Some(1));
        assert!(!r.unbind(&jid, 1), "the replaced session can't unbind its successor");
        assert_eq!(r.session_count(), 1);
        assert!(r.unbind(&jid, 2));
        assert_eq!(r.session_count(), 0);
    }

    #[test]
    fn full_inbox_refuses() {
        let (tx, _rx) = crate::inbox::channel(1);
        let h = SessionHandle { id: 1, tx };
        assert!(h.send(SessionMsg::Stanza(Box::new(Element::bare("message", "jabber:client")))));
        assert!(!h.send(SessionMsg::Stanza(Box::new(Element::bare("message", "jabber:client")))));
    }
}
