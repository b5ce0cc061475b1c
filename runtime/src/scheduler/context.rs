//! The loop running on the current thread.
//!
//! Entering a loop makes it current for the scheduler (`spawn`, the wake
//! fast path), and makes its driver and timers current for the I/O objects
//! and sleeps polled on this thread; the guard restores what was there.

use std::cell::RefCell;
use std::rc::Rc;

use super::current_thread::Core;
use crate::{driver, time};

thread_local! {
    /// The loop whose `block_on` (or shutdown) is running on this thread.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Runs `f` with the loop running on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    let core = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()?;
    Some(f(&core))
}

/// Restores the previous loop, driver and timers when dropped (also on unwind).
#[derive(Debug)]
pub(crate) struct EnterGuard {
    prev: Option<Rc<Core>>,
    _driver: driver::EnterGuard,
    _time: time::EnterGuard,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// Makes `core` the current loop for the guard's life.
///
/// # Panics
/// If a loop is already running on this thread and `nested` is false:
/// `block_on` inside a task would block the thread that must run the task.
pub(crate) fn enter(core: &Rc<Core>, nested: bool) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(Some(core.clone())));
    if prev.is_some() && !nested {
        CURRENT.with(|c| *c.borrow_mut() = prev);
        panic!(
            "cannot block_on inside a weft runtime: this thread is already running one, \
             and blocking it would deadlock its tasks; .await the future instead"
        );
    }
    EnterGuard { prev, _driver: driver::enter(core.driver_handle()), _time: time::enter(core.timers()) }
}
