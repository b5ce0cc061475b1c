//! [`Semaphore`]: a fair counting semaphore, the base of
//! [`Mutex`](super::Mutex) and [`RwLock`](super::RwLock).
//!
//! # Design
//!
//! One lock guards the free-permit count, the closed flag and a
//! [`WaitList`] of waiters, each with the number of permits it still
//! needs and its waker. Releasing permits fills the head waiter's need
//! first; a waiter whose need reaches zero is unlinked and its waker is
//! woken after the lock is released. Invariant: while the queue is not
//! empty there are no free permits (they have all been assigned).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::waitlist::{lock, WaitKey, WaitList};
use crate::loom::Mutex;

/// A fair (FIFO) counting semaphore.
///
/// A semaphore holds a number of permits. [`Semaphore::acquire`] waits for
/// one, [`Semaphore::acquire_many`] for several; each returns a permit
/// guard that gives them back when dropped.
///
/// Fairness: waiters are served strictly in FIFO order. Released permits go
/// to the oldest waiter first, even when it asks for more than are free and
/// a later waiter asks for fewer: a large `acquire_many` at the head of the
/// queue holds up smaller requests behind it (and collects permits as they
/// are released), so it cannot starve. The `try_*` methods never jump the
/// queue either: while anyone waits there are no free permits to take.
///
/// Cancel safety: dropping a waiting acquire future leaves the queue and
/// returns whatever permits had already been assigned to it, which then go
/// to the next waiters.
///
/// ```
/// use std::sync::Arc;
/// use runtime::sync::Semaphore;
///
/// runtime::block_on(async {
///     // At most 2 of the 5 tasks run their critical section at a time.
///     let sem = Arc::new(Semaphore::new(2));
///     let tasks: Vec<_> = (0..5)
///         .map(|i| {
///             let sem = sem.clone();
///             runtime::spawn(async move {
///                 let _permit = sem.acquire().await.unwrap();
///                 runtime::yield_now().await;
///                 i
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: Mutex<State>,
}

struct State {
    /// Free permits; zero while `waiters` is not empty.
    permits: usize,
    closed: bool,
    waiters: WaitList<Waiter>,
}

struct Waiter {
    /// Permits still to be assigned; zero once unlinked as satisfied.
    needed: usize,
    waker: Option<Waker>,
}

/// [`Semaphore::acquire`] failed: the semaphore was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl Error for AcquireError {}

/// Why a `try_acquire*` call got no permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough free permits (or others are already waiting for them).
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl Error for TryAcquireError {}

impl Semaphore {
    /// The most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    pub fn new(permits: usize) -> Semaphore {
        assert!(permits <= Self::MAX_PERMITS, "a semaphore holds at most {} permits", Self::MAX_PERMITS);
        Semaphore { state: Mutex::new(State { permits, closed: false, waiters: WaitList::new() }) }
    }

    /// Like [`Semaphore::new`], usable in a `static`.
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    /// static LIMIT: Semaphore = Semaphore::const_new(3);
    /// assert_eq!(LIMIT.available_permits(), 3);
    /// ```
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    #[cfg(not(loom))]
    pub const fn const_new(permits: usize) -> Semaphore {
        assert!(permits <= Self::MAX_PERMITS, "a semaphore holds at most MAX_PERMITS permits");
        Semaphore { state: Mutex::new(State { permits, closed: false, waiters: WaitList::new() }) }
    }

    fn lock(&self) -> impl DerefMut<Target = State> + '_ {
        lock(&self.state)
    }

    /// Free permits now (zero while anyone waits).
    pub fn available_permits(&self) -> usize {
        self.lock().permits
    }

    /// Adds `n` permits, serving waiters in FIFO order first. Works on a
    /// closed semaphore too (the permits just cannot be acquired).
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    /// let sem = Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    ///
    /// # Panics
    /// If the total would exceed [`Semaphore::MAX_PERMITS`].
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    /// Removes up to `n` free permits for good; returns how many it removed.
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    /// let sem = Semaphore::new(5);
    /// assert_eq!(sem.forget_permits(3), 3);
    /// assert_eq!(sem.forget_permits(3), 2);
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut s = self.lock();
        let forgotten = n.min(s.permits);
        s.permits -= forgotten;
        forgotten
    }

    /// Gives `n` permits back (or adds them), waking the waiters they
    /// satisfy.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut wakers = Vec::new();
        let mut s = self.lock();
        let overflow = release_locked(&mut s, n, &mut wakers);
        drop(s);
        wakers.into_iter().for_each(Waker::wake);
        assert!(!overflow, "a semaphore holds at most {} permits", Self::MAX_PERMITS);
    }

    /// Waits for one permit.
    ///
    /// Fails only if the semaphore is closed. Waiters are served in FIFO
    /// order; dropping the future gives up its place (see the
    /// [type docs](Semaphore) on cancel safety).
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    /// runtime::block_on(async {
    ///     let sem = Semaphore::new(1);
    ///     let permit = sem.acquire().await.unwrap();
    ///     assert_eq!(sem.available_permits(), 0);
    ///     drop(permit);
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once; see [`Semaphore::acquire`].
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    /// runtime::block_on(async {
    ///     let sem = Semaphore::new(5);
    ///     let permit = sem.acquire_many(3).await.unwrap();
    ///     assert_eq!(permit.num_permits(), 3);
    ///     assert_eq!(sem.available_permits(), 2);
    /// });
    /// ```
    ///
    /// # Panics
    /// (When polled) if `n` exceeds [`Semaphore::MAX_PERMITS`].
    pub fn acquire_many(&self, n: u32) -> Acquire<'_> {
        Acquire { sem: self, core: Core::new(n) }
    }

    /// Takes one permit if it is free now.
    ///
    /// ```
    /// use runtime::sync::{Semaphore, TryAcquireError};
    /// let sem = Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::NoPermits));
    /// drop(permit);
    /// sem.close();
    /// assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::Closed));
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are all free now.
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_take(n as usize).map(|()| SemaphorePermit { sem: self, permits: n as usize })
    }

    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut s = self.lock();
        if s.closed {
            Err(TryAcquireError::Closed)
        } else if s.permits >= n {
            // Free permits imply an empty queue: nobody is overtaken.
            s.permits -= n;
            Ok(())
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// Like [`Semaphore::acquire`], for an `Arc<Semaphore>`: the permit
    /// owns an `Arc` of the semaphore, so it is `'static`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtime::sync::Semaphore;
    /// runtime::block_on(async {
    ///     let sem = Arc::new(Semaphore::new(1));
    ///     let permit = sem.clone().acquire_owned().await.unwrap();
    ///     let task = runtime::spawn(async move {
    ///         let _held = permit; // released when the task ends
    ///     });
    ///     task.await.unwrap();
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// Like [`Semaphore::acquire_many`], for an `Arc<Semaphore>`.
    pub fn acquire_many_owned(self: Arc<Self>, n: u32) -> AcquireOwned {
        AcquireOwned { sem: self, core: Core::new(n) }
    }

    /// Like [`Semaphore::try_acquire`], for an `Arc<Semaphore>`.
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Like [`Semaphore::try_acquire_many`], for an `Arc<Semaphore>`.
    pub fn try_acquire_many_owned(self: Arc<Self>, n: u32) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_take(n as usize)?;
        Ok(OwnedSemaphorePermit { sem: self, permits: n as usize })
    }

    /// Closes the semaphore: waiting acquires fail with [`AcquireError`],
    /// and so do later ones. Permits already held stay valid.
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    /// runtime::block_on(async {
    ///     let sem = Semaphore::new(0);
    ///     sem.close();
    ///     assert!(sem.is_closed());
    ///     assert!(sem.acquire().await.is_err());
    /// });
    /// ```
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        let mut wakers = Vec::with_capacity(s.waiters.len());
        while let Some((_, w)) = s.waiters.pop_front() {
            wakers.extend(w.waker.take());
        }
        drop(s);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// True once [`Semaphore::close`] has been called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

/// Adds `n` permits: to the queued waiters in FIFO order, then to the free
/// count. Returns true if the free count would overflow `MAX_PERMITS` (it
/// is capped; the caller panics after unlocking).
fn release_locked(s: &mut State, mut n: usize, wakers: &mut Vec<Waker>) -> bool {
    while n > 0 {
        let Some(key) = s.waiters.front() else { break };
        let w = s.waiters.get_mut(key).expect("queued waiters have entries");
        let take = n.min(w.needed);
        w.needed -= take;
        n -= take;
        if w.needed > 0 {
            break; // the head still waits: nobody may overtake it
        }
        wakers.extend(w.waker.take());
        s.waiters.unlink(key);
    }
    let total = s.permits.saturating_add(n);
    s.permits = total.min(Semaphore::MAX_PERMITS);
    total > Semaphore::MAX_PERMITS
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("Semaphore")
            .field("permits", &s.permits)
            .field("waiters", &s.waiters.len())
            .field("closed", &s.closed)
            .finish()
    }
}

/// The acquire state machine apart from the reference to the semaphore,
/// so the borrowed and owned futures (and `Mutex`, `RwLock`) share it.
#[derive(Debug)]
pub(crate) struct Core {
    requested: usize,
    step: Step,
}

#[derive(Debug)]
enum Step {
    Init,
    Waiting(WaitKey),
    Done,
}

impl Core {
    pub(crate) fn new(n: u32) -> Core {
        Core { requested: n as usize, step: Step::Init }
    }

    /// Polls for the permits; `Ready(Ok)` means they are now the caller's.
    pub(crate) fn poll(&mut self, sem: &Semaphore, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        crate::task::budget::cooperate(cx, |cx| {
            assert!(self.requested <= Semaphore::MAX_PERMITS, "cannot acquire more than MAX_PERMITS permits");
            let mut s = sem.lock();
            let key = match self.step {
                Step::Done => panic!("acquire future polled after completion"),
                Step::Init => {
                    if s.closed {
                        self.step = Step::Done;
                        return Poll::Ready(Err(AcquireError(())));
                    }
                    if s.permits >= self.requested {
                        s.permits -= self.requested;
                        self.step = Step::Done;
                        return Poll::Ready(Ok(()));
                    }
                    // Free permits imply an empty queue: take them now, as the
                    // new head, and wait for the rest.
                    debug_assert!(s.permits == 0 || s.waiters.is_empty());
                    let needed = self.requested - s.permits;
                    s.permits = 0;
                    self.step = Step::Waiting(s.waiters.push_back(Waiter { needed, waker: Some(cx.waker().clone()) }));
                    return Poll::Pending;
                }
                Step::Waiting(key) => key,
            };
            let needed = s.waiters.get(key).expect("a waiting acquire owns its entry").needed;
            debug_assert!(needed > 0 || !s.waiters.is_linked(key), "satisfied waiters leave the queue");
            if needed == 0 {
                let entry = s.waiters.remove(key);
                self.step = Step::Done;
                drop(s);
                drop(entry);
                return Poll::Ready(Ok(()));
            }
            if s.closed {
                drop(s);
                self.cancel(sem); // returns any partial grant
                return Poll::Ready(Err(AcquireError(())));
            }
            let w = s.waiters.get_mut(key).expect("a waiting acquire owns its entry");
            let stale = if w.waker.as_ref().is_some_and(|old| old.will_wake(cx.waker())) {
                None
            } else {
                w.waker.replace(cx.waker().clone())
            };
            drop(s);
            drop(stale);
            Poll::Pending
        })
    }

    /// Leaves the queue, returning the permits assigned so far (all of them
    /// if the future was satisfied but never saw it).
    pub(crate) fn cancel(&mut self, sem: &Semaphore) {
        let Step::Waiting(key) = self.step else { return };
        self.step = Step::Done;
        let mut wakers = Vec::new();
        let mut s = sem.lock();
        let entry = s.waiters.remove(key);
        if let Some(w) = &entry {
            release_locked(&mut s, self.requested - w.needed, &mut wakers);
        }
        drop(s);
        drop(entry);
        wakers.into_iter().for_each(Waker::wake);
    }

    fn is_waiting(&self) -> bool {
        matches!(self.step, Step::Waiting(_))
    }
}

/// Future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    core: Core,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sem = this.sem;
        let permits = this.core.requested;
        this.core.poll(sem, cx).map_ok(|()| SemaphorePermit { sem, permits })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.core.cancel(self.sem);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.core.requested)
            .field("waiting", &self.core.is_waiting())
            .finish()
    }
}

/// Future of [`Semaphore::acquire_owned`] and
/// [`Semaphore::acquire_many_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct AcquireOwned {
    sem: Arc<Semaphore>,
    core: Core,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedSemaphorePermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let permits = this.core.requested;
        let sem = &this.sem;
        this.core.poll(sem, cx).map_ok(|()| OwnedSemaphorePermit { sem: sem.clone(), permits })
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        self.core.cancel(&self.sem);
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("permits", &self.core.requested)
            .field("waiting", &self.core.is_waiting())
            .finish()
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping it gives them back.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl<'a> SemaphorePermit<'a> {
    /// Keeps the permits out of the semaphore for good.
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    /// let sem = Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Takes over the permits of `other`.
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    /// let sem = Semaphore::new(3);
    /// let mut a = sem.try_acquire().unwrap();
    /// a.merge(sem.try_acquire_many(2).unwrap());
    /// assert_eq!(a.num_permits(), 3);
    /// ```
    ///
    /// # Panics
    /// If the permits come from different semaphores.
    pub fn merge(&mut self, mut other: SemaphorePermit<'a>) {
        assert!(std::ptr::eq(self.sem, other.sem), "merging permits of different semaphores");
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit; `None` if this holds fewer.
    pub fn split(&mut self, n: usize) -> Option<SemaphorePermit<'a>> {
        self.permits = self.permits.checked_sub(n)?;
        Some(SemaphorePermit { sem: self.sem, permits: n })
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.permits);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").field("permits", &self.permits).finish()
    }
}

/// Permits held through an `Arc<Semaphore>`; dropping it gives them back.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Takes over the permits of `other`.
    ///
    /// # Panics
    /// If the permits come from different semaphores.
    pub fn merge(&mut self, mut other: OwnedSemaphorePermit) {
        assert!(Arc::ptr_eq(&self.sem, &other.sem), "merging permits of different semaphores");
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit; `None` if this holds fewer.
    pub fn split(&mut self, n: usize) -> Option<OwnedSemaphorePermit> {
        self.permits = self.permits.checked_sub(n)?;
        Some(OwnedSemaphorePermit { sem: self.sem.clone(), permits: n })
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.release(self.permits);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit").field("permits", &self.permits).finish()
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Semaphore>();
    send_sync::<Acquire<'static>>();
    send_sync::<AcquireOwned>();
    send_sync::<SemaphorePermit<'static>>();
    send_sync::<OwnedSemaphorePermit>();
    send_sync::<AcquireError>();
    send_sync::<TryAcquireError>();
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

    fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn large_head_blocks_smaller_later_requests() {
        let sem = Semaphore::new(1);
        let mut big = sem.acquire_many(3);
        assert!(poll(&mut big, Waker::noop()).is_pending());
        assert_eq!(sem.available_permits(), 0, "the head took the free permit");
        let mut small = sem.acquire();
        assert!(poll(&mut small, Waker::noop()).is_pending());
        assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::NoPermits));
        sem.add_permits(1);
        assert!(poll(&mut small, Waker::noop()).is_pending(), "may not overtake the head");
        sem.add_permits(2); // head satisfied (1 + 1 + 1), then 1 for small
        let Poll::Ready(Ok(p)) = poll(&mut big, Waker::noop()) else { panic!("big not ready") };
        assert_eq!(p.num_permits(), 3);
        let Poll::Ready(Ok(q)) = poll(&mut small, Waker::noop()) else { panic!("small not ready") };
        assert_eq!(sem.available_permits(), 0);
        drop((p, q));
        assert_eq!(sem.available_permits(), 4);
    }

    #[test]
    fn dropping_a_partly_granted_acquire_returns_its_permits() {
        let sem = Semaphore::new(2);
        let mut big = sem.acquire_many(5);
        assert!(poll(&mut big, Waker::noop()).is_pending());
        let (count, waker) = counting();
        let mut small = sem.acquire_many(2);
        assert!(poll(&mut small, &waker).is_pending());
        sem.add_permits(1);
        assert_eq!(count.0.load(SeqCst), 0);
        drop(big); // its 3 permits: 2 to small, 1 free
        assert_eq!(count.0.load(SeqCst), 1);
        let Poll::Ready(Ok(held)) = poll(&mut small, &waker) else { panic!("small not ready") };
        assert_eq!(sem.available_permits(), 1);
        drop(held);
        assert_eq!(sem.available_permits(), 3);
    }

    #[test]
    fn dropping_a_granted_but_unpolled_acquire_passes_the_permits_on() {
        let sem = Semaphore::new(0);
        let mut a = sem.acquire();
        let mut b = sem.acquire();
        let (count_b, waker_b) = counting();
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, &waker_b).is_pending());
        sem.add_permits(1); // to a
        assert_eq!(count_b.0.load(SeqCst), 0);
        drop(a);
        assert_eq!(count_b.0.load(SeqCst), 1);
        assert!(poll(&mut b, &waker_b).is_ready());
    }

    #[test]
    fn close_fails_waiters_and_later_acquires_but_not_held_permits() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (count, waker) = counting();
        let mut waiting = sem.acquire_many(2);
        assert!(poll(&mut waiting, &waker).is_pending());
        sem.close();
        assert_eq!(count.0.load(SeqCst), 1);
        assert_eq!(poll(&mut waiting, &waker).map(|r| r.err()), Poll::Ready(Some(AcquireError(()))));
        assert!(matches!(poll(&mut sem.acquire(), &waker), Poll::Ready(Err(_))));
        assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::Closed));
        drop(held);
        assert_eq!(sem.available_permits(), 1, "returned permits still count");
        assert!(sem.is_closed());
    }

    #[test]
    fn zero_permit_requests_succeed_at_once() {
        let sem = Semaphore::new(0);
        assert_eq!(sem.try_acquire_many(0).unwrap().num_permits(), 0);
        assert!(poll(&mut sem.acquire_many(0), Waker::noop()).is_ready());
    }

    #[test]
    fn forget_merge_split() {
        let sem = Arc::new(Semaphore::new(4));
        let mut p = sem.clone().try_acquire_many_owned(2).unwrap();
        p.merge(sem.clone().try_acquire_owned().unwrap());
        assert_eq!(p.num_permits(), 3);
        let q = p.split(2).unwrap();
        assert!(p.split(5).is_none());
        assert_eq!(sem.available_permits(), 1);
        q.forget();
        drop(p);
        assert_eq!(sem.available_permits(), 2);
        assert!(Arc::ptr_eq(sem.clone().try_acquire_owned().unwrap().semaphore(), &sem));
    }

    #[test]
    #[should_panic(expected = "at most")]
    fn too_many_permits_panic() {
        let sem = Semaphore::new(Semaphore::MAX_PERMITS);
        sem.add_permits(1);
    }

    #[test]
    fn waker_is_replaced_on_repoll() {
        let sem = Semaphore::new(0);
        let (c1, w1) = counting();
        let (c2, w2) = counting();
        let mut a = sem.acquire();
        assert!(poll(&mut a, &w1).is_pending());
        assert!(poll(&mut a, &w2).is_pending());
        sem.add_permits(1);
        assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (0, 1));
        assert!(poll(&mut a, &w2).is_ready());
    }

    #[test]
    fn owned_acquire_across_threads() {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = sem.clone();
        crate::block_on(async move {
            let t = std::thread::spawn(move || {
                for _ in 0..10 {
                    s2.add_permits(1);
                    std::thread::yield_now();
                }
            });
            let p = sem.clone().acquire_many_owned(10).await.unwrap();
            assert_eq!(p.num_permits(), 10);
            t.join().unwrap();
        });
    }
}
