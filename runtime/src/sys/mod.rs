//! The operating-system layer: one poller backend per OS and the syscall helper.
//!
//! Exactly one backend file is compiled, chosen by the `cfg` block below. Every
//! backend provides the same items:
//!
//! - `Poller`: owns the kernel object (an epoll fd, a kqueue fd) plus whatever
//!   it needs to be woken from another thread. Methods: `new()`,
//!   `add(fd, token, interest)` (edge-triggered, registered once),
//!   `delete(fd)`, `wait(&mut Events, Option<Duration>)` (an `EINTR` is
//!   reported as an empty wait, and wake-up notifications are consumed
//!   internally), and `notify()` (thread-safe: makes a concurrent or the next
//!   `wait` return).
//! - `Events`: a reusable buffer, `Events::with_capacity(n)`, `iter()` over
//!   [`Event`]s (never including the notification event).
//!
//! Nothing in here knows about tasks or sockets: tokens go in, tokens and
//! readiness bits come out.

use std::io;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use epoll::{Events, Poller};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod uring;

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd", target_os = "dragonfly"))]
mod kqueue;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd", target_os = "dragonfly"))]
pub(crate) use kqueue::{Events, Poller};

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly"
)))]
compile_error!("weft supports Linux and Android (epoll) and macOS, iOS, FreeBSD and DragonFly (kqueue)");

/// One readiness event as a backend reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    /// The token the fd was registered with.
    pub(crate) token: u64,
    /// Data (or a pending connection) can be read.
    pub(crate) readable: bool,
    /// The send buffer has room.
    pub(crate) writable: bool,
    /// The peer closed its sending side (EPOLLRDHUP / EV_EOF on the read filter).
    pub(crate) read_closed: bool,
    /// The writing side is closed (EPOLLHUP / EV_EOF on the write filter).
    pub(crate) write_closed: bool,
    /// The fd has a pending error (EPOLLERR / EV_ERROR); the next syscall reports it.
    pub(crate) error: bool,
}

/// Integer return values of syscalls, where `-1` signals an error.
pub trait IsMinusOne: Copy {
    /// True when the value is the error marker `-1`.
    fn is_minus_one(self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ty)*) => {$(
        impl IsMinusOne for $t {
            #[inline]
            fn is_minus_one(self) -> bool {
                self == -1
            }
        }
    )*};
}
impl_is_minus_one! { i8 i16 i32 i64 isize }

/// Turns a syscall's `-1` into `io::Error::last_os_error()`.
///
/// Every syscall in weft goes through this function (or [`cvt_r`]), so
/// the `errno` is read right after the call that set it.
///
/// ```
/// // SAFETY: getpid has no preconditions.
/// let pid = runtime::sys::cvt(unsafe { libc::getpid() })?;
/// assert!(pid > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`], but calls `f` again while it fails with `EINTR`.
///
/// For calls that may block and be interrupted by a signal (`connect` on a
/// blocking socket, `read` on a pipe); a non-blocking call can also use it
/// harmlessly.
#[inline]
pub fn cvt_r<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The calling thread's `errno` (for code that must preserve it, like a signal handler).
pub(crate) fn errno() -> i32 {
    // SAFETY: the location is valid for the calling thread's lifetime.
    unsafe { *errno_location() }
}

/// Sets the calling thread's `errno`.
pub(crate) fn set_errno(value: i32) {
    // SAFETY: as for `errno`.
    unsafe { *errno_location() = value }
}

#[cfg(target_os = "android")]
use libc::__errno as errno_location;
#[cfg(any(target_os = "linux", target_os = "dragonfly"))]
use libc::__errno_location as errno_location;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
use libc::__error as errno_location;

/// Converts an optional timeout to whole milliseconds for `epoll_wait`,
/// rounding up so a timer never fires early; `None` is `-1` (wait forever).
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) fn timeout_ms(timeout: Option<std::time::Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => {
            // Round up: a 0.3 ms wait must not become a 0 ms busy-poll and
            // wake before the deadline.
            let ms = d.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cvt_maps_minus_one_to_errno() {
        // SAFETY: close on an invalid fd only sets errno.
        let err = cvt(unsafe { libc::close(-1) }).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(cvt(3i32).unwrap(), 3);
    }

    #[test]
    fn timeout_rounds_up() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }
}
