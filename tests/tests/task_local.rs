//! Task-local storage: nesting, interleaved tasks on one thread, access
//! outside a scope, values that travel with their future to other threads.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::panic;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use runtime::JoinSet;
use tests::net_util::run;
use tests::{lock, panic_message, Signal};

const LIMIT: Duration = Duration::from_secs(20);

runtime::task_local! {
    /// Attributes and doc comments are accepted.
    static REQUEST_ID: u64;
    pub static USER: String;
    static LOG: RefCell<Vec<&'static str>>;
}

#[test]
fn nested_scopes_shadow_and_restore() -> io::Result<()> {
    run(LIMIT, async {
        REQUEST_ID
            .scope(1, async {
                assert_eq!(REQUEST_ID.get(), 1);
                REQUEST_ID
                    .scope(2, async {
                        assert_eq!(REQUEST_ID.get(), 2);
                        runtime::yield_now().await;
                        assert_eq!(REQUEST_ID.get(), 2, "still shadowed after an await");
                    })
                    .await;
                assert_eq!(REQUEST_ID.get(), 1, "restored after the inner scope");
                // Different keys are independent.
                USER.scope("ada".into(), async {
                    assert_eq!(USER.get(), "ada");
                    assert_eq!(REQUEST_ID.get(), 1);
                })
                .await;
                assert!(USER.try_with(|_| ()).is_err());
            })
            .await;
        assert!(REQUEST_ID.try_with(|_| ()).is_err(), "no value after the outer scope");
        Ok(())
    })
}

#[test]
fn two_tasks_interleave_on_one_thread_with_their_own_values() -> io::Result<()> {
    run(LIMIT, async {
        let trace = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::current().id();
        let mut set = JoinSet::new();
        for id in [10u64, 20] {
            let trace = trace.clone();
            set.spawn(REQUEST_ID.scope(id, async move {
                for step in 0..5 {
                    lock(&trace).push((REQUEST_ID.get(), step, std::thread::current().id()));
                    runtime::yield_now().await;
                }
                REQUEST_ID.get()
            }));
        }
        let mut outputs = Vec::new();
        while let Some(res) = set.join_next().await {
            outputs.push(res?);
        }
        outputs.sort();
        assert_eq!(outputs, [10, 20]);
        let trace = lock(&trace);
        assert!(trace.iter().all(|&(_, _, t)| t == thread), "both tasks ran on the block_on thread");
        // Strict alternation: each yield let the other task run, and each
        // saw only its own value.
        let seen: Vec<(u64, i32)> = trace.iter().map(|&(id, step, _)| (id, step)).collect();
        let expected: Vec<(u64, i32)> = (0..5).flat_map(|step| [(10, step), (20, step)]).collect();
        assert_eq!(seen, expected);
        assert!(REQUEST_ID.try_with(|_| ()).is_err(), "nothing leaks into the block_on future");
        Ok(())
    })
}

#[test]
fn access_outside_a_scope_is_an_error() -> io::Result<()> {
    let err = REQUEST_ID.try_with(|id| *id).expect_err("no scope, no value");
    assert_eq!(err.to_string(), "task-local value not set");
    let payload = panic::catch_unwind(|| REQUEST_ID.with(|id| *id)).expect_err("with outside a scope must panic");
    let msg = panic_message(&*payload);
    assert!(msg.contains("outside a scope"), "{msg}");
    // Also inside a runtime but outside a scope.
    runtime::block_on(async {
        assert!(REQUEST_ID.try_with(|_| ()).is_err());
        let handle = runtime::spawn(async { REQUEST_ID.get() });
        let err = handle.await.expect_err("the task panicked");
        assert!(panic_message(&*err.into_panic()).contains("outside a scope"));
    });
    Ok(())
}

#[test]
fn with_borrows_and_sync_scope_restores() -> io::Result<()> {
    LOG.sync_scope(RefCell::new(Vec::new()), || {
        LOG.with(|log| log.borrow_mut().push("outer"));
        let inner = LOG.sync_scope(RefCell::new(vec!["fresh"]), || LOG.with(|log| log.borrow().clone()));
        assert_eq!(inner, ["fresh"]);
        LOG.with(|log| assert_eq!(*log.borrow(), ["outer"]));
        // A panic inside a nested scope restores the outer value too.
        let res = panic::catch_unwind(|| LOG.sync_scope(RefCell::new(Vec::new()), || panic!("inside")));
        assert!(res.is_err());
        LOG.with(|log| assert_eq!(*log.borrow(), ["outer"]));
    });
    Ok(())
}

#[test]
fn the_value_moves_with_the_future_to_another_thread() -> io::Result<()> {
    let (signal, waiter) = Signal::new();
    let mut fut = Box::pin(USER.scope("carol".to_string(), async move {
        let before = (USER.get(), std::thread::current().id());
        waiter.await;
        let after = (USER.get(), std::thread::current().id());
        (before, after)
    }));
    // First poll here: the future reads its value, then parks.
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(USER.try_with(|_| ()).is_err(), "the value left with the poll");
    // Finish it on another thread, under another runtime.
    let thread = std::thread::spawn(move || {
        signal.fire();
        runtime::block_on(fut)
    });
    let ((before, here), (after, there)) = thread.join().expect("the other thread panicked");
    assert_eq!((before.as_str(), after.as_str()), ("carol", "carol"));
    assert_eq!(here, std::thread::current().id());
    assert_ne!(there, here);
    Ok(())
}

#[test]
fn spawn_blocking_threads_see_their_own_scope() -> io::Result<()> {
    run(LIMIT, async {
        // A scope entered on a blocking thread is that thread's only.
        let ids = REQUEST_ID
            .scope(7, async {
                let other = runtime::spawn_blocking(|| {
                    let outside = REQUEST_ID.try_with(|id| *id).ok();
                    let inside = REQUEST_ID.sync_scope(8, || REQUEST_ID.get());
                    (outside, inside)
                })
                .await?;
                Ok::<_, io::Error>((REQUEST_ID.get(), other))
            })
            .await?;
        assert_eq!(ids, (7, (None, 8)));
        Ok(())
    })
}

#[test]
fn a_scoped_future_is_dropped_inside_its_scope() -> io::Result<()> {
    struct ReportsOnDrop(Arc<Mutex<Option<u64>>>);
    impl Drop for ReportsOnDrop {
        fn drop(&mut self) {
            *lock(&self.0) = REQUEST_ID.try_with(|id| *id).ok();
        }
    }
    let seen = Arc::new(Mutex::new(None));
    run(LIMIT, async {
        let guard = ReportsOnDrop(seen.clone());
        let task = runtime::spawn(REQUEST_ID.scope(99, async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }));
        runtime::yield_now().await;
        task.abort();
        assert!(task.await.expect_err("aborted").is_cancelled());
        Ok(())
    })?;
    assert_eq!(*lock(&seen), Some(99), "the destructor saw the value");
    Ok(())
}

/// A future polled by hand (`poll` directly, no runtime) still sees its scope.
#[test]
fn works_without_a_runtime() {
    struct Probe;
    impl Future for Probe {
        type Output = u64;
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u64> {
            Poll::Ready(REQUEST_ID.get())
        }
    }
    let mut fut = Box::pin(REQUEST_ID.scope(3, Probe));
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(3));
}
