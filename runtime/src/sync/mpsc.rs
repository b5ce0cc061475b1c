//! Multi-producer, single-consumer channels: bounded ([`channel`], whose
//! `send` waits while the queue is full) and unbounded ([`unbounded_channel`]).
//!
//! When every sender is dropped the receiver drains what is queued and then
//! gets `None`; when the receiver is dropped (or [`Receiver::close`]d),
//! sends fail with [`SendError`], which hands the value back.
//!
//! ```
//! use runtime::sync::mpsc;
//! runtime::block_on(async {
//!     let (tx, mut rx) = mpsc::channel(2);
//!     let producer = runtime::spawn(async move {
//!         for i in 0..5 {
//!             tx.send(i).await.unwrap(); // waits while 2 are queued
//!         }
//!     });
//!     let mut got = Vec::new();
//!     while let Some(v) = rx.recv().await {
//!         got.push(v);
//!     }
//!     assert_eq!(got, [0, 1, 2, 3, 4]);
//!     producer.await.unwrap();
//! });
//! ```

use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// A bounded channel holding at most `capacity` queued messages.
///
/// # Panics
/// If `capacity` is zero.
///
/// The bound is the backpressure: a full channel makes `send` wait (and
/// `try_send` fail) until the receiver takes a message.
///
/// ```
/// use runtime::sync::mpsc::{self, TrySendError};
///
/// runtime::block_on(async {
///     let (tx, mut rx) = mpsc::channel(1);
///     tx.send("first").await.unwrap();
///     // Full: no room until the receiver takes "first".
///     assert!(matches!(tx.try_send("second"), Err(TrySendError::Full("second"))));
///     assert_eq!(rx.recv().await, Some("first"));
///     tx.try_send("second").unwrap();
///     assert_eq!(rx.recv().await, Some("second"));
/// });
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc::channel capacity must be at least 1");
    let chan = Chan::new(Some(capacity));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// An unbounded channel: sending never waits (memory is the only limit).
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, Receiver<T>) {
    let chan = Chan::new(None);
    (UnboundedSender { chan: chan.clone() }, Receiver { chan })
}

struct Chan<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    queue: VecDeque<T>,
    /// `None` for unbounded.
    capacity: Option<usize>,
    /// The receiver, waiting for a message.
    rx_waker: Option<Waker>,
    /// Senders waiting for room, oldest first, each with its `Send`'s id.
    send_waiters: VecDeque<(u64, Waker)>,
    next_waiter: u64,
    /// Live sender handles (bounded and unbounded alike).
    senders: usize,
    /// The receiver was closed or dropped: sends fail.
    rx_closed: bool,
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.capacity.is_none_or(|c| self.queue.len() < c)
    }

    fn remove_waiter(&mut self, id: u64) -> bool {
        match self.send_waiters.iter().position(|(i, _)| *i == id) {
            Some(pos) => {
                self.send_waiters.remove(pos);
                true
            }
            None => false,
        }
    }
}

impl<T> Chan<T> {
    fn new(capacity: Option<usize>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                capacity,
                rx_waker: None,
                send_waiters: VecDeque::new(),
                next_waiter: 0,
                senders: 1,
                rx_closed: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `value` if there is room (or the channel is unbounded).
    fn try_push(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut s = self.lock();
        if s.rx_closed {
            return Err(TrySendError::Closed(value));
        }
        if !s.has_room() {
            return Err(TrySendError::Full(value));
        }
        s.queue.push_back(value);
        let waker = s.rx_waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    fn add_sender(self: &Arc<Self>) -> Arc<Self> {
        self.lock().senders += 1;
        self.clone()
    }

    fn drop_sender(&self) {
        let mut s = self.lock();
        s.senders -= 1;
        let waker = if s.senders == 0 { s.rx_waker.take() } else { None };
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn is_closed(&self) -> bool {
        self.lock().rx_closed
    }
}

/// The sending half of a bounded channel; clone it for more producers.
///
/// The channel stays open while any clone lives; the receiver gets `None`
/// once every one is dropped and the queue is empty. From a thread outside
/// the runtime, [`blocking_send`](Sender::blocking_send) waits for room.
///
/// ```
/// use runtime::sync::mpsc;
///
/// runtime::block_on(async {
///     let (tx, mut rx) = mpsc::channel(8);
///     for id in 0..3 {
///         let tx = tx.clone();
///         runtime::spawn(async move { tx.send(id).await.unwrap() });
///     }
///     // And one producer on a plain thread.
///     let from_thread = tx.clone();
///     std::thread::spawn(move || from_thread.blocking_send(10).unwrap());
///     drop(tx); // only the clones keep the channel open now
///
///     let mut got = Vec::new();
///     while let Some(id) = rx.recv().await {
///         got.push(id);
///     }
///     got.sort();
///     assert_eq!(got, [0, 1, 2, 10]);
/// });
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending half of an unbounded channel; clone it for more producers.
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of either kind of channel.
///
/// [`recv`](Receiver::recv) waits for the next message and returns `None`
/// once the queue is drained and no message can come any more: every
/// sender is gone, or [`close`](Receiver::close) was called, which refuses
/// new messages but keeps the queued ones (as tokio's does).
///
/// ```
/// use runtime::sync::mpsc::{self, TryRecvError};
///
/// runtime::block_on(async {
///     let (tx, mut rx) = mpsc::unbounded_channel();
///     assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
///     tx.send(1).unwrap();
///     tx.send(2).unwrap();
///     rx.close();
///     assert!(tx.send(3).is_err(), "closed: the value comes back in the error");
///     assert_eq!(rx.recv().await, Some(1));
///     assert_eq!(rx.recv().await, Some(2));
///     assert_eq!(rx.recv().await, None, "closed and drained, though tx is alive");
/// });
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// The receiver is gone; the unsent value is inside.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed: the receiver was dropped or closed")
    }
}

impl<T> Error for SendError<T> {}

/// Why [`Sender::try_send`] did not queue the value (which is inside).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is at capacity.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full"),
            TrySendError::Closed(_) => f.write_str("channel closed: the receiver was dropped or closed"),
        }
    }
}

impl<T> Error for TrySendError<T> {}

/// Why [`Receiver::try_recv`] returned no message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued; senders are alive.
    Empty,
    /// Nothing queued and nothing can come: every sender is gone, or the
    /// receiver was closed.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Disconnected => {
                f.write_str("channel empty and closed (every sender dropped, or the receiver closed)")
            }
        }
    }
}

impl Error for TryRecvError {}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Fails (returning
    /// the value) once the receiver is gone.
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send { chan: &self.chan, value: Some(value), waiter: None }
    }

    /// Sends without waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_push(value)
    }

    /// Sends from a plain OS thread, blocking it while the channel is full.
    ///
    /// # Panics
    /// If called inside a weft runtime.
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        super::park_on(self.send(value))
    }

    /// True once the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }
}

impl<T> UnboundedSender<T> {
    /// Queues `value`; fails (returning it) once the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.try_push(value).map_err(|e| SendError(e.into_inner()))
    }

    /// True once the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender { chan: self.chan.add_sender() }
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        UnboundedSender { chan: self.chan.add_sender() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

/// Future of [`Sender::send`]. Dropping it before completion sends nothing.
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    chan: &'a Arc<Chan<T>>,
    value: Option<T>,
    /// Our id in `send_waiters` while we wait for room.
    waiter: Option<u64>,
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        crate::task::budget::cooperate(cx, |cx| {
            let this = &mut *self;
            let mut s = this.chan.lock();
            let Some(value) = this.value.take() else {
                return Poll::Ready(Ok(())); // polled after completion
            };
            if s.rx_closed {
                return Poll::Ready(Err(SendError(value)));
            }
            if s.has_room() {
                if let Some(id) = this.waiter.take() {
                    s.remove_waiter(id);
                }
                s.queue.push_back(value);
                let waker = s.rx_waker.take();
                drop(s);
                if let Some(w) = waker {
                    w.wake();
                }
                return Poll::Ready(Ok(()));
            }
            this.value = Some(value);
            match this.waiter {
                Some(id) if s.send_waiters.iter().any(|(i, _)| *i == id) => {
                    if let Some((_, w)) = s.send_waiters.iter_mut().find(|(i, _)| *i == id) {
                        if !w.will_wake(cx.waker()) {
                            *w = cx.waker().clone();
                        }
                    }
                }
                // Woken for room another sender took first: wait at the front.
                Some(id) => s.send_waiters.push_front((id, cx.waker().clone())),
                None => {
                    let id = s.next_waiter;
                    s.next_waiter += 1;
                    s.send_waiters.push_back((id, cx.waker().clone()));
                    this.waiter = Some(id);
                }
            }
            Poll::Pending
        })
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.waiter else { return };
        if self.value.is_none() {
            return; // completed
        }
        let mut s = self.chan.lock();
        if !s.remove_waiter(id) && s.has_room() {
            // We were woken for a free slot but will not use it: pass the
            // wake-up on, or the next sender could wait with room available.
            if let Some((_, w)) = s.send_waiters.pop_front() {
                drop(s);
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send").field("waiting", &self.waiter.is_some()).finish()
    }
}

impl<T> Receiver<T> {
    /// Receives the next message, waiting if none is queued; `None` once
    /// the queue is empty and every sender is gone or the receiver closed.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message; see [`Receiver::recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        crate::task::budget::cooperate(cx, |cx| {
            let mut s = self.chan.lock();
            if let Some(v) = s.queue.pop_front() {
                // A slot freed up: let the oldest waiting sender use it.
                let waker = s.send_waiters.pop_front().map(|(_, w)| w);
                drop(s);
                if let Some(w) = waker {
                    w.wake();
                }
                return Poll::Ready(Some(v));
            }
            if s.senders == 0 || s.rx_closed {
                return Poll::Ready(None);
            }
            if !s.rx_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.rx_waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    /// Takes a queued message without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut s = self.chan.lock();
        match s.queue.pop_front() {
            Some(v) => {
                let waker = s.send_waiters.pop_front().map(|(_, w)| w);
                drop(s);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(v)
            }
            None if s.senders == 0 || s.rx_closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Waits for a message on a plain OS thread.
    ///
    /// # Panics
    /// If called inside a weft runtime.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        super::park_on(self.recv())
    }

    /// Stops further sends (they fail with the value); queued messages can
    /// still be received.
    pub fn close(&mut self) {
        let mut s = self.chan.lock();
        s.rx_closed = true;
        let waiters: Vec<Waker> = s.send_waiters.drain(..).map(|(_, w)| w).collect();
        drop(s);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Messages currently queued.
    pub fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// True if no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // Drop queued messages here, outside the lock.
        let queued = std::mem::take(&mut self.chan.lock().queue);
        drop(queued);
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender").field("closed", &self.is_closed()).finish()
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender").field("closed", &self.is_closed()).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver").field("queued", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backpressure_and_close() {
        crate::block_on(async {
            let (tx, mut rx) = channel(1);
            tx.try_send(1).unwrap();
            assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
            assert_eq!(rx.recv().await, Some(1));
            rx.close();
            assert!(tx.send(3).await.is_err());
            assert!(tx.is_closed());
        });
    }

    #[test]
    fn dropped_waiting_send_passes_the_wakeup_on() {
        crate::block_on(async {
            let (tx, mut rx) = channel(1);
            tx.send(0).await.unwrap();
            let tx2 = tx.clone();
            // Two senders wait; the first gives up after being woken.
            let first = crate::spawn(async move {
                let mut send = tx.send(1);
                std::future::poll_fn(|cx| {
                    let _ = Pin::new(&mut send).poll(cx);
                    Poll::Ready(())
                })
                .await;
                crate::yield_now().await;
                crate::yield_now().await;
                drop(send);
            });
            let second = crate::spawn(async move { tx2.send(2).await });
            crate::yield_now().await;
            assert_eq!(rx.recv().await, Some(0));
            first.await.unwrap();
            second.await.unwrap().unwrap();
            assert_eq!(rx.recv().await, Some(2));
            assert_eq!(rx.recv().await, None);
        });
    }

    #[test]
    fn thread_producer_feeds_a_task() {
        let (tx, mut rx) = channel(4);
        let producer = std::thread::spawn(move || {
            for i in 0..100u32 {
                tx.blocking_send(i).unwrap();
            }
        });
        let sum = crate::block_on(async move {
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        });
        producer.join().unwrap();
        assert_eq!(sum, 4950);
    }
}
