//! The task system, timers and channels through the public API only, in
//! tests small enough for Miri (`scripts/miri.sh`), which checks the
//! runtime's `unsafe` core (the raw task, its wakers and reference counts,
//! the join-waker slot, the injection queue) for undefined behaviour,
//! leaks and data races. They run natively in `cargo test` too.
//!
//! Miri models epoll, eventfd, threads and a virtual clock, but not
//! sockets, so nothing here does I/O. Threads synchronise on channels and
//! joins, never on sleeps; the timers below only ever wait on the virtual
//! clock for a millisecond or two.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use runtime::sync::{mpsc, oneshot};
use runtime::time::{interval, sleep, timeout, Sleep};
use runtime::{block_on, spawn, spawn_local, yield_now, Builder, JoinHandle, Runtime};

/// Bounds every wait-by-yielding loop: a lost wake-up fails, never hangs.
const MAX_YIELDS: usize = 1_000;

/// Bumps a counter when dropped: proves a future or output was destroyed.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A one-shot, thread-safe notification and the future that waits for it.
#[derive(Default)]
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn fire(&self) {
        self.fired.store(true, SeqCst);
        let waker = self.waker.lock().unwrap().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn is_parked(&self) -> bool {
        self.waker.lock().unwrap().is_some()
    }
}

/// Pending until its [`Slot`] fires.
struct WaitFor(Arc<Slot>);

impl Future for WaitFor {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.fired.load(SeqCst) {
            return Poll::Ready(());
        }
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.fired.load(SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// The waker of whoever polls it (a clone), at once.
async fn my_waker() -> Waker {
    std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

/// Polls `fut` once; its output if that finished it.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// Yields until `cond` holds, at most [`MAX_YIELDS`] times.
async fn yield_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..MAX_YIELDS {
        if cond() {
            return;
        }
        yield_now().await;
    }
    assert!(cond(), "gave up waiting for {what}");
}

/// A future that is ready at once and panics when dropped.
struct PanicOnDrop;

impl Future for PanicOnDrop {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(7)
    }
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop dropped");
    }
}

#[test]
fn spawn_and_join() {
    let out = block_on(async {
        let handles: Vec<JoinHandle<u32>> = (0..3).map(|i| spawn(async move { i * 2 })).collect();
        let shared = Rc::new(5u32);
        let local = spawn_local({
            let shared = shared.clone();
            async move { *shared + 1 }
        });
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum + local.await.unwrap()
    });
    assert_eq!(out, 6 + 6);
}

#[test]
fn runtime_spawn_runs_at_the_next_block_on() {
    let rt = Builder::new().event_interval(1).max_events(4).build().unwrap();
    let h = rt.spawn(async { 40 });
    let l = rt.spawn_local(async { 2 });
    assert_eq!(rt.block_on(async { h.await.unwrap() + l.await.unwrap() }), 42);
    assert_eq!(rt.metrics().live_tasks, 0);
}

#[test]
fn wake_from_the_same_thread() {
    block_on(async {
        let slot = Arc::new(Slot::default());
        let waiter = spawn(WaitFor(slot.clone()));
        yield_until("the task to park", || slot.is_parked()).await;
        slot.fire();
        waiter.await.unwrap();
    });
}

#[test]
fn wake_from_another_thread() {
    block_on(async {
        let slot = Arc::new(Slot::default());
        let waiter = spawn(WaitFor(slot.clone()));
        yield_until("the task to park", || slot.is_parked()).await;
        let firer = thread::spawn(move || slot.fire());
        // The loop sleeps in epoll_wait until the other thread's wake.
        waiter.await.unwrap();
        firer.join().unwrap();
    });
}

#[test]
fn block_on_is_woken_from_another_thread() {
    block_on(async {
        let slot = Arc::new(Slot::default());
        let firer = {
            let slot = slot.clone();
            thread::spawn(move || slot.fire())
        };
        WaitFor(slot).await;
        firer.join().unwrap();
    });
}

#[test]
fn wake_after_the_task_completed() {
    block_on(async {
        let h = spawn(async { my_waker().await });
        let waker = h.await.unwrap();
        // Its task is gone; the waker keeps only the memory alive.
        waker.wake_by_ref();
        let clone = waker.clone();
        thread::spawn(move || {
            clone.wake_by_ref();
            clone.wake();
        })
        .join()
        .unwrap();
        yield_now().await;
        waker.wake();
    });
}

#[test]
fn join_handle_dropped_detaches() {
    block_on(async {
        let (tx, rx) = oneshot::channel();
        let slot = Arc::new(Slot::default());
        drop(spawn({
            let slot = slot.clone();
            async move {
                WaitFor(slot).await;
                tx.send(9).unwrap();
            }
        }));
        yield_until("the detached task to park", || slot.is_parked()).await;
        slot.fire();
        assert_eq!(rx.await.unwrap(), 9);
    });
}

#[test]
fn join_handle_dropped_after_completion() {
    let drops = Arc::new(AtomicUsize::new(0));
    block_on(async {
        let out = DropCount(drops.clone());
        let h = spawn(async move { out });
        yield_until("the task to finish", || h.is_finished()).await;
        assert_eq!(drops.load(SeqCst), 0, "the output waits for the handle");
        drop(h);
        assert_eq!(drops.load(SeqCst), 1, "dropping the handle drops the output");
    });
}

#[test]
fn abort_a_pending_task() {
    let drops = Arc::new(AtomicUsize::new(0));
    block_on(async {
        let guard = DropCount(drops.clone());
        let h = spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        yield_now().await;
        h.abort();
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic(), "{err:?}");
    });
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn abort_from_another_thread_before_the_first_poll() {
    block_on(async {
        let h = spawn(std::future::pending::<()>());
        let abort = h.abort_handle();
        thread::spawn(move || abort.abort()).join().unwrap();
        assert!(h.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn abort_after_completion_keeps_the_output() {
    block_on(async {
        let h = spawn(async { 3 });
        let abort = h.abort_handle();
        yield_until("the task to finish", || h.is_finished()).await;
        h.abort();
        abort.abort();
        assert!(abort.is_finished());
        assert_eq!(h.await.unwrap(), 3);
    });
}

#[test]
fn a_panicking_task_reports_its_panic() {
    block_on(async {
        let h = spawn(async {
            yield_now().await;
            panic!("task boom");
        });
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"task boom"));
        // The runtime carries on.
        assert_eq!(spawn(async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn a_panicking_drop_is_contained() {
    block_on(async {
        // Dropped after it completed: the output may stand or the panic may
        // be reported, but the task must finish and the runtime go on.
        match spawn(PanicOnDrop).await {
            Ok(v) => assert_eq!(v, 7),
            Err(e) => assert!(e.is_panic(), "{e:?}"),
        }
        // Dropped by abort.
        let h = spawn(async {
            let _bomb = PanicOnDrop;
            std::future::pending::<()>().await;
        });
        yield_now().await;
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled() || err.is_panic(), "{err:?}");
        assert_eq!(spawn(async { 1 }).await.unwrap(), 1);
    });
    // Dropped at shutdown, never polled.
    let rt = Runtime::new().unwrap();
    let h = rt.spawn(async {
        let _bomb = PanicOnDrop;
        std::future::pending::<()>().await;
    });
    drop(rt);
    assert!(h.is_finished());
}

#[test]
fn dropping_the_runtime_cancels_pending_tasks() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::new().unwrap();
    let slot = Arc::new(Slot::default());
    let (started, never) = {
        let (g1, g2) = (DropCount(drops.clone()), DropCount(drops.clone()));
        let slot = slot.clone();
        let started = rt.spawn(async move {
            let _g = g1;
            WaitFor(slot).await;
        });
        let never = rt.spawn_local(async move {
            let _g = g2;
            std::future::pending::<()>().await;
        });
        (started, never)
    };
    rt.block_on(yield_until("the task to park", || slot.is_parked()));
    assert_eq!(rt.metrics().live_tasks, 2);
    drop(rt);
    assert_eq!(drops.load(SeqCst), 2, "both futures were dropped with the runtime");
    // The handles outlive the runtime and report cancellation anywhere.
    assert!(started.is_finished() && never.is_finished());
    let rt2 = Runtime::new().unwrap();
    assert!(rt2.block_on(started).unwrap_err().is_cancelled());
    assert!(thread::spawn(move || block_on(never)).join().unwrap().unwrap_err().is_cancelled());
    // The parked waker now points at a cancelled task of a dead runtime.
    slot.fire();
}

#[test]
fn wakers_and_handles_outlive_their_runtime() {
    let rt = Runtime::new().unwrap();
    let (task_waker, main_waker, handle, done) = rt.block_on(async {
        let task_waker = spawn(my_waker()).await.unwrap();
        let slot = Arc::new(Slot::default());
        let handle = spawn(WaitFor(slot.clone()));
        yield_until("the task to park", || slot.is_parked()).await;
        let done = spawn(async { 5 });
        yield_now().await;
        (task_waker, my_waker().await, handle, (done, slot))
    });
    let (done, slot) = done;
    drop(rt);
    // Wakes after the runtime is gone are harmless, here and elsewhere.
    task_waker.wake_by_ref();
    main_waker.wake_by_ref();
    slot.fire();
    thread::spawn(move || {
        task_waker.wake();
        main_waker.wake();
    })
    .join()
    .unwrap();
    assert!(handle.is_finished());
    drop(handle);
    // Completed before the drop: the output survives it.
    assert_eq!(block_on(done).unwrap(), 5);
}

#[test]
fn timers_fire_and_cancel() {
    block_on(async {
        sleep(Duration::from_millis(1)).await;
        assert_eq!(timeout(Duration::from_secs(3600), async { 4 }).await, Ok(4));
        assert!(timeout(Duration::from_millis(1), std::future::pending::<()>()).await.is_err());
        // Registered, then dropped (cancelled) on this thread.
        let mut long = Box::pin(sleep(Duration::from_secs(3600)));
        assert!(poll_once(&mut long).await.is_none());
        assert_eq!(runtime::metrics().unwrap().pending_timers, 1);
        drop(long);
        assert_eq!(runtime::metrics().unwrap().pending_timers, 0);
        let mut ticks = interval(Duration::from_millis(1));
        for _ in 0..3 {
            ticks.tick().await;
        }
    });
}

#[test]
fn a_sleep_dropped_on_another_thread() {
    block_on(async {
        let mut long: Pin<Box<Sleep>> = Box::pin(sleep(Duration::from_secs(3600)));
        assert!(poll_once(&mut long).await.is_none());
        assert_eq!(runtime::metrics().unwrap().pending_timers, 1);
        thread::spawn(move || drop(long)).join().unwrap();
        yield_until("the runtime to free the cancelled timer", || runtime::metrics().unwrap().pending_timers == 0)
            .await;
    });
    // One that outlives its runtime, dropped elsewhere afterwards.
    let rt = Runtime::new().unwrap();
    let mut long = Box::pin(sleep(Duration::from_secs(3600)));
    rt.block_on(async { assert!(poll_once(&mut long).await.is_none()) });
    drop(rt);
    thread::spawn(move || drop(long)).join().unwrap();
}

#[test]
fn oneshot_across_threads() {
    block_on(async {
        let (tx, rx) = oneshot::channel();
        let sender = thread::spawn(move || tx.send(String::from("hi")).unwrap());
        assert_eq!(rx.await.unwrap(), "hi");
        sender.join().unwrap();

        let (tx, rx) = oneshot::channel::<u8>();
        thread::spawn(move || drop(tx)).join().unwrap();
        assert!(rx.await.is_err());

        let (tx, rx) = oneshot::channel();
        let receiver = thread::spawn(move || rx.blocking_recv());
        tx.send(vec![1u8, 2]).unwrap();
        assert_eq!(receiver.join().unwrap().unwrap(), [1, 2]);
    });
}

#[test]
fn mpsc_across_threads() {
    block_on(async {
        // A thread blocks on a full bounded channel; a task drains it. (A
        // task: the receiver in `block_on`'s own future is the known bug
        // that `block_on_is_woken_many_times_from_another_thread` shows.)
        let (tx, mut rx) = mpsc::channel(1);
        let producer = thread::spawn(move || {
            for i in 0..3u32 {
                tx.blocking_send(Box::new(i)).unwrap();
            }
        });
        let receiver = spawn(async move {
            for i in 0..3u32 {
                assert_eq!(*rx.recv().await.unwrap(), i);
            }
            assert!(rx.recv().await.is_none(), "the sender is gone");
        });
        receiver.await.unwrap();
        producer.join().unwrap();

        // A task sends into a bounded channel that a thread drains.
        let (tx, mut rx) = mpsc::channel(1);
        let (done_tx, done_rx) = std_mpsc::channel();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(v) = rx.blocking_recv() {
                got.push(v);
            }
            done_tx.send(()).unwrap();
            got
        });
        let sender = spawn(async move {
            for i in 0..3u32 {
                tx.send(i).await.unwrap();
            }
        });
        sender.await.unwrap();
        assert_eq!(consumer.join().unwrap(), [0, 1, 2]);
        done_rx.recv().unwrap();

        // Unbounded, several senders on several threads, and a receiver
        // dropped with messages still queued.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let senders: Vec<_> = (0..2u32)
            .map(|t| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..2 {
                        tx.send(t * 10 + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut got = spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await {
                got.push(v);
            }
            got
        })
        .await
        .unwrap();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 10, 11]);
        for s in senders {
            s.join().unwrap();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(Box::new(1u8)).unwrap();
        drop(rx);
        assert!(tx.send(Box::new(2u8)).is_err());
    });
}

/// A thread wakes `block_on`'s own future (not a task) many times in a row,
/// blocking on a full channel in between: each wake must reach the loop.
///
/// Miri found a lost wake here (the loop parked in epoll_wait with a
/// message queued): the waker's store of `main_woken` and the loop's load
/// of it were Release/Acquire around the SeqCst `notified` swap, the
/// store-buffering shape. Both are SeqCst now (scheduler/current_thread.rs);
/// `MIRIFLAGS="-Zmiri-many-seeds=0..64"` passes every seed.
#[test]
fn block_on_is_woken_many_times_from_another_thread() {
    let (tx, mut rx) = mpsc::channel(4);
    let producer = thread::spawn(move || {
        for i in 0..100u32 {
            tx.blocking_send(i).unwrap();
        }
    });
    let sum = block_on(async move {
        let mut sum = 0;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    producer.join().unwrap();
    assert_eq!(sum, 4950);
}
