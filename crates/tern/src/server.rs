//! Shared state of a running node: configuration, storage, the router, certificates and the
//! table of resumable sessions (../shared/DESIGN.md "One session core").

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jid::{BareJid, Jid};
use tern_cluster::{Bus, Envelope, LocalCluster, Registry};
use tern_core::VhostPolicy;
use tokio::sync::{mpsc, watch};
use tern_store::Store;

use crate::c2s::throttle::AuthThrottle;
use crate::config::{Config, Registration};
use crate::router::{Router, SessionHandle};
use crate::tls::CertStore;

/// Locks for roster read-modify-writes (a power of two).
const ROSTER_LOCK_STRIPES: usize = 64;

/// Everything a session task needs, shared by all of them.
pub struct Server {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub router: Arc<Router>,
    pub certs: Arc<CertStore>,
    pub vhosts: Arc<HashMap<String, VhostPolicy>>,
    pub auth_throttle: AuthThrottle,
    /// Where sessions live in the cluster (single node: [`LocalCluster`]).
    pub registry: Arc<dyn Registry>,
    /// Carries stanzas to sessions on other nodes.
    pub bus: Arc<dyn Bus>,
    /// XEP-0198 resumable sessions: SM-ID → (owner, session task).
    resumable: Mutex<HashMap<String, (BareJid, SessionHandle)>>,
    next_session: AtomicU64,
    /// BOSH sessions of this node by sid.
    pub bosh: Arc<crate::bosh::BoshSessions>,
    /// XEP-0191 block lists by account, loaded on first use.
    blocklists: Mutex<HashMap<BareJid, Arc<Vec<String>>, foldhash::quality::RandomState>>,
    /// Serializes read-modify-writes of one roster item (see [`Server::roster_lock`]).
    roster_locks: Box<[tokio::sync::Mutex<()>]>,
    /// Becomes true at shutdown; every session task watches it, bound or not.
    shutdown: watch::Sender<bool>,
    /// Session tasks running (negotiating, bound or hibernating).
    live: AtomicUsize,
}

/// Counts one running session task for [`Server::live_sessions`] while it exists.
pub struct LiveSession(Arc<Server>);

impl Drop for LiveSession {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Server {
    /// A single-node server; the receiver yields envelopes other nodes sent here.
    pub fn new(config: Config, store: Arc<dyn Store>, certs: Arc<CertStore>) -> (Arc<Self>, mpsc::UnboundedReceiver<Envelope>) {
        let vhosts = config
            .vhosts
            .iter()
            .map(|v| {
                let policy = VhostPolicy {
                    registration: v.registration == Registration::Open,
                    allow_plain_unencrypted: v.allow_plain_unencrypted,
                };
                (v.domain.to_ascii_lowercase(), policy)
            })
            .collect();
        let auth_throttle = AuthThrottle::new(config.limits.max_auth_failures_before_delay);
        let (cluster, inbound) = LocalCluster::new("local");
        let server = Arc::new(Self {
            config,
            store,
            router: Router::new(),
            certs,
            vhosts: Arc::new(vhosts),
            auth_throttle,
            registry: cluster.clone(),
            bus: cluster,
            resumable: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            blocklists: Mutex::new(HashMap::default()),
            roster_locks: (0..ROSTER_LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            bosh: Arc::new(crate::bosh::BoshSessions::default()),
            shutdown: watch::Sender::new(false),
            live: AtomicUsize::new(0),
        });
        (server, inbound)
    }

    /// Register a session task; it counts as live until the returned guard is dropped.
    pub fn live_session(self: &Arc<Self>) -> LiveSession {
        self.live.fetch_add(1, Ordering::Relaxed);
        LiveSession(self.clone())
    }

    /// Session tasks running now.
    pub fn live_sessions(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// What session tasks watch for the shutdown (true once it began).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tell every session task to end with `system-shutdown`.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A fresh session id.
    pub fn session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `domain` is served here.
    pub fn is_local(&self, domain: &str) -> bool {
        self.vhosts.contains_key(domain)
    }

    pub fn add_resumable(&self, id: &str, owner: BareJid, handle: SessionHandle) {
        self.resumable.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_owned(), (owner, handle));
    }

    pub fn remove_resumable(&self, id: &str, session: u64) {
        let mut map = self.resumable.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(id).is_some_and(|(_, h)| h.id == session) {
            map.remove(id);
        }
    }

    /// The session that granted SM-ID `id`, if it belongs to `owner`.
    pub fn find_resumable(&self, id: &str, owner: &BareJid) -> Option<SessionHandle> {
        let map = self.resumable.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|(o, _)| o == owner).map(|(_, h)| h.clone())
    }
}

/// Bound on cached block lists; the cache is cleared when it fills.
const MAX_CACHED_BLOCKLISTS: usize = 100_000;

impl Server {
    /// Whether `owner` blocks `other` (XEP-0191 §3.5: a full JID, its bare JID or its domain).
    pub async fn blocks(&self, owner: &BareJid, other: &Jid) -> bool {
        let Some(user) = owner.node() else { return false };
        if !self.is_local(owner.domain().as_str()) {
            return false;
        }
        let cached = {
            let map = self.blocklists.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(owner) {
                // The usual case: nothing blocked, decided without touching the list's count.
                Some(l) if l.is_empty() => return false,
                other => other.cloned(),
            }
        };
        let list = match cached {
            Some(l) => l,
            None => {
                let l = Arc::new(self.store.blocklist(owner.domain().as_str(), user.as_str()).await.unwrap_or_default());
                let mut map = self.blocklists.lock().unwrap_or_else(|e| e.into_inner());
                if map.len() >= MAX_CACHED_BLOCKLISTS {
                    map.clear();
                }
                map.insert(owner.clone(), l.clone());
                l
            }
        };
        if list.is_empty() {
            return false;
        }
        let bare = other.to_bare();
        list.iter().any(|b| b == other.as_str() || b == bare.as_str() || b == other.domain().as_str())
    }

    /// Hold while reading, changing and writing back `owner`'s roster item for `contact`
    /// (and its pending request): two subscription flows between the same users, running
    /// in two session tasks, would otherwise each write back what they read and lose the
    /// other's change (RFC 6121 Appendix A state). Never held across a call that takes
    /// another roster lock. Striped: unrelated pairs rarely share a lock.
    pub async fn roster_lock(&self, owner: &BareJid, contact: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (owner.as_str(), contact).hash(&mut h);
        let i = (h.finish() % self.roster_locks.len() as u64) as usize;
        self.roster_locks[i].lock().await
    }

    /// Forget the cached block list of `owner` after a change.
    pub fn blocklist_changed(&self, owner: &BareJid) {
        self.blocklists.lock().unwrap_or_else(|e| e.into_inner()).remove(owner);
    }
}
