//! Schedulers: what runs tasks.
//!
//! A *loop* ([`current_thread::Core`]) owns a run queue, the list of its
//! live tasks, a driver and the timers, and runs them on one thread, tick
//! by tick. The loop's thread-safe part ([`current_thread::Shared`]) is
//! the [`Schedule`](crate::task::Schedule) hook every task of the loop
//! carries: a wake on the loop's thread pushes the task on the run queue,
//! a wake elsewhere on the loop's injection queue, then unparks the loop.
//! The thread-local "current loop" lives beside it: `spawn`, `spawn_local`
//! and the hook's fast path find the loop there.
//!
//! A runtime is one or more loops ([`workers`]): worker 0 on the thread
//! that calls `block_on`, the others on threads of their own, each with its
//! own driver and timers (thread-per-core). [`Handle`] spawns onto them
//! from any thread.

pub(crate) mod current_thread;
mod handle;
mod metrics;
pub(crate) mod workers;

pub use handle::Handle;
pub(crate) use handle::HandleInner;
pub use metrics::Metrics;
