//! [`Handle`]: a `Send + Sync` way into a runtime, from any thread.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::current_thread::{self, Shared};
use crate::task::{raw, JoinHandle, Notified, Schedule};
use crate::util::AtomicWaker;

/// What a runtime's handles and workers share.
#[derive(Debug)]
pub(crate) struct HandleInner {
    /// Each worker's thread-safe part, worker 0 first; set once every
    /// worker has started, emptied when the runtime stops (a handle that
    /// outlives its runtime must not keep the workers' pollers open).
    workers: RwLock<Vec<Arc<Shared>>>,
    /// Round-robin cursor for `Handle::spawn`.
    next: AtomicUsize,
    /// The runtime is being dropped: the workers' loops return.
    stopping: AtomicBool,
    /// Each worker's `block_on` (the loop that runs until `stopping`) waits here.
    stop_wakers: Vec<AtomicWaker>,
}

impl HandleInner {
    pub(crate) fn new(workers: usize) -> HandleInner {
        HandleInner {
            workers: RwLock::new(Vec::new()),
            next: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            stop_wakers: (0..workers).map(|_| AtomicWaker::new()).collect(),
        }
    }

    /// Records the started workers' shared parts (worker 0 first).
    pub(crate) fn set_workers(&self, workers: Vec<Arc<Shared>>) {
        *self.workers.write().unwrap_or_else(PoisonError::into_inner) = workers;
    }

    /// Worker `i`'s shared part (modulo their number); `None` once stopped.
    fn worker(&self, i: usize) -> Option<Arc<Shared>> {
        let workers = self.workers.read().unwrap_or_else(PoisonError::into_inner);
        workers.get(i % workers.len().max(1)).cloned()
    }

    fn count(&self) -> usize {
        self.workers.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Tells every worker loop to return (the runtime is being dropped).
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_wakers.iter().for_each(AtomicWaker::wake);
    }

    /// Forgets the workers once they have stopped (and any waker of theirs
    /// still parked here), so a handle that outlives the runtime keeps none
    /// of their pollers open.
    pub(crate) fn clear(&self) {
        let workers = std::mem::take(&mut *self.workers.write().unwrap_or_else(PoisonError::into_inner));
        drop(workers);
        for slot in &self.stop_wakers {
            drop(slot.take());
        }
    }

    /// The future a background worker's loop runs: ready once `stop` was called.
    pub(crate) async fn stopped(&self, worker: usize) {
        std::future::poll_fn(|cx| {
            if self.stopping.load(Ordering::SeqCst) {
                return std::task::Poll::Ready(());
            }
            self.stop_wakers[worker].register(cx.waker());
            if self.stopping.load(Ordering::SeqCst) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// A handle to a runtime: spawns tasks onto its workers from any thread.
/// `Send + Sync + Clone`; get one with [`Runtime::handle`](crate::Runtime::handle)
/// or, inside the runtime, [`Handle::current`].
///
/// [`Handle::spawn`] picks a worker round-robin: tasks never move between
/// workers once placed, so spreading them at spawn is how a load spreads.
/// A handle whose runtime is gone still spawns: the task is cancelled at
/// once and its [`JoinHandle`] reports it, instead of hanging.
///
/// ```
/// let rt = runtime::Builder::new().worker_threads(2).build()?;
/// let handle = rt.handle();
/// // From a plain thread: the task runs on one of the two workers.
/// let join = std::thread::spawn(move || handle.spawn(async { 6 * 7 })).join().unwrap();
/// assert_eq!(rt.block_on(join).unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    inner: Arc<HandleInner>,
}

impl Handle {
    pub(crate) fn new(inner: Arc<HandleInner>) -> Handle {
        Handle { inner }
    }

    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    /// Outside a weft runtime; see [`Handle::try_current`].
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().unwrap_or_else(|| {
            panic!("Handle::current called outside a weft runtime; pass a Handle (Runtime::handle) to this thread")
        })
    }

    /// The handle of the runtime running on this thread, if any.
    pub fn try_current() -> Option<Handle> {
        current_thread::with_current(|core| Handle::of_loop(core)).flatten()
    }

    /// The handle of the runtime `core` is a worker of.
    pub(crate) fn of_loop(core: &current_thread::Core) -> Option<Handle> {
        core.runtime.clone().downcast::<HandleInner>().ok().map(Handle::new)
    }

    /// How many workers (threads with their own loop) the runtime has.
    pub fn workers(&self) -> usize {
        self.inner.count().max(1)
    }

    /// Spawns `future` on one of the runtime's workers, chosen round-robin;
    /// callable from any thread. The task starts when that worker's loop
    /// next looks at its queues (worker 0 runs while `block_on` does).
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let n = self.workers();
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % n;
        self.spawn_on(i, future)
    }

    /// Spawns `future` on worker `worker` (modulo the number of workers).
    pub fn spawn_on<F>(&self, worker: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Some(shared) = self.inner.worker(worker) else {
            // The runtime is gone: the task is cancelled before it runs.
            let (listed, _queued, join) = raw::spawn(future, Gone);
            listed.shutdown();
            return JoinHandle::new(join);
        };
        // On that worker's own thread: an ordinary local spawn.
        let mut future = Some(future);
        let local = current_thread::with_current(|core| {
            Arc::ptr_eq(&core.shared, &shared).then(|| core.spawn(future.take().expect("taken once")))
        });
        if let Some(Some(join)) = local {
            return join;
        }
        let future = future.expect("not taken unless spawned locally");
        let (listed, queued, join) = raw::spawn(future, shared.clone());
        shared.spawn_remote(listed, queued.into_task());
        JoinHandle::new(join)
    }
}

/// The hook of a task spawned through a handle whose runtime is gone: the
/// task is cancelled at once, and a wake has nowhere to go.
struct Gone;

impl Schedule for Gone {
    fn schedule(task: Notified<Self>) {
        drop(task);
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("workers", &self.workers()).finish()
    }
}
