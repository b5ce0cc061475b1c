//! The injection queue: tasks woken on other threads wait here until the
//! runtime thread moves them to its run queue, and the flag that decides
//! when the poller must be woken to notice them.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::PoisonError;

use crate::loom::{AtomicBool, Mutex};

/// A queue filled from any thread and drained by the runtime thread.
#[derive(Debug)]
pub(crate) struct Injector<T> {
    queue: Mutex<Vec<T>>,
    /// Hint that `queue` is non-empty, checked without the lock.
    injected: AtomicBool,
    /// A poller wake-up is pending: further pushes need not send another.
    notified: AtomicBool,
}

impl<T> Injector<T> {
    pub(crate) fn new() -> Injector<T> {
        Injector { queue: Mutex::new(Vec::new()), injected: AtomicBool::new(false), notified: AtomicBool::new(false) }
    }

    /// Queues `item`. True if the caller must wake the poller.
    ///
    /// All flag operations here and in `clear_notified`/`take` are SeqCst:
    /// the pusher writes `injected` then reads `notified`, the loop writes
    /// `notified` then reads `injected` (the store-buffering shape). With
    /// weaker orderings both could miss the other's write: the pusher would
    /// skip the wake-up and the loop would park with a task in the queue.
    pub(crate) fn push(&self, item: T) -> bool {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push(item);
        self.injected.store(true, SeqCst);
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
        if !self.injected.swap(false, SeqCst) {
            return Vec::new();
        }
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// True if something may be queued.
    pub(crate) fn has_items(&self) -> bool {
        self.injected.load(SeqCst)
    }
}
