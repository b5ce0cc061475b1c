//! A single-producer, multi-consumer channel that holds only the latest
//! value: receivers wait for *changes*, not for every value.
//!
//! [`channel`] makes a [`Sender`] and a [`Receiver`] (clone it for more).
//! The channel keeps a version number that every send bumps. Each receiver
//! remembers the version it has seen: [`Receiver::changed`] waits until the
//! version differs and marks it seen, [`Receiver::borrow_and_update`] reads
//! the value and marks it seen, [`Receiver::borrow`] just reads it. Values
//! in between are skipped; a receiver always sees the latest.
//!
//! ```
//! use runtime::sync::watch;
//!
//! runtime::block_on(async {
//!     let (tx, mut rx) = watch::channel("starting");
//!     let watcher = runtime::spawn(async move {
//!         let mut seen = vec![*rx.borrow_and_update()];
//!         while rx.changed().await.is_ok() {
//!             seen.push(*rx.borrow_and_update());
//!         }
//!         seen // the sender is gone
//!     });
//!     runtime::yield_now().await;
//!     tx.send("running").unwrap();
//!     runtime::yield_now().await;
//!     tx.send_replace("done");
//!     drop(tx);
//!     let seen = watcher.await.unwrap();
//!     assert_eq!(seen.first(), Some(&"starting"));
//!     assert_eq!(seen.last(), Some(&"done"));
//! });
//! ```
//!
//! # Design
//!
//! The value and its version sit together in a std `RwLock`, so a reader
//! always learns the version of the value it looks at; borrows are read
//! guards (hold them briefly: a send waits for them). The closed flag and
//! the receiver count are atomics. Waiting uses two [`Notify`]s: receivers
//! wait on `changed` (a send calls `notify_waiters` after updating the
//! value), the sender's [`Sender::closed`] waits on `rx_gone`. A waiter
//! creates its `Notified` *before* checking the state, and `notify_waiters`
//! completes every `Notified` created before it, so no wake-up is lost.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};

use super::notify::{Notified, Notify};
use crate::loom::{AtomicBool, AtomicUsize};

/// Creates a watch channel holding `init`, which receivers start out
/// having seen.
///
/// ```
/// use runtime::sync::watch;
/// let (tx, rx) = watch::channel(1);
/// assert_eq!(*rx.borrow(), 1);
/// assert!(!rx.has_changed().unwrap());
/// tx.send(2).unwrap();
/// assert!(rx.has_changed().unwrap());
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(Versioned { value: init, version: 0 }),
        closed: AtomicBool::new(false),
        receivers: AtomicUsize::new(1),
        changed: Notify::new(),
        rx_gone: Notify::new(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, version: 0 })
}

struct Shared<T> {
    value: RwLock<Versioned<T>>,
    /// The sender is gone.
    closed: AtomicBool,
    receivers: AtomicUsize,
    /// Receivers waiting in `changed`.
    changed: Notify,
    /// The sender waiting in `closed`.
    rx_gone: Notify,
}

struct Versioned<T> {
    value: T,
    /// Bumped by every send, under the write lock.
    version: u64,
}

impl<T> Shared<T> {
    fn read(&self) -> RwLockReadGuard<'_, Versioned<T>> {
        // A panic in `send_modify`'s closure poisons the lock; the value is
        // whatever the closure left, as documented there.
        self.value.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn version(&self) -> u64 {
        self.read().version
    }

    /// Runs `modify` on the value under the write lock; bumps the version
    /// and wakes the receivers if it returns true.
    fn modify(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let mut v = self.value.write().unwrap_or_else(PoisonError::into_inner);
        if !modify(&mut v.value) {
            return false;
        }
        v.version += 1;
        drop(v);
        self.changed.notify_waiters();
        true
    }
}

/// The sending half; see [`channel`].
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half; see [`channel`]. Clones start out having seen what
/// the original has seen.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version this receiver has seen.
    version: u64,
}

/// A read borrow of the channel's value, from [`Receiver::borrow`] and
/// friends. Sends wait while it is held: keep it short, and never hold it
/// across an `.await`.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, Versioned<T>>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value was new to the receiver when borrowed (always
    /// false for [`Sender::borrow`]).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// [`Sender::send`] found no receiver; the value is inside.
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

/// The sender is gone (and, for [`Receiver::changed`], the receiver has
/// seen its last value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed: the sender was dropped")
    }
}

impl Error for RecvError {}

impl<T> Sender<T> {
    /// Replaces the value and notifies the receivers; fails (handing the
    /// value back, the channel unchanged) if there are none.
    ///
    /// ```
    /// use runtime::sync::watch;
    /// let (tx, rx) = watch::channel(0);
    /// assert!(tx.send(1).is_ok());
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// assert_eq!(*tx.borrow(), 1);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.receiver_count() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value whether or not anyone receives, notifies the
    /// receivers, and returns the old value.
    ///
    /// ```
    /// use runtime::sync::watch;
    /// let (tx, _) = watch::channel(1);
    /// assert_eq!(tx.send_replace(2), 1);
    /// assert_eq!(*tx.borrow(), 2);
    /// ```
    pub fn send_replace(&self, mut value: T) -> T {
        self.shared.modify(|old| {
            std::mem::swap(old, &mut value);
            true
        });
        value
    }

    /// Modifies the value in place (whether or not anyone receives) and
    /// notifies the receivers.
    ///
    /// If `modify` panics, the panic propagates, the value is left as the
    /// closure left it, and receivers are not notified.
    ///
    /// ```
    /// use runtime::sync::watch;
    /// let (tx, rx) = watch::channel(vec![1]);
    /// tx.send_modify(|v| v.push(2));
    /// assert!(rx.has_changed().unwrap());
    /// assert_eq!(*rx.borrow(), [1, 2]);
    /// ```
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.shared.modify(|v| {
            modify(v);
            true
        });
    }

    /// Like [`Sender::send_modify`], but receivers are notified (and the
    /// version bumped) only if `modify` returns true. Returns that result.
    ///
    /// ```
    /// use runtime::sync::watch;
    /// let (tx, rx) = watch::channel(5);
    /// assert!(!tx.send_if_modified(|v| std::mem::replace(v, 5) != 5));
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        self.shared.modify(modify)
    }

    /// Borrows the current value (see [`Ref`] on holding it).
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref { guard: self.shared.read(), has_changed: false }
    }

    /// A new receiver that has seen the current value.
    ///
    /// ```
    /// use runtime::sync::watch;
    /// let (tx, rx) = watch::channel(0);
    /// drop(rx);
    /// let rx = tx.subscribe(); // sends work again
    /// tx.send(1).unwrap();
    /// assert_eq!(*rx.borrow(), 1);
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, SeqCst);
        Receiver { shared: self.shared.clone(), version: self.shared.version() }
    }

    /// Receivers now.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(SeqCst)
    }

    /// True when there are no receivers.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until every receiver is gone.
    ///
    /// ```
    /// use runtime::sync::watch;
    /// runtime::block_on(async {
    ///     let (tx, rx) = watch::channel(());
    ///     std::thread::spawn(move || drop(rx));
    ///     tx.closed().await;
    ///     assert!(tx.is_closed());
    /// });
    /// ```
    pub fn closed(&self) -> Closed<'_, T> {
        Closed { shared: &self.shared, notified: self.shared.rx_gone.notified() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, SeqCst);
        self.shared.changed.notify_waiters();
    }
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen (see [`Ref`] on
    /// holding it).
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.read();
        let has_changed = guard.version != self.version;
        Ref { guard, has_changed }
    }

    /// Borrows the current value and marks it seen.
    ///
    /// ```
    /// use runtime::sync::watch;
    /// let (tx, mut rx) = watch::channel(0);
    /// tx.send(1).unwrap();
    /// let v = rx.borrow_and_update();
    /// assert!(v.has_changed());
    /// assert_eq!(*v, 1);
    /// drop(v);
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.read();
        let has_changed = guard.version != self.version;
        self.version = guard.version;
        Ref { guard, has_changed }
    }

    /// Whether a value this receiver has not seen was sent; an error once
    /// the sender is gone (whatever was seen).
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if self.shared.closed.load(SeqCst) {
            return Err(RecvError(()));
        }
        Ok(self.shared.version() != self.version)
    }

    /// Marks the current value unseen: the next `changed()` returns at once.
    pub fn mark_changed(&mut self) {
        self.version = self.shared.version().wrapping_sub(1);
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.version = self.shared.version();
    }

    /// Waits for a value this receiver has not seen, and marks it seen
    /// (read it with [`Receiver::borrow`]). Returns at once if one is
    /// already there. Fails once the sender is gone and the latest value
    /// has been seen.
    ///
    /// Cancel safety: dropping the future marks nothing seen.
    ///
    /// ```
    /// use runtime::sync::watch;
    /// runtime::block_on(async {
    ///     let (tx, mut rx) = watch::channel(0);
    ///     std::thread::spawn(move || tx.send(1).unwrap());
    ///     rx.changed().await.unwrap();
    ///     assert_eq!(*rx.borrow(), 1);
    ///     assert!(rx.changed().await.is_err()); // sender gone
    /// });
    /// ```
    pub fn changed(&mut self) -> Changed<'_, T> {
        let Receiver { shared, version } = self;
        let shared: &Shared<T> = shared;
        Changed { notified: shared.changed.notified(), shared, version }
    }

    /// True if both handles belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, SeqCst);
        Receiver { shared: self.shared.clone(), version: self.version }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, SeqCst) == 1 {
            self.shared.rx_gone.notify_waiters();
        }
    }
}

/// Future of [`Receiver::changed`].
#[must_use = "futures do nothing unless awaited"]
pub struct Changed<'a, T> {
    shared: &'a Shared<T>,
    version: &'a mut u64,
    /// Created before each check of the version, so a send in between
    /// completes it.
    notified: Notified<'a>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        crate::task::budget::cooperate(cx, |cx| {
            let this = self.get_mut();
            loop {
                let current = this.shared.version();
                if current != *this.version {
                    *this.version = current;
                    return Poll::Ready(Ok(()));
                }
                if this.shared.closed.load(SeqCst) {
                    return Poll::Ready(Err(RecvError(())));
                }
                if Pin::new(&mut this.notified).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.notified = this.shared.changed.notified();
            }
        })
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed").field("seen_version", &*self.version).finish()
    }
}

/// Future of [`Sender::closed`].
#[must_use = "futures do nothing unless awaited"]
pub struct Closed<'a, T> {
    shared: &'a Shared<T>,
    notified: Notified<'a>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.shared.receivers.load(SeqCst) == 0 {
                return Poll::Ready(());
            }
            if Pin::new(&mut this.notified).poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.notified = this.shared.rx_gone.notified();
        }
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed").finish_non_exhaustive()
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender").field("value", &*self.borrow()).finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver").field("value", &*self.borrow()).field("seen", &self.version).finish()
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Sender<Vec<u8>>>();
    send_sync::<Receiver<Vec<u8>>>();
    send_sync::<Changed<'static, Vec<u8>>>();
    send_sync::<Closed<'static, Vec<u8>>>();
    // Like a std read guard (and tokio's `Ref`), a borrow is `Sync` but
    // stays on the thread that took it.
    const fn sync<T: Sync>() {}
    sync::<Ref<'static, Vec<u8>>>();
    send_sync::<SendError<Vec<u8>>>();
    send_sync::<RecvError>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn changed_sees_sends_made_between_creation_and_poll() {
        let (tx, mut rx) = channel(0);
        let mut changed = rx.changed();
        assert!(poll(&mut changed).is_pending());
        tx.send(1).unwrap();
        assert_eq!(poll(&mut changed), Poll::Ready(Ok(())));
        drop(changed);
        assert!(!rx.has_changed().unwrap());
        assert!(poll(&mut rx.changed()).is_pending());
    }

    #[test]
    fn unseen_value_survives_the_sender() {
        let (tx, mut rx) = channel(0);
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.has_changed(), Err(RecvError(())));
        assert_eq!(poll(&mut rx.changed()), Poll::Ready(Ok(())));
        assert_eq!(poll(&mut rx.changed()), Poll::Ready(Err(RecvError(()))));
        assert_eq!(*rx.borrow(), 1);
    }

    #[test]
    fn clones_share_what_was_seen_and_mark_works() {
        let (tx, mut rx) = channel(0);
        tx.send(1).unwrap();
        let mut rx2 = rx.clone();
        assert!(rx2.has_changed().unwrap());
        rx.mark_unchanged();
        assert!(!rx.has_changed().unwrap());
        rx.mark_changed();
        assert!(rx.borrow().has_changed());
        assert!(rx2.borrow_and_update().has_changed());
        assert!(!rx2.borrow().has_changed());
        assert!(!tx.borrow().has_changed());
        assert!(rx.same_channel(&rx2));
    }

    #[test]
    fn send_if_modified_only_bumps_when_told() {
        let (tx, rx) = channel(1);
        assert!(!tx.send_if_modified(|_| false));
        assert!(!rx.has_changed().unwrap());
        assert!(tx.send_if_modified(|v| {
            *v = 2;
            true
        }));
        assert!(rx.has_changed().unwrap());
    }

    #[test]
    fn closed_waits_for_the_last_receiver() {
        let (tx, rx) = channel(());
        let rx2 = rx.clone();
        assert_eq!(tx.receiver_count(), 2);
        let mut closed = tx.closed();
        assert!(poll(&mut closed).is_pending());
        drop(rx);
        assert!(poll(&mut closed).is_pending());
        drop(rx2);
        assert!(poll(&mut closed).is_ready());
        assert!(tx.send(()).is_err());
        assert_eq!(tx.send_replace(()), (), "send_replace works without receivers");
    }

    #[test]
    fn panicking_modify_does_not_notify_or_wedge() {
        let (tx, rx) = channel(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tx.send_modify(|v| {
                *v = 2;
                panic!("boom");
            })
        }));
        assert!(r.is_err());
        assert!(!rx.has_changed().unwrap());
        assert_eq!(*rx.borrow(), 2, "left as the closure left it");
        tx.send(3).unwrap();
        assert_eq!(*rx.borrow(), 3);
    }

    #[test]
    fn thread_sender_wakes_a_task() {
        let (tx, mut rx) = channel(0u32);
        crate::block_on(async move {
            let t = std::thread::spawn(move || {
                for i in 1..=100 {
                    tx.send(i).unwrap();
                }
            });
            let mut last = 0;
            while rx.changed().await.is_ok() {
                let v = *rx.borrow_and_update();
                assert!(v > last, "versions only move forward");
                last = v;
            }
            assert_eq!(last, 100);
            t.join().unwrap();
        });
    }
}
