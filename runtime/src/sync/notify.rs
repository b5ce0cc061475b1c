//! [`Notify`]: wakes tasks waiting for an event, without carrying data.
//!
//! # Design
//!
//! One lock guards the permit, the count of `notify_waiters` calls and a
//! [`WaitList`] of waiters (a slab entry per waiting future, holding its
//! waker and, once chosen, how it was notified). Wakers are collected under
//! the lock and woken after it is released. A `Notified` chosen by
//! `notify_one` but dropped before it returned `Ready` hands the
//! notification to the next waiter (or back to the permit), so it is never
//! lost. `Notified` is not self-referential (it holds a key into the slab,
//! not a list node), so it is `Unpin`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::waitlist::{WaitKey, WaitList};
use crate::loom::Mutex;

/// Notifies one task, or all waiting tasks, of an event.
///
/// A task waits with [`Notify::notified`]. [`Notify::notify_one`] wakes the
/// task that has waited longest (FIFO), or, when nobody waits, stores one
/// permit that the next `notified().await` consumes at once; permits do not
/// accumulate. [`Notify::notify_waiters`] wakes every task waiting at that
/// moment (and every [`Notified`] already created, polled or not) and
/// stores nothing.
///
/// ```
/// use std::sync::Arc;
/// use runtime::sync::Notify;
///
/// runtime::block_on(async {
///     let notify = Arc::new(Notify::new());
///     let waiter = {
///         let notify = notify.clone();
///         runtime::spawn(async move {
///             notify.notified().await;
///             "woken"
///         })
///     };
///     notify.notify_one(); // wakes the task, or leaves it a permit
///     assert_eq!(waiter.await.unwrap(), "woken");
/// });
/// ```
pub struct Notify {
    state: Mutex<State>,
}

struct State {
    /// A `notify_one` found nobody waiting.
    permit: bool,
    /// Calls to `notify_waiters` so far: a `Notified` created before one of
    /// them completes even if it never got into `waiters`.
    generation: u64,
    waiters: WaitList<Waiter>,
}

struct Waiter {
    waker: Option<Waker>,
    /// Set when the waiter is unlinked by a notification.
    notified: Option<Kind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// By `notify_one`/`notify_last`: must be passed on if unused.
    One,
    /// By `notify_waiters`: nothing to pass on.
    All,
}

impl Notify {
    /// A `Notify` with no stored permit and nobody waiting.
    pub fn new() -> Notify {
        Notify { state: Mutex::new(State::new()) }
    }

    /// Like [`Notify::new`], usable in a `static`.
    ///
    /// ```
    /// use runtime::sync::Notify;
    /// static READY: Notify = Notify::const_new();
    /// READY.notify_one();
    /// runtime::block_on(READY.notified()); // consumes the stored permit
    /// ```
    #[cfg(not(loom))]
    pub const fn const_new() -> Notify {
        Notify { state: Mutex::new(State::new()) }
    }

    fn lock(&self) -> impl std::ops::DerefMut<Target = State> + '_ {
        super::waitlist::lock(&self.state)
    }

    /// Waits for a notification.
    ///
    /// The returned future takes part in `notify_one` once it is polled (or
    /// [enabled](Notified::enable)), and completes on any `notify_waiters`
    /// call made after `notified()` returned, even before its first poll.
    ///
    /// Cancel safety: dropping a `Notified` that `notify_one` had chosen
    /// passes the notification on to the next waiter.
    ///
    /// ```
    /// use runtime::sync::Notify;
    /// runtime::block_on(async {
    ///     let notify = Notify::new();
    ///     let a = notify.notified();
    ///     let b = notify.notified();
    ///     notify.notify_waiters(); // both were created before the call
    ///     a.await;
    ///     b.await;
    /// });
    /// ```
    pub fn notified(&self) -> Notified<'_> {
        Notified { notify: self, core: Core::new(self) }
    }

    /// Like [`Notify::notified`], but the future owns an `Arc` of the
    /// `Notify`, so it is `'static` (it can move into a spawned task).
    pub fn notified_owned(self: Arc<Self>) -> OwnedNotified {
        let core = Core::new(&self);
        OwnedNotified { notify: self, core }
    }

    /// Wakes the task that has waited longest; if none waits, stores a
    /// permit (at most one) for the next [`notified`](Notify::notified).
    ///
    /// ```
    /// use std::pin::pin;
    /// use runtime::sync::Notify;
    /// runtime::block_on(async {
    ///     let notify = Notify::new();
    ///     notify.notify_one();
    ///     notify.notify_one(); // still one permit
    ///     notify.notified().await; // returns at once
    ///     // No permit left: the next one would wait.
    ///     assert!(!pin!(notify.notified()).enable());
    /// });
    /// ```
    pub fn notify_one(&self) {
        let waker = notify_locked(&mut self.lock(), End::Front);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Like [`notify_one`](Notify::notify_one), but wakes the task that
    /// started waiting most recently (LIFO).
    pub fn notify_last(&self) {
        let waker = notify_locked(&mut self.lock(), End::Back);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every task waiting now, and completes every [`Notified`]
    /// created before this call; stores no permit.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtime::sync::Notify;
    /// runtime::block_on(async {
    ///     let notify = Arc::new(Notify::new());
    ///     let tasks: Vec<_> = (0..3)
    ///         .map(|_| {
    ///             let notified = notify.clone().notified_owned();
    ///             runtime::spawn(notified)
    ///         })
    ///         .collect();
    ///     notify.notify_waiters();
    ///     for t in tasks {
    ///         t.await.unwrap();
    ///     }
    /// });
    /// ```
    pub fn notify_waiters(&self) {
        let mut s = self.lock();
        s.generation = s.generation.wrapping_add(1);
        let mut wakers = Vec::with_capacity(s.waiters.len());
        while let Some((_, w)) = s.waiters.pop_front() {
            w.notified = Some(Kind::All);
            wakers.extend(w.waker.take());
        }
        drop(s);
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl State {
    const fn new() -> State {
        State { permit: false, generation: 0, waiters: WaitList::new() }
    }
}

enum End {
    Front,
    Back,
}

/// One notification: to a waiter (whose waker is returned, to be woken
/// after unlocking) or, if none, to the permit.
fn notify_locked(s: &mut State, end: End) -> Option<Waker> {
    let popped = match end {
        End::Front => s.waiters.pop_front(),
        End::Back => s.waiters.pop_back(),
    };
    match popped {
        Some((_, w)) => {
            w.notified = Some(Kind::One);
            w.waker.take()
        }
        None => {
            s.permit = true;
            None
        }
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("Notify").field("permit", &s.permit).field("waiters", &s.waiters.len()).finish()
    }
}

/// The state machine of a `Notified`, apart from the reference to its
/// `Notify` (so the borrowed and owned futures share it).
#[derive(Debug)]
struct Core {
    /// `State::generation` when the future was created.
    generation: u64,
    step: Step,
}

#[derive(Debug)]
enum Step {
    Init,
    Waiting(WaitKey),
    Done,
}

impl Core {
    fn new(notify: &Notify) -> Core {
        Core { generation: notify.lock().generation, step: Step::Init }
    }

    /// Polls for the notification; with no `cx` (from `enable`), registers
    /// without a waker.
    fn poll(&mut self, notify: &Notify, cx: Option<&mut Context<'_>>) -> Poll<()> {
        let mut s = notify.lock();
        let stale_waker;
        match self.step {
            Step::Done => return Poll::Ready(()),
            Step::Init => {
                if s.generation != self.generation || std::mem::take(&mut s.permit) {
                    self.step = Step::Done;
                    return Poll::Ready(());
                }
                let waker = cx.map(|cx| cx.waker().clone());
                self.step = Step::Waiting(s.waiters.push_back(Waiter { waker, notified: None }));
                return Poll::Pending;
            }
            Step::Waiting(key) => {
                let w = s.waiters.get_mut(key).expect("a waiting Notified owns its entry");
                if w.notified.is_some() {
                    let entry = s.waiters.remove(key);
                    self.step = Step::Done;
                    drop(s);
                    drop(entry); // its waker, outside the lock
                    return Poll::Ready(());
                }
                stale_waker = match cx {
                    Some(cx) if !w.waker.as_ref().is_some_and(|old| old.will_wake(cx.waker())) => {
                        w.waker.replace(cx.waker().clone())
                    }
                    _ => None,
                };
            }
        }
        drop(s);
        drop(stale_waker);
        Poll::Pending
    }

    /// Leaves the queue; a `notify_one` notification that was never
    /// returned goes to the next waiter.
    fn cancel(&mut self, notify: &Notify) {
        let Step::Waiting(key) = self.step else { return };
        self.step = Step::Done;
        let mut s = notify.lock();
        let entry = s.waiters.remove(key);
        let pass_on = if entry.as_ref().is_some_and(|w| w.notified == Some(Kind::One)) {
            notify_locked(&mut s, End::Front)
        } else {
            None
        };
        drop(s);
        drop(entry);
        if let Some(w) = pass_on {
            w.wake();
        }
    }
}

/// Future of [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    core: Core,
}

impl Notified<'_> {
    /// Joins the queue of waiters for `notify_one` without polling (with no
    /// waker to wake yet). Returns true if the notification has already
    /// arrived (a stored permit is consumed by this), in which case the
    /// future is ready.
    ///
    /// ```
    /// use runtime::sync::Notify;
    /// use std::pin::pin;
    /// runtime::block_on(async {
    ///     let notify = Notify::new();
    ///     let mut notified = pin!(notify.notified());
    ///     assert!(!notified.as_mut().enable()); // now in the queue
    ///     notify.notify_one(); // goes to us, not to a stored permit
    ///     notified.await;
    /// });
    /// ```
    pub fn enable(self: Pin<&mut Self>) -> bool {
        let this = self.get_mut();
        this.core.poll(this.notify, None).is_ready()
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        crate::task::budget::cooperate(cx, |cx| {
            let this = self.get_mut();
            this.core.poll(this.notify, Some(cx))
        })
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        self.core.cancel(self.notify);
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified").field("step", &self.core.step).finish()
    }
}

/// Future of [`Notify::notified_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct OwnedNotified {
    notify: Arc<Notify>,
    core: Core,
}

impl OwnedNotified {
    /// See [`Notified::enable`].
    pub fn enable(self: Pin<&mut Self>) -> bool {
        let this = self.get_mut();
        this.core.poll(&this.notify, None).is_ready()
    }
}

impl Future for OwnedNotified {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        crate::task::budget::cooperate(cx, |cx| {
            let this = self.get_mut();
            this.core.poll(&this.notify, Some(cx))
        })
    }
}

impl Drop for OwnedNotified {
    fn drop(&mut self) {
        self.core.cancel(&self.notify);
    }
}

impl fmt::Debug for OwnedNotified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedNotified").field("step", &self.core.step).finish()
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Notify>();
    send_sync::<Notified<'static>>();
    send_sync::<OwnedNotified>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn poll(f: &mut (impl Future + Unpin), waker: &Waker) -> bool {
        Pin::new(f).poll(&mut Context::from_waker(waker)).is_ready()
    }

    #[test]
    fn permit_is_stored_once() {
        let notify = Notify::new();
        notify.notify_one();
        notify.notify_one();
        let w = Waker::noop();
        assert!(poll(&mut notify.notified(), w));
        assert!(!poll(&mut notify.notified(), w), "permits do not accumulate");
    }

    #[test]
    fn notify_one_wakes_in_fifo_order_and_last_in_lifo() {
        let notify = Notify::new();
        let (counts, wakers): (Vec<_>, Vec<_>) = (0..3).map(|_| counting()).unzip();
        let mut futs: Vec<_> = (0..3).map(|_| notify.notified()).collect();
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(!poll(f, w));
        }
        notify.notify_one();
        assert_eq!(counts.iter().map(|c| c.0.load(SeqCst)).collect::<Vec<_>>(), [1, 0, 0]);
        notify.notify_last();
        assert_eq!(counts.iter().map(|c| c.0.load(SeqCst)).collect::<Vec<_>>(), [1, 0, 1]);
        assert!(poll(&mut futs[0], &wakers[0]));
        assert!(!poll(&mut futs[1], &wakers[1]));
        assert!(poll(&mut futs[2], &wakers[2]));
        assert!(!notify.lock().permit);
    }

    #[test]
    fn notify_waiters_reaches_unpolled_futures_but_stores_nothing() {
        let notify = Notify::new();
        let mut created = notify.notified();
        let (count, waker) = counting();
        let mut polled = notify.notified();
        assert!(!poll(&mut polled, &waker));
        notify.notify_waiters();
        assert_eq!(count.0.load(SeqCst), 1);
        assert!(poll(&mut polled, &waker));
        assert!(poll(&mut created, &waker), "created before the call, polled after");
        assert!(!poll(&mut notify.notified(), &waker), "no permit stored");
    }

    #[test]
    fn dropped_chosen_waiter_passes_the_notification_on() {
        let notify = Notify::new();
        let (count_b, waker_b) = counting();
        let mut a = notify.notified();
        let mut b = notify.notified();
        assert!(!poll(&mut a, Waker::noop()));
        assert!(!poll(&mut b, &waker_b));
        notify.notify_one(); // chooses a
        drop(a);
        assert_eq!(count_b.0.load(SeqCst), 1, "passed to b");
        assert!(poll(&mut b, &waker_b));

        // With nobody left to take it, it becomes the permit.
        let mut c = notify.notified();
        assert!(!poll(&mut c, Waker::noop()));
        notify.notify_one();
        drop(c);
        assert!(notify.lock().permit);
    }

    #[test]
    fn dropped_unchosen_waiter_leaves_quietly() {
        let notify = Notify::new();
        let mut a = notify.notified();
        assert!(!poll(&mut a, Waker::noop()));
        drop(a);
        assert!(notify.lock().waiters.is_empty());
        notify.notify_one();
        assert!(notify.lock().permit);
    }

    #[test]
    fn enable_queues_without_a_waker() {
        let notify = Notify::new();
        let mut a = notify.notified();
        assert!(!Pin::new(&mut a).enable());
        notify.notify_one();
        assert!(!notify.lock().permit, "went to the enabled future");
        assert!(poll(&mut a, Waker::noop()));
        notify.notify_one();
        assert!(Pin::new(&mut notify.notified()).enable(), "consumes the permit");
        assert!(!notify.lock().permit);
    }

    #[test]
    fn repolling_with_a_new_waker_replaces_it() {
        let notify = Notify::new();
        let (c1, w1) = counting();
        let (c2, w2) = counting();
        let mut a = notify.notified();
        assert!(!poll(&mut a, &w1));
        assert!(!poll(&mut a, &w2));
        notify.notify_one();
        assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (0, 1));
    }

    #[test]
    fn cross_thread_notify_wakes_a_task() {
        let notify = Arc::new(Notify::new());
        let n2 = notify.clone();
        crate::block_on(async move {
            let t = std::thread::spawn(move || {
                for _ in 0..100 {
                    n2.notify_one();
                    std::thread::yield_now();
                }
            });
            // Each notify_one is either a wake or the stored permit.
            notify.notified().await;
            t.join().unwrap();
        });
    }
}
