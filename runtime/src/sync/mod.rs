//! Channels between tasks (and threads): [`mpsc`] and [`oneshot`].
//!
//! Both are a `Mutex`-protected queue plus the wakers of whoever waits on
//! it: simple to reason about, and uncontended on the one runtime thread.
//! Every side works from any thread; a `std::thread` can feed a task with
//! [`mpsc::Sender::blocking_send`] and wait with
//! [`mpsc::Receiver::blocking_recv`].
//!
//! Also [`broadcast`] and [`watch`] channels, and [`Notify`],
//! [`Semaphore`], [`Mutex`] and [`RwLock`], with tokio's semantics: fair
//! (FIFO), cancel-safe, usable from any thread.

pub mod broadcast;
#[cfg(all(test, loom))]
mod loom_models;
pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod rwlock;
mod semaphore;
mod waitlist;
pub mod watch;

pub use mutex::{Lock, LockOwned, Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify, OwnedNotified};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, Read, ReadOwned, RwLock, RwLockReadGuard, RwLockWriteGuard, Write,
    WriteOwned,
};
pub use semaphore::{
    Acquire, AcquireError, AcquireOwned, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::thread::{self, Thread};

/// Wakes a parked OS thread.
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` on the calling OS thread, parking between polls. For the
/// `blocking_*` methods, which are called from plain threads.
///
/// # Panics
/// If called inside a weft runtime, where parking would stall every task.
#[track_caller]
fn park_on<F: Future>(future: F) -> F::Output {
    assert!(
        !crate::is_inside_runtime(),
        "blocking channel operations would stall the weft runtime on this thread; use the async methods"
    );
    let waker = Arc::new(ThreadWaker(thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}
