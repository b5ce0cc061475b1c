//! The join-waker slot: how a `JoinHandle` parks its waker in the task and
//! how the runtime wakes it at completion, without a lock.
//!
//! The slot is guarded by the `JOIN_WAKER` bit of the task state (see
//! `state.rs`): while it is clear only the handle may write the slot;
//! while it is set only the runtime may read it, and only at completion.
//! The handle clears the bit before replacing the waker, which fails once
//! `COMPLETE` is set, so the two never touch the slot at the same time.

use std::task::Waker;

use super::state::{Snapshot, State};
use crate::loom::UnsafeCell;

/// The waker of the task awaiting a `JoinHandle`.
#[derive(Debug)]
pub(crate) struct JoinWaker {
    slot: UnsafeCell<Option<Waker>>,
}

impl JoinWaker {
    pub(crate) fn new() -> JoinWaker {
        JoinWaker { slot: UnsafeCell::new(None) }
    }

    /// Handle side: true if the task is complete and the output can be
    /// read; otherwise `waker` is stored and will be woken at completion.
    pub(crate) fn register(&self, state: &State, waker: &Waker) -> bool {
        let snapshot = state.load();
        if snapshot.is_complete() {
            return true;
        }
        let res = if snapshot.has_join_waker() {
            // SAFETY: JOIN_WAKER is set: the slot holds a waker and only shared reads happen.
            let same = self.slot.with(|p| unsafe { (*p).as_ref() }.is_some_and(|w| w.will_wake(waker)));
            if same {
                return false;
            }
            state.unset_join_waker().and_then(|_| self.store(state, waker))
        } else {
            self.store(state, waker)
        };
        match res {
            Ok(()) => false,
            Err(snapshot) => {
                debug_assert!(snapshot.is_complete());
                true
            }
        }
    }

    /// Writes the slot (JOIN_WAKER is clear, so it is ours) and publishes it.
    fn store(&self, state: &State, waker: &Waker) -> Result<(), Snapshot> {
        // SAFETY: JOIN_WAKER is clear and only the handle sets it.
        self.slot.with_mut(|p| unsafe { *p = Some(waker.clone()) });
        match state.set_join_waker() {
            Ok(_) => Ok(()),
            Err(s) => {
                // Completed meanwhile; the runtime saw no JOIN_WAKER and will not read the slot.
                // SAFETY: as above.
                self.slot.with_mut(|p| unsafe { *p = None });
                Err(s)
            }
        }
    }

    /// Runtime side, right after setting `COMPLETE` (which returned `prev`):
    /// wakes the handle's task if it registered.
    pub(crate) fn wake(&self, prev: Snapshot) {
        if prev.has_join_interest() && prev.has_join_waker() {
            self.slot.with(|p| {
                // SAFETY: JOIN_WAKER was set when COMPLETE was, so the handle
                // can no longer write the slot; shared reads of a `Waker` are fine.
                let waker = unsafe { &*p };
                if let Some(w) = waker {
                    w.wake_by_ref();
                }
            });
        }
    }

    /// Handle side, when it is dropped: gives up its interest. True if the
    /// task had already completed (the handle must then drop the output).
    pub(crate) fn release(&self, state: &State) -> bool {
        match state.drop_join_interest() {
            Ok(_) => {
                // Not complete: with JOIN_WAKER cleared the slot is ours.
                // SAFETY: see above.
                let waker = self.slot.with_mut(|p| unsafe { (*p).take() });
                drop(waker);
                false
            }
            Err(_) => true,
        }
    }
}

// SAFETY: the slot is only accessed under the JOIN_WAKER protocol above, and `Waker` is Send + Sync.
unsafe impl Send for JoinWaker {}
// SAFETY: as above.
unsafe impl Sync for JoinWaker {}
