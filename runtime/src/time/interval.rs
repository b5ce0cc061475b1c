//! [`Interval`]: a timer that ticks periodically.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{sleep_until, Sleep};

/// What an [`Interval`] does when ticks were missed (the task was busy
/// longer than a period).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up (the schedule
    /// stays `start + k * period`).
    #[default]
    Burst,
    /// Restart the schedule from now: the next tick is one period after
    /// the late one was taken.
    Delay,
    /// Drop the missed ticks; stay on the `start + k * period` grid.
    Skip,
}

/// Ticks every `period`, the first tick completing immediately.
///
/// # Panics
/// If `period` is zero.
///
/// ```
/// use std::time::Duration;
/// runtime::block_on(async {
///     let mut iv = runtime::time::interval(Duration::from_millis(5));
///     let first = iv.tick().await;
///     let second = iv.tick().await;
///     assert!(second - first >= Duration::from_millis(5));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks at `start`, then every `period`.
///
/// # Panics
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval { period, sleep: sleep_until(start), missed: MissedTickBehavior::default() }
}

/// A periodic timer; also a `futures_core::Stream` of tick instants.
///
/// Ticks stay on the `start + k * period` grid however long the work
/// between them takes; when the work overruns several periods,
/// [`MissedTickBehavior`] says what happens to the missed ticks (by
/// default they fire at once, one after another, to catch up).
///
/// ```
/// use std::time::{Duration, Instant};
/// use runtime::time::{interval, sleep, MissedTickBehavior};
///
/// runtime::block_on(async {
///     let period = Duration::from_millis(10);
///     let mut ticks = interval(period);
///     ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
///     let start = ticks.tick().await; // the first tick is immediate
///     // Work that overruns three periods: the ticks due at +10, +20 and
///     // +30 ms are missed.
///     sleep(Duration::from_millis(35)).await;
///     let late = ticks.tick().await; // the +10 tick, late, at once
///     assert_eq!(late - start, period);
///     let next = ticks.tick().await; // +20 and +30 skipped: back on the grid
///     let since = next - start; // +40 ms, or later on a busy machine
///     assert!(since > Duration::from_millis(35));
///     assert_eq!(since.as_nanos() % period.as_nanos(), 0, "on the grid");
///     assert!(Instant::now() >= next);
/// });
/// ```
#[derive(Debug)]
#[must_use = "an interval does nothing unless ticked"]
pub struct Interval {
    period: Duration,
    /// Sleeps until the next scheduled tick.
    sleep: Sleep,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub fn tick(&mut self) -> Tick<'_> {
        Tick { interval: self }
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        let next = match self.missed {
            MissedTickBehavior::Burst => scheduled + self.period,
            MissedTickBehavior::Delay if now > scheduled + self.period => now + self.period,
            MissedTickBehavior::Delay => scheduled + self.period,
            MissedTickBehavior::Skip => {
                let behind = now.saturating_duration_since(scheduled).as_nanos() / self.period.as_nanos();
                let steps = u32::try_from(behind + 1).unwrap_or(u32::MAX);
                scheduled + self.period.saturating_mul(steps)
            }
        };
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The current missed-tick policy.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the missed-tick policy.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.sleep.reset(Instant::now() + self.period);
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// The future returned by [`Interval::tick`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Tick<'a> {
    interval: &'a mut Interval,
}

impl Future for Tick<'_> {
    type Output = Instant;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        self.interval.poll_tick(cx)
    }
}
