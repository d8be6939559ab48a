//! What the `chat` and `presence` scenarios share: opening N sessions C at a time and
//! keeping them; each client's loop sending stanzas stamped with the send time
//! ([`now_nanos`]) and recording the one-way latency of those it receives. In the closed
//! loop a client sends `initial` stanzas and answers every delivery; in the open loop it
//! sends at a fixed rate, the clients' first sends spread evenly over one period. The
//! measured phase lies between two procfs snapshots after a warmup; the report gets the
//! sent and delivered counts, the delivery rate, HDR latency percentiles and the server
//! CPU per 10,000 deliveries. Both counts are taken at the window's edges, so a stanza
//! sent just before the window and delivered inside it counts as delivered, not as sent:
//! `delivered` may exceed `sent` by the stanzas in flight when measuring starts.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minidom::Element;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::{Ctx, for_each};
use crate::client::{Session, answer_iq};
use crate::conn::{Conn, Event};
use crate::error::ClientError;
use crate::procfs::Snapshot;
use crate::report::{Report, round};
use crate::stats::{Latency, LatencyBatch, Tally, now_nanos};

/// What one client sends and what counts as a delivery to it.
pub(super) trait Traffic: Send + 'static {
    /// Queue one stanza stamped with [`now_nanos`].
    fn send(&mut self, conn: &mut Conn);
    /// The send time stamped in `el`, if it is a delivery to count.
    fn stamp(&self, el: &Element) -> Option<u64>;
}

/// One client of the measured phase.
pub(super) struct Client<T> {
    pub session: Session,
    pub traffic: T,
    /// Stanzas sent at the start (closed loop).
    pub initial: u64,
    /// Answer every delivery with a stanza (closed loop).
    pub answer: bool,
    /// Open loop: the sending period and the first send's offset.
    pub schedule: Option<(Duration, Duration)>,
}

/// Counters all clients of a phase share.
pub(super) struct Shared {
    measuring: AtomicBool,
    /// Sent and delivered while measuring.
    sent: AtomicU64,
    delivered: AtomicU64,
    /// Delivered in total (progress).
    progress: Arc<AtomicU64>,
    latency: Latency,
}

/// The outcome of a measured phase.
pub(super) struct Phase {
    pub before: Snapshot,
    pub after: Snapshot,
    /// Clients that ran to the end and closed cleanly.
    pub ok: u64,
    shared: Arc<Shared>,
}

impl Phase {
    /// Stanzas sent while measuring.
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Fill the report: phase length, server and loader figures, sent, delivered, rate,
    /// latency and server CPU per 10,000 deliveries.
    pub fn fill(&self, r: &mut Report) {
        r.measure(&self.before, &self.after);
        let delivered = self.shared.delivered.load(Ordering::Relaxed);
        r.sent = Some(self.sent());
        r.delivered = Some(delivered);
        r.msgs_per_s = Some(round(delivered as f64 / r.seconds.max(1e-9)));
        r.latency_ms = self.shared.latency.percentiles().map(Into::into);
        r.server.server_cpu_s_per_10k_msgs = r.cpu_per(delivered, 10_000.0);
    }
}

/// The open-loop schedule of sender `k` of `senders` offering `rate` stanzas/s in total.
pub(super) fn schedule(
    rate: Option<f64>,
    senders: usize,
    k: usize,
) -> Option<(Duration, Duration)> {
    rate.map(|rate| {
        let period = Duration::from_secs_f64(senders as f64 / rate);
        (period, period.mul_f64(k as f64 / senders as f64))
    })
}

/// Open `n` sessions with `open(ctx, i)`, C at a time; slot `i` is `None` where it failed
/// (counted in `tally`).
pub(super) async fn sessions<F, Fut>(
    ctx: &Arc<Ctx>,
    n: u64,
    what: &str,
    tally: &Arc<Tally>,
    open: F,
) -> Vec<Option<Session>>
where
    F: Fn(Arc<Ctx>, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Session, ClientError>> + Send,
{
    let slots: Arc<Mutex<Vec<Option<Session>>>> =
        Arc::new(Mutex::new((0..n).map(|_| None).collect()));
    let progress = ctx.progress(what, Some(n));
    let (op_ctx, op_slots, open) = (ctx.clone(), slots.clone(), Arc::new(open));
    for_each(ctx, n, "login", tally, &progress, move |i| {
        let (ctx, slots, open) = (op_ctx.clone(), op_slots.clone(), open.clone());
        async move {
            let session = open(ctx, i).await?;
            let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = slots.get_mut(usize::try_from(i).unwrap_or(usize::MAX)) {
                *slot = Some(session);
            }
            Ok(())
        }
    })
    .await;
    progress.finish().await;
    std::mem::take(&mut *slots.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Run `clients` for `warmup` seconds, then measure `duration` seconds, then stop them
/// (each closes its session); their errors go to `tally`.
pub(super) async fn run<T: Traffic>(
    ctx: &Ctx,
    what: &str,
    clients: Vec<Client<T>>,
    (warmup, duration): (f64, f64),
    tally: &Tally,
) -> Phase {
    let progress = ctx.progress(what, None);
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        progress: progress.counter(),
        latency: Latency::new(),
    });
    let (stop, stopped) = watch::channel(false);
    let timeout = ctx.target.timeout();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(drive(c, shared.clone(), stopped.clone(), timeout)))
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(warmup.max(0.0))).await;
    let before = Snapshot::take(ctx.server_pid);
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(duration.max(0.0))).await;
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
    Phase {
        before,
        after,
        ok,
        shared,
    }
}

/// One client's loop until `stop`; then it closes its session.
async fn drive<T: Traffic>(
    client: Client<T>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    timeout: Duration,
) -> Result<(), ClientError> {
    let Client {
        mut session,
        mut traffic,
        initial,
        answer,
        schedule,
    } = client;
    let mut ticker = schedule.map(|(period, offset)| {
        let mut t = tokio::time::interval_at(Instant::now() + offset, period);
        t.set_missed_tick_behavior(MissedTickBehavior::Burst);
        t
    });
    let mut batch = LatencyBatch::new(&shared.latency);
    let send = |conn: &mut Conn, traffic: &mut T| {
        traffic.send(conn);
        if shared.measuring.load(Ordering::Relaxed) {
            shared.sent.fetch_add(1, Ordering::Relaxed);
        }
    };
    for _ in 0..initial {
        send(&mut session.conn, &mut traffic);
    }
    session.conn.flush().await?;
    let stopped = stop.clone();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            _ = tick(&mut ticker) => send(&mut session.conn, &mut traffic),
            ev = session.conn.recv() => match ev? {
                Event::Element(el) => match traffic.stamp(&el) {
                    Some(sent_at) => {
                        shared.progress.fetch_add(1, Ordering::Relaxed);
                        if shared.measuring.load(Ordering::Relaxed) {
                            shared.delivered.fetch_add(1, Ordering::Relaxed);
                            batch.record_nanos(now_nanos().saturating_sub(sent_at));
                        }
                        if answer {
                            send(&mut session.conn, &mut traffic);
                        }
                    }
                    None => {
                        answer_iq(&mut session.conn, &el);
                    }
                },
                // After the stop, a peer through the null relay may close first.
                Event::Close if *stopped.borrow() => break,
                Event::Close => return Err(ClientError::StreamClosed("the measured phase")),
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

/// The next open-loop tick; never, in the closed loop.
async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
