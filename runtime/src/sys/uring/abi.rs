//! The io_uring kernel ABI: the structs and constants of `<linux/io_uring.h>`
//! that weft uses, written out by hand because `libc` has only the syscall
//! numbers.
//!
//! Layouts follow the kernel header field for field; unions are flattened to
//! the member weft uses and the other members are named in the field docs.
//! Every struct is checked for size (and the SQE for offsets) at compile time.
//! Names keep the kernel's spelling so they can be looked up in the header
//! and in io_uring(7).
#![allow(non_camel_case_types)]

use std::mem::{offset_of, size_of};

// ---------------------------------------------------------------------------
// io_uring_setup(2)

/// `io_uring_params`: passed to `io_uring_setup`, filled in by the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct io_uring_params {
    /// In: ignored (the entry count is a syscall argument). Out: SQ size, a power of two.
    pub(crate) sq_entries: u32,
    /// In with `IORING_SETUP_CQSIZE`: the wanted CQ size. Out: the CQ size.
    pub(crate) cq_entries: u32,
    /// `IORING_SETUP_*` flags.
    pub(crate) flags: u32,
    /// CPU of the SQ poll thread (with `IORING_SETUP_SQ_AFF`).
    pub(crate) sq_thread_cpu: u32,
    /// Milliseconds the SQ poll thread spins before it sleeps.
    pub(crate) sq_thread_idle: u32,
    /// Out: `IORING_FEAT_*` bits.
    pub(crate) features: u32,
    /// Ring whose async backend to share (with `IORING_SETUP_ATTACH_WQ`).
    pub(crate) wq_fd: u32,
    /// Must be zero.
    pub(crate) resv: [u32; 3],
    /// Out: where the SQ ring's fields lie in its mapping.
    pub(crate) sq_off: io_sqring_offsets,
    /// Out: where the CQ ring's fields lie in its mapping.
    pub(crate) cq_off: io_cqring_offsets,
}

/// `io_sqring_offsets`: byte offsets of the SQ ring's fields from the start
/// of the `IORING_OFF_SQ_RING` mapping.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct io_sqring_offsets {
    /// Consumer index, written by the kernel.
    pub(crate) head: u32,
    /// Producer index, written by the application.
    pub(crate) tail: u32,
    /// `entries - 1`.
    pub(crate) ring_mask: u32,
    /// Number of entries.
    pub(crate) ring_entries: u32,
    /// `IORING_SQ_*` flags, written by the kernel.
    pub(crate) flags: u32,
    /// Count of invalid SQEs the kernel skipped.
    pub(crate) dropped: u32,
    /// The index array: slot `i` of the ring names an SQE by index.
    pub(crate) array: u32,
    /// Reserved.
    pub(crate) resv1: u32,
    /// Used only with `IORING_SETUP_NO_MMAP`.
    pub(crate) user_addr: u64,
}

/// `io_cqring_offsets`: byte offsets of the CQ ring's fields from the start
/// of the `IORING_OFF_CQ_RING` mapping (the SQ mapping with `IORING_FEAT_SINGLE_MMAP`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct io_cqring_offsets {
    /// Consumer index, written by the application.
    pub(crate) head: u32,
    /// Producer index, written by the kernel.
    pub(crate) tail: u32,
    /// `entries - 1`.
    pub(crate) ring_mask: u32,
    /// Number of entries.
    pub(crate) ring_entries: u32,
    /// Count of completions lost to overflow (stays 0 with `IORING_FEAT_NODROP`
    /// unless the kernel is out of memory).
    pub(crate) overflow: u32,
    /// The CQE array.
    pub(crate) cqes: u32,
    /// `IORING_CQ_*` flags.
    pub(crate) flags: u32,
    /// Reserved.
    pub(crate) resv1: u32,
    /// Used only with `IORING_SETUP_NO_MMAP`.
    pub(crate) user_addr: u64,
}

/// Start a kernel thread that polls the SQ, so submission needs no syscall.
pub(crate) const IORING_SETUP_SQPOLL: u32 = 1 << 1;
/// `cq_entries` in the params is the wanted CQ size.
pub(crate) const IORING_SETUP_CQSIZE: u32 = 1 << 3;
/// Keep submitting the rest of a batch after one SQE fails to prepare.
pub(crate) const IORING_SETUP_SUBMIT_ALL: u32 = 1 << 7;
/// Do not interrupt the task (IPI) to run completion work; it runs on the next kernel entry.
pub(crate) const IORING_SETUP_COOP_TASKRUN: u32 = 1 << 8;
/// Set `IORING_SQ_TASKRUN` in the SQ flags while completion work is pending.
pub(crate) const IORING_SETUP_TASKRUN_FLAG: u32 = 1 << 9;
/// Only one task submits; lets the kernel skip locking.
pub(crate) const IORING_SETUP_SINGLE_ISSUER: u32 = 1 << 12;
/// Run completion work only inside `io_uring_enter(GETEVENTS)` of the issuer task.
pub(crate) const IORING_SETUP_DEFER_TASKRUN: u32 = 1 << 13;

/// The SQ and CQ rings share one mapping (kernel 5.4).
pub(crate) const IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0;
/// Completions are never dropped on CQ overflow; they wait in the kernel (5.5).
pub(crate) const IORING_FEAT_NODROP: u32 = 1 << 1;
/// `io_uring_enter` takes `IORING_ENTER_EXT_ARG` (a timeout) (5.11).
pub(crate) const IORING_FEAT_EXT_ARG: u32 = 1 << 8;

/// `mmap` offset of the SQ ring (and, with `SINGLE_MMAP`, the CQ ring).
pub(crate) const IORING_OFF_SQ_RING: i64 = 0;
/// `mmap` offset of the SQE array.
pub(crate) const IORING_OFF_SQES: i64 = 0x1000_0000;

/// SQ flag: the SQ poll thread sleeps; wake it with `IORING_ENTER_SQ_WAKEUP`.
pub(crate) const IORING_SQ_NEED_WAKEUP: u32 = 1 << 0;
/// SQ flag: completions wait in the kernel's overflow list; an enter with
/// `GETEVENTS` moves them into the CQ.
pub(crate) const IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;
/// SQ flag: completion work is pending; an enter with `GETEVENTS` runs it.
pub(crate) const IORING_SQ_TASKRUN: u32 = 1 << 2;

// ---------------------------------------------------------------------------
// io_uring_enter(2)

/// Wait for `min_complete` completions (and run pending completion work).
pub(crate) const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
/// Wake the SQ poll thread.
pub(crate) const IORING_ENTER_SQ_WAKEUP: u32 = 1 << 1;
/// The argument is an `io_uring_getevents_arg` rather than a sigset.
pub(crate) const IORING_ENTER_EXT_ARG: u32 = 1 << 3;

/// `io_uring_getevents_arg`: the `IORING_ENTER_EXT_ARG` argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct io_uring_getevents_arg {
    /// Pointer to a signal mask to apply while waiting, or 0.
    pub(crate) sigmask: u64,
    /// Size of that mask in bytes.
    pub(crate) sigmask_sz: u32,
    /// Minimum wait before returning fewer than `min_complete` (6.12), or 0.
    pub(crate) min_wait_usec: u32,
    /// Pointer to a `__kernel_timespec` relative timeout, or 0 for none.
    pub(crate) ts: u64,
}

/// `__kernel_timespec`: a 64-bit timespec on every architecture.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct __kernel_timespec {
    /// Whole seconds.
    pub(crate) tv_sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub(crate) tv_nsec: i64,
}

impl From<std::time::Duration> for __kernel_timespec {
    fn from(d: std::time::Duration) -> Self {
        // Saturate: a timeout of 2^63 s is "forever" in practice.
        __kernel_timespec { tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), tv_nsec: d.subsec_nanos() as i64 }
    }
}

// ---------------------------------------------------------------------------
// Submission and completion entries

/// `io_uring_sqe`: one submission queue entry (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct io_uring_sqe {
    /// `IORING_OP_*`.
    pub(crate) opcode: u8,
    /// `IOSQE_*` flags.
    pub(crate) flags: u8,
    /// I/O priority; accept and recv/send keep their `IORING_*` op flags here.
    pub(crate) ioprio: u16,
    /// The file descriptor the op works on.
    pub(crate) fd: i32,
    /// Union: `off` (file offset), `addr2` (e.g. accept's addrlen pointer,
    /// connect's addrlen), `cmd_op`.
    pub(crate) off: u64,
    /// Union: `addr` (buffer, iovec, msghdr or sockaddr pointer; the cancel
    /// key), `splice_off_in`.
    pub(crate) addr: u64,
    /// Buffer length or iovec count; op flags for poll and timeout counts.
    pub(crate) len: u32,
    /// Union of the per-op flags: `rw_flags`, `msg_flags`, `poll32_events`,
    /// `timeout_flags`, `accept_flags`, `cancel_flags`, `msg_ring_flags`, …
    pub(crate) op_flags: u32,
    /// Returned untouched in the CQE.
    pub(crate) user_data: u64,
    /// Union: `buf_index` (fixed buffer) or `buf_group` (with `IOSQE_BUFFER_SELECT`).
    pub(crate) buf_index: u16,
    /// Credentials to issue with, or 0.
    pub(crate) personality: u16,
    /// Union: `splice_fd_in`, `file_index`, `addr_len`, `optlen`.
    pub(crate) file_index: u32,
    /// Union: `addr3`, `attr_ptr`, `optval`.
    pub(crate) addr3: u64,
    /// Padding (`__pad2`, `attr_type_mask`).
    pub(crate) pad: u64,
}

/// `io_uring_cqe`: one completion queue entry (16 bytes without `CQE32`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct io_uring_cqe {
    /// The SQE's `user_data`.
    pub(crate) user_data: u64,
    /// The result: what the syscall would return, or `-errno`.
    pub(crate) res: i32,
    /// `IORING_CQE_F_*`.
    pub(crate) flags: u32,
}

/// SQE flag: the next SQE starts only after this one succeeds.
pub(crate) const IOSQE_IO_LINK: u8 = 1 << 2;
/// SQE flag: like `IO_LINK`, but the chain continues after a failure.
pub(crate) const IOSQE_IO_HARDLINK: u8 = 1 << 3;
/// SQE flag: issue after all earlier SQEs complete.
pub(crate) const IOSQE_IO_DRAIN: u8 = 1 << 1;
/// SQE flag: go straight to the async worker pool.
pub(crate) const IOSQE_ASYNC: u8 = 1 << 4;
/// SQE flag: pick a buffer from the provided-buffer group `buf_group`.
pub(crate) const IOSQE_BUFFER_SELECT: u8 = 1 << 5;
/// SQE flag: post no CQE if the op succeeds.
pub(crate) const IOSQE_CQE_SKIP_SUCCESS: u8 = 1 << 6;

/// CQE flag: the upper 16 bits of `flags` are a provided buffer's id.
pub(crate) const IORING_CQE_F_BUFFER: u32 = 1 << 0;
/// CQE flag: the (multishot) op stays armed and will post more CQEs.
pub(crate) const IORING_CQE_F_MORE: u32 = 1 << 1;
/// CQE flag: the socket had more data queued after this recv.
pub(crate) const IORING_CQE_F_SOCK_NONEMPTY: u32 = 1 << 2;
/// Shift that extracts the buffer id from CQE flags.
pub(crate) const IORING_CQE_BUFFER_SHIFT: u32 = 16;

// Opcodes (the `io_uring_op` enum).
/// Does nothing; completes with 0.
pub(crate) const IORING_OP_NOP: u8 = 0;
/// `poll(2)` on one fd (one-shot or multishot).
pub(crate) const IORING_OP_POLL_ADD: u8 = 6;
/// `sendmsg(2)`.
pub(crate) const IORING_OP_SENDMSG: u8 = 9;
/// `recvmsg(2)`.
pub(crate) const IORING_OP_RECVMSG: u8 = 10;
/// A timer (completes with `-ETIME`, or 0 after `off` completions).
pub(crate) const IORING_OP_TIMEOUT: u8 = 11;
/// `accept4(2)` (one-shot or multishot).
pub(crate) const IORING_OP_ACCEPT: u8 = 13;
/// Cancel in-flight requests by user_data or fd.
pub(crate) const IORING_OP_ASYNC_CANCEL: u8 = 14;
/// `connect(2)`.
pub(crate) const IORING_OP_CONNECT: u8 = 16;
/// `close(2)`.
pub(crate) const IORING_OP_CLOSE: u8 = 19;
/// `read(2)` at an offset (`-1`: the file position).
pub(crate) const IORING_OP_READ: u8 = 22;
/// `write(2)` at an offset.
pub(crate) const IORING_OP_WRITE: u8 = 23;
/// `send(2)`.
pub(crate) const IORING_OP_SEND: u8 = 26;
/// `recv(2)` (one-shot or multishot).
pub(crate) const IORING_OP_RECV: u8 = 27;
/// Post a CQE into another ring.
pub(crate) const IORING_OP_MSG_RING: u8 = 40;
/// Zero-copy `send` (6.0; the same release as multishot recv, which the
/// probe cannot report by itself).
pub(crate) const IORING_OP_SEND_ZC: u8 = 47;

/// `sqe.len` of a poll: stay armed after each event (5.13).
pub(crate) const IORING_POLL_ADD_MULTI: u32 = 1 << 0;
/// `sqe.ioprio` of a recv: stay armed, one CQE per received chunk (6.0).
pub(crate) const IORING_RECV_MULTISHOT: u16 = 1 << 1;
/// `sqe.ioprio` of an accept: stay armed, one CQE per connection (5.19).
pub(crate) const IORING_ACCEPT_MULTISHOT: u16 = 1 << 0;
/// `sqe.cancel_flags`: cancel every match, not only the first.
pub(crate) const IORING_ASYNC_CANCEL_ALL: u32 = 1 << 0;
/// `sqe.cancel_flags`: match requests on `sqe.fd` instead of user_data.
pub(crate) const IORING_ASYNC_CANCEL_FD: u32 = 1 << 1;
/// `sqe.cancel_flags`: match every request, whatever its key (5.19).
pub(crate) const IORING_ASYNC_CANCEL_ANY: u32 = 1 << 2;
/// `sqe.addr` of a `MSG_RING`: post `len` as res and `off` as user_data.
pub(crate) const IORING_MSG_DATA: u64 = 0;

// ---------------------------------------------------------------------------
// io_uring_register(2)

/// Fill an `io_uring_probe` with the supported opcodes.
pub(crate) const IORING_REGISTER_PROBE: u32 = 8;
/// Register a provided-buffer ring (`io_uring_buf_reg`).
pub(crate) const IORING_REGISTER_PBUF_RING: u32 = 22;
/// Unregister a provided-buffer ring by group id.
pub(crate) const IORING_UNREGISTER_PBUF_RING: u32 = 23;

/// `io_uring_probe` header; `ops` entries follow it in memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct io_uring_probe {
    /// The highest opcode the kernel knows.
    pub(crate) last_op: u8,
    /// How many `ops` entries the kernel filled.
    pub(crate) ops_len: u8,
    /// Reserved, zero.
    pub(crate) resv: u16,
    /// Reserved, zero.
    pub(crate) resv2: [u32; 3],
}

/// `io_uring_probe_op`: one opcode's entry in a probe.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct io_uring_probe_op {
    /// The opcode.
    pub(crate) op: u8,
    /// Reserved.
    pub(crate) resv: u8,
    /// `IO_URING_OP_*` flags.
    pub(crate) flags: u16,
    /// Reserved.
    pub(crate) resv2: u32,
}

/// Probe op flag: the kernel supports this opcode.
pub(crate) const IO_URING_OP_SUPPORTED: u16 = 1 << 0;

/// `io_uring_buf`: one slot of a provided-buffer ring.
///
/// In slot 0, `resv` is overlaid by the ring's tail (`io_uring_buf_ring.tail`,
/// see [`IO_URING_BUF_RING_TAIL_OFFSET`]),
/// so a slot is written field by field, never as a whole.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct io_uring_buf {
    /// Address of the buffer.
    pub(crate) addr: u64,
    /// Its length.
    pub(crate) len: u32,
    /// Its id, reported back in `IORING_CQE_F_BUFFER` completions.
    pub(crate) bid: u16,
    /// Reserved; in slot 0 this is the ring tail.
    pub(crate) resv: u16,
}

/// Byte offset of `io_uring_buf_ring.tail`: it overlays `bufs[0].resv`.
pub(crate) const IO_URING_BUF_RING_TAIL_OFFSET: usize = 14;

/// `io_uring_buf_reg`: the `IORING_(UN)REGISTER_PBUF_RING` argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct io_uring_buf_reg {
    /// Page-aligned address of the `io_uring_buf` array.
    pub(crate) ring_addr: u64,
    /// Slots in the ring: a power of two below 65536.
    pub(crate) ring_entries: u32,
    /// The buffer group id SQEs name in `buf_group`.
    pub(crate) bgid: u16,
    /// `IOU_PBUF_RING_*` flags.
    pub(crate) flags: u16,
    /// Reserved, zero (`min_left` on recent kernels).
    pub(crate) resv: [u32; 6],
}

// Compile-time layout checks against the kernel header.
const _: () = {
    assert!(size_of::<io_uring_params>() == 120);
    assert!(size_of::<io_sqring_offsets>() == 40);
    assert!(size_of::<io_cqring_offsets>() == 40);
    assert!(size_of::<io_uring_getevents_arg>() == 24);
    assert!(size_of::<__kernel_timespec>() == 16);
    assert!(size_of::<io_uring_sqe>() == 64);
    assert!(offset_of!(io_uring_sqe, fd) == 4);
    assert!(offset_of!(io_uring_sqe, off) == 8);
    assert!(offset_of!(io_uring_sqe, addr) == 16);
    assert!(offset_of!(io_uring_sqe, len) == 24);
    assert!(offset_of!(io_uring_sqe, op_flags) == 28);
    assert!(offset_of!(io_uring_sqe, user_data) == 32);
    assert!(offset_of!(io_uring_sqe, buf_index) == 40);
    assert!(offset_of!(io_uring_sqe, personality) == 42);
    assert!(offset_of!(io_uring_sqe, file_index) == 44);
    assert!(offset_of!(io_uring_sqe, addr3) == 48);
    assert!(size_of::<io_uring_cqe>() == 16);
    assert!(size_of::<io_uring_probe>() == 16);
    assert!(size_of::<io_uring_probe_op>() == 8);
    assert!(size_of::<io_uring_buf>() == 16);
    assert!(offset_of!(io_uring_buf, resv) == IO_URING_BUF_RING_TAIL_OFFSET);
    assert!(size_of::<io_uring_buf_reg>() == 40);
};
