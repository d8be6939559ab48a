//! Counting while a scenario runs: successes and failures by kind ([`Tally`]), latencies
//! in an HDR histogram ([`Latency`], microsecond resolution, 3 significant digits) with a
//! per-client batch ([`LatencyBatch`]) so the hot path rarely takes the lock, and the
//! process-wide monotonic clock that message timestamps use ([`now_nanos`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::error::ClientError;

/// Nanoseconds since the first call in this process (monotonic).
pub fn now_nanos() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Outcomes of many attempts.
#[derive(Default)]
pub struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    fd_warned: AtomicBool,
}

impl Tally {
    pub fn ok(&self) {
        self.ok.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a failure under its kind. Running out of file descriptors is also said on
    /// stderr at once, with the limit in force.
    pub fn fail(&self, e: &ClientError) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.note(e);
    }

    /// Count an error under its kind without counting a failed attempt.
    pub fn note(&self, e: &ClientError) {
        *lock(&self.errors).entry(e.kind()).or_default() += 1;
        if e.is_fd_limit() && !self.fd_warned.swap(true, Ordering::Relaxed) {
            let limit =
                crate::procfs::fd_limit().map_or_else(|| "unknown".to_owned(), |l| l.to_string());
            eprintln!(
                "\ntern-bench: out of file descriptors (limit {limit}): raise it with `ulimit -n` before running"
            );
        }
    }

    pub fn ok_count(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    pub fn failed_count(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }
}

/// A latency distribution.
pub struct Latency {
    hist: Mutex<Histogram<u64>>,
}

/// Percentiles of a [`Latency`], in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// Highest latency recorded (larger values are clamped): one hour.
    const MAX_US: u64 = 3_600_000_000;

    pub fn new() -> Self {
        #[allow(clippy::expect_used)]
        let hist = Histogram::new_with_bounds(1, Self::MAX_US, 3)
            .expect("constant bounds 1 µs .. 1 h, 3 digits are valid");
        Latency {
            hist: Mutex::new(hist),
        }
    }

    pub fn record(&self, d: Duration) {
        self.record_us(&[duration_us(d)]);
    }

    fn record_us(&self, values: &[u64]) {
        let mut h = lock(&self.hist);
        for v in values {
            h.saturating_record((*v).clamp(1, Self::MAX_US));
        }
    }

    pub fn percentiles(&self) -> Option<Percentiles> {
        let h = lock(&self.hist);
        if h.is_empty() {
            return None;
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Some(Percentiles {
            count: h.len(),
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: h.max() as f64 / 1000.0,
        })
    }
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One client's latencies, added to the shared [`Latency`] in batches.
pub struct LatencyBatch<'a> {
    into: &'a Latency,
    values: Vec<u64>,
}

impl<'a> LatencyBatch<'a> {
    const SIZE: usize = 128;

    pub fn new(into: &'a Latency) -> Self {
        LatencyBatch {
            into,
            values: Vec::new(),
        }
    }

    /// Record a latency given in nanoseconds.
    pub fn record_nanos(&mut self, nanos: u64) {
        if self.values.capacity() == 0 {
            self.values.reserve_exact(Self::SIZE);
        }
        self.values.push(nanos / 1000);
        if self.values.len() == Self::SIZE {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if !self.values.is_empty() {
            self.into.record_us(&self.values);
            self.values.clear();
        }
    }
}

impl Drop for LatencyBatch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let l = Latency::new();
        assert_eq!(l.percentiles(), None);
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        let p = l.percentiles().expect("values");
        assert_eq!(p.count, 100);
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
    }

    #[test]
    fn batches_reach_the_histogram() {
        let l = Latency::new();
        {
            let mut b = LatencyBatch::new(&l);
            for _ in 0..300 {
                b.record_nanos(2_000_000);
            }
        }
        let p = l.percentiles().expect("values");
        assert_eq!(p.count, 300);
        assert!((p.p999 - 2.0).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn tally_counts_by_kind() {
        let t = Tally::default();
        t.ok();
        t.fail(&ClientError::Timeout("bind"));
        t.fail(&ClientError::Timeout("bind"));
        t.note(&ClientError::Eof);
        assert_eq!((t.ok_count(), t.failed_count()), (1, 2));
        let e = t.errors();
        assert_eq!(e.get("timed out during bind"), Some(&2));
        assert_eq!(e.get("connection closed by the server"), Some(&1));
        assert!(now_nanos() <= now_nanos());
    }
}
