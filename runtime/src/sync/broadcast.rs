//! A multi-producer, multi-consumer channel where every receiver sees
//! every value: a bounded ring that a slow receiver falls behind on,
//! never a brake on the senders.
//!
//! [`channel`] makes a [`Sender`] (clone it for more producers) and a
//! [`Receiver`]; more receivers come from [`Sender::subscribe`] or
//! [`Receiver::resubscribe`] and see the values sent after they were made.
//! Each value is cloned out to each receiver (`T: Clone`); the last
//! receiver to read a value takes it without a clone.
//!
//! The channel holds at most `capacity` values. A send into a full channel
//! overwrites the oldest value; a receiver that had not read it yet has
//! *lagged*: its next receive returns [`RecvError::Lagged`] with the number
//! of values it missed, and it continues from the oldest value still held.
//! When every sender is gone, receivers drain what is held and then get
//! [`RecvError::Closed`].
//!
//! ```
//! use runtime::sync::broadcast::{self, error::RecvError};
//!
//! runtime::block_on(async {
//!     let (tx, mut rx1) = broadcast::channel(2);
//!     let mut rx2 = tx.subscribe();
//!     for i in 0..3 {
//!         tx.send(i).unwrap(); // never waits
//!     }
//!     // Both receivers missed the first value: capacity is 2.
//!     assert_eq!(rx1.recv().await, Err(RecvError::Lagged(1)));
//!     assert_eq!(rx1.recv().await, Ok(1));
//!     assert_eq!(rx1.recv().await, Ok(2));
//!     drop(tx);
//!     assert_eq!(rx1.recv().await, Err(RecvError::Closed));
//!     assert_eq!(rx2.recv().await, Err(RecvError::Lagged(1)));
//! });
//! ```
//!
//! # Design
//!
//! One lock guards a `VecDeque` window of the stream: slot `i` holds the
//! value at position `head + i` and how many receivers have yet to read it.
//! A receiver is a position. Reading a slot decrements its count; a count
//! that reaches zero frees the value, and free slots at the front are
//! trimmed (counts only grow towards the back, since receivers read in
//! order). A receiver whose position fell below `head` lagged. Receivers
//! waiting in [`Receiver::recv`] sit in a `WaitList`; a send wakes them
//! all, after releasing the lock.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::waitlist::{lock, WaitKey, WaitList};
use crate::loom::Mutex;

/// The errors of [`broadcast`](super::broadcast).
pub mod error {
    use std::error::Error;
    use std::fmt;

    /// [`Sender::send`](super::Sender::send) found no receiver; the value
    /// is inside.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("SendError(..)")
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed: no receivers")
        }
    }

    impl<T> Error for SendError<T> {}

    /// Why [`Receiver::recv`](super::Receiver::recv) returned no value.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum RecvError {
        /// Every sender is gone and every held value was read.
        Closed,
        /// The receiver fell behind: this many values were overwritten
        /// before it read them. The next receive returns the oldest value
        /// still held.
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str("channel closed"),
                RecvError::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }

    impl Error for RecvError {}

    /// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no
    /// value.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum TryRecvError {
        /// Nothing new yet; senders are alive.
        Empty,
        /// Every sender is gone and every held value was read.
        Closed,
        /// The receiver fell behind by this many values; see
        /// [`RecvError::Lagged`].
        Lagged(u64),
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
                TryRecvError::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }

    impl Error for TryRecvError {}
}

use error::{RecvError, SendError, TryRecvError};

/// A broadcast channel holding at most `capacity` values.
///
/// ```
/// use runtime::sync::broadcast;
/// let (tx, mut rx) = broadcast::channel(16);
/// assert_eq!(tx.send("hi"), Ok(1)); // one receiver
/// assert_eq!(rx.try_recv(), Ok("hi"));
/// ```
///
/// # Panics
/// If `capacity` is zero.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "broadcast::channel capacity must be at least 1");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            buf: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            head: 0,
            senders: 1,
            receivers: 1,
            waiters: WaitList::new(),
        }),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, next: 0 })
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    /// The values at positions `head..head + buf.len()`.
    buf: VecDeque<Slot<T>>,
    capacity: usize,
    /// Position of `buf[0]`; everything before it is gone.
    head: u64,
    senders: usize,
    receivers: usize,
    /// `Recv` futures waiting for a value.
    waiters: WaitList<Option<Waker>>,
}

struct Slot<T> {
    /// `None` once every receiver that should see it has.
    value: Option<T>,
    /// Receivers that have yet to read it.
    unread: usize,
}

impl<T> State<T> {
    fn tail(&self) -> u64 {
        self.head + self.buf.len() as u64
    }

    /// Drops free slots off the front (their values were already taken).
    fn trim(&mut self) {
        while self.buf.front().is_some_and(|s| s.unread == 0) {
            self.buf.pop_front();
            self.head += 1;
        }
    }

    /// Unlinks every waiting receiver, returning their wakers.
    fn take_waiters(&mut self) -> Vec<Waker> {
        let mut wakers = Vec::with_capacity(self.waiters.len());
        while let Some((_, w)) = self.waiters.pop_front() {
            wakers.extend(w.take());
        }
        wakers
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> impl DerefMut<Target = State<T>> + '_ {
        lock(&self.state)
    }
}

/// The sending half; see [`channel`].
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half; see [`channel`].
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Position of the next value to read.
    next: u64,
}

impl<T> Sender<T> {
    /// Sends `value` to every current receiver, overwriting the oldest
    /// held value if the channel is full. Never waits.
    ///
    /// Returns how many receivers there are (not how many will read it:
    /// one may be dropped or lag first), or the value back if there are
    /// none.
    ///
    /// ```
    /// use runtime::sync::broadcast;
    /// let (tx, rx) = broadcast::channel(1);
    /// assert_eq!(tx.send(1), Ok(1));
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// ```
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut s = self.shared.lock();
        if s.receivers == 0 {
            return Err(SendError(value));
        }
        let evicted = if s.buf.len() == s.capacity {
            s.head += 1;
            s.buf.pop_front()
        } else {
            None
        };
        let unread = s.receivers;
        s.buf.push_back(Slot { value: Some(value), unread });
        let wakers = s.take_waiters();
        drop(s);
        drop(evicted); // user code, outside the lock
        wakers.into_iter().for_each(Waker::wake);
        Ok(unread)
    }

    /// A new receiver, which sees the values sent from now on.
    ///
    /// ```
    /// use runtime::sync::broadcast;
    /// let (tx, _rx) = broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut late = tx.subscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(late.try_recv(), Ok(2));
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        subscribe(&self.shared)
    }

    /// Receivers now.
    pub fn receiver_count(&self) -> usize {
        self.shared.lock().receivers
    }

    /// Values held that some receiver has yet to read.
    pub fn len(&self) -> usize {
        self.shared.lock().buf.len()
    }

    /// True if every held value has been read by every receiver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if both handles belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

fn subscribe<T>(shared: &Arc<Shared<T>>) -> Receiver<T> {
    let mut s = shared.lock();
    s.receivers += 1;
    let next = s.tail();
    drop(s);
    Receiver { shared: shared.clone(), next }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.lock().senders += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.senders -= 1;
        let wakers = if s.senders == 0 { s.take_waiters() } else { Vec::new() };
        drop(s);
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl<T: Clone> Receiver<T> {
    /// Receives the next value, waiting if there is none yet.
    ///
    /// Errors: [`RecvError::Lagged`] if values were overwritten before this
    /// receiver read them (the next call continues from the oldest held
    /// value); [`RecvError::Closed`] once every sender is gone and nothing
    /// is left to read.
    ///
    /// Cancel safety: dropping the future loses no value.
    ///
    /// ```
    /// use runtime::sync::broadcast;
    /// runtime::block_on(async {
    ///     let (tx, mut rx) = broadcast::channel(4);
    ///     std::thread::spawn(move || tx.send(5).unwrap());
    ///     assert_eq!(rx.recv().await, Ok(5));
    /// });
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { rx: self, waiter: None }
    }

    /// Takes the next value if there is one now.
    ///
    /// ```
    /// use runtime::sync::broadcast::{self, error::TryRecvError};
    /// let (tx, mut rx) = broadcast::channel(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
    /// assert_eq!(rx.try_recv(), Ok(2));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        take_locked(&mut self.next, &mut self.shared.lock())
    }

    /// Waits for the next value on a plain OS thread.
    ///
    /// # Panics
    /// If called inside a weft runtime.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Result<T, RecvError> {
        super::park_on(self.recv())
    }
}

/// Reads the value at position `*next` under the lock.
fn take_locked<T: Clone>(next: &mut u64, s: &mut State<T>) -> Result<T, TryRecvError> {
    if *next < s.head {
        let missed = s.head - *next;
        *next = s.head;
        return Err(TryRecvError::Lagged(missed));
    }
    if *next == s.tail() {
        return Err(if s.senders == 0 { TryRecvError::Closed } else { TryRecvError::Empty });
    }
    let slot = &mut s.buf[(*next - s.head) as usize];
    slot.unread -= 1;
    let value = if slot.unread == 0 { slot.value.take() } else { slot.value.clone() };
    *next += 1;
    s.trim();
    Ok(value.expect("an unread slot holds its value"))
}

impl<T> Receiver<T> {
    /// A new receiver of the same channel that starts at the current end,
    /// like [`Sender::subscribe`] (it does not inherit this one's backlog).
    ///
    /// ```
    /// use runtime::sync::broadcast;
    /// let (tx, mut rx) = broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut rx2 = rx.resubscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!((rx.try_recv(), rx2.try_recv()), (Ok(1), Ok(2)));
    /// ```
    pub fn resubscribe(&self) -> Receiver<T> {
        subscribe(&self.shared)
    }

    /// Values sent that this receiver has not read yet (lagged ones
    /// included).
    pub fn len(&self) -> usize {
        (self.shared.lock().tail() - self.next) as usize
    }

    /// True if nothing is waiting for this receiver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().senders == 0
    }

    /// True if both handles belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.receivers -= 1;
        // Mark our unread values read: release the ones only we needed.
        let head = s.head;
        let from = self.next.saturating_sub(head) as usize;
        let mut freed = Vec::new();
        for slot in s.buf.iter_mut().skip(from) {
            slot.unread -= 1;
            if slot.unread == 0 {
                freed.extend(slot.value.take());
            }
        }
        s.trim();
        drop(s);
        drop(freed);
    }
}

/// Future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
    /// Our entry in `waiters` while we wait.
    waiter: Option<WaitKey>,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        crate::task::budget::cooperate(cx, |cx| {
            let this = self.get_mut();
            let Receiver { shared, next } = &mut *this.rx;
            let mut s = shared.lock();
            let result = match take_locked(next, &mut s) {
                Ok(v) => Ok(v),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
                Err(TryRecvError::Empty) => {
                    let stale = match this.waiter {
                        Some(key) if s.waiters.is_linked(key) => {
                            let w = s.waiters.get_mut(key).expect("linked entries exist");
                            if w.as_ref().is_some_and(|old| old.will_wake(cx.waker())) {
                                None
                            } else {
                                w.replace(cx.waker().clone())
                            }
                        }
                        // First wait, or woken by a send another receiver's
                        // read already explained: queue again.
                        key => {
                            let stale = key.and_then(|k| s.waiters.remove(k)).flatten();
                            this.waiter = Some(s.waiters.push_back(Some(cx.waker().clone())));
                            stale
                        }
                    };
                    drop(s);
                    drop(stale);
                    return Poll::Pending;
                }
            };
            let entry = this.waiter.take().and_then(|k| s.waiters.remove(k));
            drop(s);
            drop(entry);
            Poll::Ready(result)
        })
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            let entry = self.rx.shared.lock().waiters.remove(key);
            drop(entry);
        }
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").field("waiting", &self.waiter.is_some()).finish()
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender").field("receivers", &self.receiver_count()).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver").field("unread", &self.len()).finish()
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Sender<Vec<u8>>>();
    send_sync::<Receiver<Vec<u8>>>();
    send_sync::<Recv<'static, Vec<u8>>>();
    send_sync::<SendError<Vec<u8>>>();
    send_sync::<RecvError>();
    send_sync::<TryRecvError>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[derive(Debug)]
    struct Counted(Arc<AtomicUsize>);

    impl Clone for Counted {
        fn clone(&self) -> Counted {
            Counted(self.0.clone())
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn lag_reports_the_missed_count_then_the_oldest_held() {
        let (tx, mut rx) = channel(4);
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.len(), 10);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(6)));
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got, [6, 7, 8, 9]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn values_are_freed_once_every_receiver_read_them() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut a) = channel(8);
        let mut b = tx.subscribe();
        tx.send(Counted(drops.clone())).unwrap();
        tx.send(Counted(drops.clone())).unwrap();
        assert_eq!(tx.len(), 2);
        drop(a.try_recv().unwrap()); // a clone
        assert_eq!(drops.load(SeqCst), 1);
        drop(b.try_recv().unwrap()); // the original, taken by the last reader
        assert_eq!(drops.load(SeqCst), 2);
        assert_eq!(tx.len(), 1, "the first value is freed");
        drop(a); // b still needs the second
        assert_eq!(drops.load(SeqCst), 2);
        drop(b);
        assert_eq!(drops.load(SeqCst), 3, "the last receiver's drop frees the rest");
        assert!(tx.is_empty());
    }

    #[test]
    fn new_receivers_skip_the_backlog_and_count_towards_new_values() {
        let (tx, mut a) = channel(4);
        tx.send(1).unwrap();
        let mut b = a.resubscribe();
        assert_eq!(b.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.send(2), Ok(2));
        assert_eq!(a.try_recv(), Ok(1));
        assert_eq!(a.try_recv(), Ok(2));
        assert_eq!(b.try_recv(), Ok(2));
        assert!(a.same_channel(&b));
    }

    #[test]
    fn closed_after_draining() {
        let (tx, mut rx) = channel(2);
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        assert!(!rx.is_closed());
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    #[test]
    fn waiting_receivers_all_wake_on_send() {
        crate::block_on(async {
            let (tx, rx) = channel::<u32>(4);
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let mut rx = rx.resubscribe();
                    crate::spawn(async move { rx.recv().await })
                })
                .collect();
            drop(rx);
            crate::yield_now().await;
            assert_eq!(tx.send(7), Ok(3));
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(7));
            }
        });
    }

    #[test]
    fn dropped_recv_leaves_the_wait_list() {
        let (tx, mut rx) = channel::<u8>(1);
        {
            let mut recv = rx.recv();
            let waker = Waker::noop();
            assert!(Pin::new(&mut recv).poll(&mut Context::from_waker(waker)).is_pending());
            assert_eq!(tx.shared.lock().waiters.len(), 1);
        }
        assert_eq!(tx.shared.lock().waiters.len(), 0);
        tx.send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
    }
}
