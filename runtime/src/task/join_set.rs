//! [`JoinSet`]: a collection of spawned tasks, awaited in completion order.
//!
//! Each entry polls its [`JoinHandle`] with a waker of its own. Waking that
//! waker (the task completed) pushes the entry's slot onto a shared ready
//! list and wakes whoever waits in [`JoinSet::join_next`], which then polls
//! only the entries on the list: a completion costs O(1), whatever the
//! number of tasks still running.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crate::{AbortHandle, JoinError, JoinHandle};

/// A set of tasks spawned onto the current runtime, whose outputs are
/// taken in the order the tasks complete.
///
/// Every task is spawned through the set ([`spawn`](JoinSet::spawn),
/// [`spawn_local`](JoinSet::spawn_local)) and removed from it when
/// [`join_next`](JoinSet::join_next) (or
/// [`try_join_next`](JoinSet::try_join_next)) returns its output.
/// Dropping the set aborts every task still in it; use
/// [`detach_all`](JoinSet::detach_all) first to let them run on.
///
/// ```
/// use std::time::Duration;
/// use runtime::JoinSet;
///
/// runtime::block_on(async {
///     let mut set = JoinSet::new();
///     for ms in [30u64, 10, 20] {
///         set.spawn(async move {
///             runtime::time::sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(res) = set.join_next().await {
///         order.push(res.expect("task failed"));
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
pub struct JoinSet<T> {
    /// Slots of the entries; `None` is free.
    slots: Vec<Option<Entry<T>>>,
    /// Free slot indices, reused first.
    free: Vec<usize>,
    /// Occupied slots.
    len: usize,
    /// Identifies entries across slot reuse, so a stale wake-up of a
    /// removed entry is never mistaken for its slot's new occupant.
    next_id: u64,
    shared: Arc<Shared>,
    /// `JoinHandle` polls so far, to test that only woken entries are polled.
    #[cfg(test)]
    handle_polls: usize,
}

struct Entry<T> {
    handle: JoinHandle<T>,
    id: u64,
    /// The entry's own waker, and its state.
    waker: Waker,
    notify: Arc<EntryWaker>,
}

/// What the set and every entry waker share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<ReadyState>,
}

#[derive(Debug, Default)]
struct ReadyState {
    /// `(slot, id)` of entries woken since they were last polled.
    ready: VecDeque<(usize, u64)>,
    /// The task waiting in `join_next`, if any.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ReadyState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The waker of one entry's `JoinHandle`.
#[derive(Debug)]
struct EntryWaker {
    shared: Arc<Shared>,
    slot: usize,
    id: u64,
    /// On the ready list and not yet polled: further wakes add nothing.
    queued: AtomicBool,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiter = {
            let mut state = self.shared.lock();
            state.ready.push_back((self.slot, self.id));
            state.waker.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            next_id: 0,
            shared: Arc::default(),
            #[cfg(test)]
            handle_polls: 0,
        }
    }

    /// How many tasks are in the set (running, or finished and not yet joined).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the set holds no tasks.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a spawned task's handle; it is queued so that the first
    /// `join_next` registers the entry's waker.
    fn insert(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let notify = Arc::new(EntryWaker { shared: self.shared.clone(), slot, id, queued: AtomicBool::new(false) });
        let waker = Waker::from(notify.clone());
        self.slots[slot] = Some(Entry { handle, id, waker: waker.clone(), notify });
        self.len += 1;
        waker.wake();
        abort
    }

    fn remove(&mut self, slot: usize) -> Option<Entry<T>> {
        let entry = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(entry)
    }

    /// Polls the ready entries; `Ready` with the first finished one.
    /// `Pending` once the ready list is empty, registering `cx` to be woken
    /// when another entry is, if given.
    fn poll_ready(&mut self, cx: Option<&Context<'_>>) -> Poll<Option<Result<T, JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        loop {
            let next = {
                let mut state = self.shared.lock();
                let next = state.ready.pop_front();
                if next.is_none() {
                    if let Some(cx) = cx {
                        match &state.waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => state.waker = Some(cx.waker().clone()),
                        }
                    }
                }
                next
            };
            let Some((slot, id)) = next else { return Poll::Pending };
            let Some(entry) = self.slots.get_mut(slot).and_then(Option::as_mut) else { continue };
            if entry.id != id {
                continue;
            }
            // Cleared before polling: a wake from now on queues the entry again.
            entry.notify.queued.store(false, Ordering::Release);
            let mut entry_cx = Context::from_waker(&entry.waker);
            #[cfg(test)]
            {
                self.handle_polls += 1;
            }
            if let Poll::Ready(out) = Pin::new(&mut entry.handle).poll(&mut entry_cx) {
                self.remove(slot);
                return Poll::Ready(Some(out));
            }
        }
    }

    /// Polls for the next task to complete: `Ready(Some(output))` (the task
    /// is removed from the set), `Ready(None)` if the set is empty, or
    /// `Pending`, with `cx` woken when a task completes.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_ready(Some(cx))
    }

    /// Waits for the next task to complete and returns its output, or
    /// `None` if the set is empty. Tasks come out in the order they
    /// completed; a cancelled or panicked task yields its [`JoinError`].
    ///
    /// Cancellation safe: dropping the future before it completes loses no
    /// output; the tasks stay in the set.
    pub fn join_next(&mut self) -> JoinNext<'_, T> {
        JoinNext { set: self }
    }

    /// The output of a task that has already completed, without waiting;
    /// `None` if none has (or the set is empty).
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        match self.poll_ready(None) {
            Poll::Ready(out) => out,
            Poll::Pending => None,
        }
    }

    /// Aborts every task in the set. They stay in the set:
    /// [`join_next`](JoinSet::join_next) then yields their outputs, or
    /// cancellation errors for those that had not finished.
    pub fn abort_all(&mut self) {
        for entry in self.slots.iter().flatten() {
            entry.handle.abort();
        }
    }

    /// Aborts every task and waits until all have stopped, discarding
    /// their outputs. The set is empty afterwards.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Removes every task from the set without aborting it: the tasks run
    /// on and their outputs are dropped.
    pub fn detach_all(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.len = 0;
        self.shared.lock().ready.clear();
    }

    /// Waits for every task and returns their outputs, in the order they
    /// completed.
    ///
    /// # Panics
    /// If a task panicked, the panic resumes here; if a task was cancelled,
    /// this panics. Either way the remaining tasks are aborted (the set is
    /// dropped).
    pub async fn join_all(mut self) -> Vec<T> {
        let mut outputs = Vec::with_capacity(self.len);
        while let Some(res) = self.join_next().await {
            match res {
                Ok(v) => outputs.push(v),
                Err(e) => match e.try_into_panic() {
                    Ok(payload) => std::panic::resume_unwind(payload),
                    Err(e) => panic!("JoinSet::join_all: a task failed: {e}"),
                },
            }
        }
        outputs
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns `future` on the current runtime (see [`crate::spawn`]) as a
    /// task of this set; returns a handle that can abort it.
    ///
    /// # Panics
    /// If called outside a weft runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.insert(crate::spawn(future))
    }

    /// Spawns a `!Send` `future` on the current runtime (see
    /// [`crate::spawn_local`]) as a task of this set.
    ///
    /// # Panics
    /// If called outside a weft runtime.
    #[track_caller]
    pub fn spawn_local<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(crate::spawn_local(future))
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}

/// Spawns every future of the iterator into a new set.
///
/// ```
/// use runtime::JoinSet;
/// runtime::block_on(async {
///     let set: JoinSet<u32> = (1..=3).map(|i| async move { i * 10 }).collect();
///     let mut outputs = set.join_all().await;
///     outputs.sort();
///     assert_eq!(outputs, [10, 20, 30]);
/// });
/// ```
impl<T, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> JoinSet<T> {
        let mut set = JoinSet::new();
        for future in iter {
            set.spawn(future);
        }
        set
    }
}

/// Future of [`JoinSet::join_next`].
#[must_use = "futures do nothing unless awaited"]
pub struct JoinNext<'a, T> {
    set: &'a mut JoinSet<T>,
}

impl<T> Future for JoinNext<'_, T> {
    type Output = Option<Result<T, JoinError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().set.poll_join_next(cx)
    }
}

impl<T> fmt::Debug for JoinNext<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinNext").field("set", &self.set).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_set_yields_none() {
        crate::block_on(async {
            let mut set = JoinSet::<()>::new();
            assert!(set.is_empty());
            assert!(set.join_next().await.is_none());
            assert!(set.try_join_next().is_none());
        });
    }

    #[test]
    fn completion_order_not_spawn_order() {
        crate::block_on(async {
            let mut set = JoinSet::new();
            // Task i finishes after yielding 3 - i times.
            for i in 0..3u32 {
                set.spawn(async move {
                    for _ in 0..(3 - i) {
                        crate::yield_now().await;
                    }
                    i
                });
            }
            let mut order = Vec::new();
            while let Some(res) = set.join_next().await {
                order.push(res.unwrap());
            }
            assert_eq!(order, [2, 1, 0]);
        });
    }

    /// A one-shot gate a task can wait on.
    #[derive(Default)]
    struct Gate {
        open: AtomicBool,
        waker: Mutex<Option<Waker>>,
    }

    impl Gate {
        fn open(&self) {
            self.open.store(true, Ordering::SeqCst);
            if let Some(w) = self.waker.lock().unwrap().take() {
                w.wake();
            }
        }

        async fn wait(&self) {
            std::future::poll_fn(|cx| {
                *self.waker.lock().unwrap() = Some(cx.waker().clone());
                if self.open.load(Ordering::SeqCst) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await
        }
    }

    #[test]
    fn a_completion_polls_only_its_own_entry() {
        crate::block_on(async {
            const N: usize = 100;
            let gates: Vec<Arc<Gate>> = (0..N).map(|_| Arc::default()).collect();
            let mut set = JoinSet::new();
            for (i, gate) in gates.iter().enumerate() {
                let gate = gate.clone();
                set.spawn(async move {
                    gate.wait().await;
                    i
                });
            }
            // The first poll registers every entry's waker, once.
            std::future::poll_fn(|cx| {
                assert!(set.poll_join_next(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(set.handle_polls, N);
            for (k, i) in [57, 3, 99, 0].into_iter().enumerate() {
                gates[i].open();
                assert_eq!(set.join_next().await.unwrap().unwrap(), i);
                assert_eq!(set.handle_polls, N + k + 1, "one handle poll per completion");
            }
            assert_eq!(set.len(), N - 4);
            set.abort_all();
            let mut cancelled = 0;
            while let Some(res) = set.join_next().await {
                assert!(res.unwrap_err().is_cancelled());
                cancelled += 1;
            }
            assert_eq!(cancelled, N - 4);
        });
    }

    #[test]
    fn slot_reuse_ignores_stale_wakes() {
        crate::block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { 1 });
            assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
            // A stale entry for slot 0 with the old id.
            set.shared.lock().ready.push_back((0, 0));
            set.spawn(async { 2 });
            assert_eq!(set.slots.len(), 1, "slot reused");
            assert_eq!(set.join_next().await.unwrap().unwrap(), 2);
            assert!(set.join_next().await.is_none());
        });
    }

    #[test]
    fn try_join_next_does_not_wait() {
        crate::block_on(async {
            let mut set = JoinSet::new();
            set.spawn(std::future::pending::<u8>());
            set.spawn(async { 7u8 });
            assert!(set.try_join_next().is_none(), "nothing has run yet");
            crate::yield_now().await;
            assert_eq!(set.try_join_next().unwrap().unwrap(), 7);
            assert!(set.try_join_next().is_none());
            assert_eq!(set.len(), 1);
            set.shutdown().await;
            assert!(set.is_empty());
        });
    }

    #[test]
    fn debug_shows_len() {
        crate::block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async {});
            assert_eq!(format!("{set:?}"), "JoinSet { len: 1 }");
            assert!(format!("{:?}", set.join_next()).starts_with("JoinNext"));
        });
    }
}
