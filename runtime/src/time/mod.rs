//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! A timer registers its waker with the runtime's timer store on first poll;
//! the earliest deadline bounds how long the event loop waits in the kernel,
//! and after each wait the loop fires every timer whose deadline has passed.
//! Deadlines are compared with the clock, never rounded down, so a timer
//! never fires early. The kernel wait has nanosecond precision
//! (`epoll_pwait2` on Linux 5.11+, `kevent`'s timespec) and the loop's
//! thread runs with a 1 ns timer slack, so a timer fires within tens of
//! microseconds of its deadline on an idle machine; where `epoll_pwait2`
//! is missing, the wait is rounded up to whole milliseconds.

mod interval;
mod store;

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::util::handoff::Handoff;
use store::{TimerKey, TimerStore};

pub use interval::{interval, interval_at, Interval, MissedTickBehavior, Tick};

/// Waits until `duration` has elapsed.
///
/// ```
/// use std::time::{Duration, Instant};
/// runtime::block_on(async {
///     let start = Instant::now();
///     runtime::time::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    sleep_until(now.checked_add(duration).unwrap_or_else(|| far_future(now)))
}

/// Waits until `deadline`. A deadline in the past completes at the first poll.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, entry: None }
}

/// About 30 years from `now`: "never" for a timer, without overflowing `Instant`.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(86400 * 365 * 30)
}

/// The timers of one loop: created and owned by it, found by `Sleep`s
/// through the thread's current [`Timers`] ([`enter`]).
#[derive(Debug)]
pub(crate) struct Timers {
    core: Rc<TimerCore>,
}

/// The loop-thread part: the store and the loop's clock.
#[derive(Debug)]
struct TimerCore {
    store: RefCell<TimerStore>,
    /// The clock as of the loop's last wait; lags real time, never leads it.
    now: Cell<Instant>,
    shared: Arc<TimerShared>,
}

/// The part a `Sleep` keeps to reach its store from any thread.
#[derive(Debug)]
struct TimerShared {
    /// Timers whose `Sleep` was dropped away from the loop's thread; the
    /// loop forgets them at its next tick.
    cancels: Handoff<TimerKey>,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        let now = Instant::now();
        let shared = Arc::new(TimerShared { cancels: Handoff::new() });
        Timers { core: Rc::new(TimerCore { store: RefCell::new(TimerStore::new(now)), now: Cell::new(now), shared }) }
    }

    /// The earliest deadline, after forgetting timers cancelled elsewhere.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let cancels = self.core.shared.cancels.take();
        let mut store = self.core.store.borrow_mut();
        let dropped: Vec<_> = cancels.into_iter().filter_map(|key| store.cancel(key)).collect();
        let next = store.next_deadline();
        drop(store);
        drop(dropped);
        next
    }

    /// Advances the clock to `now` and moves the wakers of every timer due
    /// by then to `due`.
    pub(crate) fn fire(&self, now: Instant, due: &mut Vec<Waker>) {
        self.core.now.set(now);
        self.core.store.borrow_mut().fire(now, due);
    }

    /// Pending timers.
    pub(crate) fn len(&self) -> usize {
        self.core.store.borrow().len()
    }

    /// Forgets every timer (the loop shuts down); their wakers are dropped,
    /// not woken.
    pub(crate) fn clear(&self) {
        let wakers = self.core.store.borrow_mut().clear();
        drop(wakers);
        // Sleeps dropped from now on have no store to tell.
        drop(self.core.shared.cancels.close());
    }
}

thread_local! {
    /// The timers of the loop running on this thread.
    static CURRENT: RefCell<Option<Rc<TimerCore>>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's current timers, if any.
fn with_current<R>(f: impl FnOnce(&TimerCore) -> R) -> Option<R> {
    CURRENT.try_with(|c| c.borrow().as_deref().map(f)).ok().flatten()
}

/// Restores the previous current timers when dropped (also on unwind).
#[derive(Debug)]
pub(crate) struct EnterGuard {
    prev: Option<Rc<TimerCore>>,
}

/// Makes `timers` this thread's current timers for the guard's life.
pub(crate) fn enter(timers: &Timers) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(Some(timers.core.clone())));
    EnterGuard { prev }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// A registered timer: the store that holds it, and its key there.
#[derive(Debug)]
struct Entry {
    timers: Arc<TimerShared>,
    key: TimerKey,
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It registers with the runtime polling it; dropping it cancels the timer,
/// on any thread. It must be polled inside a weft runtime.
///
/// A `Sleep` can be kept and moved to a later deadline with
/// [`reset`](Sleep::reset), e.g. an idle timeout that restarts on every
/// message. It is `Unpin`, so `&mut sleep` can be awaited, and awaited
/// again after a reset.
///
/// ```
/// use std::time::{Duration, Instant};
/// use runtime::time::sleep;
///
/// runtime::block_on(async {
///     let mut idle = sleep(Duration::from_millis(50));
///     assert!(!idle.is_elapsed());
///     // Activity: push the deadline back, without a new timer.
///     idle.reset(Instant::now() + Duration::from_millis(5));
///     (&mut idle).await;
///     assert!(idle.is_elapsed());
///     assert!(Instant::now() >= idle.deadline());
/// });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    entry: Option<Entry>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True if the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline; the sleep can be awaited again.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        let Some(entry) = self.entry.take() else { return };
        let local = with_current(|core| {
            Arc::ptr_eq(&core.shared, &entry.timers).then(|| core.store.borrow_mut().cancel(entry.key))
        });
        match local {
            // The waker is dropped here, outside the store's borrow.
            Some(Some(Some(waker))) => drop(waker),
            // On its loop, but it already fired: nothing to forget.
            Some(Some(None)) => {}
            // Dropped away from its loop (another thread, or outside the
            // runtime): the loop forgets the timer at its next tick.
            _ => {
                // A closed store (its loop is gone) has nothing to forget.
                let _ = entry.timers.cancels.push(entry.key);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        crate::task::budget::cooperate(cx, |cx| {
            let this = self.get_mut();
            let deadline = this.deadline;
            let polled = with_current(|core| {
                // `core.now` lags the clock, so this test never completes early.
                if deadline <= core.now.get() {
                    return Some(true);
                }
                let mut store = core.store.borrow_mut();
                match &this.entry {
                    Some(e) if Arc::ptr_eq(&e.timers, &core.shared) => {
                        // A stale key means the timer fired: the store only fires a passed deadline.
                        Some(!store.update(e.key, cx.waker()))
                    }
                    _ => {
                        // First poll, or polled on another loop than before:
                        // register here (the old entry is cancelled below).
                        let key = store.insert(deadline, cx.waker().clone())?;
                        let old = this.entry.replace(Entry { timers: core.shared.clone(), key });
                        drop(store);
                        if let Some(old) = old {
                            let _ = old.timers.cancels.push(old.key);
                        }
                        Some(false)
                    }
                }
            });
            match polled {
                Some(Some(true)) => {
                    this.cancel();
                    Poll::Ready(())
                }
                Some(Some(false)) => Poll::Pending,
                // The store is full (2³² − 1 timers): try again on the next turn
                // rather than fire early.
                Some(None) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                None => panic!("a weft Sleep was polled outside of a weft runtime; await it inside block_on or a task"),
            }
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The error returned by [`timeout`] when the deadline passes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` with a time limit: `Err(Elapsed)` if `duration` passes
/// first, in which case the future is dropped.
///
/// ```
/// use std::time::Duration;
/// use runtime::time::{sleep, timeout};
/// runtime::block_on(async {
///     assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
///     assert!(timeout(Duration::from_millis(5), sleep(Duration::from_secs(5))).await.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout { future, sleep: sleep(duration) }
}

/// Like [`timeout`], with an absolute deadline.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout { future, sleep: sleep_until(deadline) }
}

pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}
