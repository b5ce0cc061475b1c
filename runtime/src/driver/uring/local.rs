//! [`Local`]: the part of a completion driver bound to its loop's thread
//! (the ring and its provided buffers), and the thread's list of them.
//!
//! The ring layer's `Ring` and `BufRing` are bound to the thread that
//! created them (neither `Send` nor `Sync`; a `SINGLE_ISSUER` ring refuses
//! other threads). The driver reaches them directly; a task on the loop's
//! thread reaches them through this thread-local list, keyed by the
//! driver's identity, to copy out of a buffer and give it back at once, or
//! to submit the cancellations of an fd that is about to close. On another
//! thread the list has no entry, and the task leaves the work to the loop
//! (see `RecvSide::copy` and `Source::deregister`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::Source;
use crate::sys::uring::{BufRing, Cqe, Ring};

/// One driver's ring and provided buffers.
#[derive(Debug)]
pub(super) struct Local {
    /// The driver's identity (`Shared::id`).
    owner: usize,
    /// The ring. Borrowed by the driver during `park`, by a deregistering
    /// task between ticks; never both, as both run on this thread.
    pub(super) ring: RefCell<Ring>,
    /// The ring of buffers the kernel picks from.
    bufs: RefCell<BufRing>,
    /// Buffers the application holds; shared with `Shared::held`.
    held: Arc<AtomicUsize>,
    /// Set when the driver gave up on the kernel: nothing here is ever
    /// dropped.
    leaked: Cell<bool>,
    /// Sources whose state changed on this thread since the last tick (the
    /// dirty list without a lock; other threads use `Shared::dirty`).
    pub(super) dirty: RefCell<Vec<Arc<Source>>>,
}

thread_local! {
    /// The rings of the completion drivers created on this thread.
    static LOCAL: RefCell<Vec<Rc<Local>>> = const { RefCell::new(Vec::new()) };
}

impl Local {
    /// Lists driver `owner`'s ring and buffers on this thread.
    pub(super) fn install(owner: usize, ring: Ring, bufs: BufRing, held: Arc<AtomicUsize>) -> Rc<Local> {
        let local = Rc::new(Local {
            owner,
            ring: RefCell::new(ring),
            bufs: RefCell::new(bufs),
            held,
            leaked: Cell::new(false),
            dirty: RefCell::new(Vec::new()),
        });
        LOCAL.with(|l| l.borrow_mut().push(local.clone()));
        local
    }

    /// Removes the entry (the driver is dropped on its own thread). After
    /// [`Local::leak`], the ring and buffers are forgotten instead of dropped.
    pub(super) fn uninstall(self: &Rc<Self>) {
        let _ = LOCAL.try_with(|l| l.borrow_mut().retain(|b| !Rc::ptr_eq(b, self)));
        if self.leaked.get() {
            std::mem::forget(self.clone());
        }
    }

    /// Never unregister or unmap the buffers, nor close the ring (the
    /// kernel may still write into the buffers).
    pub(super) fn leak(&self) {
        self.leaked.set(true);
    }

    /// Runs `f` with driver `owner`'s ring and buffers, if this is its thread.
    pub(super) fn with<R>(owner: usize, f: impl FnOnce(&Local) -> R) -> Option<R> {
        let local = LOCAL.try_with(|l| l.borrow().iter().find(|b| b.owner == owner).cloned()).ok().flatten()?;
        Some(f(&local))
    }

    /// Moves the buffer `cqe` reports to the application.
    ///
    /// # Safety
    ///
    /// As for `BufRing::take`: `cqe` comes from the ring these buffers are
    /// registered on, completes an op that selected from them, and was not
    /// taken before.
    pub(super) unsafe fn take(&self, cqe: &Cqe) -> Option<u16> {
        // SAFETY: forwarded to the caller.
        let id = unsafe { self.bufs.borrow_mut().take(cqe) }?;
        self.held.fetch_add(1, Ordering::Relaxed);
        Some(id)
    }

    /// Copies bytes `start..` of held buffer `id` into `out`; returns how
    /// many, and how many were left in the buffer before the copy.
    pub(super) fn copy(&self, id: u16, start: usize, out: &mut [u8]) -> (usize, usize) {
        let bufs = self.bufs.borrow();
        let data = bufs.buf(id).get(start..).unwrap_or_default();
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        (n, data.len())
    }

    /// The bytes `start..` of held buffer `id`, as an owned vector.
    pub(super) fn to_vec(&self, id: u16, start: usize) -> Vec<u8> {
        self.bufs.borrow().buf(id).get(start..).unwrap_or_default().to_vec()
    }

    /// Gives buffer `id` back to the kernel.
    pub(super) fn recycle(&self, id: u16) {
        self.bufs.borrow_mut().recycle(id);
        self.held.fetch_sub(1, Ordering::Relaxed);
    }
}
