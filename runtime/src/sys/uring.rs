//! The io_uring ring layer (Linux, Android): a safe wrapper over the raw
//! `io_uring_setup` / `io_uring_enter` / `io_uring_register` ABI, written
//! directly against `libc`.
//!
//! This is the OS layer only. A completion driver (ops, buffers, wakers) is
//! meant to sit on top of it, beside the epoll [`Poller`](super::Poller):
//!
//! - [`Ring`]: one io_uring instance: its fd, the SQ/CQ mapping and the SQE
//!   array. [`Ring::push`] queues a [`Sqe`], [`Ring::submit_and_wait`] makes
//!   the one `io_uring_enter` per loop turn, [`Ring::pop_cqe`] /
//!   [`Ring::completions`] hand back [`Cqe`]s.
//! - [`Sqe`]: a submission entry built by one constructor per op. Builders
//!   whose op makes the kernel touch caller memory are `unsafe fn`.
//! - [`BufRing`]: a provided-buffer ring (one slab of equal buffers the kernel
//!   picks from for `recv`).
//! - [`Waker`]: an eventfd that another thread writes to wake a ring waiting
//!   in `submit_and_wait`.
//! - [`Probe`]: which opcodes the kernel supports.
//! - [`unsupported`]: whether an error means "no io_uring here, use epoll".
//!
//! # Threads
//!
//! The ring is set up with `IORING_SETUP_SINGLE_ISSUER` (and, where the
//! kernel has it, `DEFER_TASKRUN`), which binds it to the thread that created
//! it: `io_uring_enter` from any other thread fails with `EEXIST`. [`Ring`]
//! and [`BufRing`] are therefore neither `Send` nor `Sync`; only [`Waker`]
//! crosses threads.
//!
//! # Memory the kernel uses
//!
//! Once pushed, an SQE may make the kernel read or write memory until its
//! completion arrives (and, for a multishot op, until the completion without
//! [`Cqe::more`]). The builders that carry such pointers are `unsafe` and say
//! so; everything else here only lets the kernel touch memory this module
//! owns (the rings, the [`BufRing`] slab).
// The completion driver is not wired into the runtime yet: nothing outside
// this module's tests calls it.
#![allow(dead_code)]

pub(crate) mod abi;
