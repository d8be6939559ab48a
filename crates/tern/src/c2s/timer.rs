//! A session's timer that stays registered across turns: it only moves to an earlier
//! deadline, and a deadline pushed later (traffic delaying a keepalive) is found when it
//! fires. Re-arming a fresh sleep every turn would register a timer per stanza.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

/// Fires no later than the last deadline given; may fire earlier, so the owner checks.
pub struct LazyTimer(Pin<Box<Sleep>>);

impl Default for LazyTimer {
    fn default() -> Self {
        LazyTimer(Box::pin(tokio::time::sleep_until(Instant::now())))
    }
}

impl LazyTimer {
    /// Make sure the timer fires by `deadline`.
    pub fn arm(&mut self, deadline: Instant) {
        if self.0.is_elapsed() || deadline < self.0.deadline() {
            self.0.as_mut().reset(deadline);
        }
    }
}

impl Future for LazyTimer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
