//! The runtime's state and the thread-local pointer to the running one.
//!
//! [`Shared`] is what other threads may touch (the injection queue, the
//! poller's notify, flags): it sits in an `Arc` that every task and
//! registration holds. [`Core`] is everything else (run queue, task list,
//! reactor slab, timers): it lives in the `Runtime` and is touched only on
//! the thread running `block_on`, found through the `CURRENT` pointer.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Wake;
use std::time::Instant;

use crate::injector::Injector;
use crate::reactor::{Driver, Reactor};
use crate::task::{Task, TaskList};
use crate::time::store::{TimerKey, TimerStore};

/// The thread-safe part of a runtime.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Unique for the life of the process (never reused, unlike an address).
    pub(crate) id: u64,
    /// The poller and deferred deregistrations.
    pub(crate) driver: Driver,
    /// Tasks woken from other threads, moved to the run queue each tick.
    injector: Injector<Task>,
    /// The `block_on` future was woken.
    pub(crate) main_woken: AtomicBool,
    /// The runtime has been dropped: remote wakes drop their task instead.
    closed: AtomicBool,
    /// Timers whose `Sleep` was dropped away from the runtime's thread.
    timer_cancels: Mutex<Vec<TimerKey>>,
    /// Hint that `timer_cancels` is non-empty.
    has_timer_cancels: AtomicBool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Live runtimes by id: the slow path for objects dropped away from their
/// runtime's thread (they keep only the id, not a reference).
static RUNTIMES: Mutex<BTreeMap<u64, Weak<Shared>>> = Mutex::new(BTreeMap::new());

/// The runtime with this id, if it is still alive.
pub(crate) fn find_runtime(id: u64) -> Option<Arc<Shared>> {
    RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner).get(&id).and_then(Weak::upgrade)
}

impl Shared {
    pub(crate) fn new() -> io::Result<Shared> {
        Ok(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            driver: Driver::new()?,
            injector: Injector::new(),
            main_woken: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            timer_cancels: Mutex::new(Vec::new()),
            has_timer_cancels: AtomicBool::new(false),
        })
    }

    /// Queues a timer cancellation for the runtime thread to apply.
    pub(crate) fn cancel_timer_later(&self, key: TimerKey) {
        self.timer_cancels.lock().unwrap_or_else(PoisonError::into_inner).push(key);
        self.has_timer_cancels.store(true, Ordering::Release);
    }

    /// Takes the queued timer cancellations.
    pub(crate) fn take_timer_cancels(&self) -> Vec<TimerKey> {
        if !self.has_timer_cancels.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.timer_cancels.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Pushes a task woken off the runtime thread and wakes the poller.
    fn push_remote(&self, task: Task) {
        if self.is_closed() {
            return;
        }
        let notify = self.injector.push(task);
        // The runtime may have shut down between the check above and the
        // push; then nobody will drain the queue, so drain it here (tasks in
        // it hold an `Arc<Shared>`: leaving them would leak both).
        if self.is_closed() {
            drop(self.take_injected());
            return;
        }
        if notify {
            self.notify_poller();
        }
    }

    /// Makes the event loop's kernel wait return, once per burst of wakes.
    pub(crate) fn unpark(&self) {
        if self.injector.request_notify() {
            self.notify_poller();
        }
    }

    fn notify_poller(&self) {
        // A failed notify means the eventfd is gone; the runtime is being
        // torn down and nothing is waiting.
        let _ = self.driver.poller.notify();
    }

    /// Called by the loop before it drains the injector: later wakes must notify again.
    pub(crate) fn clear_notified(&self) {
        self.injector.clear_notified();
    }

    pub(crate) fn take_injected(&self) -> Vec<Task> {
        self.injector.take()
    }

    pub(crate) fn has_injected(&self) -> bool {
        self.injector.has_items()
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// True if the calling thread is running this runtime.
    pub(crate) fn is_current(&self) -> bool {
        with_current(|core| ptr::eq(&*core.shared, self)).unwrap_or(false)
    }
}

/// The `block_on` future's waker.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.main_woken.store(true, Ordering::Release);
        if !self.is_current() {
            self.unpark();
        }
    }
}

/// The runtime-thread part of a runtime.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    /// Tasks ready to be polled, in wake order.
    pub(crate) run_queue: RefCell<VecDeque<Task>>,
    /// Every task not yet completed.
    pub(crate) tasks: RefCell<TaskList>,
    pub(crate) reactor: Reactor,
    pub(crate) timers: RefCell<TimerStore>,
    /// The clock as of the last kernel wait; lags real time, never leads it.
    pub(crate) now: Cell<Instant>,
    /// Tasks polled per tick before the loop checks I/O and timers again.
    pub(crate) event_interval: usize,
    /// Not `Send`: the core belongs to the thread that created it.
    _not_send: PhantomData<*const ()>,
}

impl Core {
    pub(crate) fn new(event_interval: usize, max_events: usize) -> io::Result<Core> {
        let now = Instant::now();
        let shared = Arc::new(Shared::new()?);
        RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner).insert(shared.id, Arc::downgrade(&shared));
        Ok(Core {
            shared,
            run_queue: RefCell::new(VecDeque::new()),
            tasks: RefCell::new(TaskList::default()),
            reactor: Reactor::new(max_events),
            timers: RefCell::new(TimerStore::new(now)),
            now: Cell::new(now),
            event_interval: event_interval.max(1),
            _not_send: PhantomData,
        })
    }

    pub(crate) fn pop(&self) -> Option<Task> {
        self.run_queue.borrow_mut().pop_front()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.shared.id);
    }
}

thread_local! {
    /// The core of the runtime whose `block_on` (or drop) is running on this thread.
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with the current thread's running runtime, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let ptr = CURRENT.try_with(Cell::get).ok()?;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: CURRENT is non-null only between `enter` and the guard's drop,
    // while the `Core` it points to is borrowed by `block_on` or `drop`.
    Some(f(unsafe { &*ptr }))
}

/// Restores the previous `CURRENT` when dropped (also on unwind).
pub(crate) struct EnterGuard {
    prev: *const Core,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

/// Makes `core` the current runtime for the guard's lifetime.
///
/// # Panics
/// If a runtime is already running on this thread and `nested` is false:
/// `block_on` inside a task would block the thread that must run the task.
pub(crate) fn enter(core: &Core, nested: bool) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(core));
    if !prev.is_null() && !nested {
        CURRENT.with(|c| c.set(prev));
        panic!(
            "cannot block_on inside a weft runtime: this thread is already running one, \
             and blocking it would deadlock its tasks; .await the future instead"
        );
    }
    EnterGuard { prev }
}

/// Queues a woken task on its runtime: the local run queue when called on
/// that runtime's thread, the injection queue (plus a poller wake-up) otherwise.
pub(crate) fn schedule(task: Task) {
    let core = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    if !core.is_null() {
        // SAFETY: see `with_current`.
        let core = unsafe { &*core };
        if ptr::eq(Arc::as_ptr(&core.shared), Arc::as_ptr(&task.header().shared)) {
            core.run_queue.borrow_mut().push_back(task);
            return;
        }
    }
    // Clone first: once pushed, the runtime thread may run, complete and
    // free the task (and its `Arc<Shared>`) at any moment.
    let shared = task.header().shared.clone();
    shared.push_remote(task);
}
