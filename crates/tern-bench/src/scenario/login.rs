//! `login`: N logins, C at a time. Each connects, authenticates (SASL SCRAM), restarts
//! the stream, binds a resource, sends initial presence and does one XEP-0199 ping round
//! trip (the login latency ends there), then closes the stream cleanly (RFC 6120 §4.4).

use std::sync::Arc;
use std::time::Instant;

use super::{Ctx, for_each};
use crate::client::login;
use crate::procfs::Snapshot;
use crate::report::{Report, round};
use crate::stats::{Latency, Tally};

pub(super) async fn run(ctx: Arc<Ctx>, count: u64) -> Report {
    let tally = Arc::new(Tally::default());
    let latency = Arc::new(Latency::new());
    let progress = ctx.progress("login", Some(count));
    let before = Snapshot::take(ctx.server_pid);
    let (op_ctx, op_latency) = (ctx.clone(), latency.clone());
    for_each(&ctx, count, "login", &tally, &progress, move |i| {
        let (ctx, latency) = (op_ctx.clone(), op_latency.clone());
        async move {
            let start = Instant::now();
            let session = login(&ctx, &ctx.accounts.user(i)).await?;
            latency.record(start.elapsed());
            session.close().await
        }
    })
    .await;
    let after = Snapshot::take(ctx.server_pid);
    progress.finish().await;

    let mut r = ctx.report("login", count, &[("count", count.into())]);
    r.measure(&before, &after);
    r.ok = tally.ok_count();
    r.failed = tally.failed_count();
    r.errors = tally.errors();
    r.logins_per_s = Some(round(r.ok as f64 / r.seconds.max(1e-9)));
    r.login_ms = latency.percentiles().map(Into::into);
    r.server.server_cpu_s_per_1000_logins = r.cpu_per(r.ok, 1000.0);
    r
}
