//! What a system call was for, as the metrics count it.

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
