//! Tasks: the unit the schedulers run.
//!
//! A task is one heap allocation (`raw.rs`) holding a state word
//! (`state.rs`), the future and later its output, and a hook into the
//! scheduler that runs it: the `Schedule` trait is all a task knows of
//! that scheduler. Each poll runs with a budget (`budget.rs`): after 128
//! completed leaf operations the task yields, so one busy task cannot hold
//! the thread ([`consume_budget`], [`unconstrained`]). The public side is
//! [`JoinHandle`], [`AbortHandle`], [`JoinError`], [`yield_now`], and
//! [`AtomicWaker`], the runtime's one wake slot, which other futures use to
//! wait for a single event.

pub(crate) mod budget;
mod error;
mod join;
mod join_set;
pub(crate) mod raw;
pub(crate) mod state;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use crate::util::AtomicWaker;
pub use budget::{consume_budget, unconstrained, Unconstrained};
pub use error::JoinError;
pub use join::{AbortHandle, JoinHandle};
pub use join_set::{JoinNext, JoinSet};
pub(crate) use raw::{Notified, Task};

/// How a woken task reaches the scheduler that runs it: stored in every
/// task, called by its wakers and by `abort`, from any thread.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Queues `task` (one owned reference) to be run by this scheduler,
    /// on its thread. `task.scheduler()` is `self`.
    fn schedule(task: Notified<Self>);
}

/// Yields to the runtime once: the task goes to the back of the run queue,
/// so other ready tasks (and I/O, once the tick's budget is spent) get a turn.
///
/// ```
/// runtime::block_on(async {
///     let other = runtime::spawn(async { 1 });
///     runtime::yield_now().await;
///     assert!(other.is_finished());
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
