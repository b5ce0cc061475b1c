//! [`Mutex`]: a fair asynchronous mutex over a one-permit
//! [`Semaphore`].
//!
//! # Where the data lives (safe Rust only)
//!
//! Tokio keeps the value in a raw cell and lets the semaphore permit stand
//! for the right to touch it. These files are safe Rust only, so the value
//! lives in a `Box<T>` parked in a slot (`Mutex<Option<Box<T>>>`,
//! std's, swapped for loom's under `--cfg loom`). The guard *takes the box
//! out* when the semaphore admits it and puts it back when dropped, before
//! it releases the permit:
//!
//! - the slot's lock is held for a pointer move, never while the user holds
//!   the guard, so it is never contended for long and never poisoned;
//! - the guard owns the box, so an [`OwnedMutexGuard`] (which must not
//!   borrow the `Mutex`) needs no self-reference; the obvious alternative, a
//!   std `MutexGuard` inside the async guard, cannot be made `'static`;
//! - only the permit holder ever finds the box there, so the slot is never
//!   empty when a lock is granted.
//!
//! The cost is one allocation per `Mutex` (not per lock). A guard leaked
//! with `mem::forget` leaks its permit too, so the mutex stays locked, as in
//! tokio; [`Mutex::get_mut`] and [`Mutex::into_inner`] then panic.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::semaphore::{Core, Semaphore};
use super::waitlist::lock;

/// An asynchronous mutex: [`lock`](Mutex::lock) waits (without blocking
/// the thread) until the value is free.
///
/// Fair: tasks get the lock in the order they asked for it (FIFO), since
/// the mutex is a one-permit [`Semaphore`]. Unlike `std::sync::Mutex` the
/// guard may be held across `.await`s, and a panic while holding it does
/// not poison the mutex.
///
/// ```
/// use std::sync::Arc;
/// use runtime::sync::Mutex;
///
/// runtime::block_on(async {
///     let count = Arc::new(Mutex::new(0));
///     let tasks: Vec<_> = (0..4)
///         .map(|_| {
///             let count = count.clone();
///             runtime::spawn(async move {
///                 let mut n = count.lock().await;
///                 runtime::yield_now().await; // still held across the await
///                 *n += 1;
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(*count.lock().await, 4);
/// });
/// ```
pub struct Mutex<T> {
    sem: Semaphore,
    /// The value while unlocked; empty while a guard holds it.
    slot: crate::loom::Mutex<Option<Box<T>>>,
}

/// [`Mutex::try_lock`] (or a `try_read`/`try_write` of
/// [`RwLock`](super::RwLock)) found the lock held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryLockError(pub(crate) ());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation would block")
    }
}

impl Error for TryLockError {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex { sem: Semaphore::new(1), slot: crate::loom::Mutex::new(Some(Box::new(value))) }
    }

    /// Takes the value out of its slot: only the holder of the permit may.
    fn take(&self) -> Box<T> {
        lock(&self.slot).take().expect("the permit holder finds the value in its slot")
    }

    fn put_back(&self, value: Box<T>) {
        *lock(&self.slot) = Some(value);
    }

    /// Waits for the lock. Callers get it in the order they called (FIFO).
    ///
    /// Cancel safety: dropping the future gives up its place in the queue;
    /// if the lock had just been handed to it, it goes to the next waiter.
    ///
    /// ```
    /// use runtime::sync::Mutex;
    /// runtime::block_on(async {
    ///     let m = Mutex::new(vec![1]);
    ///     m.lock().await.push(2);
    ///     assert_eq!(*m.lock().await, [1, 2]);
    /// });
    /// ```
    pub fn lock(&self) -> Lock<'_, T> {
        Lock { mutex: self, core: Core::new(1) }
    }

    /// Takes the lock if it is free now (and nobody is queued for it).
    ///
    /// ```
    /// use runtime::sync::Mutex;
    /// let m = Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_err());
    /// drop(guard);
    /// assert_eq!(*m.try_lock().unwrap(), 1);
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let permit = self.sem.try_acquire().map_err(|_| TryLockError(()))?;
        permit.forget(); // the guard releases it by hand
        Ok(MutexGuard { mutex: self, value: Some(self.take()) })
    }

    /// Like [`Mutex::lock`], for an `Arc<Mutex>`: the guard owns an `Arc`
    /// of the mutex, so it is `'static` (it can move into another task).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtime::sync::Mutex;
    /// runtime::block_on(async {
    ///     let m = Arc::new(Mutex::new(0));
    ///     let mut guard = m.clone().lock_owned().await;
    ///     runtime::spawn(async move { *guard += 1 }).await.unwrap();
    ///     assert_eq!(*m.lock().await, 1);
    /// });
    /// ```
    pub fn lock_owned(self: Arc<Self>) -> LockOwned<T> {
        LockOwned { mutex: self, core: Core::new(1) }
    }

    /// Like [`Mutex::try_lock`], for an `Arc<Mutex>`.
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        let permit = self.sem.try_acquire().map_err(|_| TryLockError(()))?;
        permit.forget();
        let value = Some(self.take());
        Ok(OwnedMutexGuard { mutex: self, value })
    }

    /// Locks from a plain OS thread, blocking it until the lock is free.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtime::sync::Mutex;
    /// let m = Arc::new(Mutex::new(0));
    /// let m2 = m.clone();
    /// std::thread::spawn(move || *m2.blocking_lock() += 1).join().unwrap();
    /// assert_eq!(*m.blocking_lock(), 1);
    /// ```
    ///
    /// # Panics
    /// If called inside a weft runtime, where it would stall every task.
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        super::park_on(self.lock())
    }

    /// Like [`Mutex::blocking_lock`], for an `Arc<Mutex>`.
    ///
    /// # Panics
    /// If called inside a weft runtime.
    #[track_caller]
    pub fn blocking_lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        super::park_on(self.lock_owned())
    }

    /// The value, through `&mut self`: no locking needed.
    ///
    /// ```
    /// use runtime::sync::Mutex;
    /// let mut m = Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    ///
    /// # Panics
    /// If a guard was leaked with `mem::forget` (the value left with it).
    pub fn get_mut(&mut self) -> &mut T {
        self.slot
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
            .expect("a MutexGuard was leaked")
    }

    /// Consumes the mutex, returning the value.
    ///
    /// # Panics
    /// If a guard was leaked with `mem::forget`.
    pub fn into_inner(self) -> T {
        *self.slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).expect("a MutexGuard was leaked")
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Future of [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T> {
    mutex: &'a Mutex<T>,
    core: Core,
}

impl<'a, T> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = self.get_mut();
        let mutex = this.mutex;
        match this.core.poll(&mutex.sem, cx) {
            Poll::Ready(Ok(())) => Poll::Ready(MutexGuard { mutex, value: Some(mutex.take()) }),
            Poll::Ready(Err(_)) => unreachable!("a mutex's semaphore is never closed"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        self.core.cancel(&self.mutex.sem);
    }
}

impl<T> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").field("core", &self.core).finish()
    }
}

/// Future of [`Mutex::lock_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockOwned<T> {
    mutex: Arc<Mutex<T>>,
    core: Core,
}

impl<T> Future for LockOwned<T> {
    type Output = OwnedMutexGuard<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OwnedMutexGuard<T>> {
        let this = self.get_mut();
        match this.core.poll(&this.mutex.sem, cx) {
            Poll::Ready(Ok(())) => {
                let value = Some(this.mutex.take());
                Poll::Ready(OwnedMutexGuard { mutex: this.mutex.clone(), value })
            }
            Poll::Ready(Err(_)) => unreachable!("a mutex's semaphore is never closed"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for LockOwned<T> {
    fn drop(&mut self) {
        self.core.cancel(&self.mutex.sem);
    }
}

impl<T> fmt::Debug for LockOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockOwned").field("core", &self.core).finish()
    }
}

/// Access to the value of a locked [`Mutex`]; unlocks when dropped.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// `Some` until dropped.
    value: Option<Box<T>>,
}

impl<'a, T> MutexGuard<'a, T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.mutex
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.as_deref().expect("guard holds the value until dropped")
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_deref_mut().expect("guard holds the value until dropped")
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            self.mutex.put_back(value); // before the next holder may look
        }
        self.mutex.sem.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Like [`MutexGuard`], holding an `Arc` of the mutex instead of a borrow.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct OwnedMutexGuard<T> {
    mutex: Arc<Mutex<T>>,
    value: Option<Box<T>>,
}

impl<T> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.mutex
    }
}

impl<T> Deref for OwnedMutexGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.as_deref().expect("guard holds the value until dropped")
    }
}

impl<T> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_deref_mut().expect("guard holds the value until dropped")
    }
}

impl<T> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            self.mutex.put_back(value);
        }
        self.mutex.sem.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Lock<'static, Vec<u8>>>();
    send_sync::<LockOwned<Vec<u8>>>();
    send_sync::<MutexGuard<'static, Vec<u8>>>();
    send_sync::<OwnedMutexGuard<Vec<u8>>>();
    send_sync::<TryLockError>();
    // As in tokio and std: a `Mutex` makes a `Send` but `!Sync` value `Sync`.
    send_sync::<Mutex<std::cell::Cell<u8>>>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn fifo_handoff_skips_try_lock() {
        let m = Mutex::new(0);
        let held = m.try_lock().unwrap();
        let mut a = m.lock();
        assert!(poll(&mut a).is_pending());
        drop(held); // handed to `a`, not free
        assert!(m.try_lock().is_err(), "try_lock may not overtake a queued waiter");
        let Poll::Ready(mut g) = poll(&mut a) else { panic!("a not granted") };
        *g += 1;
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 1);
    }

    #[test]
    fn cancelled_lock_after_handoff_unlocks() {
        let m = Mutex::new(());
        let held = m.try_lock().unwrap();
        let mut a = m.lock();
        let mut b = m.lock();
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_pending());
        drop(held); // to a
        drop(a); // passes it to b
        assert!(poll(&mut b).is_ready());
        assert!(m.try_lock().is_ok());
    }

    #[test]
    fn panicking_holder_does_not_poison() {
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let r = std::thread::spawn(move || {
            let _g = m2.blocking_lock();
            panic!("boom");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(*m.blocking_lock(), 1);
    }

    #[test]
    fn debug_shows_data_or_locked() {
        let m = Mutex::new(7);
        assert_eq!(format!("{m:?}"), "Mutex { data: 7 }");
        let g = m.try_lock().unwrap();
        assert_eq!(format!("{m:?}"), "Mutex { data: <locked> }");
        assert_eq!(format!("{g:?} {g}"), "7 7");
    }

    #[test]
    #[should_panic(expected = "leaked")]
    fn into_inner_after_a_leaked_guard_panics() {
        // A zero-sized value: the forgotten guard then leaks no heap memory
        // (valgrind and LeakSanitizer would rightly report a boxed one).
        let m = Mutex::new(());
        std::mem::forget(m.try_lock().unwrap());
        assert!(m.try_lock().is_err(), "stays locked");
        m.into_inner();
    }

    #[test]
    fn owned_guard_outlives_the_borrow() {
        let m = Arc::new(Mutex::new(String::new()));
        let mut g = m.clone().try_lock_owned().unwrap();
        g.push('x');
        assert!(Arc::ptr_eq(OwnedMutexGuard::mutex(&g), &m));
        let t = std::thread::spawn(move || g.push('y'));
        t.join().unwrap();
        assert_eq!(*m.blocking_lock(), "xy");
    }

    #[test]
    #[should_panic(expected = "stall")]
    fn blocking_lock_inside_the_runtime_panics() {
        let m = Mutex::new(());
        crate::block_on(async { drop(m.blocking_lock()) });
    }
}
