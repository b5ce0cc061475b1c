//! Workers: a runtime of n loops, one per thread (thread-per-core).
//!
//! Worker 0 is the thread that calls `block_on`; workers 1..n are threads
//! of their own, each running its loop until the runtime is dropped. Tasks
//! never move between workers: a task runs on the worker it was spawned
//! on, and a socket registers with the worker that first polls it, so the
//! hot path (wake, poll, read, write) never crosses a core. The price: a
//! load that lands unevenly stays uneven; `Handle::spawn` spreads new tasks
//! round-robin, and `spawn` from the `block_on` future does the same.

use std::io;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::thread;

use super::current_thread::{Config, Core, Shared};
use super::handle::HandleInner;

/// The background workers (1..n) of a runtime.
#[derive(Debug)]
pub(crate) struct Workers {
    threads: Vec<thread::JoinHandle<()>>,
}

/// Starts a runtime of `n` workers: worker 0's loop, returned to run on
/// the calling thread, and `n - 1` threads. `pin` puts worker i on CPU i
/// (modulo the CPUs there are).
pub(crate) fn start(mut config: Config, n: usize, pin: bool) -> io::Result<(Rc<Core>, Workers, Arc<HandleInner>)> {
    let n = n.max(1);
    let inner = Arc::new(HandleInner::new(n));
    if pin {
        crate::sys::pin_to_cpu(0)?;
    }
    let core = Rc::new(Core::new(config.clone(), inner.clone(), 0, n)?);
    // `Auto` resolved on worker 0: every worker waits on the same backend.
    config.driver.backend = core.backend();
    let mut shared = vec![core.shared.clone()];
    let mut workers = Workers { threads: Vec::new() };
    for i in 1..n {
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<Arc<Shared>>>();
        let inner_i = inner.clone();
        let config = config.clone();
        let thread = thread::Builder::new().name(format!("weft-worker-{i}")).spawn(move || {
            let started = (|| {
                if pin {
                    crate::sys::pin_to_cpu(i)?;
                }
                Core::new(config, inner_i.clone(), i, n)
            })();
            let core = match started {
                Ok(core) => Rc::new(core),
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(core.shared.clone()));
            core.block_on(inner_i.stopped(i));
            core.shutdown();
        });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                workers.stop(&inner, &core);
                return Err(io::Error::new(e.kind(), format!("starting weft worker {i}: {e}")));
            }
        };
        workers.threads.push(thread);
        match ready_rx.recv() {
            Ok(Ok(s)) => shared.push(s),
            Ok(Err(e)) => {
                workers.stop(&inner, &core);
                return Err(io::Error::new(e.kind(), format!("starting weft worker {i}: {e}")));
            }
            Err(_) => {
                workers.stop(&inner, &core);
                return Err(io::Error::other(format!("weft worker {i} exited while starting")));
            }
        }
    }
    inner.set_workers(shared);
    Ok((core, workers, inner))
}

impl Workers {
    /// Stops every worker: the background loops return and shut down on
    /// their own threads (cancelling their tasks, closing their sockets),
    /// worker 0 shuts down here; then joins the threads.
    pub(crate) fn stop(&mut self, inner: &HandleInner, core: &Rc<Core>) {
        inner.stop();
        core.shutdown();
        for thread in self.threads.drain(..) {
            // A worker's panic stays in its thread; the runtime still goes away.
            let _ = thread.join();
        }
        inner.clear();
    }
}
