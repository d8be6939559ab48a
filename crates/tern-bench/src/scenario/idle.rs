//! `idle`: log N sessions in (C at a time) and hold them for `--hold` seconds, answering
//! the server's XEP-0199 pings and WebSocket pings (RFC 7395 §3.4), then read the server's
//! RSS: per session = (RSS after the hold - RSS before the logins) / sessions held. Each
//! held session is one small task with no read buffer of its own. A BOSH session keeps one
//! request held by the server (XEP-0124 §7.3), sending a new one whenever it is answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Ctx, for_each};
use crate::client::{Session, answer_iq, login};
use crate::conn::Event;
use crate::error::ClientError;
use crate::procfs::Snapshot;
use crate::report::{Report, round};
use crate::stats::{Latency, Tally};

type Holders = Arc<Mutex<Vec<JoinHandle<Result<(), ClientError>>>>>;

pub(super) async fn run(ctx: Arc<Ctx>, count: u64, hold: f64) -> Report {
    let tally = Arc::new(Tally::default());
    let latency = Arc::new(Latency::new());
    let holders: Holders = Arc::default();
    let held = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let progress = ctx.progress("idle login", Some(count));
    let before = Snapshot::take(ctx.server_pid);
    let (op_ctx, op_latency, op_holders, op_held) =
        (ctx.clone(), latency.clone(), holders.clone(), held.clone());
    for_each(&ctx, count, "login", &tally, &progress, move |i| {
        let (ctx, latency, holders, held, stopped) = (
            op_ctx.clone(),
            op_latency.clone(),
            op_holders.clone(),
            op_held.clone(),
            stopped.clone(),
        );
        async move {
            let start = Instant::now();
            let session = login(&ctx, &ctx.accounts.user(i)).await?;
            latency.record(start.elapsed());
            let timeout = ctx.target.timeout();
            let task = tokio::spawn(hold_session(session, stopped, held, timeout));
            holders.lock().unwrap_or_else(|e| e.into_inner()).push(task);
            Ok(())
        }
    })
    .await;
    let logged_in = Snapshot::take(ctx.server_pid);
    progress.finish().await;
    if !ctx.run.quiet {
        eprintln!(
            "{}: holding {} sessions for {hold} s",
            ctx.run.label,
            tally.ok_count()
        );
    }
    tokio::time::sleep(Duration::from_secs_f64(hold.max(0.0))).await;
    let after = Snapshot::take(ctx.server_pid);
    let holders = std::mem::take(&mut *holders.lock().unwrap_or_else(|e| e.into_inner()));
    let dropped = holders.iter().filter(|h| h.is_finished()).count() as u64;
    let _ = stop.send(true);
    let mut ok = 0;
    for h in holders {
        match h.await {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => tally.note(&e),
            Err(e) => tally.note(&ClientError::Io(std::io::Error::other(e.to_string()))),
        }
    }

    let mut r = ctx.report(
        "idle",
        count,
        &[("count", count.into()), ("hold", hold.into())],
    );
    r.measure(&before, &logged_in);
    r.ok = ok;
    r.failed = count - ok;
    r.errors = tally.errors();
    r.logins_per_s = Some(round(tally.ok_count() as f64 / r.seconds.max(1e-9)));
    r.login_ms = latency.percentiles().map(Into::into);
    r.server.server_cpu_s_per_1000_logins = r.cpu_per(tally.ok_count(), 1000.0);
    let sessions = tally.ok_count() - dropped;
    r.sessions = Some(sessions);
    if ctx.target.transport.is_bosh() {
        r.bosh_held = Some(held.load(Ordering::Relaxed));
    }
    let per_session_kb = |b: u64, a: u64| {
        (sessions > 0).then(|| round((a as f64 - b as f64) / sessions as f64 / 1024.0))
    };
    if let (Some(b), Some(a), Some(l)) = (before.server, after.server, logged_in.server) {
        r.server.server_rss_after_mb = Some(round(a.rss_bytes as f64 / 1048576.0));
        r.server.server_rss_per_session_kb = per_session_kb(b.rss_bytes, a.rss_bytes);
        let held = after
            .at
            .duration_since(logged_in.at)
            .as_secs_f64()
            .max(1e-9);
        r.server.server_idle_cpu_util = Some(round((a.cpu_s - l.cpu_s) / held));
    }
    if let (Some(b), Some(a)) = (before.loader, after.loader) {
        r.loader_rss_mb = round(a.rss_bytes as f64 / 1048576.0);
        r.loader_rss_per_session_kb = per_session_kb(b.rss_bytes, a.rss_bytes);
    }
    r
}

/// Keep one session open until `stop`, answering what needs an answer; then count it in
/// `held` if it has a BOSH request outstanding (held by the server), and close it.
async fn hold_session(
    mut session: Session,
    mut stop: watch::Receiver<bool>,
    held: Arc<AtomicU64>,
    timeout: Duration,
) -> Result<(), ClientError> {
    session.conn.trim();
    session.jid = String::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            ev = session.conn.recv() => match ev? {
                Event::Element(el) => {
                    answer_iq(&mut session.conn, &el);
                }
                Event::Close => return Err(ClientError::StreamClosed("idle hold")),
                Event::Control | Event::Open => {}
            },
        }
        session.conn.flush().await?;
    }
    if session.conn.requests_outstanding().is_some_and(|n| n > 0) {
        held.fetch_add(1, Ordering::Relaxed);
    }
    tokio::time::timeout(timeout, session.close())
        .await
        .map_err(|_| ClientError::Timeout("close"))?
}
