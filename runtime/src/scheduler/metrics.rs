//! [`Metrics`]: a loop's counters, for tests and monitoring, and the
//! loop-thread cells that keep them.

use std::cell::Cell;
use std::time::Duration;

use crate::io::stats::{self, Calls};

/// Counters describing a runtime, for tests and monitoring.
///
/// The gauges (`live_tasks` .. `held_buffers`) are the state now; the
/// other fields count up since the runtime was created. They are what to look at
/// when one connection starves the others: `budget_yields` says how often a
/// busy task was made to give the thread back, and `longest_poll` how long
/// the worst poll of any task held the thread.
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
    /// Task polls (not counting the `block_on` future's).
    pub polls: u64,
    /// Wakers woken by I/O events.
    pub io_wakes: u64,
    /// Wakers woken by timers.
    pub timer_wakes: u64,
    /// Tasks woken from other threads (through the injection queue).
    pub remote_wakes: u64,
    /// Polls in which a leaf operation returned `Pending` because the
    /// task's budget was spent (the task yielded to let others run).
    pub budget_yields: u64,
    /// The longest single task poll seen. Timing every poll would cost a
    /// clock read per poll, so the loop times each tick's batch of polls,
    /// and a batch of one poll exactly; when a batch takes longer than 10 ms
    /// and than the longest poll so far, it times each poll of the
    /// following batches until they are short again (a task that hogs the
    /// thread does so again and is caught).
    pub longest_poll: Duration,
    /// Waits in the kernel (`epoll_wait`, `kevent`): one per loop tick.
    pub waits: u64,
    /// Waits that returned no event (a timeout, or a wake-up from another thread).
    pub empty_waits: u64,
    /// Read system calls on the sockets registered with this loop
    /// (`recv`, `recvmsg`, …). With io_uring, stream reads and writes are
    /// completions, not system calls, and are not counted here or in
    /// `writes` (see `in_flight_ops`).
    pub reads: u64,
    /// Write system calls (`send`, `sendmsg`, `sendto`, …).
    pub writes: u64,
    /// Accept system calls.
    pub accepts: u64,
    /// Socket calls that answered `WouldBlock`: the cached readiness was
    /// stale. Reads, writes and accepts over echoed messages is the
    /// "system calls per message" that `strace` would count.
    pub would_blocks: u64,
}

/// A batch of polls shorter than this is not timed poll by poll: no poll in
/// it can hog the thread for long.
const HOG: Duration = Duration::from_millis(10);

/// The counters, kept in cells on the loop's thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) polls: Cell<u64>,
    pub(crate) io_wakes: Cell<u64>,
    pub(crate) timer_wakes: Cell<u64>,
    pub(crate) remote_wakes: Cell<u64>,
    pub(crate) budget_yields: Cell<u64>,
    pub(crate) waits: Cell<u64>,
    pub(crate) empty_waits: Cell<u64>,
    /// System calls made on the loop's thread (moved from `io::stats` each tick).
    pub(crate) calls: Cell<Calls>,
    pub(crate) longest_poll: Cell<Duration>,
    /// Time each poll of the coming batches (a long batch was seen).
    pub(crate) time_each_poll: Cell<bool>,
}

impl Counters {
    pub(crate) fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get().wrapping_add(n));
    }

    /// Records a poll (or batch of one) that took `took`.
    pub(crate) fn poll_took(&self, took: Duration) {
        if took > self.longest_poll.get() {
            self.longest_poll.set(took);
        }
    }

    /// Records a tick's batch of `polls` polls that took `took`: exact for
    /// one poll; a batch longer than both the longest poll so far and
    /// [`HOG`] switches per-poll timing on for the following batches (a
    /// poll in it may be a new longest), a shorter one off.
    pub(crate) fn batch_took(&self, polls: usize, took: Duration) {
        if polls == 1 {
            self.poll_took(took);
        }
        self.time_each_poll.set(polls > 1 && took > self.longest_poll.get().max(HOG));
    }

    pub(crate) fn fill(&self, m: &mut Metrics) {
        m.polls = self.polls.get();
        m.io_wakes = self.io_wakes.get();
        m.timer_wakes = self.timer_wakes.get();
        m.remote_wakes = self.remote_wakes.get();
        m.budget_yields = self.budget_yields.get();
        m.longest_poll = self.longest_poll.get();
        m.waits = self.waits.get();
        m.empty_waits = self.empty_waits.get();
        let calls = self.calls.get();
        m.reads = calls.reads;
        m.writes = calls.writes;
        m.accepts = calls.accepts;
        m.would_blocks = calls.would_blocks;
    }

    /// Moves the system calls counted on this thread into the loop's
    /// counters (once per tick, and before the metrics are read).
    pub(crate) fn collect_calls(&self) {
        let new = stats::take();
        let mut c = self.calls.get();
        c.reads = c.reads.wrapping_add(new.reads);
        c.writes = c.writes.wrapping_add(new.writes);
        c.accepts = c.accepts.wrapping_add(new.accepts);
        c.would_blocks = c.would_blocks.wrapping_add(new.would_blocks);
        self.calls.set(c);
    }
}
