//! `chat`: P pairs of users (2i, 2i+1) exchange `<message type='chat'/>` stanzas (RFC 6121
//! §5) addressed to each other's full JID. Closed loop: the first of a pair sends
//! `--window` messages and every message received is answered, so W are in flight per
//! pair. Open loop: every client sends at `rate / 2P` per second, whatever comes back.
//! Each body is the send time in nanoseconds on the process's monotonic clock, so the
//! receiver measures one-way latency. After `--warmup` seconds, `--duration` seconds are
//! measured. With `--relay` the clients talk to the null relay ([`crate::relay`]) instead:
//! no login, the same messages, measured the same way.

use std::fmt::Write as _;
use std::sync::Arc;

use minidom::Element;
use serde_json::Value;
use tern_core::ns;

use super::Ctx;
use super::traffic::{self, Client, Traffic};
use crate::client::{Session, login, relay_session};
use crate::conn::{Conn, Escaped};
use crate::error::ClientError;
use crate::report::Report;
use crate::stats::{Tally, now_nanos};

/// The chat scenario's parameters.
pub(super) struct Params {
    pub pairs: u64,
    pub window: u64,
    pub rate: Option<f64>,
    pub warmup: f64,
    pub duration: f64,
    pub relay: bool,
}

/// Messages to the partner, whose full JID is escaped for an attribute.
struct To(String);

impl Traffic for To {
    fn send(&mut self, conn: &mut Conn) {
        let (to, at) = (&self.0, now_nanos());
        conn.queue_with(|s| {
            write!(
                s,
                "<message xmlns='jabber:client' to='{to}' type='chat'><body>{at}</body></message>"
            )
        });
    }

    /// The send time in a benchmark message's body.
    fn stamp(&self, el: &Element) -> Option<u64> {
        if el.name() != "message" {
            return None;
        }
        el.get_child("body", ns::CLIENT)?
            .texts()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

pub(super) async fn run(ctx: Arc<Ctx>, p: Params) -> Report {
    let n = 2 * p.pairs;
    let tally = Arc::new(Tally::default());
    let relay = p.relay;
    let sessions = traffic::sessions(&ctx, n, "chat login", &tally, move |ctx, i| async move {
        match relay {
            true => relay_session(&ctx, i).await,
            false => login(&ctx, &ctx.accounts.user(i)).await,
        }
    })
    .await;
    let clients = pair_up(sessions, &p, &tally).await;
    let phase = traffic::run(
        &ctx,
        "chat delivered",
        clients,
        (p.warmup, p.duration),
        &tally,
    )
    .await;

    let mode: Value = if p.rate.is_some() {
        "open".into()
    } else {
        "closed".into()
    };
    let params = [
        ("pairs", p.pairs.into()),
        ("loop", mode),
        ("window", p.rate.map_or(p.window.into(), |_| Value::Null)),
        ("rate", p.rate.map_or(Value::Null, Into::into)),
        ("warmup", p.warmup.into()),
        ("duration", p.duration.into()),
        ("relay", p.relay.into()),
    ];
    let mut r = ctx.report("chat", n, &params);
    phase.fill(&mut r);
    r.ok = phase.ok;
    r.failed = n - phase.ok;
    r.errors = tally.errors();
    r
}

/// Pair the logged-in sessions (2i with 2i+1); a session whose partner failed to log in
/// is closed and counted as failed. In the open loop, the clients' first sends are spread
/// evenly over one period.
async fn pair_up(sessions: Vec<Option<Session>>, p: &Params, tally: &Tally) -> Vec<Client<To>> {
    let mut pairs = Vec::new();
    let mut it = sessions.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        match (a, b) {
            (Some(a), Some(b)) => pairs.push((a, b)),
            (Some(lone), None) | (None, Some(lone)) => {
                tally.note(&ClientError::Unexpected {
                    got: "partner without a session".into(),
                    waiting: "chat",
                });
                let _ = lone.close().await;
            }
            (None, None) => {}
        }
    }
    let senders = 2 * pairs.len();
    let schedule = |k: usize| traffic::schedule(p.rate, senders, k);
    let window = if p.rate.is_some() { 0 } else { p.window };
    let mut peers = Vec::with_capacity(senders);
    for (i, (a, b)) in pairs.into_iter().enumerate() {
        let (ja, jb) = (Escaped(&a.jid).to_string(), Escaped(&b.jid).to_string());
        let closed = p.rate.is_none();
        peers.push(Client {
            session: a,
            traffic: To(jb),
            initial: window,
            answer: closed,
            schedule: schedule(2 * i),
        });
        peers.push(Client {
            session: b,
            traffic: To(ja),
            initial: 0,
            answer: closed,
            schedule: schedule(2 * i + 1),
        });
    }
    peers
}
