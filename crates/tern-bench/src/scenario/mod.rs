//! The scenarios (register, login, idle, chat, presence) and what they share: the run
//! context ([`Ctx`]), a pool of workers running one operation per user with bounded
//! concurrency ([`for_each`]), and the report skeleton.

mod chat;
mod idle;
mod login;
mod presence;
mod register;
mod roster;
mod traffic;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::error::{ClientError, SetupError};
use crate::net::Dialer;
use crate::opts::{Accounts, Cli, RunOpts, Scenario, Target, TransportKind};
use crate::progress::Progress;
use crate::report::Report;
use crate::scram_cache::ScramCache;
use crate::stats::Tally;

/// What every client of a run needs.
pub struct Ctx {
    pub target: Target,
    pub accounts: Accounts,
    pub run: RunOpts,
    pub dialer: Arc<Dialer>,
    pub cache: ScramCache,
    /// The server process whose CPU and RSS are read.
    pub server_pid: Option<u32>,
}

impl Ctx {
    /// Resolve the target, prepare TLS, load the SCRAM cache, find the server's pid.
    pub async fn new(cli: &Cli) -> Result<Ctx, SetupError> {
        if cli.run.concurrency == 0 {
            return Err(SetupError::Invalid(
                "--concurrency must be at least 1".into(),
            ));
        }
        let server_pid = server_pid(&cli.run)?;
        let cache = match &cli.accounts.scram_cache {
            Some(file) => ScramCache::with_file(file.clone())?,
            None => ScramCache::new(),
        };
        Ok(Ctx {
            dialer: Arc::new(Dialer::new(&cli.target).await?),
            target: cli.target.clone(),
            accounts: cli.accounts.clone(),
            run: cli.run.clone(),
            cache,
            server_pid,
        })
    }

    /// A report with the run's label, transport, scenario and parameters filled in.
    fn report(&self, scenario: &str, requested: u64, params: &[(&str, Value)]) -> Report {
        let mut r = Report {
            label: self.run.label.clone(),
            transport: self.target.transport.name().to_owned(),
            scenario: scenario.to_owned(),
            mech: self.accounts.mech.name().to_owned(),
            requested,
            ..Report::default()
        };
        r.params
            .insert("concurrency".into(), self.run.concurrency.into());
        r.params.insert("first".into(), self.accounts.first.into());
        r.params
            .insert("prefix".into(), self.accounts.prefix.clone().into());
        for (k, v) in params {
            r.params.insert((*k).to_owned(), v.clone());
        }
        r
    }

    fn progress(&self, what: &str, total: Option<u64>) -> Progress {
        Progress::start(format!("{} {what}", self.run.label), total, self.run.quiet)
    }
}

/// The pid from `--server-pid` or `--server-pidfile`, checked to be readable in /proc.
fn server_pid(run: &RunOpts) -> Result<Option<u32>, SetupError> {
    let pid = match (&run.server_pid, &run.server_pidfile) {
        (Some(pid), _) => *pid,
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|source| SetupError::Read {
                path: file.display().to_string(),
                source,
            })?;
            text.trim().parse().map_err(|_| {
                SetupError::Invalid(format!("{}: not a process id: {text:?}", file.display()))
            })?
        }
        (None, None) => return Ok(None),
    };
    if crate::procfs::sample(&pid.to_string()).is_none() {
        return Err(SetupError::Invalid(format!(
            "cannot read /proc/{pid}/stat and status: is the server running?"
        )));
    }
    Ok(Some(pid))
}

/// Run the scenario of `cli`; the SCRAM cache file (if any) is saved afterwards.
pub async fn run(cli: &Cli) -> Result<Report, SetupError> {
    let ctx = Arc::new(Ctx::new(cli).await?);
    warn_if_fds_short(cli);
    let report = match cli.scenario {
        Scenario::Register { count } => register::run(ctx.clone(), count).await,
        Scenario::Login { count } => login::run(ctx.clone(), count).await,
        Scenario::Idle { count, hold } => idle::run(ctx.clone(), count, hold).await,
        Scenario::Chat {
            rate: Some(rate), ..
        } if !(rate > 0.0 && rate.is_finite()) => {
            return Err(SetupError::Invalid(format!(
                "--rate must be positive, not {rate}"
            )));
        }
        Scenario::Chat { relay: true, .. }
            if !matches!(cli.target.transport, TransportKind::Tcp | TransportKind::Ws) =>
        {
            return Err(SetupError::Invalid(
                "--relay works over tcp and ws only".into(),
            ));
        }
        Scenario::Chat {
            pairs,
            window,
            rate,
            warmup,
            duration,
            relay,
        } => {
            let params = chat::Params {
                pairs,
                window,
                rate,
                warmup,
                duration,
                relay,
            };
            chat::run(ctx.clone(), params).await
        }
        Scenario::Presence {
            users,
            contacts,
            rate,
            warmup,
            duration,
        } => {
            let params = presence::Params {
                users,
                contacts,
                rate,
                warmup,
                duration,
            };
            params.check()?;
            presence::run(ctx.clone(), params).await
        }
        Scenario::Relay { .. } => {
            return Err(SetupError::Invalid(
                "the relay is a server, not a scenario: `tern-bench relay`".into(),
            ));
        }
    };
    ctx.cache.save()?;
    Ok(report)
}

/// Say on stderr, before starting, when the open-files limit is below what the scenario
/// holds open at once (connections, plus a few for the runtime and procfs).
fn warn_if_fds_short(cli: &Cli) {
    let sessions = match &cli.scenario {
        Scenario::Idle { count, .. } => *count,
        Scenario::Chat { pairs, .. } => 2 * pairs,
        Scenario::Presence { users, .. } => *users,
        Scenario::Login { count } | Scenario::Register { count } => {
            (cli.run.concurrency as u64).min(*count)
        }
        Scenario::Relay { .. } => 0,
    };
    // A BOSH session has up to two connections.
    let open = sessions * if cli.target.transport.is_bosh() { 2 } else { 1 };
    let needed = open + 32;
    if let Some(limit) = crate::procfs::fd_limit().filter(|l| *l < needed) {
        eprintln!(
            "tern-bench: {open} connections need about {needed} file descriptors, the limit is {limit}: raise it with `ulimit -n`"
        );
    }
}

/// Run `op(i)` for every `i` in `0..count`, at most `concurrency` at a time, each within
/// the target's timeout; successes and failures go to `tally`, progress to `progress`.
async fn for_each<F, Fut>(
    ctx: &Arc<Ctx>,
    count: u64,
    what: &'static str,
    tally: &Arc<Tally>,
    progress: &Progress,
    op: F,
) where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ClientError>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let workers = (ctx.run.concurrency as u64).min(count);
    let mut tasks = Vec::with_capacity(usize::try_from(workers).unwrap_or(0));
    for _ in 0..workers {
        let (op, next, tally, done, timeout) = (
            op.clone(),
            next.clone(),
            tally.clone(),
            progress.counter(),
            ctx.target.timeout(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                match tokio::time::timeout(timeout, op(i)).await {
                    Ok(Ok(())) => tally.ok(),
                    Ok(Err(e)) => tally.fail(&e),
                    Err(_) => tally.fail(&ClientError::Timeout(what)),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}
