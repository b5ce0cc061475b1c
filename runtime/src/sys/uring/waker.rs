//! Cross-thread wake-ups for a ring: an eventfd the ring watches with a
//! multishot poll, and that any thread can write.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use super::{error, Sqe};
use crate::sys::cvt;

/// Wakes a [`Ring`](super::Ring) blocked in
/// [`submit_and_wait`](super::Ring::submit_and_wait) from any thread.
///
/// The ring's owner pushes [`Waker::poll_sqe`] once (and again whenever its
/// completion arrives without [`Cqe::more`](super::Cqe::more)); every
/// [`Waker::notify`] then posts a completion with that entry's user_data,
/// which ends the wait. Clones share the eventfd; `Send + Sync`.
#[derive(Clone, Debug)]
pub(crate) struct Waker {
    /// A non-blocking, close-on-exec eventfd.
    fd: Arc<OwnedFd>,
}

impl Waker {
    /// Creates the eventfd.
    pub(crate) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
            .map_err(|e| error("eventfd for the io_uring waker", e, false))?;
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        Ok(Waker { fd: Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }) })
    }

    /// The entry that makes the ring watch this waker: a multishot `POLLIN`
    /// poll on the eventfd (edge-triggered: every `notify` is one wake-up,
    /// whether or not the counter was drained). Set its user_data before pushing.
    pub(crate) fn poll_sqe(&self) -> Sqe {
        Sqe::poll_multishot(self.fd.as_raw_fd(), libc::POLLIN as u32)
    }

    /// Wakes the ring. Thread-safe; cheap when repeated (one `write`).
    pub(crate) fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes exactly the 8 bytes of `one`.
        match cvt(unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) }) {
            // EAGAIN: the counter is saturated, so a wake-up is already pending.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(error("write to the io_uring waker's eventfd", e, false)),
            Ok(_) => Ok(()),
        }
    }

    /// Resets the counter (so it can never saturate); returns whether it was
    /// non-zero. Call it when the poll's completion arrives.
    pub(crate) fn drain(&self) -> io::Result<bool> {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into the 8-byte `count`.
        match cvt(unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) }) {
            Ok(_) => Ok(count != 0),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(error("read from the io_uring waker's eventfd", e, false)),
        }
    }
}

impl AsRawFd for Waker {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
