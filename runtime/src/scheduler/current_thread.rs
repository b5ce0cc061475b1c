//! One event loop on one thread: its run queue, its task list, the tick
//! that runs tasks, waits for the driver and fires timers; and which loop
//! runs on the current thread.
//!
//! [`Shared`] is what other threads may touch (the injection queue, the
//! flags, the driver's wake-up): every task of the loop holds it as its
//! scheduler hook. [`Core`] is everything else and lives on the loop's
//! thread only.
//!
//! Entering a loop ([`enter`]) makes it current for the scheduler (`spawn`,
//! the wake fast path), and makes its driver and timers current for the I/O
//! objects and sleeps polled on this thread; the guard restores what was
//! there.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use std::cell::RefCell as TlsCell;

use super::Metrics;
use crate::driver::{self, Driver};
use crate::task::{raw, JoinHandle, Notified, Schedule, Task};
use crate::time::{self, Timers};
use crate::util::handoff::Handoff;
use crate::util::slab::{Slab, Token};
use crate::util::wake_all;

/// How a loop is set up (from the runtime's `Builder`).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Tasks polled per tick before the loop checks I/O and timers again.
    pub(crate) event_interval: usize,
    /// The driver: which backend, and its sizes.
    pub(crate) driver: driver::Config,
}

/// The thread-safe part of a loop: the hook every one of its tasks holds.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Tasks woken on other threads, moved to the run queue each tick.
    injector: Handoff<Task>,
    /// The loop's driver, to unpark it.
    driver: Arc<driver::Handle>,
    /// The `block_on` future was woken.
    main_woken: AtomicBool,
    /// The loop has shut down: late wakes drop their task instead.
    closed: AtomicBool,
}

impl Shared {
    /// Queues a task woken off the loop's thread and unparks the loop.
    fn push_remote(&self, task: Task) {
        if self.is_closed() {
            return;
        }
        let notify = self.injector.push(task);
        // The loop may have shut down between the check above and the push;
        // then nobody will drain the queue, so drain it here (tasks in it
        // hold this `Shared`: leaving them would leak both).
        if self.is_closed() {
            drop(self.injector.take());
            return;
        }
        if notify {
            self.driver.unpark();
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// True if the calling thread is running this loop.
    fn is_current(&self) -> bool {
        with_current(|core| std::ptr::eq(&*core.shared, self)).unwrap_or(false)
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(task: Notified<Self>) {
        let local = with_current(|core| Arc::ptr_eq(&core.shared, task.scheduler()).then(|| core.clone()));
        match local.flatten() {
            Some(core) => core.run_queue.borrow_mut().push_back(task.into_task()),
            None => {
                // Clone first: once pushed, the loop's thread may run,
                // complete and free the task, and the hook inside it.
                let shared = task.scheduler().clone();
                shared.push_remote(task.into_task());
            }
        }
    }
}

/// The `block_on` future's waker.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.main_woken.store(true, Ordering::Release);
        if !self.is_current() && self.injector.request_notify() {
            self.driver.unpark();
        }
    }
}

/// The loop-thread part of a loop.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    /// Tasks ready to be polled, in wake order.
    run_queue: RefCell<VecDeque<Task>>,
    /// Every task not yet completed; a task stores its token as its owner key.
    tasks: RefCell<Slab<Task>>,
    driver: RefCell<Driver>,
    timers: Timers,
    /// Timer wakers due this tick; kept to reuse the allocation.
    due: RefCell<Vec<Waker>>,
    /// Tasks polled per tick before the loop checks I/O and timers again.
    event_interval: usize,
}

impl Core {
    pub(crate) fn new(config: Config) -> io::Result<Core> {
        let driver = Driver::new(&config.driver)?;
        let shared = Arc::new(Shared {
            injector: Handoff::new(),
            driver: driver.handle().clone(),
            main_woken: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        Ok(Core {
            shared,
            run_queue: RefCell::new(VecDeque::new()),
            tasks: RefCell::new(Slab::new()),
            driver: RefCell::new(driver),
            timers: Timers::new(),
            due: RefCell::new(Vec::new()),
            event_interval: config.event_interval.max(1),
        })
    }

    pub(crate) fn driver_handle(&self) -> &Arc<driver::Handle> {
        &self.shared.driver
    }

    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Allocates a task, lists it and queues it.
    pub(crate) fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        let (listed, notified, join) = raw::spawn(future, self.shared.clone());
        let task = notified.into_task();
        if self.shared.is_closed() {
            // Spawned from a destructor during shutdown: cancel at once.
            listed.shutdown();
            return JoinHandle::new(join);
        }
        let mut listed = Some(listed);
        let token = self.tasks.borrow_mut().insert_with(|token| {
            let listed = listed.take().expect("called once");
            listed.set_owner_key(token.to_raw());
            listed
        });
        match (token, listed) {
            (Some(_), _) => self.run_queue.borrow_mut().push_back(task),
            // The task list is full (2³² − 1 tasks): the task is cancelled.
            (None, Some(listed)) => listed.shutdown(),
            (None, None) => unreachable!("insert_with keeps the value when it fails"),
        }
        JoinHandle::new(join)
    }

    /// Runs `future` to completion on this thread, running the loop meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let _enter = enter(self, false);
        let mut future = pin!(future);
        let waker = Waker::from(self.shared.clone());
        let mut cx = Context::from_waker(&waker);
        self.shared.main_woken.store(true, Ordering::Relaxed);
        loop {
            if self.shared.main_woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return out;
                }
            }
            self.run_tasks();
            self.park();
        }
    }

    fn pop(&self) -> Option<Task> {
        self.run_queue.borrow_mut().pop_front()
    }

    /// One tick's worth of tasks: the injected ones join the queue, then up
    /// to `event_interval` tasks are polled.
    fn run_tasks(&self) {
        self.shared.injector.clear_notified();
        let injected = self.shared.injector.take();
        if !injected.is_empty() {
            self.run_queue.borrow_mut().extend(injected);
        }
        for _ in 0..self.event_interval {
            let Some(task) = self.pop() else { break };
            if task.run() {
                let listed = self.tasks.borrow_mut().remove(Token::from_raw(task.owner_key()));
                drop(listed);
            }
            drop(task);
        }
    }

    /// Waits for the driver (not at all if work is pending; else until the
    /// earliest timer) and fires due timers.
    fn park(&self) {
        let next = self.timers.next_deadline();
        let busy = !self.run_queue.borrow().is_empty()
            || self.shared.injector.has_items()
            || self.shared.main_woken.load(Ordering::Acquire);
        let timeout =
            if busy { Some(Duration::ZERO) } else { next.map(|d| d.saturating_duration_since(Instant::now())) };
        if let Err(e) = self.driver.borrow_mut().park(timeout) {
            // epoll_wait/kevent fail only on invalid arguments (EBADF, EFAULT,
            // EINVAL), io_uring_enter also on a kernel out of memory for its
            // overflow list (EBADR): a broken invariant or lost completions,
            // not a condition to retry.
            panic!("weft: waiting for I/O events failed: {e}");
        }
        let mut due = std::mem::take(&mut *self.due.borrow_mut());
        self.timers.fire(Instant::now(), &mut due);
        wake_all(&mut due);
        *self.due.borrow_mut() = due;
    }

    /// Cancels every task and wakes everything still waiting on this loop.
    /// Called by the loop's owner when it is dropped.
    pub(crate) fn shutdown(self: &Rc<Self>) {
        let _enter = enter(self, true);
        self.shared.closed.store(true, Ordering::SeqCst);
        loop {
            drop(self.shared.injector.take());
            while let Some(task) = self.pop() {
                drop(task);
            }
            let tasks = self.tasks.borrow_mut().drain();
            if tasks.is_empty() {
                break;
            }
            // Cancelling drops futures, whose destructors may wake or spawn more.
            for task in tasks {
                task.shutdown();
            }
        }
        self.timers.clear();
        self.driver.borrow_mut().shutdown();
        drop(self.shared.injector.take());
        while let Some(task) = self.pop() {
            drop(task);
        }
    }

    pub(crate) fn metrics(&self) -> Metrics {
        Metrics {
            live_tasks: self.tasks.borrow().len(),
            queued_tasks: self.run_queue.borrow().len(),
            registered_fds: self.shared.driver.registered(),
            pending_timers: self.timers.len(),
            in_flight_ops: self.shared.driver.in_flight_ops(),
            held_buffers: self.shared.driver.held_buffers(),
            cq_overflows: self.shared.driver.cq_overflows(),
        }
    }

    /// The driver's backend.
    pub(crate) fn backend(&self) -> driver::Backend {
        self.shared.driver.backend()
    }
}

thread_local! {
    /// The loop whose `block_on` (or shutdown) is running on this thread.
    static CURRENT: TlsCell<Option<Rc<Core>>> = const { TlsCell::new(None) };
}

/// Runs `f` with the loop running on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    let core = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()?;
    Some(f(&core))
}

/// Restores the previous loop, driver and timers when dropped (also on unwind).
#[derive(Debug)]
pub(crate) struct EnterGuard {
    prev: Option<Rc<Core>>,
    _driver: driver::EnterGuard,
    _time: time::EnterGuard,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// Makes `core` the current loop for the guard's life.
///
/// # Panics
/// If a loop is already running on this thread and `nested` is false:
/// `block_on` inside a task would block the thread that must run the task.
pub(crate) fn enter(core: &Rc<Core>, nested: bool) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(Some(core.clone())));
    if prev.is_some() && !nested {
        CURRENT.with(|c| *c.borrow_mut() = prev);
        panic!(
            "cannot block_on inside a weft runtime: this thread is already running one, \
             and blocking it would deadlock its tasks; .await the future instead"
        );
    }
    EnterGuard { prev, _driver: driver::enter(core.driver_handle()), _time: time::enter(core.timers()) }
}
