//! `presence`: presence fan-out (RFC 6121 §4.4). N users log in (sending initial presence,
//! §4.2), their rosters are brought to R mutual contacts each with subscription `both`
//! ([`roster`](super::roster), through the protocol, once: a later run finds them right).
//! Then each user changes its presence at `rate / N` per second, the users' first changes
//! spread over one period: `<presence><status>t=<nanos></status></presence>`, the send time
//! on the process's monotonic clock. The server broadcasts each change to the user's
//! available contacts (§4.4.2); each delivery is counted and its one-way latency recorded.
//! Deliveries of a user's own presence to itself are not counted. After `--warmup` seconds,
//! `--duration` seconds are measured; server CPU is given per 10,000 presence stanzas
//! delivered.

use std::fmt::Write as _;
use std::sync::Arc;

use minidom::Element;
use tern_core::ns;

use super::Ctx;
use super::roster;
use super::traffic::{self, Client, Traffic};
use crate::client::login;
use crate::conn::Conn;
use crate::error::{ClientError, SetupError};
use crate::report::{Report, round};
use crate::stats::{Tally, now_nanos};

/// The presence scenario's parameters.
pub(super) struct Params {
    pub users: u64,
    pub contacts: u64,
    pub rate: f64,
    pub warmup: f64,
    pub duration: f64,
}

impl Params {
    pub fn check(&self) -> Result<(), SetupError> {
        roster::check(self.users, self.contacts)?;
        match self.rate > 0.0 && self.rate.is_finite() {
            true => Ok(()),
            false => Err(SetupError::Invalid(format!(
                "--rate must be positive, not {}",
                self.rate
            ))),
        }
    }
}

/// Presence changes of one user, whose bare JID (lower case) tells its own presence apart.
struct Change {
    own: String,
}

impl Traffic for Change {
    fn send(&mut self, conn: &mut Conn) {
        let at = now_nanos();
        conn.queue_with(|s| {
            write!(
                s,
                "<presence xmlns='jabber:client'><status>t={at}</status></presence>"
            )
        });
    }

    /// The send time in the status of a contact's available presence.
    fn stamp(&self, el: &Element) -> Option<u64> {
        if el.name() != "presence" || el.attr("type").is_some() {
            return None;
        }
        let from = el.attr("from")?;
        if from.split('/').next()?.eq_ignore_ascii_case(&self.own) {
            return None;
        }
        let status = el.get_child("status", ns::CLIENT)?.text();
        status.trim().strip_prefix("t=")?.parse().ok()
    }
}

pub(super) async fn run(ctx: Arc<Ctx>, p: Params) -> Report {
    let n = p.users;
    let tally = Arc::new(Tally::default());
    let params = [
        ("users", n.into()),
        ("contacts", p.contacts.into()),
        ("rate", p.rate.into()),
        ("warmup", p.warmup.into()),
        ("duration", p.duration.into()),
    ];
    let mut r = ctx.report("presence", n, &params);
    let slots = traffic::sessions(&ctx, n, "presence login", &tally, |ctx, i| async move {
        login(&ctx, &ctx.accounts.user(i)).await
    })
    .await;
    let logged_in = slots.iter().filter(|s| s.is_some()).count();
    let sessions: Vec<_> = slots.into_iter().flatten().collect();
    let settled = match logged_in as u64 == n {
        true => roster::settle(&ctx, sessions, p.contacts).await,
        false => {
            for s in sessions {
                let _ = tokio::time::timeout(ctx.target.timeout(), s.close()).await;
            }
            Err(ClientError::Unexpected {
                got: "a failed login".into(),
                waiting: "every user for the roster setup",
            })
        }
    };
    let (sessions, settled) = match settled {
        Ok(s) => s,
        Err(e) => {
            tally.note(&e);
            r.failed = n;
            r.errors = tally.errors();
            return r;
        }
    };
    r.roster_setup_s = Some(round(settled.seconds));
    r.roster_requests = Some(settled.requests);

    let clients = sessions
        .into_iter()
        .enumerate()
        .map(|(k, session)| {
            let user = ctx.accounts.user(k as u64);
            let own = format!("{user}@{}", ctx.target.domain).to_lowercase();
            Client {
                session,
                traffic: Change { own },
                initial: 0,
                answer: false,
                schedule: traffic::schedule(Some(p.rate), n as usize, k),
            }
        })
        .collect();
    let phase = traffic::run(
        &ctx,
        "presence delivered",
        clients,
        (p.warmup, p.duration),
        &tally,
    )
    .await;
    phase.fill(&mut r);
    r.ok = phase.ok;
    r.failed = n - phase.ok;
    r.errors = tally.errors();
    let sent = phase.sent();
    r.fanout = r
        .delivered
        .filter(|_| sent > 0)
        .map(|d| round(d as f64 / sent as f64));
    r
}
