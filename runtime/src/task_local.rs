//! Task-local storage: a value per task rather than per thread.
//!
//! A thread-local follows the thread, so every task polled on that thread
//! would see (and clobber) the same value. A task-local follows a future:
//! [`LocalKey::scope`] wraps the future in a [`TaskLocalFuture`] that puts
//! the value into the key around each poll and takes it out again after,
//! so it is visible exactly while that future runs, across its `.await`s
//! and on whichever thread polls it.
//!
//! Declare keys with [`task_local!`](crate::task_local!):
//!
//! ```
//! use std::cell::Cell;
//!
//! runtime::task_local! {
//!     static REQUEST_ID: u64;
//!     pub static TRACE: Cell<u32>;
//! }
//!
//! async fn handle() -> u64 {
//!     runtime::yield_now().await; // other tasks run here
//!     TRACE.with(|t| t.set(t.get() + 1));
//!     REQUEST_ID.get()
//! }
//!
//! runtime::block_on(async {
//!     let a = runtime::spawn(REQUEST_ID.scope(1, TRACE.scope(Cell::new(0), handle())));
//!     let b = runtime::spawn(REQUEST_ID.scope(2, TRACE.scope(Cell::new(0), handle())));
//!     assert_eq!(a.await.unwrap(), 1);
//!     assert_eq!(b.await.unwrap(), 2);
//!     // Outside any scope there is no value.
//!     assert!(REQUEST_ID.try_with(|id| *id).is_err());
//! });
//! ```

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// Declares task-local keys: `static NAME: Type;`, one or more, each with
/// optional attributes and visibility. Each becomes a
/// [`LocalKey<Type>`](LocalKey) static, with no value until a
/// [`scope`](LocalKey::scope) sets one.
///
/// ```
/// runtime::task_local! {
///     /// The user the current request runs for.
///     pub static USER: String;
///     static DEPTH: usize;
/// }
///
/// let user = USER.sync_scope("ada".to_string(), || USER.get());
/// assert_eq!(user, "ada");
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_inner {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task_local::LocalKey<$t> = {
            ::std::thread_local! {
                static __WEFT_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task_local::LocalKey::__new(__WEFT_TASK_LOCAL)
        };
    };
}

/// A task-local key, declared with [`task_local!`](crate::task_local!).
///
/// The value lives in a thread-local slot only while a
/// [`scope`](LocalKey::scope)d future (or a
/// [`sync_scope`](LocalKey::sync_scope) closure) runs; the rest of the
/// time it is kept inside the scope, so each task sees its own value.
pub struct LocalKey<T: 'static> {
    inner: std::thread::LocalKey<RefCell<Option<T>>>,
}

impl<T: 'static> LocalKey<T> {
    /// Used by [`task_local!`](crate::task_local!); not public API.
    #[doc(hidden)]
    pub const fn __new(inner: std::thread::LocalKey<RefCell<Option<T>>>) -> LocalKey<T> {
        LocalKey { inner }
    }

    /// Runs `future` with the key set to `value`: while it is polled,
    /// [`with`](LocalKey::with) and friends see `value` (an enclosing scope's
    /// value is shadowed, and visible again once this future returns from a
    /// poll). The value is dropped with the future.
    ///
    /// ```
    /// runtime::task_local! { static LEVEL: u8; }
    ///
    /// runtime::block_on(LEVEL.scope(1, async {
    ///     assert_eq!(LEVEL.get(), 1);
    ///     LEVEL.scope(2, async { assert_eq!(LEVEL.get(), 2) }).await;
    ///     assert_eq!(LEVEL.get(), 1);
    /// }));
    /// ```
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture { local: self, slot: Some(value), future: Some(future) }
    }

    /// Calls `f` with the key set to `value`, then restores the previous
    /// value (also if `f` panics).
    ///
    /// # Panics
    /// If called from inside [`with`](LocalKey::with) on the same key.
    #[track_caller]
    pub fn sync_scope<F: FnOnce() -> R, R>(&'static self, value: T, f: F) -> R {
        let mut slot = Some(value);
        match self.scope_inner(&mut slot, f) {
            Ok(r) => r,
            Err(e) => e.panic(),
        }
    }

    /// Swaps `slot` into the key, runs `f`, and swaps back, even if `f`
    /// panics. Afterwards `slot` holds the scope's value again (or `None`
    /// if code inside took it) and the key its previous value.
    fn scope_inner<F: FnOnce() -> R, R>(&'static self, slot: &mut Option<T>, f: F) -> Result<R, ScopeError> {
        /// Swaps the value back out when dropped, so unwinding restores it too.
        struct Restore<'a, T: 'static> {
            key: &'static LocalKey<T>,
            slot: &'a mut Option<T>,
        }

        impl<T: 'static> Drop for Restore<'_, T> {
            fn drop(&mut self) {
                // Cannot fail: the swap in succeeded on this thread, and any
                // borrow taken inside the scope has ended.
                self.key.inner.with(|cell| std::mem::swap(self.slot, &mut *cell.borrow_mut()));
            }
        }

        self.inner
            .try_with(|cell| cell.try_borrow_mut().map(|mut current| std::mem::swap(slot, &mut *current)))
            .map_err(|_| ScopeError::Destroyed)?
            .map_err(|_| ScopeError::Borrowed)?;
        let _restore = Restore { key: self, slot };
        Ok(f())
    }

    /// Calls `f` with a reference to the current value.
    ///
    /// # Panics
    /// If the key has no value here (not inside a
    /// [`scope`](LocalKey::scope) of it); see [`try_with`](LocalKey::try_with).
    #[track_caller]
    pub fn with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(_) => panic!(
                "cannot access a task-local value outside a scope of its key: \
                 run the code inside `KEY.scope(value, future)` or `KEY.sync_scope(value, f)`"
            ),
        }
    }

    /// Calls `f` with a reference to the current value, or returns an
    /// [`AccessError`] if the key has no value here.
    pub fn try_with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> Result<R, AccessError> {
        // While `f` runs the cell stays borrowed; a scope of this key
        // entered from inside `f` then panics instead of swapping.
        let res = self.inner.try_with(|cell| match cell.try_borrow() {
            Ok(current) => current.as_ref().map(f).ok_or(AccessError { _private: () }),
            Err(_) => Err(AccessError { _private: () }),
        });
        res.unwrap_or(Err(AccessError { _private: () }))
    }

    /// A clone of the current value.
    ///
    /// # Panics
    /// Like [`with`](LocalKey::with), if the key has no value here.
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("LocalKey { .. }")
    }
}

/// Why a scope could not be entered.
enum ScopeError {
    /// The key's cell is borrowed: a scope entered from inside `with`.
    Borrowed,
    /// The thread's locals are being destroyed.
    Destroyed,
}

impl ScopeError {
    #[track_caller]
    fn panic(self) -> ! {
        match self {
            ScopeError::Borrowed => {
                panic!("cannot enter a task-local scope while the key's value is borrowed (inside `with`)")
            }
            ScopeError::Destroyed => {
                panic!("cannot enter a task-local scope while the thread's locals are being destroyed")
            }
        }
    }
}

/// The key has no value where [`LocalKey::try_with`] was called: not
/// inside a scope of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessError {
    _private: (),
}

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessError").finish()
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set")
    }
}

impl Error for AccessError {}

pin_project! {
    /// A future that runs with a task-local value set; see [`LocalKey::scope`].
    ///
    /// The inner future is also dropped with the value set, so its
    /// destructors can read it.
    #[must_use = "futures do nothing unless awaited"]
    pub struct TaskLocalFuture<T, F>
    where
        T: 'static,
    {
        local: &'static LocalKey<T>,
        // The value while the future is not being polled.
        slot: Option<T>,
        // `None` once it completed.
        #[pin]
        future: Option<F>,
    }

    impl<T, F> PinnedDrop for TaskLocalFuture<T, F>
    where
        T: 'static,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.future.is_some() {
                let mut future = this.future;
                let local = *this.local;
                // If the scope cannot be entered the future is dropped
                // right after, without the value.
                let _ = local.scope_inner(this.slot, || future.set(None));
            }
        }
    }
}

impl<T: 'static, F> TaskLocalFuture<T, F> {
    /// Takes the value out of the scope (the future then runs without it);
    /// `None` if it was already taken.
    pub fn take_value(self: Pin<&mut Self>) -> Option<T> {
        self.project().slot.take()
    }
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut future = this.future;
        let res = this.local.scope_inner(this.slot, || {
            let out = future.as_mut().as_pin_mut().map(|f| f.poll(cx));
            if let Some(Poll::Ready(_)) = out {
                // Dropped inside the scope, like an unfinished one is.
                future.set(None);
            }
            out
        });
        match res {
            Ok(Some(poll)) => poll,
            Ok(None) => panic!("`TaskLocalFuture` polled after it completed"),
            Err(e) => e.panic(),
        }
    }
}

impl<T: fmt::Debug + 'static, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture").field("value", &self.slot).field("done", &self.future.is_none()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    crate::task_local! {
        static NUM: u32;
        static NAME: String
    }

    #[test]
    fn nested_scopes_shadow_and_restore() {
        crate::block_on(NUM.scope(1, async {
            assert_eq!(NUM.get(), 1);
            NUM.scope(2, async {
                assert_eq!(NUM.get(), 2);
                crate::yield_now().await;
                assert_eq!(NUM.get(), 2);
            })
            .await;
            assert_eq!(NUM.get(), 1);
            NUM.sync_scope(3, || assert_eq!(NUM.get(), 3));
            assert_eq!(NUM.get(), 1);
        }));
        assert!(NUM.try_with(|_| ()).is_err());
    }

    #[test]
    fn panics_restore_the_outer_value() {
        NUM.sync_scope(10, || {
            let r = catch_unwind(|| NUM.sync_scope(11, || panic!("inner")));
            assert!(r.is_err());
            assert_eq!(NUM.get(), 10);
            let mut fut = Box::pin(NUM.scope(12, async { panic!("in poll") }));
            let r = catch_unwind(AssertUnwindSafe(|| crate::block_on(fut.as_mut())));
            assert!(r.is_err());
            assert_eq!(NUM.get(), 10);
        });
    }

    #[test]
    fn with_outside_a_scope_panics_with_a_clear_message() {
        let err = catch_unwind(|| NAME.with(|n| n.len())).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()));
        assert!(msg.unwrap().contains("outside a scope"));
        let e = NAME.try_with(|n| n.len()).unwrap_err();
        assert_eq!(e.to_string(), "task-local value not set");
    }

    #[test]
    fn scope_inside_with_of_the_same_key_panics() {
        NUM.sync_scope(1, || {
            let r = catch_unwind(|| NUM.with(|_| NUM.sync_scope(2, || ())));
            assert!(r.is_err());
            // The value is intact.
            assert_eq!(NUM.get(), 1);
        });
    }

    #[test]
    fn the_inner_future_is_dropped_inside_the_scope() {
        struct ReadsOnDrop<'a>(&'a Cell<Option<u32>>);
        impl Drop for ReadsOnDrop<'_> {
            fn drop(&mut self) {
                self.0.set(NUM.try_with(|n| *n).ok());
            }
        }
        let seen = Cell::new(None);
        let guard = ReadsOnDrop(&seen);
        let fut = NUM.scope(5, async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        // Never polled: still dropped with the value set.
        drop(fut);
        assert_eq!(seen.get(), Some(5));
    }

    #[test]
    fn take_value() {
        crate::block_on(async {
            let mut fut = Box::pin(NUM.scope(9, async { NUM.try_with(|n| *n).ok() }));
            assert_eq!(fut.as_mut().take_value(), Some(9));
            assert_eq!(fut.as_mut().take_value(), None);
            assert_eq!(fut.await, None);
        });
    }

    #[test]
    fn debug_impls() {
        let fut = NUM.scope(4, async {});
        assert!(format!("{fut:?}").contains("value: Some(4)"));
        assert_eq!(format!("{NUM:?}"), "LocalKey { .. }");
    }
}
