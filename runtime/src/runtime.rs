//! [`Runtime`], its [`Builder`], and the free functions that reach the
//! current runtime: [`block_on`], [`spawn`], [`spawn_local`], [`metrics`].

use std::fmt;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub use crate::driver::Backend;
use crate::driver::{self, UringConfig};
use crate::scheduler::current_thread::{self as context, Config, Core};
use crate::scheduler::workers::{self, Workers};
use crate::scheduler::HandleInner;
pub use crate::scheduler::{Handle, Metrics};
use crate::task::JoinHandle;

/// Default tasks polled per tick before I/O and timers are checked again.
const DEFAULT_EVENT_INTERVAL: usize = 128;
/// Default capacity of the kernel event buffer.
const DEFAULT_MAX_EVENTS: usize = 1024;
/// Default leaf operations per task poll (tokio's figure).
const DEFAULT_TASK_BUDGET: u32 = 128;
/// The environment variable that sets the default backend.
const BACKEND_VAR: &str = "WEFT_BACKEND";
/// The environment variable that turns on SQPOLL by default (idle milliseconds).
const SQPOLL_VAR: &str = "WEFT_IO_URING_SQPOLL";
/// The environment variable that turns on completion coalescing by default
/// (`completions,microseconds`).
const COALESCE_VAR: &str = "WEFT_IO_URING_COALESCE";

/// An async runtime: one or more event loops (workers), each an executor,
/// a reactor and timers on its own thread.
///
/// By default there is one worker: tasks run on the thread that calls
/// [`Runtime::block_on`], and nothing else is started. With
/// [`Builder::worker_threads`]`(n)` there are `n`: worker 0 is still the
/// `block_on` thread, the others run on threads of their own until the
/// runtime is dropped. A task stays on the worker it was spawned on
/// (thread-per-core: no work stealing, so nothing on the hot path crosses a
/// core, and an uneven load stays uneven); [`spawn`] inside a task spawns
/// on that task's worker, [`spawn`] from the `block_on` future spreads new
/// tasks round-robin over the workers, and so does [`Handle::spawn`] from
/// any thread. A socket registers with the worker that first polls it.
///
/// The runtime is neither `Send` nor `Sync` (worker 0 is the calling
/// thread); its [`Handle`], [`Waker`](std::task::Waker)s and
/// [`JoinHandle`]s are, and a wake from another thread reaches the task's
/// worker through an injection queue and a poller wake-up.
///
/// Dropping the runtime stops every worker and cancels every task still
/// pending, each on its own worker's thread: their futures are dropped (so
/// their sockets are deregistered and closed) and their [`JoinHandle`]s
/// report cancellation; then the worker threads are joined.
///
/// ```
/// let rt = runtime::Runtime::new()?;
/// let answer = rt.block_on(async {
///     let a = runtime::spawn(async { 40 });
///     let b = runtime::spawn_local(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    /// Worker 0's loop. An `Rc` (so the runtime is `!Send`): the
    /// thread-local context holds a second reference while `block_on` runs.
    core: Rc<Core>,
    /// Workers 1..n, on their own threads.
    workers: Workers,
    /// What handles share: the workers' queues.
    handle: Arc<HandleInner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("metrics", &self.metrics()).finish()
    }
}

/// Configures and creates a [`Runtime`].
///
/// ```
/// let rt = runtime::Builder::new().event_interval(64).max_events(256).build()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    event_interval: usize,
    max_events: usize,
    task_budget: u32,
    worker_threads: usize,
    pin_workers: bool,
    trace: bool,
    /// Set by [`Builder::backend`]; overrides the environment.
    backend: Option<Backend>,
    /// What `WEFT_BACKEND` said when the builder was made (`Epoll` if
    /// unset), or why its value is invalid.
    env_backend: Result<Backend, String>,
    /// `Builder::io_uring_sqpoll` was called: `WEFT_IO_URING_SQPOLL` is ignored.
    sqpoll_set: bool,
    /// What `WEFT_IO_URING_SQPOLL` said, or why its value is invalid.
    env_sqpoll: Result<Option<Duration>, String>,
    /// `Builder::io_uring_coalesce` was called: `WEFT_IO_URING_COALESCE` is ignored.
    coalesce_set: bool,
    /// What `WEFT_IO_URING_COALESCE` said, or why its value is invalid.
    env_coalesce: Result<Option<(u32, Duration)>, String>,
    uring: UringConfig,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The default configuration.
    ///
    /// The backend defaults to `WEFT_BACKEND` (`epoll`, `io_uring` or
    /// `auto`), read here, or [`Backend::Epoll`] when it is unset; io_uring's
    /// SQPOLL to `WEFT_IO_URING_SQPOLL` (the idle time in milliseconds), or off.
    pub fn new() -> Builder {
        Builder {
            event_interval: DEFAULT_EVENT_INTERVAL,
            max_events: DEFAULT_MAX_EVENTS,
            task_budget: DEFAULT_TASK_BUDGET,
            worker_threads: 1,
            pin_workers: false,
            trace: std::env::var_os("WEFT_TRACE").is_some_and(|v| v == "1"),
            backend: None,
            env_backend: backend_from_env(),
            sqpoll_set: false,
            env_sqpoll: sqpoll_from_env(),
            coalesce_set: false,
            env_coalesce: coalesce_from_env(),
            uring: UringConfig::default(),
        }
    }

    /// Which driver the runtime waits on (default: `WEFT_BACKEND`, else
    /// [`Backend::Epoll`]). This overrides the environment variable, even
    /// an invalid value of it.
    pub fn backend(mut self, backend: Backend) -> Builder {
        self.backend = Some(backend);
        self
    }

    /// io_uring only: the submission and completion queue sizes (rounded up
    /// to powers of two by the kernel; 0 keeps the default of 256 and 4096).
    /// More ops per tick than SQ entries cost extra submissions; a CQ that
    /// fills spills completions to the kernel's overflow list (nothing is
    /// lost, draining it costs extra system calls). The CQ must be at least
    /// the SQ.
    pub fn io_uring_entries(mut self, sq: u32, cq: u32) -> Builder {
        self.uring.sq_entries = sq;
        self.uring.cq_entries = cq;
        self
    }

    /// io_uring only: a kernel thread polls the submission queue
    /// (`IORING_SETUP_SQPOLL`), going to sleep after `idle` without work.
    /// Submitting then needs no system call while it is awake; the thread
    /// costs a core's worth of polling while busy (it runs on the cores the
    /// creating thread may run on). Off by default, or as
    /// `WEFT_IO_URING_SQPOLL` says; this overrides the variable.
    pub fn io_uring_sqpoll(mut self, idle: Duration) -> Builder {
        self.uring.sqpoll_idle = Some(idle);
        self.sqpoll_set = true;
        self
    }

    /// io_uring only: while the loop has nothing to run, it sleeps until
    /// `completions` completions have arrived or `max_delay` has passed
    /// (then until the first, as without this), so one wake-up serves
    /// several messages. That saves CPU per message under moderate load (a
    /// wake-up is a context switch) and costs up to `max_delay` of latency.
    /// Timers still fire on time. Off by default, or as
    /// `WEFT_IO_URING_COALESCE=<completions>,<max_delay_us>` says; this
    /// overrides the variable. `completions <= 1` turns it off.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = runtime::Builder::new().io_uring_coalesce(16, Duration::from_micros(50)).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn io_uring_coalesce(mut self, completions: u32, max_delay: Duration) -> Builder {
        self.uring.coalesce = Some((completions, max_delay));
        self.coalesce_set = true;
        self
    }

    /// For tests only: the io_uring setup fails as if `io_uring_setup(2)`
    /// had returned `errno` (e.g. `EPERM` for a container that forbids it),
    /// so the fallback of [`Backend::Auto`] and the error of
    /// [`Backend::IoUring`] can be checked on a machine where io_uring works.
    #[doc(hidden)]
    pub fn io_uring_fail_setup_for_tests(mut self, errno: i32) -> Builder {
        self.uring.fail_setup = Some(errno);
        self
    }

    /// How many tasks are polled per tick before the loop checks the
    /// kernel for I/O events and fires timers (default 128, at least 1).
    /// Lower is fairer to I/O; higher makes fewer syscalls under load.
    pub fn event_interval(mut self, tasks: usize) -> Builder {
        self.event_interval = tasks.max(1);
        self
    }

    /// How many leaf operations (socket reads and writes, accepts, channel
    /// receives, timers, joins) a task may complete in one poll before they
    /// start returning `Pending` to make it yield (default 128; 0: no
    /// limit). A stream read or write also counts one more for every 4 KiB
    /// it moved beyond the first, so the slice is bounded by bytes as well
    /// as operations, whatever the buffer size. This is what keeps one
    /// always-ready connection from starving the others; see [`task::unconstrained`](crate::task::unconstrained)
    /// to lift it for one future.
    pub fn task_budget(mut self, operations: u32) -> Builder {
        self.task_budget = operations;
        self
    }

    /// How many workers (event loops, one per thread) the runtime runs:
    /// default 1 (the `block_on` thread only, nothing else started); 0
    /// means one per CPU this process may use. See [`Runtime`] for where
    /// tasks run.
    pub fn worker_threads(mut self, workers: usize) -> Builder {
        self.worker_threads = workers;
        self
    }

    /// Pins worker i to the i-th CPU this process may use (Linux), so a
    /// worker's caches stay warm; `build` fails where pinning is not
    /// supported. Off by default: the `block_on` thread is the caller's.
    pub fn pin_workers(mut self, pin: bool) -> Builder {
        self.pin_workers = pin;
        self
    }

    /// Prints one line per loop tick on stderr: tasks polled, wakes by
    /// source (I/O, timer, other thread), events returned and time parked
    /// in the kernel (default: on if the environment has `WEFT_TRACE=1`).
    /// Off, it costs one branch per tick.
    pub fn trace(mut self, on: bool) -> Builder {
        self.trace = on;
        self
    }

    /// How many kernel events one wait can return (default 1024, at least 1).
    pub fn max_events(mut self, events: usize) -> Builder {
        self.max_events = events.max(1);
        self
    }

    /// Creates the runtime: for each worker, an epoll (or kqueue)
    /// instance and its wake-up fd, or an io_uring ring with its buffers.
    ///
    /// Fails with `InvalidInput` if `WEFT_BACKEND` holds an unknown value
    /// (and no backend was set), and with the reason if
    /// [`Backend::IoUring`] cannot be set up.
    pub fn build(mut self) -> io::Result<Runtime> {
        let backend = match (self.backend, self.env_backend) {
            (Some(b), _) | (None, Ok(b)) => b,
            (None, Err(why)) => return Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
        };
        if matches!(backend, Backend::IoUring | Backend::Auto) {
            let invalid = |why| io::Error::new(io::ErrorKind::InvalidInput, why);
            if !self.sqpoll_set {
                self.uring.sqpoll_idle = self.env_sqpoll.map_err(invalid)?;
            }
            if !self.coalesce_set {
                self.uring.coalesce = self.env_coalesce.map_err(invalid)?;
            }
        }
        let driver = driver::Config { backend, max_events: self.max_events, uring: self.uring };
        let config =
            Config { event_interval: self.event_interval, driver, task_budget: self.task_budget, trace: self.trace };
        let n = match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (core, workers, handle) = workers::start(config, n, self.pin_workers)?;
        Ok(Runtime { core, workers, handle })
    }
}

/// The SQPOLL idle time `WEFT_IO_URING_SQPOLL` gives in milliseconds (`None`
/// if unset), or why it is invalid.
fn sqpoll_from_env() -> Result<Option<Duration>, String> {
    match std::env::var(SQPOLL_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(v) if v.trim().parse::<u64>().is_ok() => Ok(v.trim().parse().ok().map(Duration::from_millis)),
        Ok(v) => Err(format!("{SQPOLL_VAR}={v:?} is not a number of milliseconds")),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!("{SQPOLL_VAR}={v:?} is not a number of milliseconds")),
    }
}

/// What `WEFT_IO_URING_COALESCE=<completions>,<max_delay_us>` asks for
/// (`None` if unset), or why it is invalid.
fn coalesce_from_env() -> Result<Option<(u32, Duration)>, String> {
    let v = match std::env::var(COALESCE_VAR) {
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => return Err(format!("{COALESCE_VAR}={v:?} is not unicode")),
        Ok(v) => v,
    };
    let parsed = v.split_once(',').and_then(|(n, us)| Some((n.trim().parse().ok()?, us.trim().parse().ok()?)));
    match parsed {
        Some((n, us)) => Ok(Some((n, Duration::from_micros(us)))),
        None => Err(format!("{COALESCE_VAR}={v:?} is not <completions>,<max_delay_us> (e.g. 16,50)")),
    }
}

/// The backend `WEFT_BACKEND` names (`Epoll` if unset), or why it is invalid.
fn backend_from_env() -> Result<Backend, String> {
    match std::env::var(BACKEND_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(Backend::Epoll),
        Err(std::env::VarError::NotUnicode(v)) => {
            Err(format!("{BACKEND_VAR}={v:?} is not a backend (accepted: epoll, io_uring, auto)"))
        }
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{BACKEND_VAR}={v:?} is not a backend (accepted: epoll, io_uring, auto)")),
    }
}

impl Runtime {
    /// Creates a runtime with the default configuration.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] for a runtime with custom settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread, running spawned tasks,
    /// I/O and timers meanwhile; returns when `future` completes (other
    /// tasks stay in the runtime until the next `block_on` or its drop).
    ///
    /// # Panics
    /// If called inside a running weft runtime (from a task or another
    /// `block_on` on this thread), since that would deadlock; and if
    /// `future` panics.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future)
    }

    /// Spawns a task onto this runtime; it starts running at the next
    /// `block_on`. See [`spawn`].
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core.spawn(future)
    }

    /// Spawns a `!Send` task onto this runtime. See [`spawn_local`].
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future)
    }

    /// Worker 0's counters (the `block_on` thread's loop); inside a task,
    /// [`metrics`] gives the counters of the worker running it.
    pub fn metrics(&self) -> Metrics {
        self.core.metrics()
    }

    /// A handle that spawns onto this runtime from any thread.
    pub fn handle(&self) -> Handle {
        Handle::new(self.handle.clone())
    }

    /// The driver this runtime waits on: [`Backend::Epoll`] or
    /// [`Backend::IoUring`] (`Auto` is resolved when the runtime is built).
    pub fn backend(&self) -> Backend {
        self.core.backend()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.workers.stop(&self.handle, &self.core);
    }
}

/// Runs `future` to completion on a new runtime, which is dropped (and its
/// remaining tasks cancelled) before returning.
///
/// # Panics
/// If the runtime cannot be created (the process is out of file
/// descriptors), if called inside a running runtime, or if `future` panics.
///
/// ```
/// let v = runtime::block_on(async { 21 * 2 });
/// assert_eq!(v, 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("weft: cannot create a runtime: {e}"));
    rt.block_on(future)
}

/// Spawns a task on the current runtime and returns its [`JoinHandle`].
///
/// The task starts running when the current task next yields to the
/// runtime. Inside a task it runs on that task's worker; from the
/// `block_on` future of a runtime with several workers, new tasks are
/// spread round-robin over the workers (so a server that accepts in
/// `block_on` and spawns a task per connection uses every worker). `Send`
/// is required because the task may run on another thread; see
/// [`spawn_local`] for `!Send` futures, which stay on the calling worker.
///
/// # Panics
/// If called outside a weft runtime (not inside `block_on` or a task); use
/// [`Handle::spawn`] from other threads.
///
/// ```
/// runtime::block_on(async {
///     let handles: Vec<_> = (0..10).map(|i| runtime::spawn(async move { i * 2 })).collect();
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await.unwrap();
///     }
///     assert_eq!(sum, 90);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let join = context::with_current(|core| {
        // From the `block_on` future of a runtime with several workers: spread.
        match core.spreads_spawns().then(|| Handle::of_loop(core)).flatten() {
            Some(handle) => handle.spawn(future),
            None => core.spawn(future),
        }
    });
    // A `match`, not a closure: the panic names the caller's line.
    match join {
        Some(join) => join,
        None => outside_a_runtime(),
    }
}

/// Spawns a `!Send` task on the current runtime (it can hold `Rc`s and
/// `RefCell` borrows across `.await`). It is polled and dropped only on
/// this thread, even when woken from others; the argument is written out
/// in the task module (`runtime/src/task/raw.rs`).
///
/// # Panics
/// If called outside a weft runtime.
///
/// ```
/// use std::rc::Rc;
/// runtime::block_on(async {
///     let shared = Rc::new(5);
///     let s = shared.clone();
///     let h = runtime::spawn_local(async move { *s + 1 });
///     assert_eq!(h.await.unwrap(), 6);
/// });
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match context::with_current(|core| core.spawn(future)) {
        Some(join) => join,
        None => outside_a_runtime(),
    }
}

#[cold]
#[track_caller]
fn outside_a_runtime() -> ! {
    panic!(
        "weft: spawn called outside of a runtime; call it from inside `block_on` or a task, \
         or use `Runtime::spawn`"
    )
}

/// The counters of the runtime running on this thread, if any.
pub fn metrics() -> Option<Metrics> {
    context::with_current(|core| core.metrics())
}

/// The backend of the runtime running on this thread, if any.
///
/// ```
/// let backend = runtime::block_on(async { runtime::backend() });
/// assert!(backend.is_some());
/// assert_eq!(runtime::backend(), None);
/// ```
pub fn backend() -> Option<Backend> {
    context::with_current(|core| core.backend())
}

/// True if the calling thread is inside a weft runtime (`block_on` or a task).
pub fn is_inside_runtime() -> bool {
    context::with_current(|_| ()).is_some()
}

#[allow(dead_code)]
fn assert_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<JoinHandle<u8>>();
    send_sync::<crate::task::AbortHandle>();
    send_sync::<crate::task::JoinError>();
}
