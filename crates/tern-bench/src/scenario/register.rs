//! `register`: create accounts `{prefix}{first}..` by in-band registration (XEP-0077 §3.1)
//! over the chosen transport; an account that exists already (`<conflict/>`) counts as done.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Ctx, for_each};
use crate::client::{Registered, register};
use crate::procfs::Snapshot;
use crate::report::{Report, round};
use crate::stats::Tally;

pub(super) async fn run(ctx: Arc<Ctx>, count: u64) -> Report {
    let tally = Arc::new(Tally::default());
    let existing = Arc::new(AtomicU64::new(0));
    let progress = ctx.progress("register", Some(count));
    let before = Snapshot::take(ctx.server_pid);
    let op_ctx = ctx.clone();
    let op_existing = existing.clone();
    for_each(&ctx, count, "registration", &tally, &progress, move |i| {
        let (ctx, existing) = (op_ctx.clone(), op_existing.clone());
        async move {
            if register(&ctx, &ctx.accounts.user(i)).await? == Registered::Existing {
                existing.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }
    })
    .await;
    let after = Snapshot::take(ctx.server_pid);
    progress.finish().await;

    let mut r = ctx.report("register", count, &[("count", count.into())]);
    r.measure(&before, &after);
    r.ok = tally.ok_count();
    r.failed = tally.failed_count();
    r.errors = tally.errors();
    r.existing = Some(existing.load(Ordering::Relaxed));
    r.registrations_per_s = Some(round(r.ok as f64 / r.seconds.max(1e-9)));
    r
}
