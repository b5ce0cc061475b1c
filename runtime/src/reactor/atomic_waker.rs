//! [`AtomicWaker`]: one waker slot that a registrant and a waker may use
//! from different threads, without a mutex.
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

/// A waker slot shared between one registering task and the reactor.
pub(crate) struct AtomicWaker {
    state: AtomicU8,
    /// Written only by the holder of `REGISTERING`, taken only by the holder of `WAKING`.
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the slot is only accessed by whoever holds the state's lock bit,
// and `Waker` is `Send + Sync`.
unsafe impl Send for AtomicWaker {}
// SAFETY: as above.
unsafe impl Sync for AtomicWaker {}

impl AtomicWaker {
    pub(crate) fn new() -> AtomicWaker {
        AtomicWaker { state: AtomicU8::new(IDLE), waker: UnsafeCell::new(None) }
    }

    /// Stores `waker` to be woken by the next [`AtomicWaker::take`]. If a
    /// take runs concurrently, `waker` is woken at once instead.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut curr = self.state.load(Acquire);
        loop {
            if curr & (REGISTERING | WAKING) != 0 {
                // A take is in progress and may have missed our new waker
                // (or, misuse, another registration): make the task poll again.
                waker.wake_by_ref();
                return;
            }
            match self.state.compare_exchange_weak(curr, REGISTERING, Acquire, Acquire) {
                Ok(_) => break,
                Err(actual) => curr = actual,
            }
        }
        self.waker.with_mut(|slot| {
            // SAFETY: we hold REGISTERING, so nobody else touches the slot.
            let slot = unsafe { &mut *slot };
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        });
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
    }

    /// Takes the stored waker, if any, for the caller to wake.
    ///
    /// Always a read-modify-write: a plain load could miss a registration
    /// whose own re-check of readiness misses our event (store buffering).
    #[inline]
    pub(crate) fn take(&self) -> Option<Waker> {
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
    use crate::reactor::Count;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

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
