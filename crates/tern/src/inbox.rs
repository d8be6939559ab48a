//! A session task's inbox: a bounded queue from many senders (the router, the BOSH HTTP
//! handler) to the one task, holding nothing while it is empty. Every session has one, and
//! most sessions are idle (RFC 6120 §13.12 resource use): `tokio::sync::mpsc` allocates a
//! block of 32 slots and cache-line-padded counters when a channel is made, about 1 KB per
//! session; this keeps a ~100-byte shared state and the queued messages alone.
//!
//! Sending never waits: a full or closed inbox gives the message back, and the sender decides
//! (the router kicks a session that fell this far behind, the BOSH handler answers
//! overactivity). Receiving is cancel-safe and takes part in tokio's cooperative budget,
//! like a tokio channel, so a flooded session still lets its worker run other tasks.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use futures_util::task::AtomicWaker;

/// Most slots an empty queue keeps for the next messages; beyond, its buffer is released.
const KEPT_SLOTS: usize = 4;

struct Shared<T> {
    state: Mutex<State<T>>,
    waker: AtomicWaker,
    capacity: usize,
}

struct State<T> {
    queue: VecDeque<T>,
    senders: usize,
    /// The receiver is closed or gone: nothing more is accepted.
    closed: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An inbox of `capacity` messages.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State { queue: VecDeque::new(), senders: 1, closed: false }),
        waker: AtomicWaker::new(),
        capacity,
    });
    (Sender { shared: shared.clone() }, Receiver { shared })
}

/// The sending side; cloned for every sender.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queue `msg`; it comes back when the inbox is full or its receiver closed or gone.
    pub fn try_send(&self, msg: T) -> Result<(), T> {
        {
            let mut st = self.shared.lock();
            if st.closed || st.queue.len() >= self.shared.capacity {
                return Err(msg);
            }
            st.queue.push_back(msg);
        }
        self.shared.waker.wake();
        Ok(())
    }

    /// The receiver is closed or gone.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut st = self.shared.lock();
            st.senders -= 1;
            st.senders == 0
        };
        if last {
            self.shared.waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("inbox::Sender").finish_non_exhaustive()
    }
}

/// The receiving side, owned by the session task.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once every sender is gone (or the inbox is closed) and
    /// nothing is queued. Cancel-safe.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        if let Some(m) = self.try_recv() {
            coop.made_progress();
            return Poll::Ready(Some(m));
        }
        // Registered before looking again, so a message sent in between wakes us.
        self.shared.waker.register(cx.waker());
        let mut st = self.shared.lock();
        match pop(&mut st) {
            Some(m) => {
                coop.made_progress();
                Poll::Ready(Some(m))
            }
            None if st.senders == 0 || st.closed => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// A queued message, without waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        pop(&mut self.shared.lock())
    }

    /// Accept no more messages; those queued can still be received.
    pub fn close(&mut self) {
        self.shared.lock().closed = true;
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Dropped here, not when the last sender goes: a queued message may hold a reply
        // channel whose other end waits for it to close.
        let queued = {
            let mut st = self.shared.lock();
            st.closed = true;
            std::mem::take(&mut st.queue)
        };
        drop(queued);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("inbox::Receiver").finish_non_exhaustive()
    }
}

fn pop<T>(st: &mut State<T>) -> Option<T> {
    let m = st.queue.pop_front()?;
    if st.queue.is_empty() && st.queue.capacity() > KEPT_SLOTS {
        st.queue = VecDeque::new();
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn messages_arrive_in_order_up_to_the_capacity() {
        let (tx, mut rx) = channel(3);
        for i in 0..3 {
            assert!(tx.try_send(i).is_ok());
        }
        assert_eq!(tx.try_send(3), Err(3), "full");
        assert_eq!(rx.recv().await, Some(0));
        assert!(tx.try_send(4).is_ok(), "room again");
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(4));
        assert_eq!(rx.try_recv(), None);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_sender_on_another_task() {
        let (tx, mut rx) = channel(8);
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.try_send("hello").map_err(|_| "refused")
        });
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(got, Ok(Some("hello")));
        assert_eq!(sender.await.ok(), Some(Ok(())));
    }

    #[tokio::test]
    async fn recv_ends_when_the_last_sender_goes() {
        let (tx, mut rx) = channel(8);
        let tx2 = tx.clone();
        assert!(tx.try_send(1).is_ok());
        drop(tx);
        assert_eq!(rx.recv().await, Some(1));
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx2);
        let got = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(got, Ok(Ok(None))), "{got:?}");
    }

    #[tokio::test]
    async fn a_closed_or_dropped_receiver_refuses_messages_and_drops_the_queued_ones() {
        let (tx, mut rx) = channel(8);
        assert!(tx.try_send(1).is_ok());
        rx.close();
        assert!(tx.is_closed());
        assert_eq!(tx.try_send(2), Err(2));
        assert_eq!(rx.recv().await, Some(1), "what was queued before close is still received");
        assert_eq!(rx.recv().await, None);

        let (tx, rx) = channel(8);
        let (reply, answered) = tokio::sync::oneshot::channel::<()>();
        assert!(tx.try_send(reply).is_ok());
        drop(rx);
        assert!(tx.is_closed());
        assert!(answered.await.is_err(), "the queued reply channel was dropped with the receiver");
    }

    #[tokio::test]
    async fn a_cancelled_recv_loses_nothing() {
        let (tx, mut rx) = channel(8);
        assert!(tokio::time::timeout(Duration::from_millis(10), rx.recv()).await.is_err());
        assert!(tx.try_send(7).is_ok());
        assert_eq!(rx.recv().await, Some(7));
    }

    #[test]
    fn an_emptied_queue_releases_a_grown_buffer() {
        let (tx, mut rx) = channel(100);
        for i in 0..50 {
            assert!(tx.try_send(i).is_ok());
        }
        while rx.try_recv().is_some() {}
        assert_eq!(rx.shared.lock().queue.capacity(), 0);
        assert!(tx.try_send(1).is_ok());
        assert_eq!(rx.try_recv(), Some(1));
        assert!(rx.shared.lock().queue.capacity() <= KEPT_SLOTS, "a few slots are kept");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_flooded_receiver_yields_to_other_tasks() {
        let (tx, mut rx) = channel(100_000);
        for i in 0..100_000 {
            assert!(tx.try_send(i).is_ok());
        }
        drop(tx);
        let other = tokio::spawn(async {});
        // The budget makes recv return Pending now and then, so the other task runs before
        // the queue is drained.
        let mut received = 0;
        while !other.is_finished() {
            assert!(rx.recv().await.is_some(), "the other task ran only after the queue was drained");
            received += 1;
        }
        assert!(received < 100_000);
    }
}
