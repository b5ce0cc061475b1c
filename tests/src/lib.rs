//! Shared helpers for the integration tests.
//!
//! The helpers in this file are runtime-agnostic (std only), so they can
//! never hide a runtime bug: the futures below wake and count exactly what
//! they say, whichever executor polls them. [`net_util`] holds the helpers
//! that build on the crates under test.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// How many times [`yield_until`] yields before giving up. A condition that
/// depends only on other ready tasks is met within a few yields; this bound
/// only turns a lost wake-up into a failure instead of a hang.
pub const MAX_YIELDS: usize = 100_000;

/// Increments a shared counter when dropped: proves a future (or an output)
/// was destroyed, and how many times.
#[derive(Debug)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    /// A guard that bumps `count` on drop.
    pub fn new(count: &Arc<AtomicUsize>) -> DropCounter {
        DropCounter(count.clone())
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Returns `Pending` once (waking itself first), then `Ready`: a yield
/// that does not depend on the runtime under test.
#[derive(Debug, Default)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldOnce {
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Yields until `cond` holds, at most [`MAX_YIELDS`] times; an error names
/// `what` if it never does.
pub async fn yield_until(what: &str, mut cond: impl FnMut() -> bool) -> io::Result<()> {
    for _ in 0..MAX_YIELDS {
        if cond() {
            return Ok(());
        }
        YieldOnce::default().await;
    }
    if cond() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::TimedOut, format!("gave up after {MAX_YIELDS} yields waiting for {what}")))
    }
}

/// Counts how many times the wrapped future is polled.
#[must_use = "futures do nothing unless awaited"]
pub struct CountPolls<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F> CountPolls<F> {
    /// Wraps `inner`; every poll bumps `polls`.
    pub fn new(inner: F, polls: &Arc<AtomicUsize>) -> CountPolls<F> {
        CountPolls { inner: Box::pin(inner), polls: polls.clone() }
    }
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

impl<F> fmt::Debug for CountPolls<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountPolls").field("polls", &self.polls.load(SeqCst)).finish()
    }
}

/// The state shared by a [`Signal`] and its [`Waiter`].
#[derive(Debug, Default)]
struct SignalState {
    fired: AtomicBool,
    /// The waiter's latest waker; taken by `fire`.
    waker: Mutex<Option<Waker>>,
    /// Polls of the waiter so far.
    polls: AtomicUsize,
}

/// A one-shot, thread-safe notification: [`Signal::fire`] (from any
/// thread) completes the [`Waiter`] by waking the waker it parked.
#[derive(Clone, Debug)]
pub struct Signal(Arc<SignalState>);

/// The future side of a [`Signal`]; it counts its polls.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Waiter(Arc<SignalState>);

impl Signal {
    /// A new, unfired signal and its waiter.
    pub fn new() -> (Signal, Waiter) {
        let state = Arc::new(SignalState::default());
        (Signal(state.clone()), Waiter(state))
    }

    /// Marks the signal fired and wakes the waiter, if it is parked.
    pub fn fire(&self) {
        self.0.fired.store(true, SeqCst);
        let waker = lock(&self.0.waker).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// True once the waiter parked a waker (it was polled and is pending).
    pub fn has_waiter(&self) -> bool {
        lock(&self.0.waker).is_some()
    }

    /// How many times the waiter has been polled.
    pub fn polls(&self) -> usize {
        self.0.polls.load(SeqCst)
    }
}

impl Future for Waiter {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.polls.fetch_add(1, SeqCst);
        if self.0.fired.load(SeqCst) {
            return Poll::Ready(());
        }
        *lock(&self.0.waker) = Some(cx.waker().clone());
        // Fired between the check and the store: `fire` may have found no waker.
        if self.0.fired.load(SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Locks `m`, ignoring poison: a panicking test already failed.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serialises the tests of one binary that check whether an fd number is
/// closed: the test harness runs tests on several threads, and another test
/// opening a file could otherwise reuse the number in between.
pub fn fd_lock() -> MutexGuard<'static, ()> {
    static FD_LOCK: Mutex<()> = Mutex::new(());
    lock(&FD_LOCK)
}

/// The message of a caught panic (`&str` or `String` payloads).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&'static str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic payload>".to_owned())
}
pub mod net_util;
pub mod support;
