//! Wakers: a wake from another thread reaches a parked runtime, and a task
//! woken many times before it runs is queued (and polled) once.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use runtime::Runtime;
use tests::{lock, yield_until, CountPolls, Signal};

/// How long a test waits for the runtime thread before declaring a lost wake-up.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Runs `f` on a new thread and waits for its result, failing (instead of
/// hanging) if it does not arrive within [`WATCHDOG`].
fn with_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(v) => {
            thread.join().map_err(|_| io::Error::other(format!("{what}: thread panicked")))?;
            Ok(v)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other(format!("{what}: thread panicked"))),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what}: no result after {WATCHDOG:?}")))
        }
    }
}

#[test]
fn a_wake_from_another_thread_ends_block_on() -> io::Result<()> {
    let polls = with_watchdog("remote wake of the main future", || -> io::Result<usize> {
        let rt = Runtime::new()?;
        let (signal, waiter) = Signal::new();
        let remote = signal.clone();
        let (parked_tx, parked_rx) = mpsc::channel::<()>();
        // The other thread fires only once the main future parked its waker,
        // so the wake must cross threads and interrupt the kernel wait.
        let thread = thread::spawn(move || {
            if parked_rx.recv().is_ok() {
                remote.fire();
            }
        });
        let mut waiter = waiter;
        let mut told = false;
        rt.block_on(poll_fn(|cx| {
            let poll = Pin::new(&mut waiter).poll(cx);
            if poll.is_pending() && !told {
                told = true;
                let _ = parked_tx.send(());
            }
            poll
        }));
        thread.join().map_err(|_| io::Error::other("waking thread panicked"))?;
        Ok(signal.polls())
    })??;
    assert_eq!(polls, 2, "polled once to park, once after the remote wake");
    Ok(())
}

#[test]
fn a_wake_from_another_thread_reaches_a_spawned_task() -> io::Result<()> {
    let (task_polls, main_polls) = with_watchdog("remote wake of a task", || -> io::Result<(usize, usize)> {
        let rt = Runtime::new()?;
        let (signal, waiter) = Signal::new();
        let main_polls = Arc::new(AtomicUsize::new(0));
        let remote = signal.clone();
        rt.block_on(CountPolls::new(
            async move {
                let task = runtime::spawn(waiter);
                yield_until("the task to park", || remote.has_waiter()).await?;
                let thread = thread::spawn(move || remote.fire());
                task.await?;
                thread.join().map_err(|_| io::Error::other("waking thread panicked"))
            },
            &main_polls,
        ))?;
        Ok((signal.polls(), main_polls.load(SeqCst)))
    })??;
    assert_eq!(task_polls, 2, "polled once to park, once after the remote wake");
    assert!(main_polls >= 2, "the main future was woken by the join handle");
    Ok(())
}

#[test]
fn remote_wakes_of_many_tasks_all_arrive() -> io::Result<()> {
    const TASKS: usize = 200;
    const THREADS: usize = 4;
    with_watchdog("many remote wakes", || -> io::Result<()> {
        let rt = Runtime::new()?;
        rt.block_on(async {
            let (signals, handles): (Vec<Signal>, Vec<_>) = (0..TASKS)
                .map(|_| {
                    let (s, w) = Signal::new();
                    (s, runtime::spawn(w))
                })
                .unzip();
            yield_until("every task to park", || signals.iter().all(Signal::has_waiter)).await?;
            // Several threads fire concurrently, racing with the loop's own
            // wake-up bookkeeping.
            let chunks: Vec<Vec<Signal>> = signals.chunks(TASKS / THREADS).map(<[Signal]>::to_vec).collect();
            let threads: Vec<_> =
                chunks.into_iter().map(|chunk| thread::spawn(move || chunk.iter().for_each(Signal::fire))).collect();
            for h in handles {
                h.await?;
            }
            for t in threads {
                t.join().map_err(|_| io::Error::other("waking thread panicked"))?;
            }
            assert!(signals.iter().all(|s| s.polls() == 2));
            Ok(())
        })
    })?
}

/// A task that counts its polls, parks its waker in a shared slot, and
/// stays pending until `done` is set.
fn parked_task(
    polls: &Arc<AtomicUsize>,
    slot: &Arc<Mutex<Option<Waker>>>,
    done: &Arc<AtomicBool>,
) -> impl Future<Output = ()> + Send + 'static {
    let (polls, slot, done) = (polls.clone(), slot.clone(), done.clone());
    poll_fn(move |cx| {
        polls.fetch_add(1, SeqCst);
        if done.load(SeqCst) {
            return Poll::Ready(());
        }
        *lock(&slot) = Some(cx.waker().clone());
        Poll::Pending
    })
}

#[test]
fn many_local_wakes_before_a_run_queue_the_task_once() -> io::Result<()> {
    let rt = Runtime::new()?;
    let polls = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let task = runtime::spawn(parked_task(&polls, &slot, &done));
        yield_until("the task to park", || lock(&slot).is_some()).await?;
        assert_eq!(polls.load(SeqCst), 1);
        assert_eq!(runtime::metrics().map(|m| m.queued_tasks), Some(0));

        // All within one poll of the main future: the task cannot run in between.
        let waker = lock(&slot).clone().expect("parked");
        for _ in 0..1000 {
            waker.wake_by_ref();
            // Wake by value too: it takes a different path (the reference moves into the queue).
            let owned = waker.clone();
            owned.wake();
        }
        assert_eq!(runtime::metrics().map(|m| m.queued_tasks), Some(1), "queued once");
        for _ in 0..10 {
            runtime::yield_now().await;
        }
        assert_eq!(polls.load(SeqCst), 2, "2,000 wakes, one poll");

        done.store(true, SeqCst);
        waker.wake();
        task.await?;
        assert_eq!(polls.load(SeqCst), 3);
        Ok::<(), io::Error>(())
    })
}

#[test]
fn many_remote_wakes_before_a_run_queue_the_task_once() -> io::Result<()> {
    const THREADS: usize = 4;
    const WAKES: usize = 1000;
    let rt = Runtime::new()?;
    let polls = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    let task = rt.spawn(parked_task(&polls, &slot, &done));
    rt.block_on(yield_until("the task to park", || lock(&slot).is_some()))?;
    assert_eq!(polls.load(SeqCst), 1);

    // The runtime is not running: every wake lands in the injection queue,
    // from several threads at once.
    let waker = lock(&slot).clone().expect("parked");
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (waker, barrier) = (waker.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..WAKES {
                    waker.wake_by_ref();
                    let owned = waker.clone();
                    owned.wake();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| io::Error::other("waking thread panicked"))?;
    }
    assert_eq!(polls.load(SeqCst), 1, "nothing runs while the runtime is idle");

    rt.block_on(async {
        for _ in 0..10 {
            runtime::yield_now().await;
        }
    });
    assert_eq!(polls.load(SeqCst), 2, "{} wakes, one poll", THREADS * WAKES * 2);

    done.store(true, SeqCst);
    waker.wake();
    rt.block_on(task)?;
    assert_eq!(polls.load(SeqCst), 3);
    assert_eq!(rt.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn remote_ping_pong_loses_no_wake() -> io::Result<()> {
    const ROUNDS: usize = 2000;
    with_watchdog("remote ping-pong", || -> io::Result<()> {
        let rt = Runtime::new()?;
        let (signals, waiters): (Vec<Signal>, Vec<_>) = (0..2 * ROUNDS).map(|_| Signal::new()).unzip();
        let (task_waiters, main_waiters): (Vec<_>, Vec<_>) =
            waiters.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let (pong_tx, pong_rx) = mpsc::channel::<usize>();
        // The remote side fires signal 2k for the task, waits for its pong,
        // then fires 2k+1 for the main future: each wake races with the
        // runtime going back to sleep.
        let remote = thread::spawn(move || -> Result<(), String> {
            for k in 0..ROUNDS {
                signals[2 * k].fire();
                match pong_rx.recv_timeout(WATCHDOG) {
                    Ok(got) if got == k => signals[2 * k + 1].fire(),
                    Ok(got) => return Err(format!("pong {got}, expected {k}")),
                    Err(e) => return Err(format!("no pong {k}: {e}")),
                }
            }
            Ok(())
        });
        rt.block_on(async move {
            let task = runtime::spawn(async move {
                for (k, (_, w)) in task_waiters.into_iter().enumerate() {
                    w.await;
                    if pong_tx.send(k).is_err() {
                        return;
                    }
                }
            });
            for (_, w) in main_waiters {
                w.await;
            }
            task.await
        })?;
        remote.join().map_err(|_| io::Error::other("remote thread panicked"))?.map_err(io::Error::other)
    })?
}

#[test]
fn join_handles_on_another_thread_race_with_completion() -> io::Result<()> {
    const ROUNDS: usize = 500;
    with_watchdog("cross-thread joins", || -> io::Result<()> {
        let outputs_dropped = Arc::new(AtomicUsize::new(0));
        let (handle_tx, handle_rx) = mpsc::channel::<runtime::JoinHandle<(usize, tests::DropCounter)>>();
        let (ack, ack_waiters): (Vec<Signal>, Vec<_>) = (0..ROUNDS).map(|_| Signal::new()).unzip();

        // The joining side: awaits even rounds' handles on its own runtime
        // and drops odd rounds' handles unawaited, while the task may be
        // completing on the other thread.
        let joiner = thread::spawn(move || -> io::Result<()> {
            let rt = Runtime::new()?;
            rt.block_on(async {
                for (round, ack) in ack.iter().enumerate() {
                    let handle = handle_rx.recv().map_err(|_| io::Error::other("spawner hung up"))?;
                    if round % 2 == 0 {
                        let (got, output) = handle.await?;
                        assert_eq!(got, round);
                        drop(output);
                    } else {
                        drop(handle);
                    }
                    ack.fire();
                }
                Ok(())
            })
        });

        let rt = Runtime::new()?;
        let counter = outputs_dropped.clone();
        rt.block_on(async move {
            for (round, ack) in ack_waiters.into_iter().enumerate() {
                let output = tests::DropCounter::new(&counter);
                let handle = runtime::spawn(async move {
                    for _ in 0..round % 4 {
                        runtime::yield_now().await;
                    }
                    (round, output)
                });
                if handle_tx.send(handle).is_err() {
                    return Err(io::Error::other("joiner hung up"));
                }
                ack.await;
            }
            Ok(())
        })?;
        joiner.join().map_err(|_| io::Error::other("joining thread panicked"))??;
        // The last detached tasks may still be yielding: let them finish.
        rt.block_on(yield_until("the detached tasks to finish", || {
            runtime::metrics().is_some_and(|m| m.live_tasks == 0)
        }))?;
        assert_eq!(outputs_dropped.load(SeqCst), ROUNDS, "every output dropped exactly once");
        Ok(())
    })?
}
