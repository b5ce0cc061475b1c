//! Tasks: interleaving on one thread, join, abort, detach, panic isolation,
//! misuse outside a runtime, `spawn_local`, fairness, and runtime shutdown.

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::io;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use runtime::io::Async;
use runtime::time::sleep;
use runtime::{JoinHandle, Runtime};
use tests::{lock, panic_message, yield_until, CountPolls, DropCounter};

#[test]
fn a_thousand_tasks_interleave_on_one_thread() -> io::Result<()> {
    const N: usize = 1000;
    let rt = Runtime::new()?;
    let log = Arc::new(Mutex::new(Vec::with_capacity(2 * N)));
    let this_thread = std::thread::current().id();
    let outputs = rt.block_on(async {
        let handles: Vec<JoinHandle<usize>> = (0..N)
            .map(|i| {
                let log = log.clone();
                runtime::spawn(async move {
                    lock(&log).push((i, 0, std::thread::current().id()));
                    runtime::yield_now().await;
                    lock(&log).push((i, 1, std::thread::current().id()));
                    i * 2
                })
            })
            .collect();
        let mut outputs = Vec::with_capacity(N);
        for h in handles {
            outputs.push(h.await?);
        }
        Ok::<_, io::Error>(outputs)
    })?;
    assert_eq!(outputs, (0..N).map(|i| i * 2).collect::<Vec<_>>());
    let log = lock(&log);
    assert_eq!(log.len(), 2 * N);
    assert!(log.iter().all(|&(_, _, t)| t == this_thread), "every task ran on the block_on thread");
    // Each task was suspended at its yield while all the others ran: every
    // first half comes before any second half, both in spawn order.
    let halves: Vec<(usize, u8)> = log.iter().map(|&(i, half, _)| (i, half)).collect();
    let expected: Vec<(usize, u8)> = (0..N).map(|i| (i, 0)).chain((0..N).map(|i| (i, 1))).collect();
    assert_eq!(halves, expected);
    assert_eq!(rt.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn join_handles_yield_outputs_of_any_type() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        let text = runtime::spawn(async { String::from("hello") });
        let list = runtime::spawn(async {
            runtime::yield_now().await;
            vec![1u8, 2, 3]
        });
        let unit = runtime::spawn(async {});
        let local = runtime::spawn_local(async { Rc::new(5) });
        // A task awaiting another task's handle.
        let inner = runtime::spawn(async { 40 });
        let outer = runtime::spawn(async move { inner.await.map(|v| v + 2) });

        assert_eq!(text.await?, "hello");
        assert_eq!(list.await?, vec![1, 2, 3]);
        unit.await?;
        assert_eq!(*local.await?, 5);
        assert_eq!(outer.await??, 42);
        Ok::<(), io::Error>(())
    })?;
    assert_eq!(rt.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn is_finished_tracks_completion() -> io::Result<()> {
    let rt = Runtime::new()?;
    // Spawned outside `block_on`: queued, not yet run.
    let handle = rt.spawn(async { 1 });
    assert!(!handle.is_finished());
    rt.block_on(async {
        yield_until("the task to finish", || handle.is_finished()).await?;
        assert_eq!(handle.await?, 1);
        Ok::<(), io::Error>(())
    })
}

#[test]
fn abort_cancels_a_pending_task_and_drops_its_future() -> io::Result<()> {
    let rt = Runtime::new()?;
    let dropped = Arc::new(AtomicUsize::new(0));
    let polls = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let guard = DropCounter::new(&dropped);
        let handle = runtime::spawn(CountPolls::new(
            async move {
                let _guard = guard;
                pending::<()>().await;
            },
            &polls,
        ));
        yield_until("the task's first poll", || polls.load(SeqCst) == 1).await?;
        assert_eq!(dropped.load(SeqCst), 0, "a pending task keeps its future");
        assert!(!handle.is_finished());

        handle.abort();
        handle.abort(); // A second abort is a no-op.
        let err = handle.await.expect_err("an aborted task has no output");
        assert!(err.is_cancelled() && !err.is_panic(), "{err:?}");
        assert_eq!(dropped.load(SeqCst), 1, "abort dropped the future exactly once");
        assert_eq!(polls.load(SeqCst), 1, "an aborted future is dropped, not polled");
        Ok::<(), io::Error>(())
    })?;
    assert_eq!(rt.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn abort_before_the_first_poll_and_after_completion() -> io::Result<()> {
    let rt = Runtime::new()?;
    let polls = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let guard = DropCounter::new(&dropped);
        let never = runtime::spawn(CountPolls::new(
            async move {
                let _guard = guard;
            },
            &polls,
        ));
        never.abort_handle().abort();
        assert!(never.await.expect_err("aborted").is_cancelled());
        assert_eq!(polls.load(SeqCst), 0, "a task aborted before it ran is never polled");
        assert_eq!(dropped.load(SeqCst), 1);

        let done = runtime::spawn(async { 9 });
        yield_until("the task to finish", || done.is_finished()).await?;
        done.abort();
        assert_eq!(done.await?, 9, "aborting a finished task keeps its output");
        Ok::<(), io::Error>(())
    })
}

#[test]
fn abort_from_another_thread() -> io::Result<()> {
    let rt = Runtime::new()?;
    let dropped = Arc::new(AtomicUsize::new(0));
    let polls = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter::new(&dropped);
    let handle = rt.spawn(CountPolls::new(
        async move {
            let _guard = guard;
            pending::<()>().await;
        },
        &polls,
    ));
    let abort = handle.abort_handle();
    rt.block_on(async {
        yield_until("the task's first poll", || polls.load(SeqCst) == 1).await?;
        // The task is parked, and the runtime soon will be (nothing else to
        // do): the abort must reach it through the injection queue and a wake-up.
        let thread = std::thread::spawn(move || abort.abort());
        let err = handle.await.expect_err("aborted");
        assert!(err.is_cancelled());
        thread.join().map_err(|_| io::Error::other("aborting thread panicked"))
    })?;
    assert_eq!(dropped.load(SeqCst), 1);
    assert_eq!(polls.load(SeqCst), 1);
    assert_eq!(rt.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn a_detached_task_runs_to_completion() -> io::Result<()> {
    let rt = Runtime::new()?;
    let done = Rc::new(Cell::new(false));
    let outputs_dropped = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let d = done.clone();
        let output = DropCounter::new(&outputs_dropped);
        let handle = runtime::spawn_local(async move {
            for _ in 0..3 {
                runtime::yield_now().await;
            }
            d.set(true);
            output
        });
        drop(handle);
        yield_until("the detached task to finish", || done.get()).await?;
        assert_eq!(outputs_dropped.load(SeqCst), 1, "nobody joins it, so the runtime drops the output");
        Ok::<(), io::Error>(())
    })?;
    assert_eq!(rt.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn dropping_a_handle_after_completion_drops_the_output() -> io::Result<()> {
    let rt = Runtime::new()?;
    let outputs_dropped = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let output = DropCounter::new(&outputs_dropped);
        let handle = runtime::spawn(async move { output });
        yield_until("the task to finish", || handle.is_finished()).await?;
        assert_eq!(outputs_dropped.load(SeqCst), 0, "the output waits for its handle");
        drop(handle);
        assert_eq!(outputs_dropped.load(SeqCst), 1);
        Ok::<(), io::Error>(())
    })
}

#[test]
fn a_panicking_task_fails_alone() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        let bystander = runtime::spawn(async {
            for _ in 0..10 {
                runtime::yield_now().await;
            }
            "still here"
        });
        let formatted = runtime::spawn(async {
            runtime::yield_now().await;
            panic!("task exploded: {}", 42);
        });
        let literal = runtime::spawn_local(async { panic!("static message") });

        let err = formatted.await.expect_err("the task panicked");
        assert!(err.is_panic() && !err.is_cancelled(), "{err:?}");
        assert!(err.to_string().contains("task exploded: 42"), "{err}");
        assert_eq!(panic_message(&*err.into_panic()), "task exploded: 42");

        let err = literal.await.expect_err("the task panicked");
        assert!(err.to_string().contains("static message"), "{err}");
        let payload = err.try_into_panic().map_err(|e| io::Error::other(format!("not a panic: {e}")))?;
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"static message"));

        assert_eq!(bystander.await?, "still here");
        // The runtime goes on spawning and running tasks.
        assert_eq!(runtime::spawn(async { 7 }).await?, 7);
        Ok::<(), io::Error>(())
    })?;
    assert_eq!(rt.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    assert!(!runtime::is_inside_runtime());
    assert!(runtime::metrics().is_none());
    let payload = panic::catch_unwind(|| drop(runtime::spawn(async {}))).expect_err("spawn outside a runtime");
    let msg = panic_message(&*payload);
    assert!(msg.contains("outside of a runtime"), "{msg}");
    let payload = panic::catch_unwind(|| drop(runtime::spawn_local(async {}))).expect_err("spawn_local outside");
    let msg = panic_message(&*payload);
    assert!(msg.contains("outside of a runtime"), "{msg}");
}

#[test]
fn block_on_inside_a_runtime_panics_instead_of_deadlocking() -> io::Result<()> {
    let rt = Runtime::new()?;
    // Inside a task: the panic is the task's, the runtime goes on.
    let err = rt.block_on(async {
        let nested = runtime::spawn(async { runtime::block_on(async { 1 }) });
        nested.await.expect_err("block_on inside a task must panic")
    });
    assert!(err.is_panic());
    let msg = err.to_string();
    assert!(msg.contains("block_on inside a weft runtime") && msg.contains("deadlock"), "{msg}");

    // Inside the main future, on the same runtime: the outer block_on unwinds.
    let payload = panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(async { rt.block_on(async { 1 }) })))
        .expect_err("nested block_on must panic");
    let msg = panic_message(&*payload);
    assert!(msg.contains("block_on inside a weft runtime"), "{msg}");

    // The runtime is still usable afterwards, and no longer "current".
    assert!(!runtime::is_inside_runtime());
    assert_eq!(rt.block_on(async { runtime::spawn(async { 5 }).await })?, 5);
    Ok(())
}

#[test]
fn spawn_local_runs_futures_holding_rcs() -> io::Result<()> {
    let rt = Runtime::new()?;
    let shared = Rc::new(RefCell::new(Vec::new()));
    // Queued before the runtime runs.
    let first = rt.spawn_local({
        let s = shared.clone();
        async move { s.borrow_mut().push(usize::MAX) }
    });
    rt.block_on(async {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let s = shared.clone();
                runtime::spawn_local(async move {
                    // An `Rc` held across an await point: the future is `!Send`.
                    runtime::yield_now().await;
                    s.borrow_mut().push(i);
                    Rc::strong_count(&s)
                })
            })
            .collect();
        first.await?;
        for h in handles {
            assert!(h.await? >= 2);
        }
        Ok::<(), io::Error>(())
    })?;
    assert_eq!(*shared.borrow(), [usize::MAX, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(Rc::strong_count(&shared), 1, "finished tasks released their clones");
    Ok(())
}

#[test]
fn yield_now_is_round_robin() -> io::Result<()> {
    const TASKS: usize = 3;
    const ROUNDS: usize = 200;
    let rt = Runtime::new()?;
    let log = Rc::new(RefCell::new(Vec::new()));
    rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|id| {
                let log = log.clone();
                runtime::spawn_local(async move {
                    for _ in 0..ROUNDS {
                        log.borrow_mut().push(id);
                        runtime::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await?;
        }
        Ok::<(), io::Error>(())
    })?;
    let log = log.borrow();
    assert_eq!(log.len(), TASKS * ROUNDS);
    // A yielding task goes to the back of the queue: strict turns.
    for (i, id) in log.iter().enumerate() {
        assert_eq!(*id, i % TASKS, "entry {i} of {:?}", &log[i.saturating_sub(6)..(i + 6).min(log.len())]);
    }
    Ok(())
}

#[test]
fn a_task_that_keeps_yielding_does_not_starve_timers_or_io() -> io::Result<()> {
    let rt = Runtime::new()?;
    let timer_fired = Rc::new(Cell::new(false));
    let io_done = Rc::new(Cell::new(false));
    let reader_parked = Rc::new(Cell::new(false));
    rt.block_on(async {
        let (a, b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        let a = Async::new(a)?;

        let spinner = runtime::spawn_local({
            let (timer_fired, io_done) = (timer_fired.clone(), io_done.clone());
            async move {
                // Always ready: the run queue never empties while it spins.
                let start = Instant::now();
                let mut spins = 0u64;
                while !(timer_fired.get() && io_done.get()) && start.elapsed() < Duration::from_secs(10) {
                    runtime::yield_now().await;
                    spins += 1;
                }
                spins
            }
        });
        let timer = runtime::spawn_local({
            let timer_fired = timer_fired.clone();
            async move {
                sleep(Duration::from_millis(5)).await;
                timer_fired.set(true);
            }
        });
        let reader = runtime::spawn_local({
            let (io_done, reader_parked) = (io_done.clone(), reader_parked.clone());
            async move {
                let mut buf = [0u8; 8];
                let n = a
                    .read_with(|s| {
                        let res = std::io::Read::read(&mut &*s, &mut buf);
                        reader_parked.set(true);
                        res
                    })
                    .await?;
                io_done.set(true);
                Ok::<_, io::Error>(buf[..n].to_vec())
            }
        });
        let writer = runtime::spawn_local({
            let reader_parked = reader_parked.clone();
            async move {
                yield_until("the reader to try a read", || reader_parked.get()).await?;
                std::io::Write::write_all(&mut &b, b"ping")?;
                // Keep the peer open until the reader is done.
                Ok::<_, io::Error>(b)
            }
        });

        let spins = spinner.await?;
        assert!(timer_fired.get(), "the timer never fired while a task kept yielding ({spins} spins)");
        assert!(io_done.get(), "the I/O event never arrived while a task kept yielding ({spins} spins)");
        timer.await?;
        assert_eq!(reader.await??, b"ping");
        drop(writer.await??);
        Ok::<(), io::Error>(())
    })
}

#[test]
fn dropping_the_runtime_cancels_pending_tasks() -> io::Result<()> {
    const N: usize = 50;
    let dropped = Arc::new(AtomicUsize::new(0));
    let inside_runtime = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::new()?;
    let polls = Arc::new(AtomicUsize::new(0));

    /// Records whether it is dropped with its runtime current (so a Sleep or
    /// Registration it owned could still cancel and deregister).
    struct InsideRuntime(Arc<AtomicUsize>);
    impl Drop for InsideRuntime {
        fn drop(&mut self) {
            if runtime::metrics().is_some_and(|m| m.live_tasks == 0) {
                self.0.fetch_add(1, SeqCst);
            }
        }
    }

    let mut handles = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..N {
            let guard = (DropCounter::new(&dropped), InsideRuntime(inside_runtime.clone()));
            handles.push(runtime::spawn(CountPolls::new(
                async move {
                    let _guard = guard;
                    // Park on different things: a timer, a socket, nothing.
                    match i % 3 {
                        0 => sleep(Duration::from_secs(3600)).await,
                        1 => {
                            let (a, _b) = UnixStream::pair().expect("socketpair");
                            a.set_nonblocking(true).expect("nonblocking");
                            let a = Async::new(a).expect("register");
                            let _ = a.read_with(|s| std::io::Read::read(&mut &*s, &mut [0u8; 1])).await;
                            pending::<()>().await
                        }
                        _ => pending::<()>().await,
                    }
                },
                &polls,
            )));
        }
        yield_until("every task to park", || polls.load(SeqCst) == N).await?;
        Ok::<_, io::Error>(handles)
    })?;
    // Never polled at all.
    let guard = DropCounter::new(&dropped);
    handles.push(rt.spawn(async move {
        let _guard = guard;
    }));
    let m = rt.metrics();
    assert_eq!(m.live_tasks, N + 1);
    assert_eq!(m.pending_timers, (0..N).filter(|i| i % 3 == 0).count());
    assert_eq!(m.registered_fds, (0..N).filter(|i| i % 3 == 1).count());
    assert_eq!(dropped.load(SeqCst), 0);

    drop(rt);
    assert_eq!(dropped.load(SeqCst), N + 1, "every pending future was dropped with the runtime");
    assert_eq!(inside_runtime.load(SeqCst), N, "futures are dropped inside the runtime, after the task list emptied");
    assert_eq!(polls.load(SeqCst), N, "shutdown drops futures without polling them");

    // The handles outlive their runtime and are awaited on another one.
    let other = Runtime::new()?;
    other.block_on(async {
        for h in handles.drain(..) {
            let err = h.await.expect_err("the runtime dropped the task");
            assert!(err.is_cancelled(), "{err:?}");
        }
    });
    assert_eq!(other.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn a_handle_awaited_on_another_thread_sees_the_cancellation() -> io::Result<()> {
    let rt = Runtime::new()?;
    let handle = rt.spawn(pending::<()>());
    rt.block_on(runtime::yield_now());
    assert_eq!(rt.metrics().live_tasks, 1);

    let (parked_tx, parked_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut handle = handle;
        let mut told = false;
        let result = runtime::block_on(poll_fn(|cx| {
            let poll = std::pin::Pin::new(&mut handle).poll(cx);
            if poll.is_pending() && !told {
                told = true;
                let _ = parked_tx.send(());
            }
            poll
        }));
        let _ = result_tx.send(result.map_err(|e| e.is_cancelled()));
    });
    parked_rx.recv_timeout(Duration::from_secs(10)).map_err(|e| io::Error::other(format!("never parked: {e}")))?;
    // The other runtime is now parked on the join handle; dropping ours
    // must wake it from this thread.
    drop(rt);
    let result = result_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| io::Error::other(format!("the awaiting runtime was never woken: {e}")))?;
    assert_eq!(result, Err(true), "the handle reports cancellation");
    thread.join().map_err(|_| io::Error::other("awaiting thread panicked"))
}

#[test]
fn live_tasks_counts_spawned_and_unfinished_tasks() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        let before = runtime::metrics().expect("inside a runtime").live_tasks;
        assert_eq!(before, 0);
        let handles: Vec<_> = (0..10).map(|_| runtime::spawn(pending::<()>())).collect();
        assert_eq!(runtime::metrics().map(|m| m.live_tasks), Some(10));
        for h in &handles {
            h.abort();
        }
        for h in handles {
            assert!(h.await.expect_err("aborted").is_cancelled());
        }
        assert_eq!(runtime::metrics().map(|m| m.live_tasks), Some(0));
    });
    assert_eq!(rt.metrics().live_tasks, 0);
    Ok(())
}

#[test]
fn a_waker_woken_after_its_runtime_dropped_is_a_no_op() -> io::Result<()> {
    let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
    let rt = Runtime::new()?;
    let main_waker = rt.block_on(async {
        let s = slot.clone();
        drop(runtime::spawn(poll_fn(move |cx| {
            *lock(&s) = Some(cx.waker().clone());
            Poll::<()>::Pending
        })));
        yield_until("the task to park its waker", || lock(&slot).is_some()).await?;
        Ok::<_, io::Error>(poll_fn(|cx| Poll::Ready(cx.waker().clone())).await)
    })?;
    let task_waker = lock(&slot).take().expect("parked");
    drop(rt);

    // Another runtime takes this thread (and perhaps the old allocations).
    let other = Runtime::new()?;
    other.block_on(async {
        task_waker.wake_by_ref();
        main_waker.wake_by_ref();
        runtime::yield_now().await;
        let m = runtime::metrics().expect("inside a runtime");
        assert_eq!((m.live_tasks, m.queued_tasks), (0, 0), "a stale wake reached the wrong runtime");
    });
    drop(other);

    let woke = Arc::new(AtomicBool::new(false));
    let w = woke.clone();
    let (tw, mw) = (task_waker.clone(), main_waker.clone());
    std::thread::spawn(move || {
        tw.wake_by_ref();
        tw.wake();
        mw.wake();
        w.store(true, SeqCst);
    })
    .join()
    .map_err(|_| io::Error::other("waking thread panicked"))?;
    assert!(woke.load(SeqCst));
    task_waker.wake();
    main_waker.wake();
    Ok(())
}
