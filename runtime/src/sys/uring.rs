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
mod buf_ring;
mod sqe;
#[cfg(all(test, not(miri)))]
mod tests;
mod waker;

use std::ffi::c_void;
use std::fmt;
use std::io;
use std::mem::{size_of, ManuallyDrop};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::Duration;

use self::abi::*;
use super::cvt;

pub(crate) use self::sqe::Sqe;
// Re-exported for the driver, which does not exist yet.
#[allow(unused_imports)]
pub(crate) use self::{buf_ring::BufRing, waker::Waker};

/// The most SQ entries `io_uring_setup` accepts (`IORING_MAX_ENTRIES`).
pub(crate) const MAX_ENTRIES: u32 = 32768;
/// The most CQ entries `io_uring_setup` accepts (`IORING_MAX_CQ_ENTRIES`).
pub(crate) const MAX_CQ_ENTRIES: u32 = 2 * MAX_ENTRIES;

// ---------------------------------------------------------------------------
// Errors

/// An io_uring failure: what was attempted, the OS error underneath, and
/// whether it means io_uring is unavailable here.
///
/// Carried as the payload of an [`io::Error`] whose kind is the OS error's
/// kind, so callers can match on kinds, print it with context, and ask
/// [`unsupported`] / [`os_error`].
#[derive(Debug)]
struct UringError {
    /// What failed and, where known, why (a sentence fragment).
    context: String,
    /// The OS error (or a synthetic one, such as missing features).
    source: io::Error,
    /// True when the caller should fall back to epoll.
    unsupported: bool,
}

impl fmt::Display for UringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for UringError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `source` with `context`, keeping its kind.
fn error(context: impl Into<String>, source: io::Error, unsupported: bool) -> io::Error {
    io::Error::new(source.kind(), UringError { context: context.into(), source, unsupported })
}

/// Whether `err` means "io_uring is not available here, use epoll".
///
/// True for [`Ring::new`] failures caused by the environment rather than by
/// the arguments: `ENOSYS` (no io_uring, or a seccomp filter hiding it),
/// `EPERM`/`EACCES` (`kernel.io_uring_disabled` = 1 or 2 for this process, a
/// security module), `EINVAL` (every flag combination refused: a kernel too
/// old), a kernel lacking `SINGLE_MMAP`/`NODROP`/`EXT_ARG`; and for a
/// [`BufRing`] the kernel cannot register (`EINVAL`: no `PBUF_RING`).
/// Also true for a bare `ENOSYS` from anywhere. False for everything else,
/// including resource errors (`EMFILE`, `ENOMEM`) that epoll would hit too.
pub(crate) fn unsupported(err: &io::Error) -> bool {
    match err.get_ref().and_then(|e| e.downcast_ref::<UringError>()) {
        Some(e) => e.unsupported,
        None => err.raw_os_error() == Some(libc::ENOSYS),
    }
}

/// The errno behind `err`, looking through this module's context wrapper
/// (`io::Error::raw_os_error` alone does not).
pub(crate) fn os_error(err: &io::Error) -> Option<i32> {
    match err.get_ref().and_then(|e| e.downcast_ref::<UringError>()) {
        Some(e) => e.source.raw_os_error(),
        None => err.raw_os_error(),
    }
}

/// The submission queue has no free slot; the entry is handed back.
///
/// Submit ([`Ring::submit_and_wait`]) to let the kernel consume entries, then push again.
pub(crate) struct SqFull(pub(crate) Sqe);

impl SqFull {
    /// The entry that did not fit.
    pub(crate) fn into_inner(self) -> Sqe {
        self.0
    }
}

impl fmt::Debug for SqFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SqFull")
    }
}

impl fmt::Display for SqFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("io_uring submission queue is full")
    }
}

impl std::error::Error for SqFull {}

// ---------------------------------------------------------------------------
// Memory mappings

/// An owned memory mapping; unmapped on drop.
#[derive(Debug)]
struct Mmap {
    /// Start of the mapping, page-aligned; valid for `len` bytes until drop.
    ptr: NonNull<u8>,
    /// Length in bytes; 0 once leaked (then nothing is unmapped).
    len: usize,
}

impl Mmap {
    /// Maps `len` bytes of the io_uring object behind `fd` at the magic `offset`
    /// (`IORING_OFF_*`), shared with the kernel and pre-faulted.
    fn ring(fd: RawFd, len: usize, offset: i64, what: &str) -> io::Result<Mmap> {
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL) aliases no Rust memory.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset,
            )
        };
        Mmap::from_raw(ptr, len).map_err(|e| error(format!("mmap of the io_uring {what} ({len} bytes)"), e, false))
    }

    /// Maps `len` zeroed, page-aligned, private bytes.
    fn anonymous(len: usize, what: &str) -> io::Result<Mmap> {
        // SAFETY: as above; no fd is involved.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        Mmap::from_raw(ptr, len).map_err(|e| error(format!("mmap of the {what} ({len} bytes)"), e, false))
    }

    fn from_raw(ptr: *mut c_void, len: usize) -> io::Result<Mmap> {
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mmap { ptr, len })
    }

    /// A pointer `offset` bytes into the mapping, checked to leave room for a `T`
    /// and to be aligned for it (the kernel supplies the ring offsets).
    fn at<T>(&self, offset: usize) -> io::Result<NonNull<T>> {
        let fits = offset.checked_add(size_of::<T>()).is_some_and(|end| end <= self.len);
        if !fits || offset % std::mem::align_of::<T>() != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "io_uring ring offset {offset} is out of bounds or misaligned for a {}-byte field",
                    size_of::<T>()
                ),
            ));
        }
        // SAFETY: `offset + size_of::<T>() <= len`, so the result stays inside the mapping.
        Ok(unsafe { self.ptr.add(offset) }.cast())
    }
}

impl Mmap {
    /// Gives up the mapping without unmapping it: for memory the kernel may
    /// still write to.
    fn leak(&mut self) {
        self.len = 0;
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: `ptr`/`len` are exactly one mapping we own, and every pointer
        // into it lives in the struct that owns this `Mmap`, which is being dropped.
        // An error here could only mean a bad range, which the invariant rules out.
        let _ = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A `u32` the kernel shares with us inside a ring mapping (a head, a tail, flags).
///
/// Invariant: points into an [`Mmap`] owned by the same [`Ring`] as this
/// value, aligned, and that mapping outlives every use (the ring drops them together).
#[derive(Clone, Copy, Debug)]
struct SharedU32(NonNull<AtomicU32>);

impl SharedU32 {
    fn get(&self) -> &AtomicU32 {
        // SAFETY: by the type's invariant the pointer is aligned and valid for the
        // owning ring's lifetime; the kernel accesses it only atomically (READ_ONCE,
        // smp_store_release), so shared atomic access is sound.
        unsafe { self.0.as_ref() }
    }
}

// ---------------------------------------------------------------------------
// Setup

/// How to set up a [`Ring`]. `Config::default()` is a plain ring with a CQ
/// twice the SQ.
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    /// CQ size (rounded up to a power of two by the kernel; at least the SQ
    /// size, at most [`MAX_CQ_ENTRIES`]). `None`: twice the SQ size.
    pub(crate) cq_entries: Option<u32>,
    /// `Some(idle)`: start a kernel SQ poll thread (`IORING_SETUP_SQPOLL`) that
    /// sleeps after `idle` without work (rounded up to whole milliseconds;
    /// zero means the kernel's default of one second). Submitting then needs
    /// no syscall while the thread is awake.
    pub(crate) sqpoll_idle: Option<Duration>,
    /// Test hook: when set, `Ring::new` fails as if `io_uring_setup` had
    /// returned this errno, without calling it. Lets the driver test its
    /// epoll fallback.
    pub(crate) fail_setup: Option<i32>,
    /// Test hook: every setup attempt whose flags include any of these
    /// `IORING_SETUP_*` bits fails with `EINVAL` before reaching the kernel,
    /// as an older kernel would; exercises the flag fallbacks.
    pub(crate) refuse_flags: u32,
}

/// Setup flags tried in order for a ring without SQPOLL; the first the
/// kernel accepts wins. Each step drops the newest feature: DEFER_TASKRUN
/// (6.1), SINGLE_ISSUER (6.0), COOP_TASKRUN/TASKRUN_FLAG (5.19),
/// SUBMIT_ALL (5.18). `CQSIZE` is always added.
const SETUP_FALLBACKS: [u32; 5] = [
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SUBMIT_ALL,
    0,
];

/// Setup flags tried in order with SQPOLL (which excludes the task-run
/// flags: the poll thread runs completion work itself).
const SQPOLL_FALLBACKS: [u32; 3] = [
    IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SQPOLL,
];

/// Features a ring must have: one mapping for both rings, no lost
/// completions on CQ overflow, and timeouts on `io_uring_enter`.
const REQUIRED_FEATURES: u32 = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;

/// `io_uring_setup(2)`, or the failure a test hook asks for.
fn setup_once(entries: u32, params: &mut io_uring_params, config: &Config) -> io::Result<OwnedFd> {
    if let Some(errno) = config.fail_setup {
        return Err(io::Error::from_raw_os_error(errno));
    }
    if params.flags & config.refuse_flags != 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: `params` is a valid, writable io_uring_params for the call's duration.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, params as *mut io_uring_params) })?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("io_uring_setup returned an out-of-range fd"))?;
    // SAFETY: a successful io_uring_setup returns a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `kernel.io_uring_disabled`: 0 allowed, 1 only for `io_uring_group`, 2 nobody.
fn io_uring_disabled() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok()?.trim().parse().ok()
}

/// Turns a final `io_uring_setup` failure into an error that says why and
/// whether to fall back to epoll.
fn setup_error(err: io::Error) -> io::Error {
    let errno = err.raw_os_error().unwrap_or(0);
    let (context, unsupported) = match errno {
        libc::ENOSYS => ("io_uring_setup: the kernel has no io_uring (or a seccomp filter hides it)".to_owned(), true),
        libc::EPERM | libc::EACCES => match io_uring_disabled() {
            Some(v @ (1 | 2)) => {
                (format!("io_uring_setup: io_uring is disabled by kernel.io_uring_disabled={v}"), true)
            }
            _ => ("io_uring_setup: not permitted (seccomp or a security module)".to_owned(), true),
        },
        libc::EINVAL => ("io_uring_setup: every setup flag combination was refused (kernel too old?)".to_owned(), true),
        _ => ("io_uring_setup".to_owned(), false),
    };
    error(context, err, unsupported)
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

// ---------------------------------------------------------------------------
// The ring

/// The submission side: pointers into the ring mapping plus our local tail.
#[derive(Debug)]
struct Sq {
    /// Kernel-written consumer index.
    head: SharedU32,
    /// Our producer index; every push stores it with `Release`.
    tail: SharedU32,
    /// `IORING_SQ_*` flags, kernel-written.
    flags: SharedU32,
    /// The SQE array: `entries` slots in the `sqes` mapping.
    sqes: NonNull<io_uring_sqe>,
    /// `entries - 1`; `entries` is a power of two.
    mask: u32,
    /// Number of slots.
    entries: u32,
    /// The tail as last published (we are the only writer, so no load is needed).
    local_tail: u32,
    /// The tail when `submit_and_wait` last ran; only SQPOLL uses it, to count
    /// what each call handed over.
    handed_tail: u32,
}

/// The completion side: pointers into the ring mapping plus our local head.
#[derive(Debug)]
struct Cq {
    /// Our consumer index; stored with `Release` after each entry is copied out.
    head: SharedU32,
    /// Kernel-written producer index; loaded with `Acquire`.
    tail: SharedU32,
    /// The CQE array: `entries` slots in the ring mapping.
    cqes: NonNull<io_uring_cqe>,
    /// `entries - 1`.
    mask: u32,
    /// Number of slots.
    entries: u32,
    /// The head as last published.
    local_head: u32,
}

/// One io_uring instance.
///
/// Owns the ring fd (shared, reference-counted, with any [`BufRing`] made
/// from it, so a buffer ring can always unregister itself) and the two
/// mappings; [`Drop`] unmaps both, and the fd closes when the last owner
/// goes. Bound to the thread that created it (see the module docs).
pub(crate) struct Ring {
    sq: Sq,
    cq: Cq,
    /// The SQE array mapping; `sq.sqes` points into it.
    sqes_map: Mmap,
    /// The SQ+CQ ring mapping (`IORING_FEAT_SINGLE_MMAP`); the `SharedU32`s
    /// and `cq.cqes` point into it.
    rings_map: Mmap,
    /// The io_uring fd.
    fd: Rc<OwnedFd>,
    /// The `IORING_SETUP_*` flags the kernel accepted.
    setup_flags: u32,
    /// The `IORING_FEAT_*` bits the kernel reported.
    features: u32,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("fd", &self.fd.as_raw_fd())
            .field("sq_entries", &self.sq.entries)
            .field("cq_entries", &self.cq.entries)
            .field("setup_flags", &format_args!("{:#x}", self.setup_flags))
            .field("features", &format_args!("{:#x}", self.features))
            .finish()
    }
}

impl Ring {
    /// Sets up a ring with `entries` SQ slots (1..=[`MAX_ENTRIES`], rounded
    /// up to a power of two by the kernel) as `config` says.
    ///
    /// Asks for `CQSIZE | SUBMIT_ALL | SINGLE_ISSUER | DEFER_TASKRUN |
    /// TASKRUN_FLAG` and, while the kernel answers `EINVAL`, falls back step by
    /// step (see [`Ring::setup_flags`] for what it got). Fails with an error for
    /// which [`unsupported`] is true when io_uring cannot be used here.
    pub(crate) fn new(entries: u32, config: &Config) -> io::Result<Ring> {
        if entries == 0 || entries > MAX_ENTRIES {
            return Err(invalid_input(format!("io_uring: {entries} SQ entries is outside 1..={MAX_ENTRIES}")));
        }
        let sq_entries = entries.next_power_of_two();
        let cq_entries = config.cq_entries.unwrap_or(2 * sq_entries);
        // Checked here so that an EINVAL from the kernel can only mean "flags refused".
        if cq_entries == 0 || cq_entries > MAX_CQ_ENTRIES || cq_entries.next_power_of_two() < sq_entries {
            return Err(invalid_input(format!(
                "io_uring: {cq_entries} CQ entries is outside {sq_entries}..={MAX_CQ_ENTRIES}"
            )));
        }
        let (fallbacks, idle_ms): (&[u32], u32) = match config.sqpoll_idle {
            Some(idle) => (&SQPOLL_FALLBACKS, u32::try_from(idle.as_nanos().div_ceil(1_000_000)).unwrap_or(u32::MAX)),
            None => (&SETUP_FALLBACKS, 0),
        };

        let mut last_err = None;
        let mut accepted = None;
        for &flags in fallbacks {
            let mut params = io_uring_params {
                flags: flags | IORING_SETUP_CQSIZE,
                cq_entries,
                sq_thread_idle: idle_ms,
                ..io_uring_params::default()
            };
            match setup_once(entries, &mut params, config) {
                Ok(fd) => {
                    accepted = Some((fd, params));
                    break;
                }
                // EINVAL: a flag this kernel does not know; try the next set.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last_err = Some(e),
                Err(e) => return Err(setup_error(e)),
            }
        }
        let Some((fd, params)) = accepted else {
            return Err(setup_error(last_err.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))));
        };

        if params.features & REQUIRED_FEATURES != REQUIRED_FEATURES {
            let missing = REQUIRED_FEATURES & !params.features;
            return Err(error(
                format!("io_uring: the kernel lacks required features (IORING_FEAT_* bits {missing:#x} of SINGLE_MMAP, NODROP, EXT_ARG)"),
                io::Error::from(io::ErrorKind::Unsupported),
                true,
            ));
        }
        Ring::map(fd, &params)
    }

    /// Maps the rings of a freshly set up `fd` and builds the [`Ring`].
    fn map(fd: OwnedFd, p: &io_uring_params) -> io::Result<Ring> {
        let bad_sizes =
            || io::Error::new(io::ErrorKind::InvalidData, "io_uring: the kernel reported inconsistent ring sizes");
        if p.sq_entries == 0 || p.cq_entries == 0 {
            return Err(bad_sizes());
        }
        let raw = fd.as_raw_fd();
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * size_of::<u32>();
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<io_uring_cqe>();
        // SINGLE_MMAP: one mapping, big enough for both rings.
        let rings_map = Mmap::ring(raw, sq_len.max(cq_len), IORING_OFF_SQ_RING, "SQ/CQ rings")?;
        let sqes_map =
            Mmap::ring(raw, p.sq_entries as usize * size_of::<io_uring_sqe>(), IORING_OFF_SQES, "SQE array")?;

        let shared = |off: u32| rings_map.at::<AtomicU32>(off as usize).map(SharedU32);
        let sq = Sq {
            head: shared(p.sq_off.head)?,
            tail: shared(p.sq_off.tail)?,
            flags: shared(p.sq_off.flags)?,
            sqes: sqes_map.at::<io_uring_sqe>(0)?,
            mask: shared(p.sq_off.ring_mask)?.get().load(Ordering::Relaxed),
            entries: shared(p.sq_off.ring_entries)?.get().load(Ordering::Relaxed),
            local_tail: 0,
            handed_tail: 0,
        };
        // Bounds-check the last slot of the SQ index array and of the CQE array,
        // so every slot of both is inside the mapping.
        rings_map.at::<u32>(p.sq_off.array as usize + (p.sq_entries as usize - 1) * size_of::<u32>())?;
        rings_map
            .at::<io_uring_cqe>(p.cq_off.cqes as usize + (p.cq_entries as usize - 1) * size_of::<io_uring_cqe>())?;
        let cq = Cq {
            head: shared(p.cq_off.head)?,
            tail: shared(p.cq_off.tail)?,
            cqes: rings_map.at::<io_uring_cqe>(p.cq_off.cqes as usize)?,
            mask: shared(p.cq_off.ring_mask)?.get().load(Ordering::Relaxed),
            entries: shared(p.cq_off.ring_entries)?.get().load(Ordering::Relaxed),
            local_head: 0,
        };
        if sq.entries != p.sq_entries
            || sq.mask != sq.entries - 1
            || cq.entries != p.cq_entries
            || cq.mask != cq.entries - 1
        {
            return Err(bad_sizes());
        }

        // The SQ index array maps ring slot i to SQE i, once and for all, so
        // a push only writes the SQE and the tail.
        let array = rings_map.at::<u32>(p.sq_off.array as usize)?.as_ptr();
        for i in 0..sq.entries {
            // SAFETY: slot `i < sq_entries` is inside the mapping (last slot checked
            // above), aligned, and the kernel reads it only for published entries.
            unsafe { array.add(i as usize).write(i) };
        }

        Ok(Ring { sq, cq, sqes_map, rings_map, fd: Rc::new(fd), setup_flags: p.flags, features: p.features })
    }

    /// The `IORING_SETUP_*` flags the kernel accepted (after any fallbacks).
    pub(crate) fn setup_flags(&self) -> u32 {
        self.setup_flags
    }

    /// The `IORING_FEAT_*` bits the kernel reported.
    pub(crate) fn features(&self) -> u32 {
        self.features
    }

    /// Number of SQ slots (a power of two).
    pub(crate) fn sq_entries(&self) -> u32 {
        self.sq.entries
    }

    /// Number of CQ slots (a power of two).
    pub(crate) fn cq_entries(&self) -> u32 {
        self.cq.entries
    }

    /// Whether a kernel SQ poll thread consumes the SQ.
    pub(crate) fn is_sqpoll(&self) -> bool {
        self.setup_flags & IORING_SETUP_SQPOLL != 0
    }

    /// The ring fd shared with buffer rings (which keep it open to unregister).
    fn shared_fd(&self) -> Rc<OwnedFd> {
        Rc::clone(&self.fd)
    }

    /// `io_uring_register(2)` on this ring.
    ///
    /// # Safety
    ///
    /// `arg` must be what `opcode` expects for `nr_args` (e.g. a writable
    /// probe with room for `nr_args` ops), valid for the call's duration, and
    /// any memory the registration keeps using must outlive it.
    unsafe fn register(&self, opcode: u32, arg: *mut c_void, nr_args: u32) -> io::Result<i64> {
        // SAFETY: forwarded to the caller; the fd is this ring's.
        unsafe { register(self.fd.as_raw_fd(), opcode, arg, nr_args) }
    }

    /// Asks the kernel which opcodes it supports (`IORING_REGISTER_PROBE`).
    pub(crate) fn probe(&self) -> io::Result<Probe> {
        /// The probe header and room for every possible opcode, as the kernel
        /// expects them contiguous.
        #[repr(C)]
        struct ProbeBuf {
            header: io_uring_probe,
            ops: [io_uring_probe_op; 256],
        }
        // The kernel insists the buffer is zeroed.
        let mut buf = ProbeBuf { header: io_uring_probe::default(), ops: [io_uring_probe_op::default(); 256] };
        // SAFETY: `buf` is a zeroed probe with room for 256 ops, live for the call.
        unsafe { self.register(IORING_REGISTER_PROBE, (&mut buf as *mut ProbeBuf).cast(), 256) }
            .map_err(|e| error("io_uring_register(PROBE)", e, false))?;
        let mut probe = Probe { last_op: buf.header.last_op, supported: [0; 4] };
        let filled = usize::from(buf.header.ops_len).min(buf.ops.len());
        for op in &buf.ops[..filled] {
            if op.flags & IO_URING_OP_SUPPORTED != 0 {
                probe.supported[usize::from(op.op / 64)] |= 1 << (op.op % 64);
            }
        }
        Ok(probe)
    }

    /// Queues `sqe` in the SQ and publishes it (tail stored with `Release`);
    /// the kernel sees it at the next [`Ring::submit_and_wait`] (or at once
    /// with SQPOLL). Hands the entry back when the SQ is full.
    pub(crate) fn push(&mut self, sqe: Sqe) -> Result<(), SqFull> {
        if self.sq_space() == 0 {
            return Err(SqFull(sqe));
        }
        // The ring now owns whatever the entry carries (e.g. a close's fd).
        let sqe = ManuallyDrop::new(sqe);
        let slot = self.sq.local_tail & self.sq.mask;
        // SAFETY: `slot <= mask < entries`, so it lies inside the SQE mapping.
        // `tail - head < entries` (checked above) means the kernel has consumed
        // whatever was in this slot and will not read it until the tail store
        // below publishes it.
        unsafe { self.sq.sqes.as_ptr().add(slot as usize).write(sqe.0) };
        self.sq.local_tail = self.sq.local_tail.wrapping_add(1);
        // Release: the SQE bytes above are visible before the kernel can see the new tail.
        self.sq.tail.get().store(self.sq.local_tail, Ordering::Release);
        Ok(())
    }

    /// Free SQ slots.
    pub(crate) fn sq_space(&self) -> u32 {
        self.sq.entries.saturating_sub(self.sq_len())
    }

    /// Entries pushed but not yet consumed by the kernel.
    pub(crate) fn sq_len(&self) -> u32 {
        // Acquire: pairs with the kernel's release of the head, so slots it
        // has moved past are really free to overwrite.
        self.sq.local_tail.wrapping_sub(self.sq.head.get().load(Ordering::Acquire))
    }

    /// The `IORING_SQ_*` flags as the kernel last set them.
    fn sq_flags(&self) -> u32 {
        self.sq.flags.get().load(Ordering::Acquire)
    }

    /// Whether completions wait in the kernel's overflow list because the CQ
    /// was full (`IORING_SQ_CQ_OVERFLOW`). With `NODROP` none are lost: reap
    /// the CQ and call [`Ring::flush_overflow`] or [`Ring::submit_and_wait`]
    /// (which flushes as part of its enter).
    pub(crate) fn cq_overflowed(&self) -> bool {
        self.sq_flags() & IORING_SQ_CQ_OVERFLOW != 0
    }

    /// Moves overflowed completions into the CQ as far as it has room (and
    /// runs pending completion work): one `io_uring_enter(GETEVENTS)`.
    pub(crate) fn flush_overflow(&mut self) -> io::Result<()> {
        // SAFETY: no argument pointer.
        match unsafe { self.enter(0, 0, IORING_ENTER_GETEVENTS, ptr::null(), 0) } {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(enter_error(e)),
        }
    }

    /// Submits everything pushed and waits for completions: one
    /// `io_uring_enter`. Returns how many SQEs this call handed to the kernel.
    ///
    /// Waits until at least `min_complete` completions are in the CQ or
    /// `timeout` passes (`None`: no limit; `Some(ZERO)` or `min_complete == 0`:
    /// no wait). The timeout has nanosecond resolution
    /// (`IORING_ENTER_EXT_ARG`). A timeout (`ETIME`) or a signal (`EINTR`) is
    /// not an error: it returns `Ok` and the caller reaps what is there.
    ///
    /// The enter also runs deferred completion work and flushes overflowed
    /// completions, so a loop of `submit_and_wait` + reaping sees every
    /// completion. When nothing needs the kernel (nothing to submit, no wait,
    /// no pending work or overflow, per `IORING_SQ_TASKRUN`) it makes no
    /// syscall. With SQPOLL it enters only to wake the poll thread
    /// (`IORING_SQ_NEED_WAKEUP`), to wait, or to flush an overflow.
    ///
    /// Errors: `EBUSY`/`EAGAIN` (the kernel cannot take more work until
    /// completions are reaped) come back with kind `ResourceBusy`/`WouldBlock`
    /// and a context saying so: reap the CQ, then call again; nothing pushed is
    /// lost. Other errors are the enter's, with context.
    pub(crate) fn submit_and_wait(&mut self, min_complete: u32, timeout: Option<Duration>) -> io::Result<u32> {
        let wait = min_complete > 0 && timeout != Some(Duration::ZERO);
        let mut flags = 0;
        let to_submit;
        if self.is_sqpoll() {
            // The poll thread consumes on its own; report what this call hands over.
            to_submit = self.sq.local_tail.wrapping_sub(self.sq.handed_tail);
            self.sq.handed_tail = self.sq.local_tail;
            // Order our tail store before reading NEED_WAKEUP: the poll thread sets
            // the flag, then re-reads the tail, so one of us sees the other.
            fence(Ordering::SeqCst);
            let sq_flags = self.sq_flags();
            if sq_flags & IORING_SQ_NEED_WAKEUP != 0 {
                flags |= IORING_ENTER_SQ_WAKEUP;
            }
            if wait || sq_flags & IORING_SQ_CQ_OVERFLOW != 0 {
                flags |= IORING_ENTER_GETEVENTS;
            }
            if flags == 0 {
                return Ok(to_submit);
            }
        } else {
            to_submit = self.sq_len();
            let knows_pending = self.setup_flags & IORING_SETUP_TASKRUN_FLAG != 0;
            if !wait
                && to_submit == 0
                && knows_pending
                && self.sq_flags() & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW) == 0
            {
                return Ok(0);
            }
            // GETEVENTS even without waiting: with DEFER_TASKRUN completions are
            // only posted from inside this enter.
            flags |= IORING_ENTER_GETEVENTS;
        }

        let ts;
        let arg;
        let (argp, argsz) = match timeout {
            Some(d) if wait => {
                ts = __kernel_timespec::from(d);
                arg = io_uring_getevents_arg { ts: &ts as *const __kernel_timespec as u64, ..Default::default() };
                flags |= IORING_ENTER_EXT_ARG;
                (&arg as *const io_uring_getevents_arg as *const c_void, size_of::<io_uring_getevents_arg>())
            }
            _ => (ptr::null(), 0),
        };
        let min = if wait { min_complete } else { 0 };
        // SAFETY: `argp` is null or points to `arg`, whose `ts` points to `ts`;
        // both live on this frame until the syscall returns.
        match unsafe { self.enter(to_submit, min, flags, argp, argsz) } {
            Ok(n) => Ok(n),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) || e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(enter_error(e)),
        }
    }

    /// `io_uring_enter(2)` on this ring.
    ///
    /// # Safety
    ///
    /// `arg` must be null (with `argsz == 0`) or, with `IORING_ENTER_EXT_ARG`
    /// in `flags`, point to an `io_uring_getevents_arg` of `argsz` bytes whose
    /// `ts` is 0 or points to a `__kernel_timespec`, all valid for the call.
    unsafe fn enter(
        &self,
        to_submit: u32,
        min_complete: u32,
        flags: u32,
        arg: *const c_void,
        argsz: usize,
    ) -> io::Result<u32> {
        // SAFETY: the fd is this ring's; the caller vouches for `arg`. The SQEs
        // the kernel reads were written by `push` and published by its tail store.
        let n = cvt(unsafe {
            libc::syscall(libc::SYS_io_uring_enter, self.fd.as_raw_fd(), to_submit, min_complete, flags, arg, argsz)
        })?;
        Ok(n as u32)
    }

    /// Completions ready in the CQ.
    pub(crate) fn cq_len(&self) -> u32 {
        // Acquire: the kernel writes the CQE before releasing the tail.
        self.cq.tail.get().load(Ordering::Acquire).wrapping_sub(self.cq.local_head)
    }

    /// Takes the oldest completion off the CQ, if any, and frees its slot
    /// (head stored with `Release`).
    pub(crate) fn pop_cqe(&mut self) -> Option<Cqe> {
        if self.cq_len() == 0 {
            return None;
        }
        Some(self.take_cqe())
    }

    /// Copies out the CQE at the head and advances the head.
    /// The caller has seen (with `Acquire`) a tail past the head.
    fn take_cqe(&mut self) -> Cqe {
        let slot = self.cq.local_head & self.cq.mask;
        // SAFETY: `slot <= mask < entries`, inside the ring mapping; the kernel
        // wrote this CQE before the tail we acquired, and does not reuse the
        // slot until the head store below.
        let raw = unsafe { self.cq.cqes.as_ptr().add(slot as usize).read() };
        self.cq.local_head = self.cq.local_head.wrapping_add(1);
        // Release: our copy of the CQE is done before the kernel may overwrite the slot.
        self.cq.head.get().store(self.cq.local_head, Ordering::Release);
        Cqe { user_data: raw.user_data, res: raw.res, flags: raw.flags }
    }

    /// Iterates over the completions that are in the CQ now, freeing each
    /// slot as it is yielded. Does no syscall; see [`Ring::cq_overflowed`].
    pub(crate) fn completions(&mut self) -> Completions<'_> {
        let ready = self.cq_len();
        Completions { ring: self, left: ready }
    }
}

/// Wraps an `io_uring_enter` error with context.
fn enter_error(e: io::Error) -> io::Error {
    let context = match e.raw_os_error() {
        Some(libc::EBUSY | libc::EAGAIN) => {
            "io_uring_enter: the kernel cannot take more work until completions are reaped; reap the CQ and call again"
        }
        Some(libc::EBADR) => "io_uring_enter: the kernel dropped completions (out of memory for the overflow list)",
        Some(libc::EEXIST) => "io_uring_enter: called from a thread other than the ring's creator (SINGLE_ISSUER)",
        _ => "io_uring_enter",
    };
    error(context, e, false)
}

/// `io_uring_register(2)` on `fd`.
///
/// # Safety
///
/// As for [`Ring::register`]; `fd` should be an io_uring fd.
unsafe fn register(fd: RawFd, opcode: u32, arg: *mut c_void, nr_args: u32) -> io::Result<i64> {
    // SAFETY: the caller vouches for `arg`.
    cvt(unsafe { libc::syscall(libc::SYS_io_uring_register, fd, opcode, arg, nr_args) })
}

impl AsRawFd for Ring {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Iterator over the completions in the CQ when [`Ring::completions`] was called.
#[derive(Debug)]
pub(crate) struct Completions<'a> {
    ring: &'a mut Ring,
    /// Entries known ready (their tail was acquired) and not yet yielded.
    left: u32,
}

impl Iterator for Completions<'_> {
    type Item = Cqe;

    fn next(&mut self) -> Option<Cqe> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(self.ring.take_cqe())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Completions<'_> {}

// ---------------------------------------------------------------------------
// Completion entries and the probe

/// One completion: a copy of an `io_uring_cqe`, its slot already freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cqe {
    /// The SQE's user_data.
    user_data: u64,
    /// The op's result, or `-errno`.
    res: i32,
    /// `IORING_CQE_F_*`.
    flags: u32,
}

impl Cqe {
    /// The `user_data` of the SQE this completes.
    pub(crate) fn user_data(&self) -> u64 {
        self.user_data
    }

    /// The raw result: what the syscall would return, or `-errno`.
    pub(crate) fn res(&self) -> i32 {
        self.res
    }

    /// The raw `IORING_CQE_F_*` flags.
    pub(crate) fn flags(&self) -> u32 {
        self.flags
    }

    /// The result as an `io::Result`: `Ok(res)` or the OS error `-res`.
    pub(crate) fn result(&self) -> io::Result<u32> {
        if self.res < 0 {
            Err(io::Error::from_raw_os_error(-self.res))
        } else {
            Ok(self.res as u32)
        }
    }

    /// `IORING_CQE_F_MORE`: the multishot op stays armed; more CQEs follow.
    /// Its last CQE has this clear.
    pub(crate) fn more(&self) -> bool {
        self.flags & IORING_CQE_F_MORE != 0
    }

    /// The provided buffer the kernel filled (`IORING_CQE_F_BUFFER`, id in the top 16 bits).
    pub(crate) fn buffer_id(&self) -> Option<u16> {
        (self.flags & IORING_CQE_F_BUFFER != 0).then_some((self.flags >> IORING_CQE_BUFFER_SHIFT) as u16)
    }

    /// `IORING_CQE_F_SOCK_NONEMPTY`: the socket still had data after this recv.
    pub(crate) fn sock_nonempty(&self) -> bool {
        self.flags & IORING_CQE_F_SOCK_NONEMPTY != 0
    }

    /// Takes ownership of the fd an accept (or socket) op returned, or its error.
    ///
    /// # Safety
    ///
    /// This CQE must complete an op that creates a file descriptor (accept,
    /// multishot accept), on this process's fd table (not a fixed-file
    /// slot), and no other owner may be made for the same CQE.
    pub(crate) unsafe fn into_fd(self) -> io::Result<OwnedFd> {
        let fd = self.result()? as RawFd;
        // SAFETY: the caller guarantees `fd` is a new descriptor nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// Which opcodes the kernel supports (from [`Ring::probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The highest opcode the kernel knows.
    last_op: u8,
    /// Bit `op` set when the kernel supports `op`.
    supported: [u64; 4],
}

impl Probe {
    /// Whether the kernel supports `opcode` (an `abi::IORING_OP_*`).
    pub(crate) fn supports(&self, opcode: u8) -> bool {
        self.supported[usize::from(opcode / 64)] & (1 << (opcode % 64)) != 0
    }

    /// The highest opcode the kernel knows.
    pub(crate) fn last_op(&self) -> u8 {
        self.last_op
    }
}
