//! [`JoinHandle`] and [`AbortHandle`]: the public side of a spawned task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::JoinError;
use super::raw::{JoinRef, Task};

/// An owned permission to await a spawned task's output.
///
/// Awaiting it yields `Ok(output)`, or `Err(JoinError)` if the task panicked
/// or was cancelled (by [`JoinHandle::abort`] or because its runtime shut
/// down first). Dropping the handle *detaches* the task: it keeps running
/// and its output is dropped when it finishes.
///
/// ```
/// runtime::block_on(async {
///     let handle = runtime::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
pub struct JoinHandle<T> {
    /// The task; `None` once the output was taken.
    raw: Option<JoinRef<T>>,
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: JoinRef<T>) -> JoinHandle<T> {
        JoinHandle { raw: Some(raw) }
    }

    /// Cancels the task: its future is dropped on its runtime's thread the
    /// next time that runtime runs, and the handle then yields an error whose
    /// [`JoinError::is_cancelled`] is true. Does nothing if the task already
    /// finished. Callable from any thread.
    ///
    /// ```
    /// runtime::block_on(async {
    ///     let handle = runtime::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        if let Some(raw) = &self.raw {
            raw.task().abort();
        }
    }

    /// True once the task has completed, been cancelled or panicked.
    pub fn is_finished(&self) -> bool {
        self.raw.as_ref().is_none_or(JoinRef::is_finished)
    }

    /// A handle that can cancel the task without awaiting it.
    ///
    /// # Panics
    /// If the handle already returned the output (there is no task left to name).
    pub fn abort_handle(&self) -> AbortHandle {
        let raw = self.raw.as_ref().expect("JoinHandle::abort_handle called after the output was taken");
        AbortHandle { task: raw.task() }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        crate::task::budget::cooperate(cx, |cx| {
            let Some(raw) = self.raw.as_mut() else {
                // Polled again after it returned the output: misuse, not a reason to panic.
                return Poll::Ready(Err(JoinError::cancelled()));
            };
            let out = raw.poll_output(cx);
            if out.is_ready() {
                self.raw = None;
            }
            out
        })
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}

/// Cancels a task without owning its output; see [`JoinHandle::abort_handle`].
pub struct AbortHandle {
    task: Task,
}

impl AbortHandle {
    /// Cancels the task, like [`JoinHandle::abort`].
    pub fn abort(&self) {
        self.task.abort();
    }

    /// True once the task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_complete()
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").field("finished", &self.is_finished()).finish()
    }
}
