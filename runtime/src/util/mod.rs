//! Building blocks, one of each kind: the generational [`slab::Slab`], the
//! cross-thread [`handoff::Handoff`] queue, the wake slot [`AtomicWaker`]
//! (public as `runtime::task::AtomicWaker`), a thread's reusable buffers
//! ([`spares::Spares`]); and [`wake_all`].

mod atomic_waker;
pub(crate) mod handoff;
pub(crate) mod slab;
pub(crate) mod spares;

pub use atomic_waker::AtomicWaker;

use std::panic::{self, AssertUnwindSafe};
use std::task::Waker;

/// Wakes each waker, in order, emptying `wakers`. A panicking (foreign)
/// waker does not unwind into the caller (a loop), and the wakers after it
/// are still woken.
pub(crate) fn wake_all(wakers: &mut Vec<Waker>) {
    wakers.reverse();
    while !wakers.is_empty() {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            while let Some(w) = wakers.pop() {
                w.wake();
            }
        }));
    }
}
