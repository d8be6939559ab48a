//! The rosters of the `presence` scenario, set up through the protocol (RFC 6121). User i's
//! contacts are its R nearest neighbours on a ring of the N users (i±1 .. i±R/2, and the
//! user opposite when R is odd), so the relation is symmetric. Every user, logged in and
//! available, fetches its roster (§2.1.3), which also makes it an interested resource that
//! gets roster pushes (§2.1.6); the pushes then track its items. All users go through three
//! phases together, each ending when every user's roster shows its goal:
//! 0. remove the items that are not contacts (§2.5);
//! 1. each edge forwards (i to i+d on the ring): i asks j for a subscription (`subscribe`,
//!    §3.1.1) and j approves (`subscribed`, §3.1.4; also sent up front, where it approves a
//!    request left pending by an earlier run, or pre-approves, §3.4, or is ignored);
//! 2. the same backwards, so every item ends as `both`.
//!
//! The two directions of an edge go in different phases so that no two sessions change the
//! same roster item at once (a server may lose one of two concurrent changes). Requests from
//! contacts are approved whenever they come, others' refused. Rosters that are right
//! already cost one roster get each.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use minidom::Element;
use tern_core::ns;
use tokio::sync::watch;

use super::Ctx;
use crate::client::{Session, answer_iq};
use crate::conn::{Escaped, Event};
use crate::error::{ClientError, SetupError};

/// The contacts of user `i` of `n` with `r` contacts each (see [`check`]).
pub(super) fn contacts(i: u64, n: u64, r: u64) -> Vec<u64> {
    let mut c: Vec<u64> = (1..=r / 2)
        .flat_map(|d| [(i + d) % n, (i + n - d) % n])
        .collect();
    if r % 2 == 1 {
        c.push((i + n / 2) % n);
    }
    c
}

/// Whether the edge from `i` to its contact `j` points forwards on the ring.
fn forwards(i: u64, j: u64, n: u64, r: u64) -> bool {
    (1..=r / 2).any(|d| j == (i + d) % n) || (r % 2 == 1 && j == (i + n / 2) % n && i < j)
}

/// Whether `n` users can each have `r` distinct contacts on the ring.
pub(super) fn check(n: u64, r: u64) -> Result<(), SetupError> {
    match (r, n) {
        (0, _) => Err(SetupError::Invalid("--contacts must be at least 1".into())),
        (r, n) if r >= n => Err(SetupError::Invalid(format!(
            "--contacts {r} needs more than {r} users, not {n}"
        ))),
        (r, n) if r % 2 == 1 && n % 2 == 1 => Err(SetupError::Invalid(
            "an odd --contacts needs an even number of users".into(),
        )),
        _ => Ok(()),
    }
}

/// How the setup went.
pub(super) struct Settled {
    pub seconds: f64,
    /// Subscription stanzas and roster removals sent.
    pub requests: u64,
}

/// Phases 0 to 2 (see the module's documentation), then these.
const DONE: u8 = 3;
const ABORT: u8 = 4;

/// Setup progress all users share.
struct Shared {
    users: u64,
    /// The phase all users are in.
    phase: watch::Sender<u8>,
    /// Users whose roster shows each phase's goal.
    met: [AtomicU64; 3],
    /// Goals reached, counting each user once per phase (the progress counter).
    progress: Arc<AtomicU64>,
    /// Roster pushes and subscription stanzas handled (a stall shows as no change).
    changes: AtomicU64,
    requests: AtomicU64,
}

/// One user during the setup.
struct User {
    session: Session,
    /// Bare JIDs (lower case) of the contacts, and of those the user's edge points to.
    want: BTreeSet<String>,
    ahead: BTreeSet<String>,
    /// The roster: bare JID (lower case) → subscription.
    items: BTreeMap<String, String>,
    roster_known: bool,
}

/// Bring every user's roster to its contacts, all `both`. `sessions[i]` is user i's.
/// Gives up when nothing changes for the target's timeout.
pub(super) async fn settle(
    ctx: &Ctx,
    sessions: Vec<Session>,
    r: u64,
) -> Result<(Vec<Session>, Settled), ClientError> {
    let start = Instant::now();
    let n = sessions.len() as u64;
    let progress = ctx.progress("roster setup (3 phases)", Some(3 * n));
    let shared = Arc::new(Shared {
        users: n,
        phase: watch::channel(0).0,
        met: Default::default(),
        progress: progress.counter(),
        changes: AtomicU64::new(0),
        requests: AtomicU64::new(0),
    });
    let bare = |j: u64| format!("{}@{}", ctx.accounts.user(j), ctx.target.domain).to_lowercase();
    let tasks: Vec<_> = (0..n)
        .zip(sessions)
        .map(|(i, session)| {
            let contacts = contacts(i, n, r);
            let ahead = contacts.iter().filter(|j| forwards(i, **j, n, r));
            let user = User {
                session,
                ahead: ahead.copied().map(bare).collect(),
                want: contacts.into_iter().map(bare).collect(),
                items: BTreeMap::new(),
                roster_known: false,
            };
            tokio::spawn(user.settle(shared.clone()))
        })
        .collect();
    let mut phase = shared.phase.subscribe();
    let (mut seen, mut since) = (u64::MAX, Instant::now());
    while *phase.borrow_and_update() < DONE {
        let _ = tokio::time::timeout(Duration::from_millis(100), phase.changed()).await;
        let changes = shared.changes.load(Ordering::Relaxed);
        if changes != seen {
            (seen, since) = (changes, Instant::now());
        } else if since.elapsed() > ctx.target.timeout() {
            shared.phase.send_replace(ABORT);
        }
    }
    let mut sessions = Vec::with_capacity(tasks.len());
    let mut failure = None;
    for t in tasks {
        match t.await {
            Ok(Ok(s)) => sessions.push(s),
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(ClientError::Io(std::io::Error::other(e.to_string()))),
        }
    }
    progress.finish().await;
    let stalled = *phase.borrow() == ABORT;
    if let Some(e) = failure.or(stalled.then_some(ClientError::Timeout("roster setup"))) {
        for s in sessions {
            let _ = tokio::time::timeout(ctx.target.timeout(), s.close()).await;
        }
        return Err(e);
    }
    let settled = Settled {
        seconds: start.elapsed().as_secs_f64(),
        requests: shared.requests.load(Ordering::Relaxed),
    };
    Ok((sessions, settled))
}

impl User {
    /// Work on the roster, phase by phase, until everyone is done (or the setup gives up).
    async fn settle(mut self, shared: Arc<Shared>) -> Result<Session, ClientError> {
        let mut phases = shared.phase.subscribe();
        self.session.conn.queue_with(|s| {
            write!(
                s,
                "<iq xmlns='jabber:client' type='get' id='roster'><query xmlns='{}'/></iq>",
                ns::ROSTER
            )
        });
        let (mut planned, mut met, mut counted) = (None, None, None);
        loop {
            let phase = *phases.borrow_and_update();
            if phase >= DONE {
                break;
            }
            if self.roster_known && planned != Some(phase) {
                self.plan(phase, &shared);
                planned = Some(phase);
            }
            let goal = (self.roster_known && self.goal(phase)).then_some(phase);
            if goal != met {
                if let Some(p) = met {
                    shared.met[usize::from(p)].fetch_sub(1, Ordering::Relaxed);
                }
                if let Some(p) = goal {
                    if counted != Some(p) {
                        shared.progress.fetch_add(1, Ordering::Relaxed);
                        counted = Some(p);
                    }
                    let all = shared.met[usize::from(p)].fetch_add(1, Ordering::Relaxed) + 1;
                    if all == shared.users {
                        shared.phase.send_replace(p + 1);
                    }
                }
                met = goal;
            }
            // What `plan` and `handle` queued goes out before waiting again.
            if !self.session.conn.has_buffered() {
                self.session.conn.flush().await?;
            }
            tokio::select! {
                _ = phases.changed() => {}
                ev = self.session.conn.recv() => match ev? {
                    Event::Element(el) => self.handle(&el, &shared),
                    Event::Close => return Err(ClientError::StreamClosed("roster setup")),
                    Event::Control | Event::Open => {}
                },
            }
        }
        Ok(self.session)
    }

    /// Whether the roster shows the goal of `phase`.
    fn goal(&self, phase: u8) -> bool {
        let has = |j: &String, subs: [&str; 2]| {
            self.items
                .get(j)
                .is_some_and(|s| subs.contains(&s.as_str()))
        };
        let no_extras = self.items.keys().all(|j| self.want.contains(j));
        match phase {
            0 => no_extras,
            1 => self.want.iter().all(|j| match self.ahead.contains(j) {
                true => has(j, ["to", "both"]),
                false => has(j, ["from", "both"]),
            }),
            _ => no_extras && self.want.iter().all(|j| has(j, ["both", "both"])),
        }
    }

    fn handle(&mut self, el: &Element, shared: &Shared) {
        let query = el.get_child("query", ns::ROSTER);
        match (el.name(), el.attr("type"), query) {
            ("iq", Some("result"), Some(q)) if el.attr("id") == Some("roster") => {
                self.update(q);
                self.roster_known = true;
            }
            ("iq", Some("set"), Some(q)) => {
                // A roster push (§2.1.6): acknowledged, then applied.
                let id = Escaped(el.attr("id").unwrap_or(""));
                self.session.conn.queue_with(|s| {
                    write!(s, "<iq xmlns='jabber:client' type='result' id='{id}'/>")
                });
                self.update(q);
                shared.changes.fetch_add(1, Ordering::Relaxed);
            }
            ("iq", _, _) => {
                answer_iq(&mut self.session.conn, el);
            }
            ("presence", Some("subscribe"), _) => {
                let from = el.attr("from").unwrap_or("");
                let bare = from.split('/').next().unwrap_or("").to_lowercase();
                let answer = match self.want.contains(&bare) {
                    true => "subscribed",
                    false => "unsubscribed",
                };
                self.subscription(&bare, answer, shared);
                shared.changes.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Apply the items of a roster result or push.
    fn update(&mut self, query: &Element) {
        for item in query.children().filter(|c| c.is("item", ns::ROSTER)) {
            let Some(jid) = item.attr("jid") else {
                continue;
            };
            match item.attr("subscription").unwrap_or("none") {
                "remove" => self.items.remove(&jid.to_lowercase()),
                sub => self.items.insert(jid.to_lowercase(), sub.to_owned()),
            };
        }
    }

    /// What `phase` needs done that the roster shows missing: removals (phase 0), or
    /// requests and approvals in the phase's direction (see the module's documentation).
    fn plan(&mut self, phase: u8, shared: &Shared) {
        let extra = self.items.keys().filter(|j| !self.want.contains(*j));
        let extra: Vec<String> = extra.cloned().collect();
        for jid in extra.iter().filter(|_| phase == 0) {
            self.session.conn.queue_with(|s| {
                write!(
                    s,
                    "<iq xmlns='jabber:client' type='set' id='rm'><query xmlns='{}'><item jid='{}' \
                     subscription='remove'/></query></iq>",
                    ns::ROSTER,
                    Escaped(jid)
                )
            });
            shared.requests.fetch_add(1, Ordering::Relaxed);
        }
        for jid in self.want.clone().iter().filter(|_| phase > 0) {
            let sub = self.items.get(jid).map_or("none", String::as_str);
            let (to, from) = (matches!(sub, "to" | "both"), matches!(sub, "from" | "both"));
            // Phase 1: subscribe to those ahead, approve those behind; phase 2 the reverse.
            let asks = self.ahead.contains(jid) == (phase == 1);
            if asks && !to {
                self.subscription(jid, "subscribe", shared);
            }
            if !asks && !from {
                self.subscription(jid, "subscribed", shared);
            }
        }
    }

    fn subscription(&mut self, to: &str, kind: &str, shared: &Shared) {
        let to = Escaped(to);
        self.session.conn.queue_with(|s| {
            write!(
                s,
                "<presence xmlns='jabber:client' to='{to}' type='{kind}'/>"
            )
        });
        shared.requests.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_mutual_and_distinct() {
        for (n, r) in [(10, 4), (10, 3), (200, 20), (3, 2), (2, 1)] {
            check(n, r).expect("valid");
            for i in 0..n {
                let c = contacts(i, n, r);
                let set: BTreeSet<u64> = c.iter().copied().collect();
                assert_eq!(set.len() as u64, r, "n={n} r={r} i={i}: {c:?}");
                assert!(!set.contains(&i));
                for j in c {
                    assert!(contacts(j, n, r).contains(&i), "{i} -> {j} not mutual");
                    assert_ne!(forwards(i, j, n, r), forwards(j, i, n, r), "{i} - {j}");
                }
            }
        }
        assert!(check(10, 10).is_err() && check(9, 3).is_err() && check(5, 0).is_err());
    }
}
