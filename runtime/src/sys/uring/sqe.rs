//! Submission entries: one constructor per op.
//!
//! An [`Sqe`] can only be made here, so every entry the ring submits came
//! through a builder: the safe ones carry no pointers the kernel would
//! follow; the `unsafe` ones do, and their callers promise the memory.

use std::fmt;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

use super::abi::*;

/// One submission queue entry, ready for [`Ring::push`](super::Ring::push).
///
/// Not `Clone`: an entry may own something (a close owns its fd) and must be
/// submitted at most once. Dropping an entry that was never pushed releases
/// what it owns.
#[repr(transparent)]
#[derive(PartialEq, Eq)]
pub(crate) struct Sqe(pub(super) io_uring_sqe);

impl fmt::Debug for Sqe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sqe")
            .field("opcode", &self.0.opcode)
            .field("flags", &self.0.flags)
            .field("fd", &self.0.fd)
            .field("user_data", &self.0.user_data)
            .finish_non_exhaustive()
    }
}

impl Drop for Sqe {
    fn drop(&mut self) {
        // A close that never reached the ring still owns its fd: close it here
        // rather than leak it. (`Ring::push` moves the entry out without this.)
        if self.0.opcode == IORING_OP_CLOSE {
            // SAFETY: `Sqe::close` took this fd from an `OwnedFd`, and the entry
            // was never pushed, so nothing else owns or closes it.
            drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(self.0.fd) });
        }
    }
}

/// The `IOSQE_*` flags a caller may add with [`Sqe::flags`]; the builders own
/// `BUFFER_SELECT` (it makes the kernel write into a buffer group) and
/// `FIXED_FILE` (files are not registered).
const CALLER_FLAGS: u8 = IOSQE_IO_LINK | IOSQE_IO_HARDLINK | IOSQE_IO_DRAIN | IOSQE_ASYNC | IOSQE_CQE_SKIP_SUCCESS;

impl Sqe {
    /// An entry for `opcode` on `fd`, everything else zero.
    fn new(opcode: u8, fd: RawFd) -> Sqe {
        Sqe(io_uring_sqe { opcode, fd, ..io_uring_sqe::default() })
    }

    /// Sets the value the completion carries back.
    #[must_use]
    pub(crate) fn user_data(mut self, user_data: u64) -> Sqe {
        self.0.user_data = user_data;
        self
    }

    /// Adds `IOSQE_*` flags: `IO_LINK`, `IO_HARDLINK`, `IO_DRAIN`, `ASYNC`,
    /// `CQE_SKIP_SUCCESS`. Other bits are ignored (and trip a debug assertion).
    #[must_use]
    pub(crate) fn flags(mut self, flags: u8) -> Sqe {
        debug_assert_eq!(flags & !CALLER_FLAGS, 0, "Sqe::flags: bits {flags:#x} include builder-owned flags");
        self.0.flags |= flags & CALLER_FLAGS;
        self
    }

    /// The `IORING_OP_*` of this entry.
    pub(crate) fn opcode(&self) -> u8 {
        self.0.opcode
    }

    /// Does nothing; completes with 0. For tests and to kick the ring.
    pub(crate) fn nop() -> Sqe {
        Sqe::new(IORING_OP_NOP, -1)
    }

    /// `recv(fd, buf, len, flags)` into caller memory.
    ///
    /// # Safety
    ///
    /// `buf..buf+len` must be valid for writes, and neither read nor written
    /// by anyone else, until this op's completion is reaped (the kernel writes
    /// it at any time until then; if the ring is dropped first, forever).
    pub(crate) unsafe fn recv(fd: RawFd, buf: *mut u8, len: u32, flags: i32) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_RECV, fd);
        sqe.0.addr = buf as u64;
        sqe.0.len = len;
        sqe.0.op_flags = flags as u32;
        sqe
    }

    /// `recv(fd, …, flags)` into a buffer the kernel picks from the provided
    /// buffer group `group` (`IOSQE_BUFFER_SELECT`); the completion names it
    /// ([`Cqe::buffer_id`](super::Cqe::buffer_id)).
    ///
    /// # Safety
    ///
    /// The [`BufRing`](super::BufRing) registered as `group` on the ring this
    /// entry is pushed to must stay alive until this op's completion is reaped:
    /// the kernel may have picked a buffer's address and write to it until then.
    pub(crate) unsafe fn recv_select(fd: RawFd, group: u16, flags: i32) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_RECV, fd);
        sqe.0.flags = IOSQE_BUFFER_SELECT;
        sqe.0.buf_index = group;
        // len 0: each recv may fill a whole buffer.
        sqe.0.op_flags = flags as u32;
        sqe
    }

    /// Multishot recv (`IORING_RECV_MULTISHOT`, 6.0): stays armed and posts
    /// one completion per chunk received, each in a buffer from `group`, with
    /// [`Cqe::more`](super::Cqe::more) set until the last. It ends at EOF
    /// (res 0), on error, on cancel, or with `-ENOBUFS` when the group is empty.
    ///
    /// # Safety
    ///
    /// As for [`Sqe::recv_select`], until the completion without `more` is reaped.
    pub(crate) unsafe fn recv_multishot(fd: RawFd, group: u16) -> Sqe {
        // SAFETY: forwarded to the caller.
        let mut sqe = unsafe { Sqe::recv_select(fd, group, 0) };
        sqe.0.ioprio = IORING_RECV_MULTISHOT;
        sqe
    }

    /// `send(fd, buf, len, flags | MSG_NOSIGNAL)`: a closed peer gives
    /// `-EPIPE`, never `SIGPIPE`.
    ///
    /// # Safety
    ///
    /// `buf..buf+len` must be valid for reads and not written by anyone until
    /// this op's completion is reaped (forever if the ring is dropped first).
    pub(crate) unsafe fn send(fd: RawFd, buf: *const u8, len: u32, flags: i32) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_SEND, fd);
        sqe.0.addr = buf as u64;
        sqe.0.len = len;
        sqe.0.op_flags = (flags | libc::MSG_NOSIGNAL) as u32;
        sqe
    }

    /// `sendmsg(fd, msg, flags | MSG_NOSIGNAL)`.
    ///
    /// # Safety
    ///
    /// `msg` and everything it points to (iovecs and their buffers, name,
    /// control) must be valid for reads and unchanged until this op's
    /// completion is reaped (forever if the ring is dropped first).
    pub(crate) unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr, flags: i32) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_SENDMSG, fd);
        sqe.0.addr = msg as u64;
        sqe.0.len = 1;
        sqe.0.op_flags = (flags | libc::MSG_NOSIGNAL) as u32;
        sqe
    }

    /// `recvmsg(fd, msg, flags)`; the kernel updates `msg`'s lengths and flags.
    ///
    /// # Safety
    ///
    /// `msg` and everything it points to must be valid (the msghdr and the
    /// iovec buffers, name and control for writes), and not otherwise
    /// accessed, until this op's completion is reaped (forever if the ring is
    /// dropped first).
    pub(crate) unsafe fn recvmsg(fd: RawFd, msg: *mut libc::msghdr, flags: i32) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_RECVMSG, fd);
        sqe.0.addr = msg as u64;
        sqe.0.len = 1;
        sqe.0.op_flags = flags as u32;
        sqe
    }

    /// `accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)`; the completion's
    /// res is the new fd (take it with [`Cqe::into_fd`](super::Cqe::into_fd)).
    /// The peer address is not collected: ask `getpeername` if needed.
    pub(crate) fn accept(fd: RawFd) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_ACCEPT, fd);
        sqe.0.op_flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u32;
        sqe
    }

    /// Multishot accept (`IORING_ACCEPT_MULTISHOT`, 5.19): one completion per
    /// connection, [`Cqe::more`](super::Cqe::more) set until it ends.
    pub(crate) fn accept_multishot(fd: RawFd) -> Sqe {
        let mut sqe = Sqe::accept(fd);
        sqe.0.ioprio = IORING_ACCEPT_MULTISHOT;
        sqe
    }

    /// `connect(fd, addr, len)`.
    ///
    /// # Safety
    ///
    /// `addr..addr+len` must be a valid socket address, readable and unchanged
    /// until this op's completion is reaped (forever if the ring is dropped first).
    pub(crate) unsafe fn connect(fd: RawFd, addr: *const libc::sockaddr, len: libc::socklen_t) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_CONNECT, fd);
        sqe.0.addr = addr as u64;
        // connect takes the length by value, in the offset field.
        sqe.0.off = u64::from(len);
        sqe
    }

    /// One-shot `poll` for `events` (`POLLIN`, `POLLOUT`, …); res is the
    /// ready mask.
    pub(crate) fn poll_add(fd: RawFd, events: u32) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_POLL_ADD, fd);
        // poll32_events is stored with its 16-bit halves swapped on big-endian.
        sqe.0.op_flags = if cfg!(target_endian = "big") { events.rotate_left(16) } else { events };
        sqe
    }

    /// Multishot poll (`IORING_POLL_ADD_MULTI`): edge-triggered, one
    /// completion per wake-up, [`Cqe::more`](super::Cqe::more) set until it ends.
    pub(crate) fn poll_multishot(fd: RawFd, events: u32) -> Sqe {
        let mut sqe = Sqe::poll_add(fd, events);
        sqe.0.len = IORING_POLL_ADD_MULTI;
        sqe
    }

    /// Cancels the in-flight op whose user_data is `target`. Completes with 0
    /// (found and cancelled; the target then completes with `-ECANCELED`),
    /// `-ENOENT` (not found) or `-EALREADY` (already running).
    pub(crate) fn async_cancel(target: u64) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_ASYNC_CANCEL, -1);
        // The key, not a pointer: the kernel only compares it.
        sqe.0.addr = target;
        sqe
    }

    /// Cancels every in-flight op on `fd` (`IORING_ASYNC_CANCEL_FD |
    /// IORING_ASYNC_CANCEL_ALL`, 5.19); res is how many were cancelled.
    pub(crate) fn cancel_fd(fd: RawFd) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_ASYNC_CANCEL, fd);
        sqe.0.op_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
        sqe
    }

    /// Cancels every in-flight op of the ring (`IORING_ASYNC_CANCEL_ANY |
    /// IORING_ASYNC_CANCEL_ALL`, 5.19); res is how many were cancelled.
    pub(crate) fn cancel_all() -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_ASYNC_CANCEL, -1);
        sqe.0.op_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
        sqe
    }

    /// `close(fd)`, taking ownership: the fd is closed by the kernel once
    /// pushed and submitted, or by this entry's `Drop` if it never is.
    pub(crate) fn close(fd: OwnedFd) -> Sqe {
        Sqe::new(IORING_OP_CLOSE, fd.into_raw_fd())
    }

    /// `read(fd, buf, len)` at the file position (offset `-1`), e.g. an eventfd's counter.
    ///
    /// # Safety
    ///
    /// `buf..buf+len` must be valid for writes and not otherwise accessed
    /// until this op's completion is reaped (forever if the ring is dropped first).
    pub(crate) unsafe fn read(fd: RawFd, buf: *mut u8, len: u32) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_READ, fd);
        sqe.0.addr = buf as u64;
        sqe.0.len = len;
        sqe.0.off = u64::MAX;
        sqe
    }

    /// A timer: completes with `-ETIME` when `ts` elapses, or with 0 once
    /// `count` other completions have arrived (0: only the time counts).
    /// `flags` are `IORING_TIMEOUT_*` (0: relative, monotonic clock).
    ///
    /// # Safety
    ///
    /// `ts` must point to a `__kernel_timespec` that stays valid and unchanged
    /// until this op's completion is reaped (the kernel reads it when it takes
    /// the entry, which with SQPOLL is at a time of its choosing).
    pub(crate) unsafe fn timeout(ts: *const __kernel_timespec, count: u32, flags: u32) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_TIMEOUT, -1);
        sqe.0.addr = ts as u64;
        sqe.0.len = 1;
        sqe.0.off = u64::from(count);
        sqe.0.op_flags = flags;
        sqe
    }

    /// Posts a completion with `user_data` and res `res` into the ring whose
    /// fd is `ring_fd` (`IORING_OP_MSG_RING`, 5.18); this ring also gets a
    /// completion (res 0 or `-errno`). A cheap cross-ring wake-up.
    pub(crate) fn msg_ring(ring_fd: RawFd, res: u32, user_data: u64) -> Sqe {
        let mut sqe = Sqe::new(IORING_OP_MSG_RING, ring_fd);
        sqe.0.addr = IORING_MSG_DATA;
        sqe.0.len = res;
        sqe.0.off = user_data;
        sqe
    }
}
