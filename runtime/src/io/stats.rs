//! What a system call was for, and the thread's counts of them for the
//! metrics.
//!
//! The counts are plain thread-local cells (one increment, no atomic, no
//! pointer chase on the I/O path); the loop running on the thread moves
//! them into its own counters once per tick ([`take`]), so
//! `Runtime::metrics` counts the calls its loops' threads made. Calls made
//! on a thread that runs no loop are not counted anywhere.

use std::cell::Cell;

/// What a system call was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// A read of a byte stream or a datagram.
    Read,
    /// A write of a byte stream or a datagram.
    Write,
    /// An accept of a connection.
    Accept,
}

impl Op {
    /// The readiness the call waits for.
    pub(crate) fn direction(self) -> crate::reactor::Direction {
        match self {
            Op::Read | Op::Accept => crate::reactor::Direction::Read,
            Op::Write => crate::reactor::Direction::Write,
        }
    }
}

thread_local! {
    static READS: Cell<u64> = const { Cell::new(0) };
    static WRITES: Cell<u64> = const { Cell::new(0) };
    static ACCEPTS: Cell<u64> = const { Cell::new(0) };
    static WOULD_BLOCKS: Cell<u64> = const { Cell::new(0) };
}

/// Counts one system call made for `op` on this thread, and whether it
/// answered `WouldBlock` (the cached readiness was stale).
#[inline]
pub(crate) fn count(op: Op, would_block: bool) {
    let counter = match op {
        Op::Read => &READS,
        Op::Write => &WRITES,
        Op::Accept => &ACCEPTS,
    };
    counter.set(counter.get().wrapping_add(1));
    if would_block {
        WOULD_BLOCKS.set(WOULD_BLOCKS.get().wrapping_add(1));
    }
}

/// The calls counted on this thread since the last `take`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Calls {
    pub(crate) reads: u64,
    pub(crate) writes: u64,
    pub(crate) accepts: u64,
    pub(crate) would_blocks: u64,
}

/// Takes this thread's counts, leaving zeros.
pub(crate) fn take() -> Calls {
    Calls { reads: READS.take(), writes: WRITES.take(), accepts: ACCEPTS.take(), would_blocks: WOULD_BLOCKS.take() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_per_thread_and_taken_once() {
        let _ = take();
        count(Op::Read, false);
        count(Op::Read, true);
        count(Op::Accept, false);
        std::thread::spawn(|| count(Op::Write, false)).join().unwrap();
        assert_eq!(take(), Calls { reads: 2, writes: 0, accepts: 1, would_blocks: 1 });
        assert_eq!(take(), Calls::default());
    }
}
