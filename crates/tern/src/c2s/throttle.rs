//! Flood protection (RFC 6120 §13.12 resource exhaustion): a per-connection token bucket on
//! bytes read, and a per-IP growing delay after failed authentication (RFC 6120 §6.4.5
//! leaves retries to policy; the delay slows password guessing).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Token bucket over bytes: `rate` bytes per second, up to `burst` at once.
#[derive(Debug, Clone)]
pub struct ByteThrottle {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl ByteThrottle {
    pub fn new(rate: u64, burst: u64, now: Instant) -> Self {
        let burst = burst.max(1) as f64;
        Self { rate: rate.max(1) as f64, burst, tokens: burst, last: now }
    }

    /// Take `n` bytes; returns how long to wait before reading again (zero if none).
    pub fn consume(&mut self, n: usize, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Per-IP count of recent SASL failures.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// Failures allowed before delays start.
    free: u32,
}

/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Longest delay applied.
const MAX_DELAY: Duration = Duration::from_secs(8);
/// Bound on tracked addresses.
const MAX_TRACKED: usize = 100_000;

impl AuthThrottle {
    pub fn new(free: u32) -> Self {
        Self { failures: Mutex::new(HashMap::new()), free }
    }

    /// Record a failure from `ip`; returns the delay to apply before answering.
    pub fn failure(&self, ip: IpAddr, now: Instant) -> Duration {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, t)| now.saturating_duration_since(*t) < FORGET_AFTER);
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        delay_for(entry.0.saturating_sub(self.free))
    }

    /// A success from `ip` clears its record.
    pub fn success(&self, ip: IpAddr) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&ip);
    }
}

/// 250 ms doubling per failure past the free ones, capped.
fn delay_for(over: u32) -> Duration {
    if over == 0 {
        return Duration::ZERO;
    }
    let ms = 250u64.saturating_mul(1u64 << over.min(10).saturating_sub(1));
    Duration::from_millis(ms).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_paces() {
        let t0 = Instant::now();
        let mut b = ByteThrottle::new(1000, 2000, t0);
        assert_eq!(b.consume(2000, t0), Duration::ZERO);
        let wait = b.consume(500, t0);
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(b.consume(0, t0 + Duration::from_millis(500)), Duration::ZERO);
    }

    #[test]
    fn auth_delay_grows_and_resets() {
        let t0 = Instant::now();
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "127.0.0.2".parse().expect("ip");
        let a = AuthThrottle::new(1);
        let delays: Vec<Duration> = (0..5).map(|_| a.failure(ip, t0)).collect();
        assert_eq!(delays[0], Duration::ZERO);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
        assert!(delays[4] > delays[1]);
        assert_eq!(a.failure(other, t0), Duration::ZERO, "other addresses are unaffected");
        a.success(ip);
        assert_eq!(a.failure(ip, t0), Duration::ZERO);
        assert!(delay_for(60) <= MAX_DELAY);
    }
}
