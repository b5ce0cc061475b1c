//! [`Metrics`]: a loop's counters, for tests and monitoring.

/// Counters describing a runtime, for tests and monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Tasks spawned and not yet completed.
    pub live_tasks: usize,
    /// Tasks waiting in the run queue.
    pub queued_tasks: usize,
    /// File descriptors registered with the reactor.
    pub registered_fds: usize,
    /// Timers (sleeps, timeouts, intervals) waiting for their deadline.
    pub pending_timers: usize,
    /// io_uring operations the kernel has not finished (always 0 with
    /// epoll): armed receives, sends and readiness polls of registered fds
    /// (the loop's own wake-up poll is not counted).
    pub in_flight_ops: usize,
    /// io_uring provided buffers the kernel filled and no task has read
    /// yet (always 0 with epoll).
    pub held_buffers: usize,
    /// Times the io_uring completion queue was found full, its overflow
    /// held by the kernel and drained with extra system calls (always 0
    /// with epoll). Nothing is lost; a larger queue avoids the cost.
    pub cq_overflows: usize,
}
