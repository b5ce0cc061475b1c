//! [`Ready`]: the readiness bits the reactor caches per fd.

use std::fmt;
use std::ops::BitOr;

/// A set of readiness bits reported by the kernel for one fd.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Ready(pub(crate) u8);

impl Ready {
    /// No readiness.
    pub(crate) const EMPTY: Ready = Ready(0);
    /// Data or a connection can be read.
    pub(crate) const READABLE: Ready = Ready(1 << 0);
    /// The send buffer has room.
    pub(crate) const WRITABLE: Ready = Ready(1 << 1);
    /// The peer closed its write side: reads will return EOF.
    pub(crate) const READ_CLOSED: Ready = Ready(1 << 2);
    /// The write side is closed: writes will fail.
    pub(crate) const WRITE_CLOSED: Ready = Ready(1 << 3);
    /// The fd has a pending error; the next syscall on it returns it.
    pub(crate) const ERROR: Ready = Ready(1 << 4);

    /// Everything that makes a read worth trying.
    pub(crate) const READ_MASK: Ready = Ready((1 << 0) | (1 << 2) | (1 << 4));
    /// Everything that makes a write worth trying.
    pub(crate) const WRITE_MASK: Ready = Ready((1 << 1) | (1 << 3) | (1 << 4));

    /// True if a read may make progress (data, EOF or an error).
    pub(crate) fn is_readable(self) -> bool {
        self.0 & Ready::READ_MASK.0 != 0
    }

    /// True if a write may make progress (room, a closed side or an error).
    pub(crate) fn is_writable(self) -> bool {
        self.0 & Ready::WRITE_MASK.0 != 0
    }

    /// True if no bit is set.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn intersection(self, other: Ready) -> Ready {
        Ready(self.0 & other.0)
    }

    pub(crate) fn from_event(ev: &crate::sys::Event) -> Ready {
        let mut r = 0;
        if ev.readable {
            r |= Ready::READABLE.0;
        }
        if ev.writable {
            r |= Ready::WRITABLE.0;
        }
        if ev.read_closed {
            r |= Ready::READ_CLOSED.0;
        }
        if ev.write_closed {
            r |= Ready::WRITE_CLOSED.0;
        }
        if ev.error {
            r |= Ready::ERROR.0;
        }
        Ready(r)
    }
}

impl BitOr for Ready {
    type Output = Ready;

    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Ready::READABLE, "READABLE"),
            (Ready::WRITABLE, "WRITABLE"),
            (Ready::READ_CLOSED, "READ_CLOSED"),
            (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
            (Ready::ERROR, "ERROR"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit.0 != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("EMPTY")?;
        }
        Ok(())
    }
}
