//! The completion driver (Linux): one io_uring ring per loop.
//!
//! What each public operation becomes:
//!
//! - **Stream reads** (`Async::poll_read`, `try_read`, `poll_peek`): a
//!   multishot `recv` with buffer select, armed at the first read, into the
//!   driver's provided-buffer ring. Completions queue (buffer, length), EOF
//!   or an error on the fd's [`Source`]; a read copies out, keeps the rest of
//!   a partly read buffer, and hands emptied buffers back to the kernel. The
//!   recv is re-armed when it ends early (no `F_MORE`: out of buffers, CQ
//!   overflow) and paused while the fd holds [`source::MAX_HELD`] unread
//!   buffers, so one slow reader cannot starve the others.
//! - **Stream writes** (`poll_write`, `poll_write_vectored`, `try_write`):
//!   copied into a send buffer the driver owns ([`source::SEND_CAP`] bytes
//!   per fd); one `send` in flight per fd takes everything buffered so far;
//!   a short send continues where it stopped; a failed send's error comes
//!   back from the next write or flush. Flush waits until the buffer is
//!   empty; a write-side shutdown waits for it too (see [`Source::shutdown`]).
//! - **Everything else** (accept, connect, datagrams, peeking closures,
//!   `read_with` / `write_with` / `readable` / `writable`): readiness, from a
//!   one-shot `poll_add` armed when a task finds a direction not ready (the
//!   same moment an edge-triggered epoll user would park), feeding the same
//!   `ScheduledIo` readiness and waiters as the readiness driver.
//! - **Cross-thread wake-ups**: the ring layer's eventfd waker, watched by a
//!   multishot poll. **Timers**: the enter timeout (nanoseconds).
//!
//! # One enter per tick
//!
//! Tasks never touch the ring: they change their fd's [`Source`] state and
//! put it on the dirty list. [`Driver::park`] turns each dirty source into
//! the SQEs it now needs, then makes one `io_uring_enter` that submits them
//! all and waits for completions. (An SQ with no room or a CQ that
//! overflowed costs extra enters; nothing is lost.)
//!
//! # Memory and fds the kernel uses
//!
//! The kernel writes only into the provided-buffer ring and reads only from
//! send buffers; both belong to the driver, never to a future, so a dropped
//! future cannot leave the kernel a dangling pointer. Every op in flight
//! holds an `Arc` of its [`Source`] (the send buffer lives there) in the op
//! slab until its last completion. An op names its fd only in its SQE, and
//! the SQE is submitted before the fd can close: deregistration on the loop
//! thread cannot interleave with `park`, and one on another thread takes the
//! submit lock `park` holds from building SQEs until the enter returns (with
//! SQPOLL, until the kernel thread has consumed them). A submitted op holds
//! its own reference to the file, so closing the fd afterwards is safe; the
//! driver cancels it. Unsent bytes of a deregistered stream are sent from a
//! duplicate fd, which closes when they are out.
//!
//! When the runtime drops, the driver lets sends finish for a moment,
//! cancels everything else, and waits for every op's last completion before
//! unmapping the buffers; if the kernel does not finish in time, the buffers
//! and ring are leaked rather than freed under it.

mod local;
mod source;

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use self::local::Local;
pub(crate) use self::source::Source;
use super::{Parked, UringConfig};
use crate::reactor::{Direction, Ready, Registry, ScheduledIo};
use crate::sys::uring::{self as ring, abi, BufRing, Config, Cqe, Ring, Sqe};
use crate::util::slab::{Slab, Token};
use crate::util::wake_all;

/// SQ entries by default. The SQ only has to hold one tick's new ops;
/// more are submitted in batches.
const DEFAULT_SQ_ENTRIES: u32 = 256;
/// CQ entries by default: room for many ticks' worth of multishot
/// completions before the kernel has to keep them on its overflow list.
const DEFAULT_CQ_ENTRIES: u32 = 4096;
/// The provided buffers: count (a power of two) and size. 4 MiB of address
/// space, touched only as data arrives.
const BUF_COUNT: u16 = 1024;
const BUF_SIZE: u32 = 4096;
/// The buffer group id of the provided-buffer ring.
const BUF_GROUP: u16 = 0;

/// `user_data` of the waker's poll. Slab index `u32::MAX` is never handed
/// out, so no op token has this value or [`CANCEL`]'s.
const WAKE: u64 = u64::MAX;
/// `user_data` of cancel requests, whose completions need no handling.
pub(super) const CANCEL: u64 = 0xffff_ffff;

/// How long a dropped runtime lets sends finish, then how long it waits for
/// cancelled ops to complete before leaking what they use.
const LINGER_ON_DROP: Duration = Duration::from_millis(200);
const DRAIN_ON_DROP: Duration = Duration::from_secs(2);

/// Why an io_uring driver cannot run here although the ring set up: a
/// missing opcode. `unsupported` treats it like the ring layer's own
/// "no io_uring here".
#[derive(Debug)]
struct Missing(String);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Missing {}

/// Whether a setup error means "io_uring is not available here": the ring
/// layer's verdict (EPERM, ENOSYS, `io_uring_disabled`, an old kernel), or
/// an opcode the kernel lacks.
pub(crate) fn unsupported(err: &io::Error) -> bool {
    ring::unsupported(err) || err.get_ref().is_some_and(|e| e.is::<Missing>())
}

/// The state shared by the loop and every registered fd (`Send + Sync`).
#[derive(Debug)]
pub(crate) struct Shared {
    /// Wakes the loop from another thread.
    waker: ring::Waker,
    /// Readiness and waiters per registered fd; tokens for the registrations.
    registry: Registry,
    /// Sources whose state changed since the last tick; `State::queued` says
    /// whether a source is listed.
    dirty: Mutex<Vec<Arc<Source>>>,
    /// Held by `park` from building SQEs until the kernel has them; taken by
    /// a deregistration off the loop thread, which must not let its fd close
    /// in between (see the module docs).
    submit: Mutex<()>,
    /// The loop has shut down: nothing is armed any more.
    closed: AtomicBool,
    /// The driver is dropped: nobody takes sources off the dirty list (a
    /// source put there would keep itself alive through this `Shared`).
    gone: AtomicBool,
    /// Ops in the kernel's hands (for metrics).
    in_flight: AtomicUsize,
    /// Times the completion queue was found overflowed (for metrics).
    overflows: AtomicUsize,
    /// Provided buffers the kernel filled and nobody has read yet (shared
    /// with [`Local`], which counts them).
    held: Arc<AtomicUsize>,
}

impl Shared {
    /// This driver's identity on its thread's buffer list.
    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    fn lock_dirty(&self) -> MutexGuard<'_, Vec<Arc<Source>>> {
        self.dirty.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    fn unpark(&self) {
        // A failed write means the eventfd is gone with the driver: nothing waits.
        let _ = self.waker.notify();
    }
}

/// The completion driver's shared half (`driver::Handle::Uring`).
#[derive(Debug)]
pub(crate) struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// A registry entry for `fd` and its operation state. No system call:
    /// operations are armed when first needed.
    pub(crate) fn register(&self, fd: RawFd, initial: Ready) -> io::Result<(Arc<ScheduledIo>, Arc<Source>)> {
        if self.shared.is_closed() {
            return Err(io::Error::other("the weft runtime this I/O object was registered with has shut down"));
        }
        let io = self.shared.registry.insert(initial)?;
        let source = Arc::new(Source::new(io.clone(), fd, self.shared.clone()));
        Ok((io, source))
    }

    /// Forgets the registry entry (the source deregisters itself first).
    pub(crate) fn remove(&self, io: &ScheduledIo) {
        self.shared.registry.remove(io.token);
    }

    pub(crate) fn unpark(&self) {
        self.shared.unpark();
    }

    pub(crate) fn registered(&self) -> usize {
        self.shared.registry.len()
    }

    pub(crate) fn in_flight_ops(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn held_buffers(&self) -> usize {
        self.shared.held.load(Ordering::Relaxed)
    }

    pub(crate) fn cq_overflows(&self) -> usize {
        self.shared.overflows.load(Ordering::Relaxed)
    }
}

/// What an op in flight is, and whose.
#[derive(Debug)]
struct Op {
    /// Keeps the source (and its send buffer) alive until the last completion.
    source: Arc<Source>,
    kind: OpKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    /// The multishot recv.
    Recv,
    /// The send of the buffer's first bytes.
    Send,
    /// A one-shot poll for one direction.
    Poll(Direction),
}

/// The loop-owned half: the ring, the buffers and the ops in flight.
pub(crate) struct Driver {
    /// `driver::Handle::Uring` around `shared`.
    handle: Arc<super::Handle>,
    shared: Arc<Shared>,
    /// The ring and the provided buffers; also on this thread's list, where
    /// tasks find them.
    local: Rc<Local>,
    /// Every op in flight, by the token its SQE carries as user_data.
    ops: Slab<Op>,
    /// SQEs built for this tick, pushed into the ring just before the enter.
    staged: Vec<Sqe>,
    /// Completions copied off the CQ, waiting to be handled.
    cqes: Vec<Cqe>,
    /// Sources whose recv waits for a free provided buffer.
    starved: Vec<Arc<Source>>,
    /// The dirty sources being reconciled (kept to reuse its allocation).
    dirty: Vec<Arc<Source>>,
    /// Wakers collected while handling completions, woken after.
    wakers: Vec<Waker>,
    /// The waker's multishot poll is armed.
    waker_armed: bool,
    /// `drain` ran (the loop shut down).
    drained: bool,
    /// `Builder::io_uring_coalesce`: an idle wait lasts until this many
    /// completions, or this long.
    coalesce: Option<(u32, Duration)>,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("uring::Driver")
            .field("ring", &self.local.ring)
            .field("ops", &self.ops.len())
            .field("held_buffers", &self.shared.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// Sets up the ring, checks that the kernel has every op the driver
    /// uses, registers the provided buffers and arms the waker. Errors for
    /// which [`unsupported`] is true mean "use epoll instead".
    pub(crate) fn new(config: &UringConfig) -> io::Result<Driver> {
        let sq = if config.sq_entries == 0 { DEFAULT_SQ_ENTRIES } else { config.sq_entries };
        let cq = if config.cq_entries == 0 { DEFAULT_CQ_ENTRIES.max(2 * sq) } else { config.cq_entries };
        let ring_config = Config {
            cq_entries: Some(cq),
            sqpoll_idle: config.sqpoll_idle,
            fail_setup: config.fail_setup,
            ..Config::default()
        };
        let ring = Ring::new(sq, &ring_config)?;
        let probe = ring.probe()?;
        let needed = [
            (abi::IORING_OP_POLL_ADD, "POLL_ADD"),
            (abi::IORING_OP_RECV, "RECV"),
            (abi::IORING_OP_SEND, "SEND"),
            (abi::IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"),
            (abi::IORING_OP_SEND_ZC, "SEND_ZC (stands in for multishot recv, 6.0)"),
        ];
        if let Some((_, name)) = needed.iter().find(|(op, _)| !probe.supports(*op)) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                Missing(format!("io_uring: the kernel lacks IORING_OP_{name}, which the weft driver uses")),
            ));
        }
        let buf_ring = BufRing::new(&ring, BUF_GROUP, BUF_COUNT, BUF_SIZE)?;
        let waker = ring::Waker::new()?;
        let shared = Arc::new(Shared {
            waker,
            registry: Registry::default(),
            dirty: Mutex::new(Vec::new()),
            submit: Mutex::new(()),
            closed: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            overflows: AtomicUsize::new(0),
            held: Arc::new(AtomicUsize::new(0)),
        });
        let local = Local::install(shared.id(), ring, buf_ring, shared.held.clone());
        let handle = Arc::new(super::Handle::Uring(Handle { shared: shared.clone() }));
        let mut driver = Driver {
            handle,
            shared,
            local,
            ops: Slab::new(),
            staged: Vec::new(),
            cqes: Vec::new(),
            starved: Vec::new(),
            dirty: Vec::new(),
            wakers: Vec::new(),
            waker_armed: false,
            drained: false,
            coalesce: config.coalesce.filter(|&(min, window)| min > 1 && !window.is_zero()),
        };
        driver.arm_waker();
        Ok(driver)
    }

    pub(crate) fn handle(&self) -> &Arc<super::Handle> {
        &self.handle
    }

    fn arm_waker(&mut self) {
        self.staged.push(self.shared.waker.poll_sqe().user_data(WAKE));
        self.waker_armed = true;
    }

    /// One tick: build the SQEs dirty sources need, submit them and wait
    /// for completions (at most `timeout`) in one enter, then handle the
    /// completions and wake their tasks. Returns how many completions and
    /// how many wakers they woke.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<Parked> {
        {
            let shared = self.shared.clone();
            let submit = shared.submit.lock().unwrap_or_else(PoisonError::into_inner);
            self.prepare();
            self.flush_staged()?;
            // Completions already waiting (left by a full CQ) must not wait for more.
            let timeout = if self.local.ring.borrow_mut().cq_len() > 0 { Some(Duration::ZERO) } else { timeout };
            match self.coalesce {
                // Nothing to run: sleep until several completions are in, or
                // the window ends (then until the first, as without it).
                Some((min, window)) if timeout.is_none_or(|t| t > window) => {
                    self.enter(min, Some(window))?;
                    if self.local.ring.borrow_mut().cq_len() == 0 {
                        self.enter(1, timeout.map(|t| t - window))?;
                    }
                }
                _ => self.enter(1, timeout)?,
            }
            self.wait_for_sqpoll()?;
            drop(submit);
        }
        let events = self.reap()?;
        let woken = self.wakers.len();
        wake_all(&mut self.wakers);
        Ok(Parked { events, woken })
    }

    /// Turns the dirty sources (and starved ones, if buffers are free) into SQEs.
    fn prepare(&mut self) {
        if !self.starved.is_empty() && self.free_bufs() > 0 {
            for source in std::mem::take(&mut self.starved) {
                let mut st = source.lock();
                // Off the list: `reconcile` lists it again if it still starves.
                st.recv.starved = false;
                source.mark_dirty_from_loop(&mut st);
            }
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        std::mem::swap(&mut dirty, &mut *self.local.dirty.borrow_mut());
        {
            let mut shared = self.shared.lock_dirty();
            if !shared.is_empty() {
                dirty.append(&mut shared);
            }
        }
        for source in dirty.drain(..) {
            self.reconcile(&source);
        }
        // Keep the allocation for the next tick.
        self.dirty = dirty;
    }

    /// Provided buffers the kernel can still fill.
    fn free_bufs(&self) -> usize {
        usize::from(BUF_COUNT).saturating_sub(self.shared.held.load(Ordering::Relaxed))
    }

    /// Stages `kind`'s SQE, built by `make` from the op's token (its user_data).
    fn start(&mut self, source: &Arc<Source>, kind: OpKind, make: impl FnOnce() -> Sqe) -> Option<Token> {
        let token = self.ops.insert(Op { source: source.clone(), kind }).ok()?;
        self.staged.push(make().user_data(token.to_raw()));
        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(token)
    }

    fn cancel(&mut self, token: Token) {
        self.staged.push(Sqe::async_cancel(token.to_raw()).user_data(CANCEL));
    }

    /// Brings one source's ops in line with what its state asks for.
    fn reconcile(&mut self, source: &Arc<Source>) {
        let mut st = source.lock();
        st.queued = false;
        if st.closed || self.shared.is_closed() {
            self.close(source, &mut st);
            return;
        }
        let fd = source.fd;
        if st.recv.copy {
            st.recv.own_chunks(&self.local);
            if !st.recv.chunks.is_empty() {
                source.io.set_readiness(Ready::READABLE, &mut self.wakers);
            }
        }
        if st.recv.wants_op() {
            if self.free_bufs() == 0 {
                if !st.recv.starved {
                    st.recv.starved = true;
                    self.starved.push(source.clone());
                }
            } else {
                st.recv.starved = false;
                // SAFETY: the buffer group is `self.local`, which lives until
                // `drain` has reaped this op's last completion (or is leaked).
                st.recv.op = self.start(source, OpKind::Recv, || unsafe { Sqe::recv_multishot(fd, BUF_GROUP) });
            }
        }
        if st.send.op.is_none() && st.send.len() > 0 && st.send.err.is_none() {
            self.start_send(source, &mut st, fd);
        } else if st.send.len() == 0 {
            st.send.finish_shutdown(fd);
        }
        for dir in [Direction::Read, Direction::Write] {
            let slot = &mut st.polls[dir as usize];
            if slot.wanted && slot.op.is_none() {
                slot.wanted = false;
                let events = match dir {
                    Direction::Read => (libc::POLLIN | libc::POLLRDHUP) as u32,
                    Direction::Write => libc::POLLOUT as u32,
                };
                let token = self.start(source, OpKind::Poll(dir), || Sqe::poll_add(fd, events));
                st.polls[dir as usize].op = token;
            }
        }
    }

    /// A deregistered source (or any, once the loop shut down): cancel its
    /// recv and polls, give back its buffers, and send what is still
    /// buffered (from a deregistered fd's duplicate; with none, the send is
    /// cancelled).
    fn close(&mut self, source: &Arc<Source>, st: &mut source::State) {
        if let Some(token) = st.recv.op {
            if !st.recv.cancelling {
                st.recv.cancelling = true;
                self.cancel(token);
            }
        }
        for dir in [Direction::Read, Direction::Write] {
            let slot = &mut st.polls[dir as usize];
            slot.wanted = false;
            if let (Some(token), false) = (slot.op, slot.cancelling) {
                slot.cancelling = true;
                self.cancel(token);
            }
        }
        st.recv.release(&self.local);
        // Where unsent bytes go: the duplicate of a deregistered fd, or the
        // fd itself of one still registered while the loop shuts down.
        let send_fd = if st.closed { st.linger.as_ref().map(std::os::fd::AsRawFd::as_raw_fd) } else { Some(source.fd) };
        match (send_fd, st.send.op) {
            (Some(fd), None) if st.send.len() > 0 && st.send.err.is_none() => {
                self.start_send(source, st, fd);
            }
            (None, Some(token)) if !st.send.cancelling => {
                st.send.cancelling = true;
                self.cancel(token);
            }
            (Some(fd), None) => {
                st.send.finish_shutdown(fd);
                if st.closed {
                    st.linger = None;
                }
            }
            _ => {}
        }
    }

    fn start_send(&mut self, source: &Arc<Source>, st: &mut source::State, fd: RawFd) {
        let len = u32::try_from(st.send.len()).unwrap_or(u32::MAX);
        let ptr = st.send.buf.as_ptr();
        // SAFETY: `ptr..ptr+len` is the start of the source's send buffer,
        // which the op's `Arc<Source>` keeps alive until its completion is
        // reaped. Until then writers only append after `in_flight` bytes,
        // within capacity, and nothing reallocates or drains the buffer
        // (`SendSide::append` grows it only while `op` is `None`).
        let token = self.start(source, OpKind::Send, || unsafe { Sqe::send(fd, ptr, len, 0) });
        if token.is_some() {
            st.send.in_flight = len as usize;
        }
        st.send.op = token;
    }

    /// Pushes the staged SQEs into the ring, submitting whenever it fills.
    fn flush_staged(&mut self) -> io::Result<()> {
        let mut staged = std::mem::take(&mut self.staged);
        for sqe in staged.drain(..) {
            self.push(sqe)?;
        }
        self.staged = staged;
        Ok(())
    }

    /// Pushes one SQE; a full SQ is submitted first (an extra enter: more
    /// ops this tick than SQ entries).
    fn push(&mut self, sqe: Sqe) -> io::Result<()> {
        let mut sqe = sqe;
        for attempt in 0..10_000u32 {
            let pushed = self.local.ring.borrow_mut().push(sqe);
            match pushed {
                Ok(()) => return Ok(()),
                Err(full) => sqe = full.into_inner(),
            }
            self.enter(0, Some(Duration::ZERO))?;
            if attempt > 100 {
                // SQPOLL: the kernel thread consumes at its own pace.
                std::thread::yield_now();
            }
        }
        Err(io::Error::other("io_uring: the submission queue stays full"))
    }

    /// One `submit_and_wait`; "reap first" (EBUSY/EAGAIN) copies the CQ
    /// aside so the next attempt has room.
    fn enter(&mut self, min: u32, timeout: Option<Duration>) -> io::Result<()> {
        let mut ring = self.local.ring.borrow_mut();
        match ring.submit_and_wait(min, timeout) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind(), io::ErrorKind::ResourceBusy | io::ErrorKind::WouldBlock) => {
                self.cqes.extend(ring.completions());
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// With SQPOLL, waits until the kernel thread has taken every SQE, so no
    /// fd named in one can close before it is submitted.
    fn wait_for_sqpoll(&mut self) -> io::Result<()> {
        if !self.local.ring.borrow_mut().is_sqpoll() {
            return Ok(());
        }
        let start = Instant::now();
        let mut spins = 0u32;
        while self.local.ring.borrow_mut().sq_len() > 0 {
            spins += 1;
            if spins < 1000 {
                std::hint::spin_loop();
            } else {
                if start.elapsed() > Duration::from_secs(5) {
                    return Err(io::Error::other("io_uring: the SQ poll thread does not consume submissions"));
                }
                // Wakes the thread if it went to sleep.
                self.enter(0, Some(Duration::ZERO))?;
                std::thread::yield_now();
            }
        }
        Ok(())
    }

    /// Handles every completion in the CQ, and those on the kernel's
    /// overflow list (one extra enter per flush). Bounded: what is left
    /// waits for the next tick.
    fn reap(&mut self) -> io::Result<usize> {
        let mut n = 0;
        for _ in 0..64 {
            self.cqes.extend(self.local.ring.borrow_mut().completions());
            let overflowed = self.local.ring.borrow_mut().cq_overflowed();
            if self.cqes.is_empty() && !overflowed {
                break;
            }
            let mut cqes = std::mem::take(&mut self.cqes);
            n += cqes.len();
            for cqe in cqes.drain(..) {
                self.complete(cqe);
            }
            self.cqes = cqes;
            if !overflowed {
                break;
            }
            self.shared.overflows.fetch_add(1, Ordering::Relaxed);
            self.local.ring.borrow_mut().flush_overflow()?;
        }
        Ok(n)
    }

    /// Handles one completion.
    fn complete(&mut self, cqe: Cqe) {
        match cqe.user_data() {
            WAKE => {
                // The counter only has to stay below saturation.
                let _ = self.shared.waker.drain();
                if !cqe.more() {
                    self.waker_armed = false;
                    if !self.shared.is_closed() {
                        self.arm_waker();
                    }
                }
            }
            CANCEL => {}
            raw => {
                let token = Token::from_raw(raw);
                let Some(op) = self.ops.get(token) else { return };
                let (source, kind) = (op.source.clone(), op.kind);
                let last = !cqe.more();
                match kind {
                    OpKind::Recv => self.recv_done(&source, token, &cqe),
                    OpKind::Send => self.send_done(&source, &cqe),
                    OpKind::Poll(dir) => self.poll_done(&source, dir, &cqe),
                }
                if last {
                    self.ops.remove(token);
                    self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn recv_done(&mut self, source: &Arc<Source>, token: Token, cqe: &Cqe) {
        let mut st = source.lock();
        let closed = st.closed || self.shared.is_closed();
        // SAFETY: the completion comes from this driver's ring, for a recv
        // that selected from `BUF_GROUP`, which is `self.local`; each CQE is
        // handled once.
        if let Some(id) = unsafe { self.local.take(cqe) } {
            if closed {
                self.local.recycle(id);
            } else {
                st.recv.push_buf(id, &self.local);
                source.io.set_readiness(Ready::READABLE, &mut self.wakers);
            }
        } else if cqe.res() == 0 {
            st.recv.eof = true;
            if !closed {
                source.io.set_readiness(Ready::READABLE | Ready::READ_CLOSED, &mut self.wakers);
            }
        } else if cqe.res() < 0 {
            match -cqe.res() {
                libc::ENOBUFS => st.recv.starved = true,
                libc::ECANCELED => {}
                errno => {
                    if !closed {
                        st.recv.err = Some(io::Error::from_raw_os_error(errno));
                        source.io.set_readiness(Ready::READABLE, &mut self.wakers);
                    }
                }
            }
        }
        if !cqe.more() {
            st.recv.op = None;
            st.recv.cancelling = false;
            if st.recv.starved && !closed {
                st.recv.starved = false;
                if st.recv.wants_op() {
                    st.recv.starved = true;
                    self.starved.push(source.clone());
                }
            } else if !closed && st.recv.wants_op() {
                // Ended early (the CQ overflowed, say): arm again next tick.
                source.mark_dirty_from_loop(&mut st);
            }
        } else if st.recv.held >= source::MAX_HELD && !st.recv.cancelling {
            // A slow reader: stop taking buffers from everybody else; the
            // reader re-arms once it has drained what it holds.
            st.recv.cancelling = true;
            self.cancel(token);
        }
    }

    fn send_done(&mut self, source: &Arc<Source>, cqe: &Cqe) {
        let mut st = source.lock();
        let closed = st.closed || self.shared.is_closed();
        st.send.op = None;
        st.send.cancelling = false;
        let res = match cqe.result() {
            // send(2) of a non-empty buffer never returns 0; never loop on it.
            Ok(0) if st.send.in_flight > 0 => Err(io::Error::new(io::ErrorKind::WriteZero, "send wrote 0 bytes")),
            res => res,
        };
        match res {
            Ok(n) => {
                let n = (n as usize).min(st.send.in_flight);
                st.send.consume(n);
            }
            Err(e) => {
                st.send.buf.clear();
                if !closed && e.raw_os_error() != Some(libc::ECANCELED) {
                    st.send.err = Some(e);
                }
            }
        }
        st.send.in_flight = 0;
        if st.send.len() > 0 {
            // A short send, or bytes written meanwhile: send the rest next tick.
            source.mark_dirty_from_loop(&mut st);
        } else {
            let fd = if st.closed { st.linger.as_ref().map(std::os::fd::AsRawFd::as_raw_fd) } else { Some(source.fd) };
            if let Some(fd) = fd {
                st.send.finish_shutdown(fd);
            }
            if st.closed {
                // The duplicate closes: the socket's last reference when the
                // owner already closed its fd.
                st.linger = None;
            }
            st.send.release_if_empty();
            self.wakers.extend(st.send.flusher.take());
        }
        if !closed {
            source.io.set_readiness(Ready::WRITABLE, &mut self.wakers);
        }
    }

    fn poll_done(&mut self, source: &Arc<Source>, dir: Direction, cqe: &Cqe) {
        let mut st = source.lock();
        st.polls[dir as usize].op = None;
        st.polls[dir as usize].cancelling = false;
        if st.closed || self.shared.is_closed() {
            return;
        }
        if cqe.res() > 0 {
            source.io.set_readiness(ready_from_poll(cqe.res() as u32), &mut self.wakers);
        } else if cqe.res() != -libc::ECANCELED {
            // No readiness to report (the poll failed): poll again rather
            // than leave a parked task without an op to wake it.
            st.polls[dir as usize].wanted = true;
        }
        if st.polls[dir as usize].wanted {
            source.mark_dirty_from_loop(&mut st);
        }
    }

    /// The loop ends: every registered object fails its next poll, and the
    /// tasks waiting on one are woken to see it. Then the ops in flight are
    /// wound down (see [`Driver::drain`]).
    pub(crate) fn shutdown(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.registry.shutdown(&mut self.wakers);
        wake_all(&mut self.wakers);
        self.drain();
    }

    /// Lets sends finish for at most [`LINGER_ON_DROP`] while everything
    /// else is cancelled, then cancels the sends too, and waits up to
    /// [`DRAIN_ON_DROP`] for every op's last completion. What the kernel
    /// still holds after that (it should not happen) is leaked: the ops'
    /// sources, the provided buffers and the ring stay allocated and mapped.
    fn drain(&mut self) {
        if self.drained {
            return;
        }
        self.drained = true;
        self.shared.closed.store(true, Ordering::Release);
        let linger_until = Instant::now() + LINGER_ON_DROP;
        let deadline = linger_until + DRAIN_ON_DROP;
        let mut cancelled_all = false;
        let mut failed = false;
        for source in std::mem::take(&mut self.starved) {
            source.mark_dirty_from_loop(&mut source.lock());
        }
        loop {
            // Off-loop deregistrations may still race with our SQEs.
            let shared = self.shared.clone();
            let submit = shared.submit.lock().unwrap_or_else(PoisonError::into_inner);
            self.prepare();
            self.cancel_all_but_sends();
            let sends_left = self.ops.iter().any(|(_, op)| op.kind == OpKind::Send);
            if self.ops.len() == 0 && !self.waker_armed && self.staged.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                failed = true;
                break;
            }
            if !cancelled_all && (now >= linger_until || !sends_left) {
                // The waker's poll goes too: nothing will wait any more.
                self.staged.push(Sqe::cancel_all().user_data(CANCEL));
                cancelled_all = true;
            }
            let until = if cancelled_all { deadline } else { linger_until };
            if self.flush_staged().and_then(|()| self.enter(1, Some(until - now))).is_err() {
                failed = true;
                break;
            }
            drop(submit);
            if self.reap().is_err() {
                failed = true;
                break;
            }
            wake_all(&mut self.wakers);
        }
        if failed {
            self.leak();
        }
    }

    /// Cancels every op but the sends, once each.
    fn cancel_all_but_sends(&mut self) {
        let others: Vec<(Token, OpKind, Arc<Source>)> = self
            .ops
            .iter()
            .filter(|(_, op)| op.kind != OpKind::Send)
            .map(|(token, op)| (token, op.kind, op.source.clone()))
            .collect();
        for (token, kind, source) in others {
            let mut st = source.lock();
            let cancelling = match kind {
                OpKind::Recv => &mut st.recv.cancelling,
                OpKind::Poll(dir) => &mut st.polls[dir as usize].cancelling,
                OpKind::Send => continue,
            };
            if !*cancelling {
                *cancelling = true;
                drop(st);
                self.cancel(token);
            }
        }
    }

    /// Gives up on ops the kernel did not finish: everything they may touch
    /// stays allocated and mapped for the life of the process.
    fn leak(&mut self) {
        for op in self.ops.drain() {
            std::mem::forget(op);
        }
        self.local.leak();
        // The ring itself may go: the kernel keeps its own references to the
        // ring pages, and cancels what is left when the fd closes.
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.drain();
        self.shared.gone.store(true, Ordering::Release);
        self.shared.lock_dirty().clear();
        self.local.dirty.borrow_mut().clear();
        self.local.uninstall();
    }
}

/// Readiness bits from a `poll` result mask.
fn ready_from_poll(mask: u32) -> Ready {
    let has = |bits: libc::c_short| mask & bits as u32 != 0;
    let mut ready = Ready::EMPTY;
    if has(libc::POLLIN) {
        ready = ready | Ready::READABLE;
    }
    if has(libc::POLLOUT) {
        ready = ready | Ready::WRITABLE;
    }
    if has(libc::POLLRDHUP | libc::POLLHUP) {
        ready = ready | Ready::READ_CLOSED;
    }
    if has(libc::POLLHUP) {
        ready = ready | Ready::WRITE_CLOSED;
    }
    if has(libc::POLLERR) {
        ready = ready | Ready::ERROR;
    }
    ready
}

#[cfg(all(test, not(miri)))]
mod tests;
