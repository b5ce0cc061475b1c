//! [`AtomicWaker`]: the runtime's one wake slot. A registrant and a waker
//! may use it from different threads, without a mutex.
//!
//! A two-bit lock in `state`: `REGISTERING` is held while the registrant
//! writes the slot, `WAKING` while the waker takes it. Whoever finds the
//! other's bit set backs off and makes sure the wake is not lost: a waker
//! that finds `REGISTERING` leaves `WAKING` set for the registrant to see,
//! and a registrant that sees `WAKING` when it unlocks wakes the task itself.
//! A third bit, `FULL`, says the slot holds a waker.

use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::task::Waker;

use crate::loom::{AtomicU8, UnsafeCell};

/// Nobody holds the slot.
const IDLE: u8 = 0;
/// The registrant is writing the slot.
const REGISTERING: u8 = 1;
/// A waker is taking the slot (or asked the registrant to wake).
const WAKING: u8 = 2;
/// The slot holds a waker. Changed only by the holder of the lock bits.
const FULL: u8 = 4;

/// A slot for one task's [`Waker`](std::task::Waker), filled by the task that waits and
/// emptied by whoever completes what it waits for, on any thread.
///
/// The waiting side calls [`AtomicWaker::register`] and *then* checks its
/// condition; the completing side makes the condition true and *then*
/// calls [`AtomicWaker::wake`]. Either the waiter sees the condition, or the
/// completer finds the waker: a wake-up is never lost. The reactor keeps
/// one per fd and direction; oneshot channels and the blocking pool use it
/// for their single waiter.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::task::Poll;
/// use runtime::task::AtomicWaker;
///
/// struct Flag { set: AtomicBool, waker: AtomicWaker }
/// let flag = Arc::new(Flag { set: AtomicBool::new(false), waker: AtomicWaker::new() });
/// let setter = flag.clone();
/// runtime::block_on(async move {
///     std::thread::spawn(move || {
///         setter.set.store(true, Ordering::Release);
///         setter.waker.wake();
///     });
///     std::future::poll_fn(|cx| {
///         flag.waker.register(cx.waker());
///         if flag.set.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
///     })
///     .await;
/// });
/// ```
pub struct AtomicWaker {
    state: AtomicU8,
    /// Written only by the holder of `REGISTERING`, taken only by the holder of `WAKING`.
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the slot is only accessed by whoever holds the state's lock bit,
// and `Waker` is `Send + Sync`.
unsafe impl Send for AtomicWaker {}
// SAFETY: as above.
unsafe impl Sync for AtomicWaker {}

impl Default for AtomicWaker {
    fn default() -> AtomicWaker {
        AtomicWaker::new()
    }
}

impl AtomicWaker {
    /// An empty slot.
    pub fn new() -> AtomicWaker {
        AtomicWaker { state: AtomicU8::new(IDLE), waker: UnsafeCell::new(None) }
    }

    /// Stores `waker` to be woken by the next [`AtomicWaker::wake`] (or
    /// handed out by [`AtomicWaker::take`]). If a wake runs concurrently,
    /// `waker` is woken at once instead. Only one task should register in
    /// a given slot; a second registration replaces the first.
    pub fn register(&self, waker: &Waker) {
        self.store(waker, true);
    }

    /// Like [`AtomicWaker::register`], but leaves another task's waker in
    /// place: false (nothing stored) if the slot holds a waker that would
    /// not wake `waker`'s task. The reactor uses it to keep its first
    /// waiter inline and queue the others.
    #[inline]
    pub(crate) fn register_if_vacant(&self, waker: &Waker) -> bool {
        self.store(waker, false)
    }

    fn store(&self, waker: &Waker, replace: bool) -> bool {
        let mut curr = self.state.load(Acquire);
        loop {
            if curr & (REGISTERING | WAKING) != 0 {
                // A take is in progress and may have missed our new waker
                // (or, misuse, another registration): make the task poll again.
                waker.wake_by_ref();
                return true;
            }
            match self.state.compare_exchange_weak(curr, REGISTERING, Acquire, Acquire) {
                Ok(_) => break,
                Err(actual) => curr = actual,
            }
        }
        let stored = self.waker.with_mut(|slot| {
            // SAFETY: we hold REGISTERING, so nobody else touches the slot.
            let slot = unsafe { &mut *slot };
            match slot {
                Some(w) if w.will_wake(waker) => true,
                Some(_) if !replace => false,
                _ => {
                    *slot = Some(waker.clone());
                    true
                }
            }
        });
        // The slot holds a waker either way (ours, or the one we left).
        if self.state.compare_exchange(REGISTERING, FULL, AcqRel, Acquire).is_err() {
            // A take arrived while we held the slot and set WAKING without
            // taking: deliver its wake ourselves.
            // SAFETY: REGISTERING is still ours (only we clear it).
            let taken = self.waker.with_mut(|slot| unsafe { (*slot).take() });
            self.state.store(IDLE, Release);
            if let Some(w) = taken {
                w.wake();
            }
        }
        stored
    }

    /// Wakes the registered waker, if any, and empties the slot.
    pub fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    /// Takes the stored waker, if any, for the caller to wake.
    ///
    /// Always a read-modify-write: a plain load could miss a registration
    /// whose own re-check of readiness misses our event (store buffering).
    #[inline]
    pub fn take(&self) -> Option<Waker> {
        let prev = self.state.fetch_or(WAKING, AcqRel);
        if prev & (REGISTERING | WAKING) != 0 {
            // The registrant holds the slot and delivers the wake when it
            // sees WAKING; or another take holds it and delivers.
            return None;
        }
        // SAFETY: we set WAKING on an unlocked state, so we hold the slot.
        let waker = self.waker.with_mut(|slot| unsafe { (*slot).take() });
        self.state.store(IDLE, Release);
        waker
    }
}

impl fmt::Debug for AtomicWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicWaker").field("state", &self.state.load(Acquire)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn register_then_take() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let aw = AtomicWaker::new();
        assert!(aw.take().is_none());
        aw.register(&Waker::from(count.clone()));
        aw.take().expect("registered").wake();
        assert!(aw.take().is_none(), "taken once");
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn concurrent_takes_never_lose_a_registration() {
        // Each round: register, then a racing thread takes. The wake must
        // arrive exactly once per round (either via take or the fallback).
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let aw = Arc::new(AtomicWaker::new());
        for round in 1..=2000 {
            let aw2 = aw.clone();
            let t = std::thread::spawn(move || {
                if let Some(w) = aw2.take() {
                    w.wake();
                }
            });
            aw.register(&Waker::from(count.clone()));
            t.join().unwrap();
            if let Some(w) = aw.take() {
                w.wake();
            }
            assert!(count.0.load(Ordering::SeqCst) >= round);
        }
    }
}
