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

use std::any::Any;
use std::cell::{Cell, RefCell};
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

use super::metrics::Counters;
use super::Metrics;
use crate::driver::{self, Driver};
use crate::task::budget::{self, Budget};
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
    /// Leaf operations a task may complete per poll (0: unlimited).
    pub(crate) task_budget: u32,
    /// Print one line per tick on stderr.
    pub(crate) trace: bool,
}

/// The thread-safe part of a loop: the hook every one of its tasks holds.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Tasks woken on other threads, moved to the run queue each tick.
    injector: Handoff<Task>,
    /// Tasks spawned onto this loop from other threads (through a
    /// `Handle`): the task-list reference and the run-queue reference,
    /// listed and queued by the loop at its next tick.
    spawned: Handoff<(Task, Task)>,
    /// The loop's driver, to unpark it.
    driver: Arc<driver::Handle>,
    /// The `block_on` future was woken.
    main_woken: AtomicBool,
    /// The loop has shut down: late wakes drop their task instead.
    closed: AtomicBool,
}

impl Shared {
    /// Queues a task woken off the loop's thread and unparks the loop. A
    /// loop that has shut down refuses it, and the wake is dropped (the
    /// task was cancelled at shutdown).
    fn push_remote(&self, task: Task) {
        if let Ok(true) = self.injector.push(task) {
            self.driver.unpark();
        }
    }

    /// Hands a task spawned on another thread to this loop. A loop that
    /// has shut down refuses it, and it is cancelled here (its future is
    /// `Send`: dropping it on this thread is fine).
    pub(crate) fn spawn_remote(&self, listed: Task, queued: Task) {
        match self.spawned.push((listed, queued)) {
            Ok(true) => self.driver.unpark(),
            Ok(false) => {}
            Err((listed, _)) => listed.shutdown(),
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
    #[inline]
    fn schedule(task: Notified<Self>) {
        let mut task = Some(task);
        let _ = CURRENT.try_with(|c| {
            let current = c.borrow();
            let Some(core) = current.as_deref() else { return };
            let Some(notified) = task.take_if(|t| Arc::ptr_eq(&core.shared, t.scheduler())) else { return };
            if budget::forced() {
                // A task that spent its budget wakes itself to yield: it runs
                // again after the loop has looked at I/O and timers.
                core.deferred.borrow_mut().push(notified.into_task());
            } else {
                core.run_queue.borrow_mut().push_back(notified.into_task());
            }
        });
        if let Some(task) = task {
            // Another thread (or another loop on this one). Clone first: once
            // pushed, the loop's thread may run, complete and free the task,
            // and the hook inside it.
            let shared = task.scheduler().clone();
            shared.push_remote(task.into_task());
        }
    }
}

/// The `block_on` future's waker.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst, as the loop's load in `park`: the waker writes
        // `main_woken` then reads `notified` (in `request_notify`), the
        // loop writes `notified` (`clear_notified`) then reads
        // `main_woken`: the store-buffering shape, where weaker orderings
        // let both read the old value, and the loop park with the future
        // woken and no wake-up on its way (found by Miri).
        self.main_woken.store(true, Ordering::SeqCst);
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
    /// Tasks that yielded because their budget was spent; they join the
    /// run queue after the next wait for I/O, behind the tasks it woke.
    deferred: RefCell<Vec<Task>>,
    /// Every task not yet completed; a task stores its token as its owner key.
    tasks: RefCell<Slab<Task>>,
    driver: RefCell<Driver>,
    timers: Timers,
    /// Timer wakers due this tick; kept to reuse the allocation.
    due: RefCell<Vec<Waker>>,
    /// The clock when the last wait returned (the start of this tick's polls).
    woke_at: Cell<Instant>,
    /// The clock after the last batch of polls (or wait): a lower bound of now.
    ran_at: Cell<Instant>,
    /// Tasks polled per tick before the loop checks I/O and timers again.
    event_interval: usize,
    /// The budget each poll starts with.
    budget: Budget,
    counters: Counters,
    /// The runtime this loop is a worker of, opaque here: the loop only
    /// keeps it for `Handle::current` (`handle.rs`), which knows its type.
    /// Type-erased so that the loop does not import the layer above it.
    pub(crate) runtime: Arc<dyn Any + Send + Sync>,
    /// The `block_on` future is being polled (not a task): its `spawn`s
    /// are spread over the runtime's workers.
    in_main: Cell<bool>,
    /// The runtime has more than one worker (spreading is worth a look).
    several_workers: bool,
    /// Set when each tick is traced to stderr (`Builder::trace`, `WEFT_TRACE=1`).
    trace: Option<Trace>,
}

/// The state of the per-tick trace.
#[derive(Debug)]
struct Trace {
    /// Which worker the lines are about.
    worker: usize,
    /// Counters at the previous line: (polls, remote wakes, waits).
    last: Cell<(u64, u64, u64)>,
}

impl Core {
    /// Loop `worker` of a runtime of `workers`, which it keeps (opaque) as `runtime`.
    pub(crate) fn new(
        config: Config,
        runtime: Arc<dyn Any + Send + Sync>,
        worker: usize,
        workers: usize,
    ) -> io::Result<Core> {
        let driver = Driver::new(&config.driver)?;
        let shared = Arc::new(Shared {
            injector: Handoff::new(),
            spawned: Handoff::new(),
            driver: driver.handle().clone(),
            main_woken: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        Ok(Core {
            shared,
            run_queue: RefCell::new(VecDeque::new()),
            deferred: RefCell::new(Vec::new()),
            tasks: RefCell::new(Slab::new()),
            driver: RefCell::new(driver),
            timers: Timers::new(),
            due: RefCell::new(Vec::new()),
            woke_at: Cell::new(Instant::now()),
            ran_at: Cell::new(Instant::now()),
            event_interval: config.event_interval.max(1),
            budget: Budget::new(config.task_budget),
            counters: Counters::default(),
            runtime,
            in_main: Cell::new(false),
            several_workers: workers > 1,
            trace: config.trace.then(|| Trace { worker, last: Cell::new((0, 0, 0)) }),
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
        self.adopt(listed, task);
        JoinHandle::new(join)
    }

    /// True while the `block_on` future (not a task) of a runtime with
    /// several workers is being polled: its spawns are spread over them.
    pub(crate) fn spreads_spawns(&self) -> bool {
        self.several_workers && self.in_main.get()
    }

    /// Lists a new task and queues it.
    fn adopt(&self, listed: Task, task: Task) {
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
    }

    /// Runs `future` to completion on this thread, running the loop meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let _enter = enter(self, false);
        // Calls counted on this thread before the loop ran are not the loop's.
        let _ = crate::io::stats::take();
        let _slack = crate::sys::TimerSlack::tighten();
        let mut future = pin!(future);
        let waker = Waker::from(self.shared.clone());
        let mut cx = Context::from_waker(&waker);
        self.shared.main_woken.store(true, Ordering::Relaxed);
        loop {
            if self.shared.main_woken.swap(false, Ordering::SeqCst) {
                self.in_main.set(true);
                let (poll, _) = budget::with_budget(self.budget, || future.as_mut().poll(&mut cx));
                self.in_main.set(false);
                if let Poll::Ready(out) = poll {
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
        self.shared.spawned.clear_notified();
        let injected = self.shared.injector.take();
        if !injected.is_empty() {
            Counters::add(&self.counters.remote_wakes, injected.len() as u64);
            self.run_queue.borrow_mut().extend(injected);
        }
        if self.shared.spawned.has_items() {
            for (listed, task) in self.shared.spawned.take() {
                self.adopt(listed, task);
            }
        }
        if self.run_queue.borrow().is_empty() {
            return;
        }
        let time_each = self.counters.time_each_poll.get();
        let batch_start = if time_each { Instant::now() } else { self.woke_at.get() };
        let mut poll_start = batch_start;
        let mut polls = 0;
        let mut forced = 0;
        while polls < self.event_interval {
            let Some(task) = self.pop() else { break };
            let (completed, yielded) = budget::poll_with(self.budget, || task.run());
            polls += 1;
            forced += u64::from(yielded);
            if completed {
                let listed = self.tasks.borrow_mut().remove(Token::from_raw(task.owner_key()));
                drop(listed);
            }
            drop(task);
            if time_each {
                let now = Instant::now();
                self.counters.poll_took(now - poll_start);
                poll_start = now;
            }
        }
        Counters::add(&self.counters.polls, polls as u64);
        Counters::add(&self.counters.budget_yields, forced);
        let now = Instant::now();
        self.counters.batch_took(polls, now.saturating_duration_since(batch_start));
        self.ran_at.set(now);
    }

    /// Waits for the driver (not at all if work is pending; else until the
    /// earliest timer) and fires due timers.
    fn park(&self) {
        let next = self.timers.next_deadline();
        let busy = !self.run_queue.borrow().is_empty()
            || !self.deferred.borrow().is_empty()
            || self.shared.injector.has_items()
            || self.shared.spawned.has_items()
            || self.shared.main_woken.load(Ordering::SeqCst);
        let timeout =
            if busy { Some(Duration::ZERO) } else { next.map(|d| d.saturating_duration_since(self.ran_at.get())) };
        let parked = match self.driver.borrow_mut().park(timeout) {
            Ok(parked) => parked,
            // epoll_wait/kevent fail only on invalid arguments (EBADF, EFAULT,
            // EINVAL), io_uring_enter also on a kernel out of memory for its
            // overflow list (EBADR): a broken invariant or lost completions,
            // not a condition to retry.
            Err(e) => panic!("weft: waiting for I/O events failed: {e}"),
        };
        Counters::add(&self.counters.io_wakes, parked.woken as u64);
        Counters::add(&self.counters.waits, 1);
        Counters::add(&self.counters.empty_waits, u64::from(parked.events == 0));
        self.counters.collect_calls();
        let now = Instant::now();
        let parked_for = now.saturating_duration_since(self.ran_at.get());
        self.woke_at.set(now);
        self.ran_at.set(now);
        let mut due = std::mem::take(&mut *self.due.borrow_mut());
        self.timers.fire(now, &mut due);
        let fired = due.len();
        Counters::add(&self.counters.timer_wakes, fired as u64);
        wake_all(&mut due);
        *self.due.borrow_mut() = due;
        if self.trace.is_some() {
            self.trace_tick(parked, fired, parked_for);
        }
        let mut deferred = self.deferred.borrow_mut();
        if !deferred.is_empty() {
            self.run_queue.borrow_mut().extend(deferred.drain(..));
        }
    }

    /// Cancels every task and wakes everything still waiting on this loop.
    /// Called by the loop's owner when it is dropped.
    pub(crate) fn shutdown(self: &Rc<Self>) {
        let _enter = enter(self, true);
        self.shared.closed.store(true, Ordering::SeqCst);
        // From here on wakes and spawns from other threads are refused.
        drop(self.shared.injector.close());
        for (listed, _) in self.shared.spawned.close() {
            listed.shutdown();
        }
        loop {
            drop(std::mem::take(&mut *self.deferred.borrow_mut()));
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
        drop(std::mem::take(&mut *self.deferred.borrow_mut()));
        while let Some(task) = self.pop() {
            drop(task);
        }
    }

    /// One line on stderr about the tick that just ended (`WEFT_TRACE=1`).
    #[cold]
    fn trace_tick(&self, parked: driver::Parked, fired: usize, parked_for: Duration) {
        let Some(trace) = &self.trace else { return };
        let c = &self.counters;
        let now = (c.polls.get(), c.remote_wakes.get(), c.waits.get());
        let (polls, remote, ticks) = (now.0 - trace.last.get().0, now.1 - trace.last.get().1, now.2);
        trace.last.set(now);
        eprintln!(
            "weft[{}] tick {ticks}: polled {polls}, woke io {} timer {fired} remote {remote}, events {}, parked {} us",
            trace.worker,
            parked.woken,
            parked.events,
            parked_for.as_micros()
        );
    }

    /// True if this loop is the one running on the calling thread.
    fn is_running_here(&self) -> bool {
        with_current(|core| std::ptr::eq(&**core, self)).unwrap_or(false)
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let mut m = Metrics {
            live_tasks: self.tasks.borrow().len(),
            queued_tasks: self.run_queue.borrow().len() + self.deferred.borrow().len(),
            registered_fds: self.shared.driver.registered(),
            pending_timers: self.timers.len(),
            in_flight_ops: self.shared.driver.in_flight_ops(),
            held_buffers: self.shared.driver.held_buffers(),
            cq_overflows: self.shared.driver.cq_overflows(),
            ..Metrics::default()
        };
        if self.is_running_here() {
            self.counters.collect_calls();
        }
        self.counters.fill(&mut m);
        m
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
