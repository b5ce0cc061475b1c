//! runtime::sync primitives through the public API: FIFO fairness of the
//! Semaphore and Mutex, writer preference in the RwLock, Notify's permit
//! and broadcast wake-ups, cancellation handing permits on, broadcast lag,
//! watch versions, closed channels, cross-thread use, and a bounded stress.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::Poll;
use std::time::Duration;

use runtime::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use runtime::sync::{watch, Mutex, Notify, RwLock, Semaphore, TryAcquireError};
use tests::net_util::run;
use tests::yield_until;

const LIMIT: Duration = Duration::from_secs(20);

/// Polls `f` once, in the current task's context.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

/// Yields a few times: enough for every ready task to run.
async fn settle() {
    for _ in 0..10 {
        runtime::yield_now().await;
    }
}

fn err(msg: &str) -> io::Error {
    io::Error::other(msg.to_string())
}

/// Spawns `n` tasks one at a time, each queued (its first poll done) before
/// the next is spawned; task `i` runs `body(i)` after setting its flag.
/// `body` must start by awaiting the primitive, so "flag set" means
/// "queued".
async fn spawn_queued<F, Fut>(n: usize, body: F) -> io::Result<Vec<runtime::JoinHandle<()>>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tasks = Vec::new();
    for i in 0..n {
        let started = Arc::new(AtomicBool::new(false));
        let flag = started.clone();
        let fut = body(i);
        tasks.push(runtime::spawn(async move {
            flag.store(true, SeqCst);
            fut.await
        }));
        yield_until("the task to queue", || started.load(SeqCst)).await?;
        runtime::yield_now().await;
    }
    Ok(tasks)
}

#[test]
fn semaphore_serves_ten_waiters_in_fifo_order() -> io::Result<()> {
    run(LIMIT, async {
        let sem = Arc::new(Semaphore::new(1));
        let order = Arc::new(StdMutex::new(Vec::new()));
        let held = sem.clone().try_acquire_owned().map_err(|_| err("first permit"))?;
        let tasks = spawn_queued(10, |i| {
            let (sem, order) = (sem.clone(), order.clone());
            async move {
                let _permit = sem.acquire().await.unwrap();
                order.lock().unwrap().push(i);
                runtime::yield_now().await;
            }
        })
        .await?;
        assert!(order.lock().unwrap().is_empty());
        assert_eq!(sem.available_permits(), 0);
        drop(held);
        for t in tasks {
            t.await.map_err(|_| err("task failed"))?;
        }
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
        assert_eq!(sem.available_permits(), 1);
        Ok(())
    })
}

#[test]
fn semaphore_large_request_blocks_later_small_ones() -> io::Result<()> {
    run(LIMIT, async {
        let sem = Arc::new(Semaphore::new(2));
        let order = Arc::new(StdMutex::new(Vec::new()));
        let held = sem.clone().try_acquire_many_owned(2).map_err(|_| err("permits"))?;
        let tasks = spawn_queued(3, |i| {
            let (sem, order) = (sem.clone(), order.clone());
            async move {
                let n = if i == 0 { 3 } else { 1 };
                let _p = sem.acquire_many(n).await.unwrap();
                order.lock().unwrap().push(i);
            }
        })
        .await?;
        drop(held); // 2 free permits: not enough for the head, who keeps them
        settle().await;
        assert!(order.lock().unwrap().is_empty(), "small requests overtook the head");
        assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::NoPermits));
        sem.add_permits(1);
        for t in tasks {
            t.await.map_err(|_| err("task failed"))?;
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        assert_eq!(sem.available_permits(), 3);
        Ok(())
    })
}

#[test]
fn mutex_is_acquired_in_fifo_order_by_ten_waiters() -> io::Result<()> {
    run(LIMIT, async {
        let m = Arc::new(Mutex::new(Vec::new()));
        let guard = m.clone().lock_owned().await;
        let tasks = spawn_queued(10, |i| {
            let m = m.clone();
            async move {
                let mut order = m.lock().await;
                runtime::yield_now().await; // held across an await
                order.push(i);
            }
        })
        .await?;
        assert!(m.try_lock().is_err());
        drop(guard);
        for t in tasks {
            t.await.map_err(|_| err("task failed"))?;
        }
        assert_eq!(*m.lock().await, (0..10).collect::<Vec<_>>());
        Ok(())
    })
}

#[test]
fn rwlock_waiting_writer_blocks_later_readers() -> io::Result<()> {
    run(LIMIT, async {
        let lock = Arc::new(RwLock::new(0));
        let order = Arc::new(StdMutex::new(Vec::new()));
        let reader = lock.clone().read_owned().await;
        let tasks = spawn_queued(3, |i| {
            let (lock, order) = (lock.clone(), order.clone());
            async move {
                if i == 0 {
                    let mut w = lock.write().await;
                    order.lock().unwrap().push("writer");
                    runtime::yield_now().await;
                    *w = 1;
                } else {
                    let r = lock.read().await;
                    order.lock().unwrap().push(if *r == 1 { "reader after write" } else { "reader before write" });
                }
            }
        })
        .await?;
        settle().await;
        assert!(order.lock().unwrap().is_empty(), "a reader overtook the queued writer");
        assert!(lock.try_read().is_err(), "try_read overtook the queued writer");
        drop(reader);
        for t in tasks {
            t.await.map_err(|_| err("task failed"))?;
        }
        assert_eq!(*order.lock().unwrap(), ["writer", "reader after write", "reader after write"]);
        Ok(())
    })
}

#[test]
fn rwlock_readers_share() -> io::Result<()> {
    run(LIMIT, async {
        let lock = RwLock::new(5);
        let a = lock.read().await;
        let b = lock.read().await;
        assert_eq!(*a + *b, 10);
        assert!(lock.try_write().is_err());
        drop((a, b));
        *lock.write().await += 1;
        assert_eq!(*lock.try_read().map_err(|_| err("try_read"))?, 6);
        Ok(())
    })
}

#[test]
fn notify_one_stores_a_single_permit() -> io::Result<()> {
    run(LIMIT, async {
        let notify = Notify::new();
        notify.notify_one();
        notify.notify_one();
        notify.notified().await; // the stored permit
        let mut second = pin!(notify.notified());
        assert!(poll_once(&mut second).await.is_pending(), "permits accumulated");
        notify.notify_one();
        assert!(poll_once(&mut second).await.is_ready());
        Ok(())
    })
}

#[test]
fn notify_one_wakes_waiters_in_fifo_order() -> io::Result<()> {
    run(LIMIT, async {
        let notify = Arc::new(Notify::new());
        let order = Arc::new(StdMutex::new(Vec::new()));
        let tasks = spawn_queued(5, |i| {
            let (notify, order) = (notify.clone(), order.clone());
            async move {
                notify.notified().await;
                order.lock().unwrap().push(i);
            }
        })
        .await?;
        for _ in 0..5 {
            notify.notify_one();
            settle().await;
        }
        for t in tasks {
            t.await.map_err(|_| err("task failed"))?;
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
        Ok(())
    })
}

#[test]
fn notify_waiters_wakes_all_and_stores_nothing() -> io::Result<()> {
    run(LIMIT, async {
        let notify = Arc::new(Notify::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_queued(8, |_| {
            let (notify, woken) = (notify.clone(), woken.clone());
            async move {
                notify.notified().await;
                woken.fetch_add(1, SeqCst);
            }
        })
        .await?;
        notify.notify_waiters();
        for t in tasks {
            t.await.map_err(|_| err("task failed"))?;
        }
        assert_eq!(woken.load(SeqCst), 8);
        let mut later = pin!(notify.notified());
        assert!(poll_once(&mut later).await.is_pending(), "notify_waiters stored a permit");
        Ok(())
    })
}

#[test]
fn dropping_a_waiting_acquire_hands_its_permits_to_the_next_waiter() -> io::Result<()> {
    run(LIMIT, async {
        let sem = Arc::new(Semaphore::new(0));
        let mut big = Box::pin(sem.acquire_many(2));
        assert!(poll_once(&mut big).await.is_pending());
        let got = Arc::new(AtomicBool::new(false));
        let tasks = spawn_queued(1, |_| {
            let (sem, got) = (sem.clone(), got.clone());
            async move {
                sem.acquire().await.unwrap().forget();
                got.store(true, SeqCst);
            }
        })
        .await?;
        sem.add_permits(1); // assigned to the head, `big`
        settle().await;
        assert!(!got.load(SeqCst), "the second waiter overtook the head");
        drop(big); // cancelled: its one permit goes to the next waiter
        for t in tasks {
            t.await.map_err(|_| err("task failed"))?;
        }
        assert!(got.load(SeqCst));
        assert_eq!(sem.available_permits(), 0);
        Ok(())
    })
}

#[test]
fn aborted_lock_waiter_does_not_wedge_the_mutex() -> io::Result<()> {
    run(LIMIT, async {
        let m = Arc::new(Mutex::new(0));
        let guard = m.clone().lock_owned().await;
        let tasks = spawn_queued(2, |i| {
            let m = m.clone();
            async move {
                *m.lock().await += i + 1;
            }
        })
        .await?;
        tasks[0].abort();
        settle().await;
        drop(guard);
        let mut tasks = tasks.into_iter();
        assert!(tasks.next().unwrap().await.is_err_and(|e| e.is_cancelled()));
        tasks.next().unwrap().await.map_err(|_| err("task failed"))?;
        assert_eq!(*m.lock().await, 2, "only the second waiter ran");
        Ok(())
    })
}

#[test]
fn broadcast_receiver_lags_and_catches_up_with_the_last_values() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, mut rx) = broadcast::channel(4);
        for i in 0..10 {
            assert_eq!(tx.send(i), Ok(1));
        }
        assert_eq!(rx.recv().await, Err(RecvError::Lagged(6)));
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(rx.recv().await.map_err(|e| err(&e.to_string()))?);
        }
        assert_eq!(got, [6, 7, 8, 9]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        Ok(())
    })
}

#[test]
fn broadcast_every_receiver_sees_every_value() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, rx) = broadcast::channel(16);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let mut rx = rx.resubscribe();
                runtime::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        drop(rx);
        settle().await;
        for i in 0..10 {
            assert_eq!(tx.send(i), Ok(4));
            runtime::yield_now().await;
        }
        drop(tx);
        for t in tasks {
            assert_eq!(t.await.map_err(|_| err("task failed"))?, (0..10).collect::<Vec<_>>());
        }
        Ok(())
    })
}

#[test]
fn watch_changed_and_borrow_and_update() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, mut rx) = watch::channel(0);
        assert!(!rx.has_changed().map_err(|_| err("closed"))?);
        tx.send(1).map_err(|_| err("send"))?;
        tx.send(2).map_err(|_| err("send"))?;
        assert!(rx.has_changed().map_err(|_| err("closed"))?);
        rx.changed().await.map_err(|_| err("changed"))?; // one wake for both sends
        assert_eq!(*rx.borrow(), 2);
        {
            let mut next = pin!(rx.changed());
            assert!(poll_once(&mut next).await.is_pending(), "changed marked the value seen");
            tx.send_modify(|v| *v += 1);
            assert!(poll_once(&mut next).await.is_ready());
        }
        let v = rx.borrow_and_update();
        assert!(!v.has_changed(), "changed() already marked it seen");
        assert_eq!(*v, 3);
        drop(v);
        tx.send_replace(4);
        let v = rx.borrow_and_update();
        assert!(v.has_changed());
        drop(v);
        assert!(!rx.has_changed().map_err(|_| err("closed"))?);
        Ok(())
    })
}

#[test]
fn closed_channels_and_semaphores_report_it() -> io::Result<()> {
    run(LIMIT, async {
        // watch: sends fail without receivers; changed fails without sender.
        let (tx, mut rx) = watch::channel(0);
        let rx2 = rx.clone();
        tx.send(1).map_err(|_| err("send"))?;
        drop(tx);
        assert!(rx.changed().await.is_ok(), "the unseen value is still reported");
        assert!(rx.changed().await.is_err());
        let (tx, rx3) = watch::channel(0);
        drop((rx2, rx3));
        assert_eq!(tx.send(5).map_err(|e| e.0), Err(5));
        tx.closed().await;

        // broadcast: Closed after draining; SendError without receivers.
        let (tx, mut rx) = broadcast::channel(2);
        tx.send(1).map_err(|_| err("send"))?;
        drop(tx);
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx.recv().await, Err(RecvError::Closed));
        let (tx, rx) = broadcast::channel::<u8>(2);
        drop(rx);
        assert_eq!(tx.send(3).map_err(|e| e.0), Err(3));

        // Semaphore: close fails the waiters.
        let sem = Arc::new(Semaphore::new(0));
        let waiter = {
            let sem = sem.clone();
            runtime::spawn(async move { sem.acquire().await.map(|_| ()) })
        };
        settle().await;
        sem.close();
        assert!(waiter.await.map_err(|_| err("task failed"))?.is_err());
        assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::Closed));
        Ok(())
    })
}

#[test]
fn threads_notify_send_and_release_into_tasks() -> io::Result<()> {
    run(LIMIT, async {
        let notify = Arc::new(Notify::new());
        let sem = Arc::new(Semaphore::new(0));
        let (btx, mut brx) = broadcast::channel(64);
        let (wtx, mut wrx) = watch::channel(0u32);
        let thread = {
            let (notify, sem) = (notify.clone(), sem.clone());
            std::thread::spawn(move || {
                for i in 1..=50u32 {
                    btx.send(i).unwrap();
                    wtx.send(i).unwrap();
                    sem.add_permits(1);
                    std::thread::yield_now();
                }
                notify.notify_one();
            })
        };
        notify.notified().await;
        let permits = sem.acquire_many(50).await.map_err(|_| err("closed"))?;
        assert_eq!(permits.num_permits(), 50);
        let mut sum = 0;
        while let Ok(v) = brx.recv().await {
            sum += v;
        }
        assert_eq!(sum, 50 * 51 / 2);
        let mut last = 0;
        while wrx.changed().await.is_ok() {
            last = *wrx.borrow_and_update();
        }
        assert_eq!(last, 50);
        thread.join().map_err(|_| err("thread panicked"))?;
        Ok(())
    })
}

#[test]
fn eight_tasks_lock_and_unlock_a_thousand_times_each() -> io::Result<()> {
    run(LIMIT, async {
        let counter = Arc::new(Mutex::new(0u64));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let counter = counter.clone();
                runtime::spawn(async move {
                    for j in 0..1000 {
                        let mut n = counter.lock().await;
                        let seen = *n;
                        if (i + j) % 7 == 0 {
                            runtime::yield_now().await; // others queue meanwhile
                        }
                        *n = seen + 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.map_err(|_| err("task failed"))?;
        }
        assert_eq!(*counter.lock().await, 8000);
        Ok(())
    })
}

#[test]
fn threads_and_a_task_share_a_mutex() -> io::Result<()> {
    let counter = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    *counter.blocking_lock() += 1;
                }
            })
        })
        .collect();
    run(LIMIT, {
        let counter = counter.clone();
        async move {
            for _ in 0..1000 {
                *counter.lock().await += 1;
            }
            Ok(())
        }
    })?;
    for t in threads {
        t.join().map_err(|_| err("thread panicked"))?;
    }
    assert_eq!(*counter.blocking_lock(), 4000);
    Ok(())
}
