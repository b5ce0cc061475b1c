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

pub(crate) mod current_thread;
mod metrics;

pub use metrics::Metrics;
