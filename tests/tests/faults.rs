//! Faults the runtime must survive: destructors that panic during
//! shutdown, and signals interrupting the kernel wait (`EINTR`).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::signal::{signal, SignalKind};
use runtime::time::sleep;
use runtime::Runtime;

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("destructor panics on purpose");
    }
}

/// Counts drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_destructor_panicking_during_shutdown_does_not_stop_it() -> io::Result<()> {
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::new()?;
    let mut handles = Vec::new();
    for i in 0..10 {
        let counted = Counted(dropped.clone());
        handles.push(rt.spawn(async move {
            let _counted = counted;
            std::future::pending::<()>().await;
        }));
        // Between the counted tasks, tasks whose destructor panics.
        if i % 2 == 0 {
            handles.push(rt.spawn(async move {
                let _bomb = PanicOnDrop;
                std::future::pending::<()>().await;
            }));
        }
    }
    rt.block_on(runtime::yield_now());
    assert_eq!(rt.metrics().live_tasks, 15);
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 10, "shutdown went on past the panicking destructors");
    // The handles report cancellation, whether or not the destructor panicked.
    let other = Runtime::new()?;
    for h in handles {
        assert!(other.block_on(h).unwrap_err().is_cancelled());
    }
    Ok(())
}

#[test]
fn signals_interrupting_the_kernel_wait_are_retried() -> io::Result<()> {
    let rt = Runtime::new()?;
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        // A handler must be installed, or SIGUSR2 would end the process.
        let mut usr2 = signal(SignalKind::user_defined2())?;
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let pelter = {
            let (stop, interrupted) = (stop.clone(), interrupted.clone());
            std::thread::spawn(move || {
                // Interrupt the runtime thread's epoll_wait over and over.
                for _ in 0..200 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    // SAFETY: `me` is the runtime thread, alive until we are joined.
                    unsafe { libc::pthread_kill(me, libc::SIGUSR2) };
                    interrupted.fetch_add(1, Ordering::SeqCst);
                    std::thread::yield_now();
                }
            })
        };
        let start = Instant::now();
        sleep(Duration::from_millis(100)).await;
        let elapsed = start.elapsed();
        stop.store(true, Ordering::SeqCst);
        pelter.join().expect("pelter thread");
        assert!(elapsed >= Duration::from_millis(100), "woke early after {elapsed:?}");
        assert!(interrupted.load(Ordering::SeqCst) > 0);
        // The runtime also still delivers the signal itself.
        usr2.recv().await.expect("runtime alive");
        Ok::<(), io::Error>(())
    })
}
