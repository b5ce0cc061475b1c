//! [`Handoff`]: the one cross-thread hand-off queue of the runtime.
//!
//! Any thread pushes; one loop thread takes everything at once. It carries
//! tasks woken on other threads to their loop, and timers dropped on other
//! threads to the store that must forget them. A second flag, `notified`,
//! lets a pusher learn whether it must wake the loop's poller, so a burst
//! of pushes costs one wake-up.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::PoisonError;

use crate::loom::{AtomicBool, Mutex};

/// A queue filled from any thread and drained by one loop thread.
#[derive(Debug)]
pub(crate) struct Handoff<T> {
    queue: Mutex<Vec<T>>,
    /// Hint that `queue` is non-empty, checked without the lock.
    pending: AtomicBool,
    /// A poller wake-up is pending: further pushes need not send another.
    notified: AtomicBool,
}

impl<T> Handoff<T> {
    pub(crate) fn new() -> Handoff<T> {
        Handoff { queue: Mutex::new(Vec::new()), pending: AtomicBool::new(false), notified: AtomicBool::new(false) }
    }

    /// Queues `item`. True if the caller must wake the loop's poller (a
    /// queue whose loop need not wake, like timer cancellations, ignores it).
    ///
    /// All flag operations here and in `clear_notified`/`take` are SeqCst:
    /// the pusher writes `pending` then reads `notified`, the loop writes
    /// `notified` then reads `pending` (the store-buffering shape). With
    /// weaker orderings both could miss the other's write: the pusher would
    /// skip the wake-up and the loop would park with an item in the queue.
    pub(crate) fn push(&self, item: T) -> bool {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push(item);
        self.pending.store(true, SeqCst);
        self.request_notify()
    }

    /// True if the caller must wake the poller (no wake-up is pending yet).
    pub(crate) fn request_notify(&self) -> bool {
        !self.notified.swap(true, SeqCst)
    }

    /// Loop side, before it drains: wake-ups sent so far have been seen
    /// (the poller returned), so later pushes must send a new one.
    pub(crate) fn clear_notified(&self) {
        if self.notified.load(SeqCst) {
            self.notified.store(false, SeqCst);
        }
    }

    /// Takes everything queued.
    pub(crate) fn take(&self) -> Vec<T> {
        if !self.pending.swap(false, SeqCst) {
            return Vec::new();
        }
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// True if something may be queued.
    pub(crate) fn has_items(&self) -> bool {
        self.pending.load(SeqCst)
    }
}
