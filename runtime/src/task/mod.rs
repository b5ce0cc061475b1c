//! Tasks: the memory layout (`raw`), the state word (`state`), the public
//! handles (`join`), the runtime's list of live tasks, and [`yield_now`].

pub(crate) mod join;
pub(crate) mod join_waker;
pub(crate) mod raw;
pub(crate) mod state;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use join::{AbortHandle, JoinError, JoinHandle};
pub(crate) use raw::Task;

/// Every live (not yet completed) task of one runtime, so shutdown can drop
/// their futures. A slab: each task stores its slot in `Header::list_index`.
#[derive(Debug, Default)]
pub(crate) struct TaskList {
    /// Slots; `None` is free.
    slots: Vec<Option<Task>>,
    /// Indices of free slots, reused first.
    free: Vec<usize>,
    /// Occupied slots.
    len: usize,
}

impl TaskList {
    pub(crate) fn insert(&mut self, task: Task) {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        task.set_list_index(index);
        self.slots[index] = Some(task);
        self.len += 1;
    }

    /// Removes the task at `index`, returning the list's reference.
    pub(crate) fn remove(&mut self, index: usize) -> Option<Task> {
        let task = self.slots.get_mut(index)?.take()?;
        self.free.push(index);
        self.len -= 1;
        Some(task)
    }

    /// Takes every task out, leaving the list empty.
    pub(crate) fn drain(&mut self) -> Vec<Task> {
        self.free.clear();
        self.len = 0;
        std::mem::take(&mut self.slots).into_iter().flatten().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
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
