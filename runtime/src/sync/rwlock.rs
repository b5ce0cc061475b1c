//! [`RwLock`]: a fair, write-preferring asynchronous reader-writer lock over
//! a [`Semaphore`] of `max_readers` permits.
//!
//! A reader takes one permit, a writer all of them. Because the semaphore
//! serves requests strictly in FIFO order, a queued writer (which collects
//! permits as readers leave) blocks every reader that arrives after it:
//! writers cannot starve, and readers behind a writer wait for it.
//!
//! # Where the data lives (safe Rust only)
//!
//! The value lives in an `Arc<T>` parked in a slot
//! (`Mutex<Option<Arc<T>>>`). A read guard *clones* the `Arc` (readers share
//! it); a write guard *takes* it out of the slot and reaches the value with
//! `Arc::get_mut`, which succeeds because the semaphore admits a writer
//! only after every reader has dropped its guard, and a read guard drops its
//! clone before it releases its permit. The guard owns what it derefs
//! through, so the owned guards need no self-reference, unlike a std
//! `RwLockReadGuard` kept inside the async guard.
//!
//! One consequence: `RwLock<T>` is `Send` only when `T: Send + Sync` (tokio
//! needs only `T: Send`); `Sync` has the same bound as tokio's. A lock of a
//! `!Sync` value can be shared by no two threads anyway.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::mutex::TryLockError;
use super::semaphore::{Core, Semaphore};
use super::waitlist::lock;

/// An asynchronous reader-writer lock: any number of readers, or one
/// writer.
///
/// Fair and write-preferring: requests are served in FIFO order, so a
/// writer waiting for the current readers to finish blocks readers that
/// arrive after it. Guards may be held across `.await`s; a panic while
/// holding one does not poison the lock.
///
/// ```
/// use runtime::sync::RwLock;
///
/// runtime::block_on(async {
///     let lock = RwLock::new(5);
///     {
///         let r1 = lock.read().await;
///         let r2 = lock.read().await; // readers share
///         assert_eq!(*r1 + *r2, 10);
///         assert!(lock.try_write().is_err());
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 6);
/// });
/// ```
pub struct RwLock<T> {
    sem: Semaphore,
    /// Permits a writer takes: the most concurrent readers.
    max_readers: u32,
    /// The value; empty while a writer holds it.
    slot: crate::loom::Mutex<Option<Arc<T>>>,
}

impl<T> RwLock<T> {
    /// The most readers [`RwLock::with_max_readers`] accepts.
    pub const MAX_READS: u32 = u32::MAX >> 3;

    /// An unlocked lock holding `value`, allowing up to
    /// [`RwLock::MAX_READS`] concurrent readers.
    pub fn new(value: T) -> RwLock<T> {
        RwLock::with_max_readers(value, Self::MAX_READS)
    }

    /// An unlocked lock allowing at most `max_readers` concurrent readers.
    ///
    /// ```
    /// use runtime::sync::RwLock;
    /// let lock = RwLock::with_max_readers((), 2);
    /// let _a = lock.try_read().unwrap();
    /// let _b = lock.try_read().unwrap();
    /// assert!(lock.try_read().is_err());
    /// ```
    ///
    /// # Panics
    /// If `max_readers` is zero or exceeds [`RwLock::MAX_READS`].
    pub fn with_max_readers(value: T, max_readers: u32) -> RwLock<T> {
        assert!((1..=Self::MAX_READS).contains(&max_readers), "max_readers must be in 1..={}", Self::MAX_READS);
        RwLock {
            sem: Semaphore::new(max_readers as usize),
            max_readers,
            slot: crate::loom::Mutex::new(Some(Arc::new(value))),
        }
    }

    /// A reader's share of the value: the permit holder finds it there.
    fn share(&self) -> Arc<T> {
        lock(&self.slot).clone().expect("readers are admitted only while no writer holds the value")
    }

    /// The writer's exclusive value.
    fn take(&self) -> Arc<T> {
        lock(&self.slot).take().expect("a writer is admitted only while the value is in its slot")
    }

    fn put_back(&self, value: Arc<T>) {
        *lock(&self.slot) = Some(value);
    }

    /// Waits for shared read access, behind any writer that asked first.
    ///
    /// Cancel safety: dropping the future gives up its place in the queue.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtime::sync::RwLock;
    /// runtime::block_on(async {
    ///     let lock = Arc::new(RwLock::new(vec![1, 2]));
    ///     let reader = {
    ///         let lock = lock.clone();
    ///         runtime::spawn(async move { lock.read().await.len() })
    ///     };
    ///     assert_eq!(reader.await.unwrap(), 2);
    /// });
    /// ```
    pub fn read(&self) -> Read<'_, T> {
        Read { lock: self, core: Core::new(1) }
    }

    /// Waits for exclusive write access; later readers queue behind it.
    ///
    /// ```
    /// use runtime::sync::RwLock;
    /// runtime::block_on(async {
    ///     let lock = RwLock::new(String::from("a"));
    ///     lock.write().await.push('b');
    ///     assert_eq!(*lock.read().await, "ab");
    /// });
    /// ```
    pub fn write(&self) -> Write<'_, T> {
        Write { lock: self, core: Core::new(self.max_readers) }
    }

    /// Takes read access if it is available now (no writer holds or waits
    /// for the lock).
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        self.sem.try_acquire().map_err(|_| TryLockError(()))?.forget();
        Ok(RwLockReadGuard { lock: self, value: Some(self.share()) })
    }

    /// Takes write access if the lock is free now.
    ///
    /// ```
    /// use runtime::sync::RwLock;
    /// let lock = RwLock::new(0);
    /// let r = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_err());
    /// drop(r);
    /// *lock.try_write().unwrap() = 1;
    /// ```
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        self.sem.try_acquire_many(self.max_readers).map_err(|_| TryLockError(()))?.forget();
        Ok(RwLockWriteGuard { lock: self, value: Some(self.take()) })
    }

    /// Like [`RwLock::read`], for an `Arc<RwLock>`: the guard owns an `Arc`
    /// of the lock, so it is `'static`.
    pub fn read_owned(self: Arc<Self>) -> ReadOwned<T> {
        ReadOwned { lock: self, core: Core::new(1) }
    }

    /// Like [`RwLock::write`], for an `Arc<RwLock>`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtime::sync::RwLock;
    /// runtime::block_on(async {
    ///     let lock = Arc::new(RwLock::new(0));
    ///     let mut w = lock.clone().write_owned().await;
    ///     runtime::spawn(async move { *w = 7 }).await.unwrap();
    ///     assert_eq!(*lock.read_owned().await, 7);
    /// });
    /// ```
    pub fn write_owned(self: Arc<Self>) -> WriteOwned<T> {
        let n = self.max_readers;
        WriteOwned { lock: self, core: Core::new(n) }
    }

    /// Like [`RwLock::try_read`], for an `Arc<RwLock>`.
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        self.sem.try_acquire().map_err(|_| TryLockError(()))?.forget();
        let value = Some(self.share());
        Ok(OwnedRwLockReadGuard { lock: self, value })
    }

    /// Like [`RwLock::try_write`], for an `Arc<RwLock>`.
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        self.sem.try_acquire_many(self.max_readers).map_err(|_| TryLockError(()))?.forget();
        let value = Some(self.take());
        Ok(OwnedRwLockWriteGuard { lock: self, value })
    }

    /// Read access from a plain OS thread, blocking it until granted.
    ///
    /// # Panics
    /// If called inside a weft runtime.
    #[track_caller]
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        super::park_on(self.read())
    }

    /// Write access from a plain OS thread, blocking it until granted.
    ///
    /// ```
    /// use runtime::sync::RwLock;
    /// let lock = RwLock::new(1);
    /// *lock.blocking_write() += 1;
    /// assert_eq!(*lock.blocking_read(), 2);
    /// ```
    ///
    /// # Panics
    /// If called inside a weft runtime.
    #[track_caller]
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        super::park_on(self.write())
    }

    /// The value, through `&mut self`: no locking needed.
    ///
    /// # Panics
    /// If a guard was leaked with `mem::forget`.
    pub fn get_mut(&mut self) -> &mut T {
        let slot = self.slot.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.as_mut().and_then(Arc::get_mut).expect("an RwLock guard was leaked")
    }

    /// Consumes the lock, returning the value.
    ///
    /// # Panics
    /// If a guard was leaked with `mem::forget`.
    pub fn into_inner(self) -> T {
        let slot = self.slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.and_then(|arc| Arc::try_unwrap(arc).ok()).expect("an RwLock guard was leaked")
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.field("max_readers", &self.max_readers).finish()
    }
}

macro_rules! lock_future {
    ($(#[$doc:meta])* $name:ident<$($lt:lifetime)?>, $lock:ty, $guard:ident, |$this:ident| $make:expr) => {
        $(#[$doc])*
        #[must_use = "futures do nothing unless awaited"]
        pub struct $name<$($lt,)? T> {
            lock: $lock,
            core: Core,
        }

        impl<$($lt,)? T> Future for $name<$($lt,)? T> {
            type Output = $guard<$($lt,)? T>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let $this = self.get_mut();
                match $this.core.poll(&$this.lock.sem, cx) {
                    Poll::Ready(Ok(())) => Poll::Ready($make),
                    Poll::Ready(Err(_)) => unreachable!("an RwLock's semaphore is never closed"),
                    Poll::Pending => Poll::Pending,
                }
            }
        }

        impl<$($lt,)? T> Drop for $name<$($lt,)? T> {
            fn drop(&mut self) {
                self.core.cancel(&self.lock.sem);
            }
        }

        impl<$($lt,)? T> fmt::Debug for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("core", &self.core).finish()
            }
        }
    };
}

lock_future!(
    /// Future of [`RwLock::read`].
    Read<'a>, &'a RwLock<T>, RwLockReadGuard,
    |this| RwLockReadGuard { lock: this.lock, value: Some(this.lock.share()) }
);
lock_future!(
    /// Future of [`RwLock::write`].
    Write<'a>, &'a RwLock<T>, RwLockWriteGuard,
    |this| RwLockWriteGuard { lock: this.lock, value: Some(this.lock.take()) }
);
lock_future!(
    /// Future of [`RwLock::read_owned`].
    ReadOwned<>, Arc<RwLock<T>>, OwnedRwLockReadGuard,
    |this| OwnedRwLockReadGuard { lock: this.lock.clone(), value: Some(this.lock.share()) }
);
lock_future!(
    /// Future of [`RwLock::write_owned`].
    WriteOwned<>, Arc<RwLock<T>>, OwnedRwLockWriteGuard,
    |this| OwnedRwLockWriteGuard { lock: this.lock.clone(), value: Some(this.lock.take()) }
);

/// Shared access to the value of an [`RwLock`]; released when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// A clone of the shared value; `Some` until dropped.
    value: Option<Arc<T>>,
}

/// Exclusive access to the value of an [`RwLock`]; released when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// The value, unshared; `Some` until dropped or downgraded.
    value: Option<Arc<T>>,
}

/// Like [`RwLockReadGuard`], holding an `Arc` of the lock.
#[must_use = "dropping the guard releases the lock at once"]
pub struct OwnedRwLockReadGuard<T> {
    lock: Arc<RwLock<T>>,
    value: Option<Arc<T>>,
}

/// Like [`RwLockWriteGuard`], holding an `Arc` of the lock.
#[must_use = "dropping the guard releases the lock at once"]
pub struct OwnedRwLockWriteGuard<T> {
    lock: Arc<RwLock<T>>,
    value: Option<Arc<T>>,
}

fn shared<T>(value: &Option<Arc<T>>) -> &T {
    value.as_deref().expect("guard holds the value until dropped")
}

fn exclusive<T>(value: &mut Option<Arc<T>>) -> &mut T {
    // Unique: readers dropped their clones before the writer was admitted.
    value.as_mut().and_then(Arc::get_mut).expect("a write guard holds the only reference")
}

impl<'a, T> RwLockWriteGuard<'a, T> {
    /// Turns write access into read access without letting a writer in
    /// between; queued readers may then join.
    ///
    /// ```
    /// use runtime::sync::RwLock;
    /// runtime::block_on(async {
    ///     let lock = RwLock::new(1);
    ///     let mut w = lock.write().await;
    ///     *w = 2;
    ///     let r = w.downgrade();
    ///     assert_eq!((*r, *lock.try_read().unwrap()), (2, 2));
    /// });
    /// ```
    pub fn downgrade(mut self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        let value = downgrade(lock, &mut self.value);
        RwLockReadGuard { lock, value: Some(value) }
        // `self` drops with no value: it releases nothing more.
    }
}

impl<T> OwnedRwLockWriteGuard<T> {
    /// Like [`RwLockWriteGuard::downgrade`].
    pub fn downgrade(mut self) -> OwnedRwLockReadGuard<T> {
        let value = downgrade(&self.lock, &mut self.value);
        OwnedRwLockReadGuard { lock: self.lock.clone(), value: Some(value) }
    }
}

/// Puts a writer's value back and releases all its permits but the one a
/// reader holds; returns the reader's share. Leaves `value` empty, which
/// tells the write guard's `Drop` that nothing is left to release.
fn downgrade<T>(lock: &RwLock<T>, value: &mut Option<Arc<T>>) -> Arc<T> {
    let value = value.take().expect("guard holds the value until dropped");
    lock.put_back(value.clone());
    lock.sem.release(lock.max_readers as usize - 1);
    value
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        shared(&self.value)
    }
}

impl<T> Deref for OwnedRwLockReadGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        shared(&self.value)
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        shared(&self.value)
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        exclusive(&mut self.value)
    }
}

impl<T> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        shared(&self.value)
    }
}

impl<T> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        exclusive(&mut self.value)
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.value.take()); // our clone goes before a writer may look
        self.lock.sem.release(1);
    }
}

impl<T> Drop for OwnedRwLockReadGuard<T> {
    fn drop(&mut self) {
        drop(self.value.take());
        self.lock.sem.release(1);
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        // No value: downgraded, and the read guard holds the last permit.
        if let Some(value) = self.value.take() {
            self.lock.put_back(value); // before the next holder may look
            self.lock.sem.release(self.lock.max_readers as usize);
        }
    }
}

impl<T> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        // No value: downgraded, and the read guard holds the last permit.
        if let Some(value) = self.value.take() {
            self.lock.put_back(value); // before the next holder may look
            self.lock.sem.release(self.lock.max_readers as usize);
        }
    }
}

macro_rules! guard_fmt {
    ($($name:ident $(<$lt:lifetime>)?),*) => {$(
        impl<T: fmt::Debug> fmt::Debug for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: fmt::Display> fmt::Display for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    )*};
}

guard_fmt!(RwLockReadGuard<'_>, RwLockWriteGuard<'_>, OwnedRwLockReadGuard, OwnedRwLockWriteGuard);

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<RwLock<Vec<u8>>>();
    send_sync::<Read<'static, Vec<u8>>>();
    send_sync::<Write<'static, Vec<u8>>>();
    send_sync::<ReadOwned<Vec<u8>>>();
    send_sync::<WriteOwned<Vec<u8>>>();
    send_sync::<RwLockReadGuard<'static, Vec<u8>>>();
    send_sync::<RwLockWriteGuard<'static, Vec<u8>>>();
    send_sync::<OwnedRwLockReadGuard<Vec<u8>>>();
    send_sync::<OwnedRwLockWriteGuard<Vec<u8>>>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn waiting_writer_blocks_later_readers() {
        let lock = RwLock::new(0);
        let r1 = lock.try_read().unwrap();
        let mut w = lock.write();
        assert!(poll(&mut w).is_pending());
        assert!(lock.try_read().is_err(), "a queued writer blocks new readers");
        let mut r2 = lock.read();
        assert!(poll(&mut r2).is_pending());
        drop(r1);
        let Poll::Ready(mut g) = poll(&mut w) else { panic!("writer not admitted") };
        assert!(poll(&mut r2).is_pending());
        *g = 1;
        drop(g);
        let Poll::Ready(r) = poll(&mut r2) else { panic!("reader not admitted") };
        assert_eq!(*r, 1);
    }

    #[test]
    fn cancelled_writer_lets_queued_readers_in() {
        let lock = RwLock::new(());
        let r1 = lock.try_read().unwrap();
        let mut w = lock.write();
        assert!(poll(&mut w).is_pending());
        let mut r2 = lock.read();
        assert!(poll(&mut r2).is_pending());
        drop(w); // its partial grant goes back; r2 is next
        assert!(poll(&mut r2).is_ready());
        drop(r1);
        assert!(lock.try_write().is_ok());
    }

    #[test]
    fn downgrade_keeps_one_read_permit() {
        let lock = RwLock::with_max_readers(5, 3);
        let w = lock.try_write().unwrap();
        let r = w.downgrade();
        let r2 = lock.try_read().unwrap();
        let _r3 = lock.try_read().unwrap();
        assert!(lock.try_read().is_err(), "max 3 readers");
        assert!(lock.try_write().is_err());
        drop((r, r2));
        drop(_r3);
        assert_eq!(*lock.try_write().unwrap(), 5);

        let lock = Arc::new(RwLock::new(String::from("x")));
        let mut w = lock.clone().try_write_owned().unwrap();
        w.push('y');
        let r = w.downgrade();
        assert_eq!(*r, "xy");
        drop(r);
        assert_eq!(Arc::try_unwrap(lock).unwrap().into_inner(), "xy");
    }

    #[test]
    fn get_mut_and_into_inner() {
        let mut lock = RwLock::new(vec![1]);
        lock.get_mut().push(2);
        {
            let _r = lock.try_read().unwrap();
        }
        assert_eq!(lock.into_inner(), [1, 2]);
    }

    #[test]
    fn debug_shows_data_or_locked() {
        let lock = RwLock::with_max_readers(3, 4);
        assert_eq!(format!("{lock:?}"), "RwLock { data: 3, max_readers: 4 }");
        let w = lock.try_write().unwrap();
        assert_eq!(format!("{lock:?} {w:?}"), "RwLock { data: <locked>, max_readers: 4 } 3");
    }

    #[test]
    #[should_panic(expected = "max_readers")]
    fn zero_readers_panics() {
        let _ = RwLock::with_max_readers((), 0);
    }

    #[test]
    fn threads_share_readers() {
        let lock = Arc::new(RwLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        if i % 2 == 0 {
                            *lock.blocking_write() += 1;
                        } else {
                            let _ = *lock.blocking_read();
                        }
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*lock.blocking_read(), 200);
    }
}
