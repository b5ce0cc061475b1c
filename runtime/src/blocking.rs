//! [`spawn_blocking`]: run blocking code on a thread pool, await it as a task.
//!
//! The pool is shared by every runtime in the process. It starts with no
//! threads, starts one whenever a job arrives and none is idle (up to a
//! limit, after which jobs queue), and lets a thread exit after it has idled
//! for a keep-alive period. The result travels back through a one-shot slot
//! whose [`AtomicWaker`] holds the awaiting task's waker.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use crate::task::JoinHandle;
use crate::util::AtomicWaker;

/// Default maximum number of pool threads.
const DEFAULT_MAX_THREADS: usize = 64;
/// How long an idle pool thread waits for work before exiting.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Jobs and thread accounting, under the pool's mutex.
#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads alive (idle or busy).
    threads: usize,
    /// Threads waiting on the condvar.
    idle: usize,
    /// Wake-ups sent to idle threads and not yet consumed (guards against
    /// counting one idle thread twice).
    notified: usize,
}

struct Pool {
    state: Mutex<State>,
    cond: Condvar,
    max_threads: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        cond: Condvar::new(),
        max_threads: AtomicUsize::new(DEFAULT_MAX_THREADS),
    })
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(&'static self, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.idle > state.notified {
            state.notified += 1;
            self.cond.notify_one();
            return;
        }
        if state.threads >= self.max_threads.load(Ordering::Relaxed) {
            return; // A busy thread takes it when done.
        }
        state.threads += 1;
        drop(state);
        let spawned = thread::Builder::new().name("weft-blocking".into()).spawn(move || self.work());
        if spawned.is_err() {
            let mut state = self.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // No thread will ever run the queue: drop the jobs, which
                // drops their result slots and fails the awaiting tasks.
                let jobs = std::mem::take(&mut state.queue);
                drop(state);
                drop(jobs);
            }
        }
    }

    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let (guard, res) = self.cond.wait_timeout(state, KEEP_ALIVE).unwrap_or_else(PoisonError::into_inner);
            state = guard;
            state.idle -= 1;
            if state.notified > 0 {
                state.notified -= 1;
            } else if res.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Sets the most threads the blocking pool may run at once (default 64,
/// at least 1). Jobs beyond it wait in a queue.
pub fn set_max_blocking_threads(n: usize) {
    pool().max_threads.store(n.max(1), Ordering::Relaxed);
}

/// Pool threads currently alive (busy or idle), for tests and monitoring.
pub fn blocking_threads() -> usize {
    pool().lock().threads
}

/// The result slot shared by the job and the awaiting task.
struct Slot<T> {
    /// The job's result: `Some` once it ran, `Err` if it panicked.
    result: Mutex<Option<thread::Result<T>>>,
    /// The job was dropped without running (the pool could not start a thread).
    dropped: AtomicBool,
    /// The awaiting task.
    waker: AtomicWaker,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, Option<thread::Result<T>>> {
        self.result.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sets `dropped` if the job is dropped without producing a result.
struct Sender<T>(Arc<Slot<T>>);

impl<T> Sender<T> {
    fn send(self, value: thread::Result<T>) {
        *self.0.lock() = Some(value);
        self.0.waker.wake();
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.0.lock().is_none() {
            self.0.dropped.store(true, Ordering::Release);
            self.0.waker.wake();
        }
    }
}

/// Awaits the job's result inside the spawned task.
struct Receiver<T>(Arc<Slot<T>>);

impl<T> Future for Receiver<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // Register first, then look: a result stored after the look wakes us.
        self.0.waker.register(cx.waker());
        let result = self.0.lock().take();
        match result {
            Some(Ok(v)) => Poll::Ready(v),
            // Re-raise inside the task so its JoinHandle reports the panic.
            Some(Err(payload)) => panic::resume_unwind(payload),
            None if self.0.dropped.load(Ordering::Acquire) => {
                panic!("weft: the blocking pool could not start a thread to run this job")
            }
            None => Poll::Pending,
        }
    }
}

/// Runs `f` on the blocking thread pool and returns a handle to its result.
///
/// For work that would stall the event loop: blocking syscalls (a DNS
/// lookup, a file read), or long computations. A panic in `f` becomes a
/// [`JoinError`](crate::JoinError) whose `is_panic()` is true. `abort()`
/// stops the waiting, not the job: a running closure cannot be interrupted.
///
/// # Panics
/// If called outside a weft runtime.
///
/// ```
/// runtime::block_on(async {
///     let sum = runtime::spawn_blocking(|| (1..=100u32).sum::<u32>()).await.unwrap();
///     assert_eq!(sum, 5050);
/// });
/// ```
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = Arc::new(Slot { result: Mutex::new(None), dropped: AtomicBool::new(false), waker: AtomicWaker::new() });
    let sender = Sender(slot.clone());
    let handle = crate::spawn(Receiver(slot));
    pool().submit(Box::new(move || sender.send(panic::catch_unwind(AssertUnwindSafe(f)))));
    handle
}
