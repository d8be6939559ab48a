//! `chat`: P pairs of users (2i, 2i+1) exchange `<message type='chat'/>` stanzas (RFC 6121
//! §5) addressed to each other's full JID. Closed loop: the first of a pair sends
//! `--window` messages and every message received is answered, so W are in flight per
//! pair. Open loop: every client sends at `rate / 2P` per second, whatever comes back.
//! Each body is the send time in nanoseconds on the process's monotonic clock, so the
//! receiver measures one-way latency. After `--warmup` seconds, `--duration` seconds are
//! measured.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minidom::Element;
use serde_json::Value;
use tern_core::ns;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::{Ctx, for_each};
use crate::client::{Session, answer_iq, login};
use crate::conn::{Conn, Escaped, Event};
use crate::error::ClientError;
use crate::procfs::Snapshot;
use crate::report::{Report, round};
use crate::stats::{Latency, LatencyBatch, Tally, now_nanos};

/// The chat scenario's parameters.
pub(super) struct Params {
    pub pairs: u64,
    pub window: u64,
    pub rate: Option<f64>,
    pub warmup: f64,
    pub duration: f64,
}

/// Counters all clients of the run share.
struct Shared {
    measuring: AtomicBool,
    /// Sent and delivered while measuring.
    sent: AtomicU64,
    delivered: AtomicU64,
    /// Delivered in total (progress).
    progress: Arc<AtomicU64>,
    latency: Latency,
}

/// One client's part: its session, its partner, what it sends.
struct Peer {
    session: Session,
    /// The partner's full JID, escaped for an attribute.
    partner: String,
    /// Messages sent at the start (closed loop).
    initial: u64,
    /// Open loop: the sending period and the first send's offset.
    schedule: Option<(Duration, Duration)>,
}

pub(super) async fn run(ctx: Arc<Ctx>, p: Params) -> Report {
    let n = 2 * p.pairs;
    let tally = Arc::new(Tally::default());
    let slots: Arc<Mutex<Vec<Option<Session>>>> =
        Arc::new(Mutex::new((0..n).map(|_| None).collect()));
    let progress = ctx.progress("chat login", Some(n));
    let (op_ctx, op_slots) = (ctx.clone(), slots.clone());
    for_each(&ctx, n, "login", &tally, &progress, move |i| {
        let (ctx, slots) = (op_ctx.clone(), op_slots.clone());
        async move {
            let session = login(&ctx, &ctx.accounts.user(i)).await?;
            if let Some(slot) = slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(i as usize)
            {
                *slot = Some(session);
            }
            Ok(())
        }
    })
    .await;
    progress.finish().await;
    let sessions = std::mem::take(&mut *slots.lock().unwrap_or_else(|e| e.into_inner()));
    let peers = pair_up(sessions, &p, &tally).await;

    let progress = ctx.progress("chat delivered", None);
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        progress: progress.counter(),
        latency: Latency::new(),
    });
    let (stop, stopped) = watch::channel(false);
    let timeout = ctx.target.timeout();
    let tasks: Vec<_> = peers
        .into_iter()
        .map(|peer| tokio::spawn(chat(peer, shared.clone(), stopped.clone(), timeout)))
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(p.warmup.max(0.0))).await;
    let before = Snapshot::take(ctx.server_pid);
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(p.duration.max(0.0))).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let after = Snapshot::take(ctx.server_pid);
    let _ = stop.send(true);
    let mut ok = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => tally.note(&e),
            Err(e) => tally.note(&ClientError::Io(std::io::Error::other(e.to_string()))),
        }
    }
    progress.finish().await;

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
    ];
    let mut r = ctx.report("chat", n, &params);
    r.measure(&before, &after);
    r.ok = ok;
    r.failed = n - ok;
    r.errors = tally.errors();
    let delivered = shared.delivered.load(Ordering::Relaxed);
    r.sent = Some(shared.sent.load(Ordering::Relaxed));
    r.delivered = Some(delivered);
    r.msgs_per_s = Some(round(delivered as f64 / r.seconds.max(1e-9)));
    r.latency_ms = shared.latency.percentiles().map(Into::into);
    r.server.server_cpu_s_per_10k_msgs = r.cpu_per(delivered, 10_000.0);
    r
}

/// Pair the logged-in sessions (2i with 2i+1); a session whose partner failed to log in
/// is closed and counted as failed. In the open loop, the clients' first sends are spread
/// evenly over one period.
async fn pair_up(sessions: Vec<Option<Session>>, p: &Params, tally: &Tally) -> Vec<Peer> {
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
    let schedule = |k: usize| {
        p.rate.map(|rate| {
            let period = Duration::from_secs_f64(senders as f64 / rate);
            (period, period.mul_f64(k as f64 / senders as f64))
        })
    };
    let window = if p.rate.is_some() { 0 } else { p.window };
    let mut peers = Vec::with_capacity(senders);
    for (i, (a, b)) in pairs.into_iter().enumerate() {
        let (ja, jb) = (Escaped(&a.jid).to_string(), Escaped(&b.jid).to_string());
        peers.push(Peer {
            session: a,
            partner: jb,
            initial: window,
            schedule: schedule(2 * i),
        });
        peers.push(Peer {
            session: b,
            partner: ja,
            initial: 0,
            schedule: schedule(2 * i + 1),
        });
    }
    peers
}

/// One client's exchange until `stop`; then it closes its session.
async fn chat(
    peer: Peer,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    timeout: Duration,
) -> Result<(), ClientError> {
    let Peer {
        mut session,
        partner,
        initial,
        schedule,
    } = peer;
    let closed_loop = schedule.is_none();
    let mut ticker = schedule.map(|(period, offset)| {
        let mut t = tokio::time::interval_at(Instant::now() + offset, period);
        t.set_missed_tick_behavior(MissedTickBehavior::Burst);
        t
    });
    let mut batch = LatencyBatch::new(&shared.latency);
    for _ in 0..initial {
        send(&mut session.conn, &partner, &shared);
    }
    session.conn.flush().await?;
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            _ = tick(&mut ticker) => send(&mut session.conn, &partner, &shared),
            ev = session.conn.recv() => match ev? {
                Event::Element(el) if el.name() == "message" => {
                    if let Some(sent_at) = timestamp(&el) {
                        shared.progress.fetch_add(1, Ordering::Relaxed);
                        if shared.measuring.load(Ordering::Relaxed) {
                            shared.delivered.fetch_add(1, Ordering::Relaxed);
                            batch.record_nanos(now_nanos().saturating_sub(sent_at));
                        }
                        if closed_loop {
                            send(&mut session.conn, &partner, &shared);
                        }
                    }
                }
                Event::Element(el) => {
                    answer_iq(&mut session.conn, &el);
                }
                Event::Close => return Err(ClientError::StreamClosed("chat")),
                Event::Control | Event::Open => {}
            },
        }
        if !session.conn.has_buffered() {
            session.conn.flush().await?;
        }
    }
    batch.flush();
    tokio::time::timeout(timeout, session.close())
        .await
        .map_err(|_| ClientError::Timeout("close"))?
}

/// Queue one timestamped message to `to`.
fn send(conn: &mut Conn, to: &str, shared: &Shared) {
    let at = now_nanos();
    conn.queue_with(|s| {
        write!(
            s,
            "<message xmlns='jabber:client' to='{to}' type='chat'><body>{at}</body></message>"
        )
    });
    if shared.measuring.load(Ordering::Relaxed) {
        shared.sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// The send time in a benchmark message's body.
fn timestamp(message: &Element) -> Option<u64> {
    message
        .get_child("body", ns::CLIENT)?
        .texts()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The next open-loop tick; never, in the closed loop.
async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
