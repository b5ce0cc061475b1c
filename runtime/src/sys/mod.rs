//! The operating-system layer: one poller backend per OS, the syscall
//! helper, and the few other syscalls the runtime makes. Private to the
//! crate: nothing above `reactor` and `driver` names it.
//!
//! Exactly one backend file is compiled, chosen by the `cfg` block below,
//! which is also the one place that names the supported OSes. Every
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

use std::io::{self, IoSlice};
use std::os::fd::RawFd;

mod interest;
pub use interest::Interest;

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
pub(crate) trait IsMinusOne: Copy {
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
/// Every syscall of the runtime goes through this function (or [`cvt_r`]),
/// so the `errno` is read right after the call that set it.
#[inline]
pub(crate) fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
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
pub(crate) fn cvt_r<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The calling thread's `errno` (for code that must preserve it, like a signal handler).
fn errno() -> i32 {
    // SAFETY: the location is valid for the calling thread's lifetime.
    unsafe { *errno_location() }
}

/// Sets the calling thread's `errno`.
fn set_errno(value: i32) {
    // SAFETY: as for `errno`.
    unsafe { *errno_location() = value }
}

#[cfg(target_os = "android")]
use libc::__errno as errno_location;
#[cfg(any(target_os = "linux", target_os = "dragonfly"))]
use libc::__errno_location as errno_location;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
use libc::__error as errno_location;

/// `send` flags: a closed peer is `EPIPE`, never SIGPIPE. macOS and iOS
/// have no `MSG_NOSIGNAL`; `net` sets `SO_NOSIGPIPE` on their sockets.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(any(target_os = "macos", target_os = "ios"))]
const SEND_FLAGS: libc::c_int = 0;

/// `recv(2)` into `buf`, retried on `EINTR`.
#[inline]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let n = cvt_r(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })?;
    Ok(n as usize)
}

/// `send(2)` from `buf`, never raising SIGPIPE, retried on `EINTR`.
#[inline]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    let n = cvt_r(|| unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), SEND_FLAGS) })?;
    Ok(n as usize)
}

/// A gathered `sendmsg(2)` of at most 1024 buffers, like [`send`].
pub(crate) fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: msghdr is plain data; zeroes are valid for the fields we do not set.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is ABI-compatible with iovec (std guarantees this on Unix).
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: msg points to `msg_iovlen` valid iovecs that the kernel only reads.
    let n = cvt_r(|| unsafe { libc::sendmsg(fd, &msg, SEND_FLAGS) })?;
    Ok(n as usize)
}

/// `recv(2)` with `MSG_PEEK`: copies queued data into `buf` without consuming it.
pub(crate) fn peek(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let n = cvt_r(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK) })?;
    Ok(n as usize)
}

/// `shutdown(2)`: shuts down one or both directions of a socket.
pub(crate) fn shutdown(fd: RawFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: shutdown takes no pointers.
    cvt(unsafe { libc::shutdown(fd, how) })?;
    Ok(())
}

/// A close-on-exec duplicate of `fd` (`F_DUPFD_CLOEXEC`): another number
/// for the same open file, which stays open until both are closed.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) fn dup(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: fcntl with an integer argument takes no pointers.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: a successful F_DUPFD_CLOEXEC returns a new fd that nothing else owns.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(new) })
}

/// Makes the socket's final close a reset (`SO_LINGER` on, timeout 0), as
/// close(2) does by itself when received data is left unread.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) fn reset_on_close(fd: RawFd) -> io::Result<()> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: passes a pointer to a live `linger` and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Whether the socket's receive queue holds bytes (`FIONREAD`); false if
/// the fd cannot tell.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) fn has_unread_data(fd: RawFd) -> bool {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer.
    cvt(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) }).is_ok_and(|_| n > 0)
}

/// Puts `fd` in non-blocking mode (`FIONBIO`).
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let mut on: libc::c_int = 1;
    // SAFETY: FIONBIO reads one c_int from the pointer.
    cvt(unsafe { libc::ioctl(fd, libc::FIONBIO, &mut on) })?;
    Ok(())
}

/// The calling thread's timer slack, tightened to 1 ns while the guard
/// lives (Linux; elsewhere nothing happens). The kernel lets a timer of a
/// normal thread fire up to 50 µs late (its default slack) to batch
/// wake-ups; a loop that promises sub-millisecond timers waits with the
/// slack at 1 ns instead, which takes `sleep(200 µs)`'s p99 lateness from
/// about 90 µs to about 20 µs here (prctl(2), PR_SET_TIMERSLACK).
#[derive(Debug)]
pub(crate) struct TimerSlack {
    /// The slack to restore; `None` if it was not changed (always, where
    /// the OS has no timer slack to set).
    #[cfg_attr(not(all(any(target_os = "linux", target_os = "android"), not(miri))), allow(dead_code))]
    prev: Option<libc::c_ulong>,
}

impl TimerSlack {
    pub(crate) fn tighten() -> TimerSlack {
        #[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
        {
            // SAFETY: PR_GET_TIMERSLACK takes no pointer; it returns the slack.
            let prev = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK) };
            // SAFETY: PR_SET_TIMERSLACK takes an integer.
            if prev > 1 && unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) } == 0 {
                return TimerSlack { prev: Some(prev as libc::c_ulong) };
            }
        }
        TimerSlack { prev: None }
    }
}

impl Drop for TimerSlack {
    fn drop(&mut self) {
        #[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
        if let Some(prev) = self.prev {
            // SAFETY: PR_SET_TIMERSLACK takes an integer.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, prev) };
        }
    }
}

/// Pins the calling thread to the `index`-th CPU it may run on (modulo
/// their number), as `sched_setaffinity(2)` does; Linux and Android only.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pin_to_cpu(index: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: the kernel writes at most `size` bytes into `allowed`.
    cvt(unsafe { libc::sched_getaffinity(0, size, &mut allowed) })?;
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads one bit of a valid set, `cpu` < CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &allowed) })
        .collect();
    let Some(&cpu) = cpus.get(index % cpus.len().max(1)) else {
        return Err(io::Error::other("this thread may run on no CPU"));
    };
    // SAFETY: as above.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sets one bit of a valid set, `cpu` < CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // SAFETY: the kernel reads `size` bytes from `one`.
    cvt(unsafe { libc::sched_setaffinity(0, size, &one) })
        .map_err(|e| io::Error::new(e.kind(), format!("pinning a worker to CPU {cpu}: {e}")))?;
    Ok(())
}

/// Pinning threads to CPUs is implemented for Linux and Android only.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn pin_to_cpu(_index: usize) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "pinning workers to CPUs is supported on Linux and Android only"))
}

/// Installs `handler` for `signum` with `SA_RESTART`.
pub(crate) fn install_signal_handler(signum: libc::c_int, handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    // SAFETY: sigaction is plain data; zeroes are a valid empty value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: initialises the mask inside our local struct.
    cvt(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
    // SAFETY: `action` is fully initialised; the old action is not needed.
    cvt(unsafe { libc::sigaction(signum, &action, std::ptr::null_mut()) })?;
    Ok(())
}

/// Writes one byte to `fd` from inside a signal handler: async-signal-safe
/// (one `write`), and `errno` is left as the interrupted code had it. A
/// failed write (a full pipe) is ignored: the caller records the delivery
/// elsewhere.
pub(crate) fn write_byte_in_signal_handler(fd: RawFd, byte: u8) {
    let saved = errno();
    // SAFETY: writes one byte from a local.
    let _ = unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    set_errno(saved);
}

/// Sends `signum` to the calling thread (tests of the signal module).
#[cfg(test)]
pub(crate) fn raise(signum: libc::c_int) -> io::Result<()> {
    // SAFETY: raise takes no pointers.
    cvt(unsafe { libc::raise(signum) })?;
    Ok(())
}

/// `dup2(from, onto)`: `onto` now refers to `from`'s file (reactor tests).
#[cfg(test)]
pub(crate) fn dup2(from: RawFd, onto: RawFd) -> io::Result<()> {
    // SAFETY: both are fds the test owns; dup2 swaps atomically.
    cvt(unsafe { libc::dup2(from, onto) })?;
    Ok(())
}

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
