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
}
