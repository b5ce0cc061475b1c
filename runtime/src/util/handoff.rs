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

/// A queue filled from any thread and drained by one loop thread, until
/// the loop closes it.
#[derive(Debug)]
pub(crate) struct Handoff<T> {
    /// The items, and whether the queue is closed (then pushes are refused:
    /// nobody would take them). One lock for both, so a push and a close
    /// never cross: an item is either taken by `close` or handed back.
    queue: Mutex<(Vec<T>, bool)>,
    /// Hint that `queue` is non-empty, checked without the lock.
    pending: AtomicBool,
    /// A poller wake-up is pending: further pushes need not send another.
    notified: AtomicBool,
}

impl<T> Handoff<T> {
    pub(crate) fn new() -> Handoff<T> {
        Handoff {
            queue: Mutex::new((Vec::new(), false)),
            pending: AtomicBool::new(false),
            notified: AtomicBool::new(false),
        }
    }

    /// Queues `item`: `Ok(true)` if the caller must wake the loop's poller
    /// (a queue whose loop need not wake, like timer cancellations, ignores
    /// it); `Err(item)` if the queue is closed, for the caller to dispose of.
    ///
    /// All flag operations here and in `clear_notified`/`take` are SeqCst:
    /// the pusher writes `pending` then reads `notified`, the loop writes
    /// `notified` then reads `pending` (the store-buffering shape). With
    /// weaker orderings both could miss the other's write: the pusher would
    /// skip the wake-up and the loop would park with an item in the queue.
    pub(crate) fn push(&self, item: T) -> Result<bool, T> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.1 {
            return Err(item);
        }
        queue.0.push(item);
        drop(queue);
        self.pending.store(true, SeqCst);
        Ok(self.request_notify())
    }

    /// Closes the queue (later pushes are refused) and takes what is in it.
    pub(crate) fn close(&self) -> Vec<T> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.1 = true;
        self.pending.store(false, SeqCst);
        std::mem::take(&mut queue.0)
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
        std::mem::take(&mut self.queue.lock().unwrap_or_else(PoisonError::into_inner).0)
    }

    /// True if something may be queued.
    pub(crate) fn has_items(&self) -> bool {
        self.pending.load(SeqCst)
    }
}
