//! The raw task: one heap allocation holding the header, the join waker and
//! the future (later its output), and the waker vtable that points into it.
//!
//! All `unsafe` of the task system lives here. The invariants:
//!
//! - The allocation is a `Cell<F>` whose first field is the `Header`
//!   (`#[repr(C)]`), so a `NonNull<Header>` can be cast back by code that
//!   knows `F` (the monomorphised functions in the vtable).
//! - It lives while the reference count in `Header::state` is non-zero; the
//!   last `ref_dec` calls `vtable.dealloc`.
//! - The output is written by the runtime thread before `COMPLETE` is set,
//!   and afterwards read or dropped by exactly one party: the `JoinHandle` if
//!   `JOIN_INTEREST` was set at completion, else the runtime at once.
//!
//! # Why a `spawn_local` task never leaves its thread
//!
//! A `!Send` future sits behind `Send + Sync` wakers and a `Send` handle, so
//! soundness rests on this argument, kept here in one place:
//!
//! 1. *Polls happen on the runtime's thread.* Only the run loop calls
//!    `vtable.run`, inside `Runtime::block_on`; `Runtime` is `!Send`
//!    (its `Core` holds `!Send` fields), so that is always the thread that
//!    created it, which is the thread `spawn_local` was called on (it finds
//!    the runtime through a thread-local). A wake from another thread only
//!    queues the task on the injection queue; the loop polls it later.
//! 2. *The future is dropped on that thread too.* It is dropped when it
//!    completes (inside `run`), when it is cancelled (`abort` only sets a
//!    bit and queues the task; `run` drops the future) or at shutdown
//!    (`Runtime::drop`, same thread). The runtime's task list holds a
//!    reference until one of those happened, so a last reference released
//!    elsewhere (a waker dropped on another thread) finds the stage
//!    already emptied and only frees memory.
//! 3. *The output stays on that thread unless it is `Send`.* It is dropped
//!    by the runtime (nobody awaits it) or taken by the `JoinHandle<T>`,
//!    which is `Send` only if `T` is.

use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::join::JoinError;
use super::join_waker::JoinWaker;
use super::state::State;
use crate::context::Shared;

/// The type-erased operations on a `Cell<F>`.
pub(crate) struct Vtable {
    /// Runs the task once (poll, or drop the future if cancelled). True if
    /// the task completed during this run.
    run: unsafe fn(NonNull<Header>) -> bool,
    /// Drops the future if it has not completed and completes the task as
    /// cancelled (runtime shutdown).
    shutdown: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst`, a `Poll<Result<F::Output, JoinError>>`.
    read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops an unread output (the handle is dropped after completion).
    drop_output: unsafe fn(NonNull<Header>),
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
}

/// The part of a task every handle can reach without knowing `F`.
#[repr(C)]
pub(crate) struct Header {
    /// Flags and reference count (see `state.rs`).
    pub(crate) state: State,
    /// Operations for this task's concrete future type.
    vtable: &'static Vtable,
    /// The runtime that runs the task; wakes go to its queues. Kept alive
    /// by the task so a waker that outlives the runtime stays harmless.
    pub(crate) shared: Arc<Shared>,
    /// Slot in the runtime's task list. Read and written only on the
    /// runtime thread.
    pub(crate) list_index: UnsafeCell<usize>,
    /// The waker of the task awaiting the `JoinHandle`.
    join_waker: JoinWaker,
}

/// What the cell holds over the task's life.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The whole allocation.
#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    /// Touched only by the runtime thread, except for reading or dropping
    /// the output after completion (see the module docs).
    stage: UnsafeCell<Stage<F>>,
}

/// An owned reference to a task (one unit of the reference count).
pub(crate) struct Task {
    ptr: NonNull<Header>,
}

// SAFETY: a `Task` only reaches the header's atomics and the `Send + Sync`
// shared runtime state; the future is touched only on the runtime thread (module docs).
unsafe impl Send for Task {}
// SAFETY: as above; `&Task` offers nothing beyond `Task`.
unsafe impl Sync for Task {}

/// Allocates a task for `future`: returns the task-list reference, the
/// run-queue reference and the raw pointer for the `JoinHandle`'s reference.
pub(crate) fn allocate<F: Future + 'static>(future: F, shared: Arc<Shared>) -> (Task, Task, NonNull<Header>) {
    let cell = Box::new(Cell {
        header: Header {
            state: State::new(),
            vtable: vtable::<F>(),
            shared,
            list_index: UnsafeCell::new(usize::MAX),
            join_waker: JoinWaker::new(),
        },
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
    (Task { ptr }, Task { ptr }, ptr)
}

fn vtable<F: Future + 'static>() -> &'static Vtable {
    struct Table<F>(std::marker::PhantomData<F>);
    impl<F: Future + 'static> Table<F> {
        const VTABLE: Vtable = Vtable {
            run: run::<F>,
            shutdown: shutdown::<F>,
            read_output: read_output::<F>,
            drop_output: drop_output::<F>,
            dealloc: dealloc::<F>,
        };
    }
    &Table::<F>::VTABLE
}

impl Task {
    /// Adopts one reference already counted in the state word.
    ///
    /// # Safety
    /// The caller transfers one reference it owns to the new `Task`.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Task {
        Task { ptr }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: this `Task` holds a reference, so the allocation is alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    /// Polls the task once on the runtime thread. True if it completed.
    pub(crate) fn run(&self) -> bool {
        // SAFETY: we hold a reference; `run` is only called by the run loop on the runtime thread.
        unsafe { (self.header().vtable.run)(self.ptr) }
    }

    /// Cancels the task during runtime shutdown, on the runtime thread.
    pub(crate) fn shutdown(&self) {
        // SAFETY: as for `run`.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    pub(crate) fn list_index(&self) -> usize {
        // SAFETY: only the runtime thread touches `list_index`, and it is that thread calling.
        unsafe { *self.header().list_index.get() }
    }

    pub(crate) fn set_list_index(&self, index: usize) {
        // SAFETY: as for `list_index`.
        unsafe { *self.header().list_index.get() = index }
    }

    /// Schedules the task (used for `abort`); the caller already counted
    /// this reference in the state.
    pub(crate) fn schedule(self) {
        crate::context::schedule(self);
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { drop_ref(self.ptr) }
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("ptr", &self.ptr).field("state", &self.header().state).finish()
    }
}

/// Drops one reference, freeing the task if it was the last.
///
/// # Safety
/// The caller owns one reference to a live task.
pub(crate) unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive for this call.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec() {
        // SAFETY: that was the last reference; nobody else can reach the task.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}

// ----- monomorphised vtable functions -----

/// # Safety (all below)
/// `ptr` points to a live `Cell<F>` of this exact `F`.
unsafe fn cell<'a, F: Future>(ptr: NonNull<Header>) -> &'a Cell<F> {
    // SAFETY: the caller guarantees the cast is to the allocation's real type.
    unsafe { ptr.cast::<Cell<F>>().as_ref() }
}

unsafe fn run<F: Future>(ptr: NonNull<Header>) -> bool {
    // SAFETY: vtable contract.
    let cell = unsafe { cell::<F>(ptr) };
    let prev = cell.header.state.start_run();
    if prev.is_complete() {
        return false;
    }
    // SAFETY: runtime thread, and no other reference to the stage is live during a run.
    let stage = unsafe { &mut *cell.stage.get() };
    let Stage::Running(future) = stage else { return false };
    if prev.is_cancelled() {
        drop_future(stage);
        complete(cell, Err(JoinError::cancelled()));
        return true;
    }
    // The run queue's reference keeps the task alive for the whole poll, so
    // the borrowed waker needs no reference of its own.
    // SAFETY: `ptr` is a live task and the vtable's functions expect exactly that.
    let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
    let mut cx = Context::from_waker(&waker);
    // SAFETY: the future lives inside the heap allocation and is never moved until dropped.
    let future = unsafe { Pin::new_unchecked(future) };
    let output = match panic::catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))) {
        Ok(Poll::Pending) => return false,
        Ok(Poll::Ready(output)) => Ok(output),
        Err(payload) => Err(JoinError::panic(payload)),
    };
    drop_future(stage);
    complete(cell, output);
    true
}

/// Drops the future in place, containing a panicking destructor.
fn drop_future<F: Future>(stage: &mut Stage<F>) {
    let old = mem::replace(stage, Stage::Consumed);
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(old)));
}

/// Stores the output, publishes `COMPLETE` and tells the handle. Runtime thread only.
fn complete<F: Future>(cell: &Cell<F>, output: Result<F::Output, JoinError>) {
    // SAFETY: runtime thread; the handle reads the stage only after seeing COMPLETE, set below.
    unsafe { *cell.stage.get() = Stage::Finished(output) };
    let prev = cell.header.state.complete();
    if !prev.has_join_interest() {
        // Nobody will read it: drop it here, on the runtime thread.
        // SAFETY: without join interest nobody else touches the stage.
        let stage = unsafe { &mut *cell.stage.get() };
        let old = mem::replace(stage, Stage::Consumed);
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(old)));
    } else {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| cell.header.join_waker.wake(prev)));
    }
}

unsafe fn shutdown<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: vtable contract.
    let cell = unsafe { cell::<F>(ptr) };
    if cell.header.state.load().is_complete() {
        return;
    }
    // SAFETY: runtime thread, not inside a poll of this task.
    let stage = unsafe { &mut *cell.stage.get() };
    drop_future(stage);
    complete(cell, Err(JoinError::cancelled()));
}

unsafe fn read_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: vtable contract.
    let cell = unsafe { cell::<F>(ptr) };
    // SAFETY: called by the handle after it saw COMPLETE with JOIN_INTEREST
    // set (it is the handle), so it is the only party touching the stage.
    let stage = unsafe { mem::replace(&mut *cell.stage.get(), Stage::Consumed) };
    if let Stage::Finished(output) = stage {
        // SAFETY: the handle passes a `Poll<Result<F::Output, JoinError>>` of the matching type.
        unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
    }
}

unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: vtable contract.
    let cell = unsafe { cell::<F>(ptr) };
    // SAFETY: as for `read_output`.
    let stage = unsafe { mem::replace(&mut *cell.stage.get(), Stage::Consumed) };
    drop(stage);
}

unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone, so we own the allocation made by
    // `Box::leak` in `allocate`; the stage holds no future (module docs).
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F>>().as_ptr()) });
}

// ----- the join-waker slot, used by `JoinHandle` -----

/// Checks whether the output can be read; if not, stores `waker` to be
/// woken at completion. Called only by the `JoinHandle` (single owner).
pub(crate) fn can_read_output(ptr: NonNull<Header>, waker: &Waker) -> bool {
    // SAFETY: the handle holds a reference.
    let header = unsafe { ptr.as_ref() };
    header.join_waker.register(&header.state, waker)
}

/// Reads the finished output into `dst` (a `Poll<Result<T, JoinError>>`).
///
/// # Safety
/// The task is complete, the caller is its `JoinHandle`, and `T` is the output type.
pub(crate) unsafe fn read_output_into(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: forwarded contract.
    unsafe { (ptr.as_ref().vtable.read_output)(ptr, dst) }
}

/// Called when the `JoinHandle` drops; releases its claim on the output and
/// the join waker, then its reference.
///
/// # Safety
/// The caller is the task's `JoinHandle` and gives up its reference.
pub(crate) unsafe fn drop_join_handle(ptr: NonNull<Header>) {
    // SAFETY: the handle's reference keeps the header alive.
    let header = unsafe { ptr.as_ref() };
    if header.join_waker.release(&header.state) {
        // Complete with our interest: the unread output is ours to drop.
        // SAFETY: vtable contract; we are the handle.
        unsafe { (header.vtable.drop_output)(ptr) };
    }
    // SAFETY: the handle's own reference.
    unsafe { drop_ref(ptr) }
}

// ----- the waker vtable -----

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr().cast::<()>().cast_const(), &WAKER_VTABLE)
}

fn header_ptr(data: *const ()) -> NonNull<Header> {
    // SAFETY: every RawWaker with WAKER_VTABLE was built from a non-null header pointer.
    unsafe { NonNull::new_unchecked(data.cast_mut().cast::<Header>()) }
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    let ptr = header_ptr(data);
    // SAFETY: the waker being cloned holds a reference.
    unsafe { ptr.as_ref() }.state.ref_inc();
    raw_waker(ptr)
}

unsafe fn waker_wake(data: *const ()) {
    let ptr = header_ptr(data);
    // SAFETY: the waker being consumed holds a reference.
    let header = unsafe { ptr.as_ref() };
    match header.state.wake_by_val() {
        // SAFETY: the waker's reference moves to the queue entry.
        (true, _) => crate::context::schedule(unsafe { Task::from_raw(ptr) }),
        // SAFETY: that was the last reference.
        (false, true) => unsafe { (header.vtable.dealloc)(ptr) },
        (false, false) => {}
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    let ptr = header_ptr(data);
    // SAFETY: the waker holds a reference for the duration of this call.
    let header = unsafe { ptr.as_ref() };
    if header.state.wake_by_ref() {
        // SAFETY: `wake_by_ref` counted a new reference for the queue entry.
        crate::context::schedule(unsafe { Task::from_raw(ptr) });
    }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the waker owns one reference.
    unsafe { drop_ref(header_ptr(data)) }
}

/// Extracts a printable message from a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&'static str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}
