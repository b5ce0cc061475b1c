//! [`JoinHandle`], [`AbortHandle`] and [`JoinError`]: the public side of a spawned task.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::raw::{self, Header, Task};

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
    /// The task, holding one reference; `None` once the output was taken.
    raw: Option<NonNull<Header>>,
    _output: PhantomData<T>,
}

// SAFETY: the handle only touches the task's atomics, the join-waker slot
// under the JOIN_WAKER protocol, and moves the `T` out: sending it is sending a `T`.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only offers `abort` and `is_finished`, which use atomics.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// Wraps the handle's reference.
    pub(crate) fn new(raw: NonNull<Header>) -> JoinHandle<T> {
        JoinHandle { raw: Some(raw), _output: PhantomData }
    }

    fn header(&self) -> Option<&Header> {
        // SAFETY: while `raw` is set the handle holds a reference.
        self.raw.map(|p| unsafe { &*p.as_ptr() })
    }

    /// Cancels the task: its future is dropped on the runtime thread the
    /// next time the runtime runs, and the handle then yields an error whose
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
        if let Some(raw) = self.raw {
            abort_task(raw);
        }
    }

    /// True once the task has completed, been cancelled or panicked.
    pub fn is_finished(&self) -> bool {
        self.header().is_none_or(|h| h.state.load().is_complete())
    }

    /// A handle that can cancel the task without awaiting it.
    pub fn abort_handle(&self) -> AbortHandle {
        let raw = self.raw.expect("JoinHandle::abort_handle called after the output was taken");
        // SAFETY: we hold a reference, so the header is alive; the new handle owns the new reference.
        unsafe { raw.as_ref() }.state.ref_inc();
        // SAFETY: the reference was just counted.
        AbortHandle { task: unsafe { Task::from_raw(raw) } }
    }
}

fn abort_task(raw: NonNull<Header>) {
    // SAFETY: the caller holds a reference.
    let header = unsafe { raw.as_ref() };
    if header.state.cancel() {
        // SAFETY: `cancel` counted a reference for the queue entry.
        unsafe { Task::from_raw(raw) }.schedule();
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let raw = self.raw.expect("JoinHandle polled after it returned its output");
        if !raw::can_read_output(raw, cx.waker()) {
            return Poll::Pending;
        }
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: complete, we are the handle, and `T` is the task's output type.
        unsafe { raw::read_output_into(raw, (&mut out as *mut Poll<Result<T, JoinError>>).cast()) };
        self.raw = None;
        // SAFETY: the output is taken; give up the handle's reference (the
        // JOIN_INTEREST bit no longer matters once the stage is consumed).
        unsafe { raw::drop_ref(raw) };
        if out.is_pending() {
            // The output was already taken; cannot happen through the public API.
            return Poll::Ready(Err(JoinError::cancelled()));
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            // SAFETY: we are the handle and give up our reference.
            unsafe { raw::drop_join_handle(raw) };
        }
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
        abort_task(self.task.as_ptr());
    }

    /// True once the task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.header().state.load().is_complete()
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").field("finished", &self.is_finished()).finish()
    }
}

/// Why a task produced no output: it panicked, or it was cancelled.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic {
        /// The panic message, extracted when the panic was caught.
        message: Option<String>,
        payload: SyncPayload,
    },
}

/// A panic payload that is `Sync` because it is only ever reached by value.
struct SyncPayload(Box<dyn Any + Send + 'static>);

// SAFETY: no `&SyncPayload` method exposes the inner value; it only leaves by move.
unsafe impl Sync for SyncPayload {}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError { repr: Repr::Cancelled }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        let message = raw::panic_message(&*payload);
        JoinError { repr: Repr::Panic { message, payload: SyncPayload(payload) } }
    }

    /// True if the task was cancelled (aborted, or its runtime shut down).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task did not panic; use [`JoinError::try_into_panic`] to check.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().expect("JoinError::into_panic called on a cancelled task's error")
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic { payload, .. } => Ok(payload.0),
            Repr::Cancelled => Err(self),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic { message: Some(m), .. } => write!(f, "task panicked: {m}"),
            Repr::Panic { message: None, .. } => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic { message, .. } => f.debug_tuple("JoinError::Panic").field(message).finish(),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(err: JoinError) -> io::Error {
        let kind = if err.is_cancelled() { io::ErrorKind::Interrupted } else { io::ErrorKind::Other };
        io::Error::new(kind, err.to_string())
    }
}
