//! weft's runtime: coroutines over I/O multiplexing, on one thread.
//!
//! A task is a Rust future. When it cannot make progress (no data on its
//! socket yet, a timer not yet due) it parks its [`Waker`](std::task::Waker)
//! next to the thing it waits for and returns `Pending`. The event loop then
//! sleeps in the kernel (`epoll_wait` on Linux, `kevent` on macOS/BSD) until
//! one of those things is ready, and polls exactly the tasks that were woken.
//! Thousands of tasks share one thread; each reads like sequential code.
//!
//! ```
//! use std::time::Duration;
//! use runtime::time::sleep;
//!
//! runtime::block_on(async {
//!     // Three tasks wait concurrently: about 30 ms in total, not 60.
//!     let start = std::time::Instant::now();
//!     let tasks: Vec<_> = (1..=3u64)
//!         .map(|i| runtime::spawn(async move {
//!             sleep(Duration::from_millis(10 * i)).await;
//!             i
//!         }))
//!         .collect();
//!     let mut sum = 0;
//!     for t in tasks {
//!         sum += t.await.expect("task panicked");
//!     }
//!     assert_eq!(sum, 6);
//!     assert!(start.elapsed() < Duration::from_millis(60));
//! });
//! ```
//!
//! # Layout
//!
//! Lower layers never name higher ones (the private modules are named in
//! plain text; `docs/design.md` in the repository has the whole picture):
//!
//! - `sys`: one poller backend per OS (`epoll.rs`, `kqueue.rs`) and the
//!   syscall helper; nothing else in the crate makes a syscall.
//! - `reactor`: the wakers registry: per registered fd, its cached
//!   readiness and the tasks waiting on it, in the runtime's one slab.
//! - `driver`: what a loop waits on, and the handle I/O objects register
//!   with: the readiness driver (the poller plus the registry) or, on Linux,
//!   the io_uring completion driver ([`Backend`]).
//! - [`time`]: the timer store, [`time::sleep`], [`time::timeout`], [`time::interval`].
//! - [`task`]: the one-allocation task, its state word, [`JoinHandle`], and
//!   the hook through which a woken task reaches its scheduler.
//! - `scheduler`: the loop that runs tasks, waits for the driver and fires timers.
//! - [`io`]: [`io::AsyncRead`] / [`io::AsyncWrite`], their extension futures,
//!   and [`io::Async`], the generic I/O type `net` builds sockets on.
//! - [`sync`], [`signal`], [`spawn_blocking`], [`task_local!`]: channels and
//!   locks, Unix signals, the blocking pool, task-local storage.
//! - `util`: one of each building block: the generational slab,
//!   the cross-thread hand-off queue, the wake slot ([`task::AtomicWaker`]).
//! - [`Runtime`], [`Builder`], [`block_on`], [`spawn`], [`spawn_local`]: the public face.
//!
//! # Optional features
//!
//! - `hyper`: `runtime::hyper::{Executor, Timer}`, hyper 1.x's executor and
//!   timer traits on weft's tasks and timers (pulls in `hyper` without
//!   features, and through it `bytes`, `http`, `http-body` and tokio's
//!   `sync` module, no tokio runtime). `net`'s `hyper` feature turns it on.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod blocking;
mod driver;
#[cfg(feature = "hyper")]
pub mod hyper;
pub mod io;
mod loom;
#[cfg(all(test, loom))]
mod loom_tests;
mod reactor;
mod runtime;
mod scheduler;
pub mod signal;
pub mod sync;
mod sys;
pub mod task;
pub mod task_local;
pub mod time;
mod util;

pub use crate::blocking::{blocking_threads, set_max_blocking_threads, spawn_blocking};
pub use crate::runtime::{
    backend, block_on, is_inside_runtime, metrics, spawn, spawn_local, Backend, Builder, Handle, Metrics, Runtime,
};
pub use crate::task::{yield_now, AbortHandle, JoinError, JoinHandle, YieldNow};
pub use crate::task::{JoinNext, JoinSet};
