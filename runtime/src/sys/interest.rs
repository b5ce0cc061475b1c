//! [`Interest`]: which directions of an fd a registration waits on.

use std::fmt;
use std::num::NonZeroU8;
use std::ops::BitOr;

/// The readiness directions a registration is interested in: never empty.
///
/// ```
/// use runtime::io::Interest;
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(NonZeroU8);

const READABLE: u8 = 0b01;
const WRITABLE: u8 = 0b10;

impl Interest {
    /// Wait for the fd to become readable (data, a connection, EOF or an error).
    pub const READABLE: Interest = Interest(match NonZeroU8::new(READABLE) {
        Some(v) => v,
        None => unreachable!(),
    });
    /// Wait for the fd to become writable (buffer space, a finished connect).
    pub const WRITABLE: Interest = Interest(match NonZeroU8::new(WRITABLE) {
        Some(v) => v,
        None => unreachable!(),
    });

    /// Both directions: `const` form of `READABLE | WRITABLE`.
    pub const fn both() -> Interest {
        Interest::READABLE.add(Interest::WRITABLE)
    }

    /// The union of two interests, usable in `const` context.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(match NonZeroU8::new(self.0.get() | other.0.get()) {
            Some(v) => v,
            None => unreachable!(),
        })
    }

    /// True if readability is included.
    pub const fn is_readable(self) -> bool {
        self.0.get() & READABLE != 0
    }

    /// True if writability is included.
    pub const fn is_writable(self) -> bool {
        self.0.get() & WRITABLE != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, rhs: Interest) -> Interest {
        self.add(rhs)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            _ => f.write_str("WRITABLE"),
        }
    }
}
