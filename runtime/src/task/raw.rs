//! The raw task: one heap allocation holding the header, the scheduler
//! hook, the join waker and the future (later its output), and the waker
//! vtable that points into it.
//!
//! All `unsafe` of the task system lives in this file, behind three owned
//! reference types that the rest of the runtime uses safely: [`Task`] (a
//! task, type-erased: what run queues and task lists hold), [`Notified`]
//! (a task just woken, handed to its scheduler's [`Schedule`] hook) and
//! [`JoinRef`] (the typed reference behind a `JoinHandle`).
//!
//! The invariants:
//!
//! - The allocation is a `#[repr(C)]` `Cell<F, S>` that starts with a
//!   `Prefix<S>` (the `Header`, then the scheduler hook `S`), so a
//!   `NonNull<Header>` can be cast to the prefix by code that knows `S`,
//!   and to the whole cell by code that knows `F` and `S` (the vtable's
//!   monomorphised functions).
//! - It lives while the reference count in `Header::state` is non-zero;
//!   the last reference calls `vtable.dealloc`.
//! - The stage (future, then output) is touched only by the scheduler's
//!   thread while the task runs or is shut down, except that once
//!   `COMPLETE` is set the output is read or dropped by exactly one party:
//!   the `JoinHandle` if `JOIN_INTEREST` was set at completion, else the
//!   scheduler at once.
//! - Only the scheduler a task was spawned on runs it ([`Task::run`]), from
//!   that scheduler's one thread: a wake from elsewhere goes through the
//!   hook, which queues the task for that thread.
//!
//! # Why a `spawn_local` task never leaves its thread
//!
//! A `!Send` future sits behind `Send + Sync` wakers and a `Send` handle, so
//! soundness rests on this argument, kept here in one place:
//!
//! 1. *Polls happen on the scheduler's thread.* Only a loop calls
//!    [`Task::run`], on the thread that owns it; a loop's core is `!Send`,
//!    and `spawn_local` finds the loop of the calling thread through a
//!    thread-local. A wake from another thread only queues the task for
//!    its loop; the loop polls it later.
//! 2. *The future is dropped on that thread too.* It is dropped when it
//!    completes (inside `run`), when it is cancelled (`abort` only sets a
//!    bit and queues the task; `run` drops the future) or at shutdown
//!    (`Task::shutdown`, called by the loop's owner on its thread). The
//!    loop's task list holds a reference until one of those happened, so a
//!    last reference released elsewhere (a waker dropped on another thread)
//!    finds the stage already emptied and only frees memory.
//! 3. *The output stays on that thread unless it is `Send`.* It is dropped
//!    by the scheduler (nobody awaits it) or taken by the `JoinHandle<T>`,
//!    which is `Send` only if `T` is.

use std::future::Future;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::error::JoinError;
use super::state::{Snapshot, State};
use super::Schedule;
use crate::loom::UnsafeCell as LoomUnsafeCell;

/// The type-erased operations on a `Cell<F, S>`.
struct Vtable {
    /// Runs the task once (poll, or drop the future if cancelled). True if
    /// the task completed during this run.
    run: unsafe fn(NonNull<Header>) -> bool,
    /// Drops the future if it has not completed and completes the task as
    /// cancelled (its scheduler is shutting down).
    shutdown: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst`, a `Poll<Result<F::Output, JoinError>>`.
    read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops an unread output (the handle is dropped after completion).
    drop_output: unsafe fn(NonNull<Header>),
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
    /// Hands one owned reference to the scheduler hook.
    schedule: unsafe fn(NonNull<Header>),
}

/// The part of a task every reference can reach without knowing `F` or `S`.
#[repr(C)]
pub(crate) struct Header {
    /// Flags and reference count (see `state.rs`).
    state: State,
    /// Operations for this task's concrete future and hook types.
    vtable: &'static Vtable,
    /// The task's key in its scheduler's task list, as the scheduler
    /// chooses to encode it. Written and read only by that scheduler's
    /// thread (an atomic only so the header stays `Sync` without `unsafe`).
    owner_key: AtomicU64,
    /// The waker of the task awaiting the `JoinHandle`.
    join_waker: JoinWaker,
}

/// The header and the scheduler hook: the prefix of every `Cell<F, S>`.
#[repr(C)]
struct Prefix<S> {
    header: Header,
    /// Where wakes go. Kept alive by the task, so a waker that outlives
    /// its scheduler stays harmless (the hook decides what a late wake does).
    scheduler: S,
}

/// What the cell holds over the task's life.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The whole allocation.
#[repr(C)]
struct Cell<F: Future, S> {
    prefix: Prefix<S>,
    /// Touched only by the scheduler's thread, except for reading or
    /// dropping the output after completion (see the module docs).
    stage: std::cell::UnsafeCell<Stage<F>>,
}

/// Allocates a task for `future`, scheduled through `scheduler`. Returns
/// the references for the scheduler's task list and run queue, and the
/// typed one for the `JoinHandle`: the new task is already scheduled.
pub(crate) fn spawn<F, S>(future: F, scheduler: S) -> (Task, Notified<S>, JoinRef<F::Output>)
where
    F: Future + 'static,
    S: Schedule,
{
    let cell = Box::new(Cell {
        prefix: Prefix {
            header: Header {
                state: State::new(),
                vtable: vtable::<F, S>(),
                owner_key: AtomicU64::new(u64::MAX),
                join_waker: JoinWaker::new(),
            },
            scheduler,
        },
        stage: std::cell::UnsafeCell::new(Stage::Running(future)),
    });
    let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
    // The state starts with three references, one for each of these.
    (Task { ptr }, Notified { task: Task { ptr }, _hook: PhantomData }, JoinRef { ptr, _output: PhantomData })
}

fn vtable<F: Future + 'static, S: Schedule>() -> &'static Vtable {
    struct Table<F, S>(PhantomData<(F, S)>);
    impl<F: Future + 'static, S: Schedule> Table<F, S> {
        const VTABLE: Vtable = Vtable {
            run: run::<F, S>,
            shutdown: shutdown::<F, S>,
            read_output: read_output::<F, S>,
            drop_output: drop_output::<F, S>,
            dealloc: dealloc::<F, S>,
            schedule: schedule::<S>,
        };
    }
    &Table::<F, S>::VTABLE
}

// ----- owned references -----

/// An owned reference to a task (one unit of the reference count),
/// type-erased: what run queues and task lists hold.
pub(crate) struct Task {
    ptr: NonNull<Header>,
}

// SAFETY: a `Task` only reaches the header's atomics; the stage is touched
// only by `run`/`shutdown`, which the module docs confine to the
// scheduler's thread, and a moved `Task` is how a woken task gets there.
unsafe impl Send for Task {}
// SAFETY: `&Task` offers only atomic reads of the state.
unsafe impl Sync for Task {}

impl Task {
    fn header(&self) -> &Header {
        // SAFETY: this `Task` holds a reference, so the allocation is alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Polls the task once (or drops its future if it was aborted). True
    /// if it completed. Only its scheduler calls this, on its own thread.
    pub(crate) fn run(&self) -> bool {
        // SAFETY: we hold a reference, and the vtable matches the cell.
        unsafe { (self.header().vtable.run)(self.ptr) }
    }

    /// Cancels the task while its scheduler shuts down, on its thread.
    pub(crate) fn shutdown(&self) {
        // SAFETY: as for `run`.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    /// Requests cancellation: the next run drops the future.
    pub(crate) fn abort(&self) {
        if self.header().state.cancel() {
            // SAFETY: `cancel` counted a reference for the queue entry,
            // which `schedule` takes over.
            unsafe { (self.header().vtable.schedule)(self.ptr) }
        }
    }

    /// True once the future finished, panicked or was cancelled.
    pub(crate) fn is_complete(&self) -> bool {
        self.header().state.load().is_complete()
    }

    /// The key its scheduler stored with [`Task::set_owner_key`].
    pub(crate) fn owner_key(&self) -> u64 {
        self.header().owner_key.load(Relaxed)
    }

    /// Stores the task's key in its scheduler's task list.
    pub(crate) fn set_owner_key(&self, key: u64) {
        self.header().owner_key.store(key, Relaxed);
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: we own one reference and give it up.
        unsafe { drop_ref(self.ptr) }
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("ptr", &self.ptr).field("state", &self.header().state).finish()
    }
}

/// A task that was just woken (or spawned) and must be queued by its
/// scheduler `S`: the argument of [`Schedule::schedule`].
pub(crate) struct Notified<S> {
    task: Task,
    _hook: PhantomData<fn() -> S>,
}

impl<S: Schedule> Notified<S> {
    /// The hook of the scheduler that owns the task. The borrow ends
    /// before the task can be handed on ([`Notified::into_task`]), so the
    /// hook is never used after the task (and with it the hook) may have
    /// been freed by another thread.
    pub(crate) fn scheduler(&self) -> &S {
        // SAFETY: a `Notified<S>` is only made for a `Cell<_, S>` (by
        // `spawn` and the vtable's `schedule::<S>`), whose `#[repr(C)]`
        // layout starts with a `Prefix<S>`; our reference keeps it alive.
        unsafe { &self.task.ptr.cast::<Prefix<S>>().as_ref().scheduler }
    }

    /// The task, to be pushed on a queue.
    pub(crate) fn into_task(self) -> Task {
        self.task
    }
}

/// The typed reference behind a `JoinHandle<T>`: it holds the join
/// interest and may take the output.
pub(crate) struct JoinRef<T> {
    ptr: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the handle touches the task's atomics, the join-waker slot under
// the JOIN_WAKER protocol, and moves the `T` out: sending it is sending a `T`.
unsafe impl<T: Send> Send for JoinRef<T> {}
// SAFETY: `&JoinRef` offers only `abort`, `is_finished` and a new reference.
unsafe impl<T: Send> Sync for JoinRef<T> {}

impl<T> JoinRef<T> {
    fn header(&self) -> &Header {
        // SAFETY: we hold a reference, so the allocation is alive.
        unsafe { self.ptr.as_ref() }
    }

    /// True once the task has completed, panicked or been cancelled.
    pub(crate) fn is_finished(&self) -> bool {
        self.header().state.load().is_complete()
    }

    /// A plain reference to the task (for an `AbortHandle`).
    pub(crate) fn task(&self) -> Task {
        self.header().state.ref_inc();
        Task { ptr: self.ptr }
    }

    /// The output once the task completed; until then `cx`'s waker is
    /// stored and woken at completion. After it returned `Ready` once, it
    /// returns a cancellation error.
    pub(crate) fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        let header = self.header();
        if !header.join_waker.register(&header.state, cx.waker()) {
            return Poll::Pending;
        }
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: the task is complete and we hold the join interest, so the
        // stage is ours alone; `T` is the future's output type, because a
        // `JoinRef<T>` is only made by `spawn` for a `F: Future<Output = T>`.
        unsafe { (header.vtable.read_output)(self.ptr, (&mut out as *mut Poll<Result<T, JoinError>>).cast()) };
        match out {
            // The output was taken by an earlier poll.
            Poll::Pending => Poll::Ready(Err(JoinError::cancelled())),
            ready => ready,
        }
    }
}

impl<T> Drop for JoinRef<T> {
    fn drop(&mut self) {
        let header = self.header();
        if header.join_waker.release(&header.state) {
            // Completed with our interest: the unread output is ours to drop.
            // SAFETY: vtable contract; we hold the join interest.
            unsafe { (header.vtable.drop_output)(self.ptr) };
        }
        // SAFETY: the handle's own reference.
        unsafe { drop_ref(self.ptr) }
    }
}

/// Drops one reference, freeing the task if it was the last.
///
/// # Safety
/// The caller owns one reference to a live task and gives it up.
unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive for this call.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec() {
        // SAFETY: that was the last reference; nobody else can reach the task.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}

// ----- monomorphised vtable functions -----

/// The whole cell behind `ptr`.
///
/// # Safety
/// `ptr` points to a live `Cell<F, S>` of exactly these `F` and `S`.
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: the caller guarantees the cast is to the allocation's real type.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

/// # Safety
/// `ptr` is a live `Cell<F, S>`; the caller holds a reference and is the
/// task's scheduler, on its thread.
unsafe fn run<F: Future, S>(ptr: NonNull<Header>) -> bool {
    // SAFETY: vtable contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    let header = &cell.prefix.header;
    let prev = header.state.start_run();
    if prev.is_complete() {
        return false;
    }
    // SAFETY: the scheduler's thread, and no other reference to the stage is live during a run.
    let stage = unsafe { &mut *cell.stage.get() };
    let Stage::Running(future) = stage else { return false };
    if prev.is_cancelled() {
        drop_future(stage);
        complete(cell, Err(JoinError::cancelled()));
        return true;
    }
    // The caller's reference keeps the task alive for the whole poll, so
    // the borrowed waker needs no reference of its own.
    // SAFETY: `ptr` is a live task, as the waker vtable's functions expect.
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

/// Stores the output, publishes `COMPLETE` and tells the handle. Scheduler thread only.
fn complete<F: Future, S>(cell: &Cell<F, S>, output: Result<F::Output, JoinError>) {
    let header = &cell.prefix.header;
    // SAFETY: the scheduler's thread; the handle reads the stage only after
    // seeing COMPLETE, which is set below.
    unsafe { *cell.stage.get() = Stage::Finished(output) };
    let prev = header.state.complete();
    if !prev.has_join_interest() {
        // Nobody will read it: drop it here, on the scheduler's thread.
        // SAFETY: without join interest nobody else touches the stage.
        let stage = unsafe { &mut *cell.stage.get() };
        drop_future(stage);
    } else {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| header.join_waker.wake(prev)));
    }
}

/// # Safety
/// As for `run`, outside any run of this task.
unsafe fn shutdown<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: vtable contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.prefix.header.state.load().is_complete() {
        return;
    }
    // SAFETY: the scheduler's thread, not inside a poll of this task.
    let stage = unsafe { &mut *cell.stage.get() };
    drop_future(stage);
    complete(cell, Err(JoinError::cancelled()));
}

/// # Safety
/// `ptr` is a live `Cell<F, S>`, complete; the caller holds the join
/// interest; `dst` points to a `Poll<Result<F::Output, JoinError>>`.
unsafe fn read_output<F: Future, S>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: vtable contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: complete with our join interest: we are the only party touching the stage.
    let stage = unsafe { mem::replace(&mut *cell.stage.get(), Stage::Consumed) };
    if let Stage::Finished(output) = stage {
        // SAFETY: the caller passes a `Poll<Result<F::Output, JoinError>>`.
        unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
    }
}

/// # Safety
/// As for `read_output`, without `dst`.
unsafe fn drop_output<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: vtable contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: as for `read_output`.
    let stage = unsafe { &mut *cell.stage.get() };
    drop_future(stage);
}

/// # Safety
/// `ptr` is a `Cell<F, S>` whose last reference is gone.
unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone, so we own the allocation made by
    // `Box::leak` in `spawn`; the stage holds no future (module docs).
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

/// # Safety
/// `ptr` is a live `Cell<_, S>`; the caller gives up one reference, which
/// becomes the queue entry.
unsafe fn schedule<S: Schedule>(ptr: NonNull<Header>) {
    S::schedule(Notified { task: Task { ptr }, _hook: PhantomData });
}

// ----- the join-waker slot -----

/// The waker of the task awaiting a `JoinHandle`, without a lock.
///
/// The slot is guarded by the `JOIN_WAKER` bit of the task state (see
/// `state.rs`): while it is clear only the handle may write the slot;
/// while it is set only the scheduler may read it, and only at completion.
/// The handle clears the bit before replacing the waker, which fails once
/// `COMPLETE` is set, so the two never touch the slot at the same time.
pub(crate) struct JoinWaker {
    slot: LoomUnsafeCell<Option<Waker>>,
}

// SAFETY: the slot is only accessed under the JOIN_WAKER protocol above, and `Waker` is Send + Sync.
unsafe impl Send for JoinWaker {}
// SAFETY: as above.
unsafe impl Sync for JoinWaker {}

impl JoinWaker {
    pub(crate) fn new() -> JoinWaker {
        JoinWaker { slot: LoomUnsafeCell::new(None) }
    }

    /// Handle side: true if the task is complete and the output can be
    /// read; otherwise `waker` is stored and will be woken at completion.
    pub(crate) fn register(&self, state: &State, waker: &Waker) -> bool {
        let snapshot = state.load();
        if snapshot.is_complete() {
            return true;
        }
        let res = if snapshot.has_join_waker() {
            // SAFETY: JOIN_WAKER is set: the slot holds a waker and only shared reads happen.
            let same = self.slot.with(|p| unsafe { (*p).as_ref() }.is_some_and(|w| w.will_wake(waker)));
            if same {
                return false;
            }
            state.unset_join_waker().and_then(|_| self.store(state, waker))
        } else {
            self.store(state, waker)
        };
        match res {
            Ok(()) => false,
            Err(snapshot) => {
                debug_assert!(snapshot.is_complete());
                true
            }
        }
    }

    /// Writes the slot (JOIN_WAKER is clear, so it is ours) and publishes it.
    fn store(&self, state: &State, waker: &Waker) -> Result<(), Snapshot> {
        // SAFETY: JOIN_WAKER is clear and only the handle sets it.
        self.slot.with_mut(|p| unsafe { *p = Some(waker.clone()) });
        match state.set_join_waker() {
            Ok(_) => Ok(()),
            Err(s) => {
                // Completed meanwhile; the scheduler saw no JOIN_WAKER and will not read the slot.
                // SAFETY: as above.
                self.slot.with_mut(|p| unsafe { *p = None });
                Err(s)
            }
        }
    }

    /// Scheduler side, right after setting `COMPLETE` (which returned
    /// `prev`): wakes the handle's task if it registered.
    pub(crate) fn wake(&self, prev: Snapshot) {
        if prev.has_join_interest() && prev.has_join_waker() {
            self.slot.with(|p| {
                // SAFETY: JOIN_WAKER was set when COMPLETE was, so the handle
                // can no longer write the slot; shared reads of a `Waker` are fine.
                let waker = unsafe { &*p };
                if let Some(w) = waker {
                    w.wake_by_ref();
                }
            });
        }
    }

    /// Handle side, when it is dropped: gives up its interest. True if the
    /// task had already completed (the handle must then drop the output).
    pub(crate) fn release(&self, state: &State) -> bool {
        match state.drop_join_interest() {
            Ok(_) => {
                // Not complete: with JOIN_WAKER cleared the slot is ours.
                // SAFETY: see above.
                let waker = self.slot.with_mut(|p| unsafe { (*p).take() });
                drop(waker);
                false
            }
            Err(_) => true,
        }
    }
}

impl std::fmt::Debug for JoinWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinWaker").finish_non_exhaustive()
    }
}

// ----- the waker vtable -----

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr().cast::<()>().cast_const(), &WAKER_VTABLE)
}

/// # Safety
/// `data` comes from a `RawWaker` built by `raw_waker`.
unsafe fn header_of<'a>(data: *const ()) -> (NonNull<Header>, &'a Header) {
    // SAFETY: every RawWaker with WAKER_VTABLE was built from a non-null header pointer.
    let ptr = unsafe { NonNull::new_unchecked(data.cast_mut().cast::<Header>()) };
    // SAFETY: the waker holds a reference, so the header is alive.
    (ptr, unsafe { ptr.as_ref() })
}

/// # Safety
/// `data` is a live waker's data pointer (the `RawWakerVTable` contract).
unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: forwarded contract.
    let (ptr, header) = unsafe { header_of(data) };
    header.state.ref_inc();
    raw_waker(ptr)
}

/// # Safety
/// As for `waker_clone`; the waker's reference is consumed.
unsafe fn waker_wake(data: *const ()) {
    // SAFETY: forwarded contract.
    let (ptr, header) = unsafe { header_of(data) };
    match header.state.wake_by_val() {
        // SAFETY: the waker's reference becomes the queue entry.
        (true, _) => unsafe { (header.vtable.schedule)(ptr) },
        // SAFETY: that was the last reference.
        (false, true) => unsafe { (header.vtable.dealloc)(ptr) },
        (false, false) => {}
    }
}

/// # Safety
/// As for `waker_clone`.
unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: forwarded contract.
    let (ptr, header) = unsafe { header_of(data) };
    if header.state.wake_by_ref() {
        // SAFETY: `wake_by_ref` counted a new reference for the queue entry.
        unsafe { (header.vtable.schedule)(ptr) }
    }
}

/// # Safety
/// As for `waker_clone`; the waker's reference is given up.
unsafe fn waker_drop(data: *const ()) {
    // SAFETY: forwarded contract.
    let (ptr, _) = unsafe { header_of(data) };
    // SAFETY: the waker owns one reference.
    unsafe { drop_ref(ptr) }
}
