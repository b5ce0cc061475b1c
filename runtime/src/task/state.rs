//! The task state word: flag bits and a reference count in one `AtomicUsize`.
//!
//! ```text
//!  usize::BITS-1 ............ 6   5   4            3              2          1          0
//! +----------------------------+---+------------+--------------+----------+----------+-----------+
//! |         ref count          | - | JOIN_WAKER | JOIN_INTEREST| CANCELLED| COMPLETE | SCHEDULED |
//! +----------------------------+---+------------+--------------+----------+----------+-----------+
//! ```
//!
//! Every transition is one atomic operation (a `fetch_*` or a CAS loop), so
//! wakers may race from any thread while the runtime thread polls.

use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use crate::loom::AtomicUsize;

/// The task sits in a run queue (local or injection). Set by a wake, cleared
/// by the runtime just before it polls the task. While set, further wakes do
/// nothing: a task woken many times before it runs is queued once.
pub(crate) const SCHEDULED: usize = 1 << 0;
/// The future finished (or was dropped by `abort`/shutdown) and the stage
/// holds the output or nothing. Terminal: no bit but the reference count and
/// the join bits changes afterwards, and the future is never polled again.
pub(crate) const COMPLETE: usize = 1 << 1;
/// `abort()` was called: the next run drops the future instead of polling it.
pub(crate) const CANCELLED: usize = 1 << 2;
/// A `JoinHandle` exists. If set at completion the handle, not the runtime,
/// takes and drops the output.
pub(crate) const JOIN_INTEREST: usize = 1 << 3;
/// The join-waker slot holds a waker. While set only the runtime may read the
/// slot (to wake it at completion) and nobody may write it; the handle clears
/// the bit (which fails once `COMPLETE` is set) before replacing the waker.
pub(crate) const JOIN_WAKER: usize = 1 << 4;

const REF_SHIFT: u32 = 6;
/// One reference: held by each `Waker`, the `JoinHandle`, the runtime's task
/// list and a run-queue entry.
pub(crate) const REF_ONE: usize = 1 << REF_SHIFT;

/// A new task: referenced by the task list, the run queue and its
/// `JoinHandle`; already scheduled (it is pushed on the run queue at spawn).
const INITIAL: usize = (3 * REF_ONE) | SCHEDULED | JOIN_INTEREST;

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn is_scheduled(self) -> bool {
        self.0 & SCHEDULED != 0
    }
    pub(crate) fn has_join_interest(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn has_join_waker(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("scheduled", &self.is_scheduled())
            .field("complete", &self.is_complete())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.has_join_interest())
            .field("join_waker", &self.has_join_waker())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// The atomic state word of one task.
pub(crate) struct State(AtomicUsize);

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

impl State {
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(INITIAL))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// CAS loop: `f` returns the next value or `None` to give up.
    fn update(&self, mut f: impl FnMut(Snapshot) -> Option<usize>) -> Result<Snapshot, Snapshot> {
        let mut curr = self.0.load(Acquire);
        loop {
            let Some(next) = f(Snapshot(curr)) else { return Err(Snapshot(curr)) };
            match self.0.compare_exchange_weak(curr, next, AcqRel, Acquire) {
                Ok(_) => return Ok(Snapshot(curr)),
                Err(actual) => curr = actual,
            }
        }
    }

    /// Adds a reference (a waker clone). Aborts on overflow like `Arc`.
    pub(crate) fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops a reference; true when it was the last one.
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = Snapshot(self.0.fetch_sub(REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= 1);
        prev.ref_count() == 1
    }

    /// Wake by reference: schedules unless already scheduled or complete, and
    /// then takes a new reference for the run-queue entry. True if the caller
    /// must enqueue the task.
    pub(crate) fn wake_by_ref(&self) -> bool {
        self.update(|s| if s.0 & (SCHEDULED | COMPLETE) != 0 { None } else { Some((s.0 | SCHEDULED) + REF_ONE) })
            .is_ok()
    }

    /// Wake by value: like [`State::wake_by_ref`] but the caller's reference
    /// moves to the run-queue entry. If the task need not be queued, the
    /// reference is dropped instead: returns `(enqueue, was_last_ref)`.
    pub(crate) fn wake_by_val(&self) -> (bool, bool) {
        match self.update(|s| if s.0 & (SCHEDULED | COMPLETE) != 0 { None } else { Some(s.0 | SCHEDULED) }) {
            Ok(_) => (true, false),
            Err(_) => (false, self.ref_dec()),
        }
    }

    /// Called by the runtime right before polling: clears `SCHEDULED` so a
    /// wake during the poll queues the task again. Returns the previous state.
    pub(crate) fn start_run(&self) -> Snapshot {
        Snapshot(self.0.fetch_and(!SCHEDULED, AcqRel))
    }

    /// Marks the task complete; returns the previous state. Release orders
    /// the output's write before a handle's Acquire load sees `COMPLETE`.
    pub(crate) fn complete(&self) -> Snapshot {
        Snapshot(self.0.fetch_or(COMPLETE, AcqRel))
    }

    /// Requests cancellation. True if the caller must enqueue the task (and
    /// then holds a new reference for the queue entry).
    pub(crate) fn cancel(&self) -> bool {
        let mut enqueue = false;
        let _ = self.update(|s| {
            if s.is_complete() || s.is_cancelled() {
                return None;
            }
            enqueue = !s.is_scheduled();
            Some(if enqueue { (s.0 | CANCELLED | SCHEDULED) + REF_ONE } else { s.0 | CANCELLED })
        });
        enqueue
    }

    /// The handle is dropped: clears `JOIN_INTEREST` and `JOIN_WAKER`
    /// unless the task already completed (then `Err`, and the handle must
    /// drop the output itself).
    pub(crate) fn drop_join_interest(&self) -> Result<Snapshot, Snapshot> {
        self.update(|s| if s.is_complete() { None } else { Some(s.0 & !(JOIN_INTEREST | JOIN_WAKER)) })
    }

    /// Publishes the join waker the handle just wrote. Fails once complete.
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.update(|s| if s.is_complete() { None } else { Some(s.0 | JOIN_WAKER) })
    }

    /// Takes the join-waker slot back for writing. Fails once complete.
    pub(crate) fn unset_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.update(|s| if s.is_complete() { None } else { Some(s.0 & !JOIN_WAKER) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_queues_once() {
        let s = State::new();
        assert!(!s.wake_by_ref(), "a new task is already scheduled");
        s.start_run();
        assert!(s.wake_by_ref());
        assert!(!s.wake_by_ref());
        assert_eq!(s.load().ref_count(), 4);
    }

    #[test]
    fn complete_is_terminal_for_wakes_and_cancel() {
        let s = State::new();
        s.start_run();
        s.complete();
        assert!(!s.wake_by_ref());
        assert!(!s.cancel());
        assert!(s.drop_join_interest().is_err());
        assert!(s.set_join_waker().is_err());
    }

    #[test]
    fn cancel_schedules_an_idle_task() {
        let s = State::new();
        s.start_run();
        assert!(s.cancel());
        assert!(s.load().is_cancelled() && s.load().is_scheduled());
        assert!(!s.cancel(), "second abort is a no-op");
    }

    #[test]
    fn debug_decodes_bits() {
        let text = format!("{:?}", State::new());
        assert!(text.contains("scheduled: true") && text.contains("refs: 3"), "{text}");
    }
}
