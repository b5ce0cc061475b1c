//! `JoinSet`: completion order, errors, abort/shutdown/detach, dropping,
//! `join_all`, `spawn_local`, wake-ups from other threads, many tasks.

use std::future::pending;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use runtime::JoinSet;
use tests::net_util::run;
use tests::{panic_message, yield_until, DropCounter, Signal};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn join_next_yields_tasks_in_completion_order() -> io::Result<()> {
    run(LIMIT, async {
        let mut set = JoinSet::new();
        let mut signals = Vec::new();
        for i in 0..5usize {
            let (signal, waiter) = Signal::new();
            signals.push(signal);
            set.spawn(async move {
                waiter.await;
                i
            });
        }
        assert_eq!(set.len(), 5);
        let order = [3, 0, 4, 1, 2];
        let mut got = Vec::new();
        for &i in &order {
            signals[i].fire();
            got.push(set.join_next().await.expect("set emptied early")?);
        }
        assert_eq!(got, order);
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
        Ok(())
    })
}

#[test]
fn panics_and_aborts_come_out_as_join_errors() -> io::Result<()> {
    run(LIMIT, async {
        let mut set = JoinSet::new();
        set.spawn(async { panic!("boom in a set") });
        let (signal, waiter) = Signal::new();
        let victim = set.spawn(async move {
            waiter.await;
            1u8
        });
        let err = set.join_next().await.expect("a task").expect_err("the panicking task");
        assert!(err.is_panic());
        assert_eq!(panic_message(&*err.into_panic()), "boom in a set");
        victim.abort();
        let err = set.join_next().await.expect("a task").expect_err("the aborted task");
        assert!(err.is_cancelled());
        assert!(victim.is_finished());
        signal.fire();
        assert!(set.join_next().await.is_none());
        Ok(())
    })
}

#[test]
fn dropping_the_set_aborts_every_task() -> io::Result<()> {
    run(LIMIT, async {
        const N: usize = 50;
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for _ in 0..N {
            let guard = DropCounter::new(&dropped);
            set.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            });
        }
        // Let every task start (and park) before the set goes.
        runtime::yield_now().await;
        drop(set);
        yield_until("every task's future dropped", || dropped.load(SeqCst) == N).await
    })
}

#[test]
fn abort_all_keeps_tasks_in_the_set_until_joined() -> io::Result<()> {
    run(LIMIT, async {
        let mut set = JoinSet::new();
        for _ in 0..10 {
            set.spawn(pending::<()>());
        }
        set.spawn(async {});
        runtime::yield_now().await;
        set.abort_all();
        assert_eq!(set.len(), 11);
        let (mut ok, mut cancelled) = (0, 0);
        while let Some(res) = set.join_next().await {
            match res {
                Ok(()) => ok += 1,
                Err(e) if e.is_cancelled() => cancelled += 1,
                Err(e) => return Err(e.into()),
            }
        }
        assert_eq!((ok, cancelled), (1, 10), "the finished task kept its output");
        Ok(())
    })
}

#[test]
fn shutdown_aborts_and_waits() -> io::Result<()> {
    run(LIMIT, async {
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for _ in 0..20 {
            let guard = DropCounter::new(&dropped);
            set.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            });
        }
        set.shutdown().await;
        assert!(set.is_empty());
        assert_eq!(dropped.load(SeqCst), 20, "every future was dropped before shutdown returned");
        // The set is reusable afterwards.
        set.spawn(async {});
        assert!(set.join_next().await.expect("one task").is_ok());
        Ok(())
    })
}

#[test]
fn detach_all_lets_tasks_run_to_completion() -> io::Result<()> {
    run(LIMIT, async {
        let finished = Arc::new(AtomicUsize::new(0));
        let mut signals = Vec::new();
        let mut set = JoinSet::new();
        for _ in 0..5 {
            let (signal, waiter) = Signal::new();
            signals.push(signal);
            let finished = finished.clone();
            set.spawn(async move {
                waiter.await;
                finished.fetch_add(1, SeqCst);
            });
        }
        set.detach_all();
        assert!(set.is_empty());
        drop(set);
        for s in &signals {
            s.fire();
        }
        yield_until("detached tasks finished", || finished.load(SeqCst) == 5).await
    })
}

#[test]
fn join_all_collects_in_completion_order() -> io::Result<()> {
    run(LIMIT, async {
        let mut set = JoinSet::new();
        let mut signals = Vec::new();
        for i in 0..4u32 {
            let (signal, waiter) = Signal::new();
            signals.push(signal);
            set.spawn(async move {
                waiter.await;
                i * 10
            });
        }
        for i in [2, 3, 1, 0] {
            signals[i].fire();
        }
        let all = set.join_all().await;
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 10, 20, 30]);
        Ok(())
    })
}

#[test]
fn join_all_resumes_a_task_panic_and_aborts_the_rest() -> io::Result<()> {
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter::new(&dropped);
    let res = panic::catch_unwind(AssertUnwindSafe(|| {
        runtime::block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            });
            set.spawn(async { panic!("task exploded") });
            set.join_all().await
        })
    }));
    let payload = res.expect_err("join_all should panic");
    assert_eq!(panic_message(&*payload), "task exploded", "the task's own payload");
    assert_eq!(dropped.load(SeqCst), 1, "the pending task was aborted");
    Ok(())
}

#[test]
fn spawn_local_accepts_non_send_futures() -> io::Result<()> {
    run(LIMIT, async {
        let shared = Rc::new(5);
        let mut set = JoinSet::new();
        for i in 0..3 {
            let shared = shared.clone();
            set.spawn_local(async move {
                runtime::yield_now().await;
                Rc::new(*shared + i)
            });
        }
        let mut sum = 0;
        while let Some(res) = set.join_next().await {
            sum += *res?;
        }
        assert_eq!(sum, 18);
        Ok(())
    })
}

#[test]
fn wakes_from_another_thread() -> io::Result<()> {
    run(LIMIT, async {
        let mut set = JoinSet::new();
        let (signal, waiter) = Signal::new();
        set.spawn(async move {
            waiter.await;
            "woken"
        });
        // Parks the task first, then fires from another thread.
        let fire = signal.clone();
        yield_until("the task parked", || signal.has_waiter()).await?;
        let thread = std::thread::spawn(move || fire.fire());
        let out = set.join_next().await.expect("one task")?;
        thread.join().expect("firing thread");
        assert_eq!(out, "woken");
        Ok(())
    })
}

#[test]
fn blocking_tasks_join_through_spawned_wrappers() -> io::Result<()> {
    run(LIMIT, async {
        let mut set = JoinSet::new();
        for i in 0..4u64 {
            set.spawn(async move { runtime::spawn_blocking(move || i * i).await });
        }
        let mut total = 0;
        while let Some(res) = set.join_next().await {
            total += res??;
        }
        assert_eq!(total, 14);
        Ok(())
    })
}

#[test]
fn ten_thousand_tasks() -> io::Result<()> {
    run(LIMIT, async {
        const N: u64 = 10_000;
        let mut set: JoinSet<u64> = (0..N).map(|i| async move { i }).collect();
        assert_eq!(set.len(), N as usize);
        let mut sum = 0;
        while let Some(res) = set.join_next().await {
            sum += res?;
        }
        assert_eq!(sum, N * (N - 1) / 2);
        Ok(())
    })
}
