//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! A timer registers its waker with the runtime's timer store on first poll;
//! the earliest deadline bounds how long the event loop waits in the kernel,
//! and after each wait the loop fires every timer whose deadline has passed.
//! Deadlines are compared with the clock, never rounded down, so a timer
//! never fires early; the kernel wait is rounded up to whole milliseconds.

mod interval;
pub(crate) mod store;

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::context;
use store::TimerKey;

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

/// A registered timer: which runtime's store holds it, and its key there.
#[derive(Clone, Copy, Debug)]
struct Entry {
    runtime: u64,
    key: TimerKey,
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It registers with the runtime polling it; dropping it cancels the timer.
/// It must be polled inside a weft runtime.
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
        let cancelled = context::with_current(|core| {
            (core.shared.id == entry.runtime).then(|| core.timers.borrow_mut().cancel(entry.key))
        });
        match cancelled {
            // The waker is dropped here, outside the store's borrow.
            Some(Some(waker)) => drop(waker),
            // Dropped away from its runtime (another thread, or outside
            // `block_on`): the runtime frees the entry at its next turn.
            _ => {
                if let Some(shared) = context::find_runtime(entry.runtime) {
                    shared.cancel_timer_later(entry.key);
                }
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = this.deadline;
        let polled = context::with_current(|core| {
            // `core.now` lags the clock, so this test never completes early.
            if deadline <= core.now.get() {
                return true;
            }
            let mut timers = core.timers.borrow_mut();
            match this.entry {
                Some(e) if e.runtime == core.shared.id => {
                    if timers.update(e.key, cx.waker()) {
                        return false;
                    }
                    // Fired: the store only fires a passed deadline.
                    true
                }
                _ => {
                    let key = timers.insert(deadline, cx.waker().clone());
                    this.entry = Some(Entry { runtime: core.shared.id, key });
                    false
                }
            }
        });
        match polled {
            Some(true) => {
                this.cancel();
                Poll::Ready(())
            }
            Some(false) => Poll::Pending,
            None => panic!("a weft Sleep was polled outside of a weft runtime; await it inside block_on or a task"),
        }
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
