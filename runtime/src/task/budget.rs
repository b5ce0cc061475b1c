//! The cooperative budget: how many leaf operations a task may complete in
//! one poll before it must give the thread back.
//!
//! A task whose socket is always ready never sees `WouldBlock`, so it would
//! never return `Pending` and every other task on its loop would wait. The
//! scheduler therefore gives each poll a budget (default 128); every leaf
//! operation of the runtime that completes (a socket read or write, an
//! accept, a channel receive, a timer, a `JoinHandle`, a signal) spends one
//! unit, and once the budget is spent the next one wakes its task and
//! returns `Pending`: the task goes to the back of the run queue and the
//! loop reaches I/O and timers again.
//!
//! A unit is an operation, as in tokio, with one difference: a stream read
//! or write also spends a unit for every [`BYTES_PER_UNIT`] bytes it moved
//! beyond the first. Counting operations alone makes the slice a greedy
//! task takes depend on its buffer size: with 64 KiB reads, 128 operations
//! move 4 MiB (milliseconds of copying) before the loop looks at anyone
//! else, with 4 KiB reads 256 KiB. Charging bytes bounds the slice by the
//! work done, whatever the buffer; small transfers (below 4 KiB) cost one
//! unit, as before.
//!
//! The budget is a thread-local cell that the scheduler sets around each
//! poll; outside a poll (or inside [`unconstrained`]) it is unlimited. A
//! check is a thread-local read and a compare.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// The budget of a poll: units left in the low 31 bits ([`UNLIMITED`]: no
/// limit), and [`FORCED`] once a leaf operation had to yield.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget(u32);

/// Set once a leaf operation returned `Pending` because the budget was spent.
const FORCED: u32 = 1 << 31;
/// The "units left" value that means no limit; it is never spent.
const UNLIMITED: u32 = FORCED - 1;

impl Budget {
    /// No limit.
    pub(crate) const UNCONSTRAINED: Budget = Budget(UNLIMITED);

    /// `units` operations per poll; 0 means no limit.
    pub(crate) const fn new(units: u32) -> Budget {
        if units == 0 || units >= UNLIMITED {
            Budget(UNLIMITED)
        } else {
            Budget(units)
        }
    }
}

thread_local! {
    /// The budget of the poll running on this thread (a `Budget`'s bits).
    static BUDGET: Cell<u32> = const { Cell::new(UNLIMITED) };
}

/// Restores the previous budget if a poll unwinds.
struct ResetGuard {
    prev: u32,
}

impl Drop for ResetGuard {
    fn drop(&mut self) {
        BUDGET.set(self.prev);
    }
}

/// Runs `poll` (one poll of a task) with `budget`; the flag says whether a
/// leaf operation had to yield because the budget ran out.
#[inline]
pub(crate) fn with_budget<R>(budget: Budget, poll: impl FnOnce() -> R) -> (R, bool) {
    let prev = BUDGET.replace(budget.0);
    let guard = ResetGuard { prev };
    let out = poll();
    std::mem::forget(guard);
    let spent = BUDGET.replace(prev);
    (out, spent & FORCED != 0)
}

/// [`with_budget`] for a scheduler's top-level poll of a task, which never
/// unwinds (the task catches its panics) and runs outside any other poll,
/// so nothing needs restoring but "unlimited".
#[inline]
pub(crate) fn poll_with(budget: Budget, poll: impl FnOnce() -> bool) -> (bool, bool) {
    BUDGET.set(budget.0);
    let out = poll();
    let spent = BUDGET.replace(UNLIMITED);
    (out, spent & FORCED != 0)
}

/// Bytes a stream transfer may move per unit of budget: a read or write of
/// n bytes spends `1 + n / BYTES_PER_UNIT` units.
pub(crate) const BYTES_PER_UNIT: usize = 4096;

/// Before a leaf operation: `true` if the task may go on; else wakes the
/// task, marks the poll as forced to yield, and returns `false` (the
/// operation then returns `Pending` without being tried). Spends nothing:
/// the operation calls [`spend`] once it completes.
#[inline]
pub(crate) fn has_budget(cx: &mut Context<'_>) -> bool {
    let bits = BUDGET.get();
    if bits & !FORCED == 0 {
        force_yield(bits, cx);
        return false;
    }
    true
}

/// After a leaf operation completed (`Ready`, success or error): spends its
/// unit, plus one per [`BYTES_PER_UNIT`] of the `bytes` a stream transfer
/// moved (see the module docs); never below zero, never on an unlimited
/// budget.
#[inline]
pub(crate) fn spend(bytes: usize) {
    let bits = BUDGET.get();
    let left = bits & !FORCED;
    if left != UNLIMITED {
        let units = 1 + (bytes / BYTES_PER_UNIT).min(u32::MAX as usize - 1) as u32;
        BUDGET.set(bits & FORCED | left.saturating_sub(units));
    }
}

/// Marks the budget spent and wakes the task so it runs again later.
#[cold]
fn force_yield(bits: u32, cx: &mut Context<'_>) {
    BUDGET.set(bits | FORCED);
    cx.waker().wake_by_ref();
}

/// Checks the budget before a leaf operation: `Ready` if the task may go on
/// (spending one unit), else wakes the task and returns `Pending`.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let bits = BUDGET.get();
    match bits & !FORCED {
        UNLIMITED => Poll::Ready(()),
        0 => {
            force_yield(bits, cx);
            Poll::Pending
        }
        _ => {
            BUDGET.set(bits - 1);
            Poll::Ready(())
        }
    }
}

/// True if a leaf operation of the poll running on this thread returned
/// `Pending` because the budget was spent: the task is yielding, and its
/// scheduler should run it again only after it has checked I/O and timers.
#[inline]
pub(crate) fn forced() -> bool {
    BUDGET.get() & FORCED != 0
}

/// Runs the leaf operation `op` under the budget: one unit if it completes,
/// none if it is not ready; `Pending` (after waking the task) without
/// running `op` once the budget is spent.
#[inline]
pub(crate) fn cooperate<T>(cx: &mut Context<'_>, op: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    cooperate_moving(cx, op, |_| 0)
}

/// [`cooperate`] for a transfer: a ready result also spends for the bytes
/// `bytes_of` says it moved (see [`spend`]).
#[inline]
pub(crate) fn cooperate_moving<T>(
    cx: &mut Context<'_>,
    op: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    bytes_of: impl FnOnce(&T) -> usize,
) -> Poll<T> {
    if !has_budget(cx) {
        return Poll::Pending;
    }
    let res = op(cx);
    if let Poll::Ready(r) = &res {
        spend(bytes_of(r));
    }
    res
}

/// Spends one unit of the task's budget, yielding to the runtime first if
/// it is spent: for loops that compute without touching weft's I/O, timers
/// or channels, so that they still let other tasks run.
///
/// ```
/// runtime::block_on(async {
///     let mut sum = 0u64;
///     for i in 0..10_000u64 {
///         sum += i;
///         runtime::task::consume_budget().await;
///     }
///     assert_eq!(sum, 49_995_000);
/// });
/// ```
pub async fn consume_budget() {
    std::future::poll_fn(poll_proceed).await
}

pin_project! {
    /// The future returned by [`unconstrained`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Unconstrained<F> {
        #[pin]
        future: F,
    }
}

/// Runs `future` without a budget: its leaf operations never yield for
/// fairness. For a task that must drain something in one go; it can then
/// hold the thread as long as its I/O stays ready, so use it sparingly.
///
/// ```
/// use runtime::sync::mpsc;
/// runtime::block_on(async {
///     let (tx, mut rx) = mpsc::unbounded_channel();
///     for i in 0..1000 {
///         tx.send(i).unwrap();
///     }
///     drop(tx);
///     // 1,000 receives in one poll: no forced yield in between.
///     let total = runtime::task::unconstrained(async move {
///         let mut total = 0;
///         while let Some(i) = rx.recv().await {
///             total += i;
///         }
///         total
///     })
///     .await;
///     assert_eq!(total, 499_500);
/// });
/// ```
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { future }
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let future = self.project().future;
        let (out, _) = with_budget(Budget::UNCONSTRAINED, || future.poll(cx));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn a_spent_budget_yields_and_pending_operations_cost_nothing() {
        let mut cx = Context::from_waker(Waker::noop());
        let ((), forced) = with_budget(Budget::new(2), || {
            assert!(cooperate(&mut cx, |_| Poll::<()>::Pending).is_pending());
            assert!(cooperate(&mut cx, |_| Poll::Ready(())).is_ready());
            assert!(poll_proceed(&mut cx).is_ready());
            assert!(!forced());
            assert!(poll_proceed(&mut cx).is_pending(), "two units spent");
            assert!(forced());
        });
        assert!(forced);
        let ((), forced) = with_budget(Budget::new(0), || {
            for _ in 0..1000 {
                assert!(poll_proceed(&mut cx).is_ready(), "0 means no limit");
            }
        });
        assert!(!forced);
        assert!(poll_proceed(&mut cx).is_ready(), "outside a poll: no limit");
    }

    #[test]
    fn large_transfers_spend_a_unit_per_4_kib() {
        let mut cx = Context::from_waker(Waker::noop());
        let ((), forced) = with_budget(Budget::new(40), || {
            // 64 KiB: 1 + 16 units, twice: 6 are left.
            for _ in 0..2 {
                assert!(has_budget(&mut cx));
                spend(64 * 1024);
            }
            spend(100); // below 4 KiB: one unit, 5 left
            spend(0); // 4 left
            for _ in 0..4 {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(!has_budget(&mut cx), "40 units spent");
            spend(1 << 20); // never below zero, and FORCED stays
            assert!(forced());
        });
        assert!(forced);
        let ((), _) = with_budget(Budget::UNCONSTRAINED, || {
            spend(1 << 30);
            assert!(poll_proceed(&mut cx).is_ready(), "unlimited stays unlimited");
        });
    }
}
