//! The progress line on stderr while a phase runs: `what done/total rate/s`, rewritten in
//! place (`\r`) four times a second on a terminal, or a plain line every five seconds when
//! stderr is a file or pipe.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running progress line; [`finish`](Self::finish) prints the last state.
pub struct Progress {
    done: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Start reporting `what`: done out of `total` (if known). Prints nothing when `quiet`.
    pub fn start(what: String, total: Option<u64>, quiet: bool) -> Progress {
        let done = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = watch::channel(false);
        let task = (!quiet).then(|| {
            let done = done.clone();
            tokio::spawn(async move {
                let tty = std::io::stderr().is_terminal();
                let every = Duration::from_millis(if tty { 250 } else { 5000 });
                let start = Instant::now();
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                let (mut last_n, mut last_t) = (0, start);
                loop {
                    let end = tokio::select! {
                        _ = tick.tick() => false,
                        _ = stopped.changed() => true,
                    };
                    let (n, now) = (done.load(Ordering::Relaxed), Instant::now());
                    let rate = match end {
                        true => n as f64 / now.duration_since(start).as_secs_f64().max(1e-9),
                        false => {
                            (n - last_n) as f64 / now.duration_since(last_t).as_secs_f64().max(1e-9)
                        }
                    };
                    (last_n, last_t) = (n, now);
                    let line = line(&what, n, total, rate, now.duration_since(start));
                    let mut err = std::io::stderr().lock();
                    let _ = match (tty, end) {
                        (true, false) => write!(err, "\r{line}\x1b[K"),
                        (true, true) => writeln!(err, "\r{line}\x1b[K"),
                        (false, _) => writeln!(err, "{line}"),
                    };
                    let _ = err.flush();
                    if end {
                        break;
                    }
                }
            })
        });
        Progress { done, stop, task }
    }

    /// Count `n` more done.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// The shared counter (for tasks that outlive a borrow).
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.done.clone()
    }

    /// Print the final line and stop.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn line(what: &str, done: u64, total: Option<u64>, rate: f64, elapsed: Duration) -> String {
    let total = total.map(|t| format!("/{t}")).unwrap_or_default();
    format!(
        "{what}: {done}{total}  {rate:.0}/s  {:.1} s",
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_line() {
        assert_eq!(
            line("login", 5, Some(10), 123.4, Duration::from_millis(1500)),
            "login: 5/10  123/s  1.5 s"
        );
        assert_eq!(
            line("chat", 7, None, 0.0, Duration::ZERO),
            "chat: 7  0/s  0.0 s"
        );
    }
}
