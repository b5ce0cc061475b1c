//! [`Source`]: one registered fd's state in the completion driver, and the
//! operations tasks call on it.
//!
//! A task never touches the ring. It reads what completions queued, copies
//! what it writes into the send buffer, or asks for a poll; whenever an op
//! has to start (or stop), it puts the source on the driver's dirty list,
//! and the next tick turns it into SQEs.
//!
//! The registry entry's readiness bits keep their meaning for readiness
//! waits, and take a second one for the two stream directions once a task
//! uses them: *read* readiness means "received data, EOF or an error is
//! queued", *write* readiness "the send buffer has room". So
//! `readable().await` followed by `try_read` works as with epoll, and the
//! same waiters serve both.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::local::Local;
use super::{Shared, CANCEL};
use crate::reactor::{Direction, ReadyEvent, ScheduledIo};
use crate::sys;
use crate::sys::uring::Sqe;
use crate::util::slab::Token;
use crate::util::spares::Spares;

/// Bytes of the per-fd send buffer: a write beyond it waits for a send to
/// complete.
pub(crate) const SEND_CAP: usize = 64 * 1024;
/// The send buffer's first allocation: it grows (between sends) as writes
/// need, up to [`SEND_CAP`].
const SEND_MIN: usize = 4096;
/// Idle send buffers a thread keeps for the next socket that writes.
const SPARE_SEND_BUFS: usize = 64;

thread_local! {
    /// Send buffers given back by sockets whose bytes were all sent: an
    /// idle socket holds none, and the next write takes one from here.
    static SPARE_SEND: Spares<Vec<u8>> = const { Spares::new(SPARE_SEND_BUFS) };
}

/// An empty send buffer with room for at least [`SEND_MIN`] bytes: this
/// thread's spare, or a new one.
#[inline]
fn take_send_buf() -> Vec<u8> {
    SPARE_SEND.try_with(Spares::take).ok().flatten().unwrap_or_else(|| Vec::with_capacity(SEND_MIN))
}

/// Keeps `buf` (emptied) for this thread's next writer, or frees it.
#[inline]
fn give_send_buf(mut buf: Vec<u8>) {
    buf.clear();
    let _ = SPARE_SEND.try_with(|s| s.give(buf));
}

/// Unread provided buffers an fd may hold before its recv is paused (64 KiB
/// with 4 KiB buffers): past it, the socket's own receive buffer (and TCP's
/// window) hold the data back. The cancel lands at the next enter, so the
/// kernel may fill up to a batch (its multishot retries) more.
pub(crate) const MAX_HELD: usize = 16;

/// One registered fd in the completion driver.
#[derive(Debug)]
pub(crate) struct Source {
    /// Readiness and waiters: the registry entry, shared with the registration.
    pub(super) io: Arc<ScheduledIo>,
    /// The fd.
    ///
    /// # Invariant
    ///
    /// Open while `State::closed` is false (the owner deregisters before it
    /// closes the fd); the driver names it in no SQE after that.
    pub(super) fd: RawFd,
    /// The driver's shared state: the dirty list, the waker.
    shared: Arc<Shared>,
    /// Everything the ops change; the loop and tasks on any thread share it.
    state: Mutex<State>,
}

/// A source's operation state.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Deregistered: ops are being cancelled; only unsent bytes still go out.
    pub(super) closed: bool,
    /// On the driver's dirty list.
    pub(super) queued: bool,
    pub(super) recv: RecvSide,
    pub(super) send: SendSide,
    /// One-shot readiness polls, by `Direction as usize`.
    pub(super) polls: [PollSlot; 2],
    /// A duplicate of the fd, made at deregistration while unsent bytes
    /// remained: the driver sends them from it, then closes it.
    pub(super) linger: Option<OwnedFd>,
}

/// The read side of a stream.
#[derive(Debug, Default)]
pub(crate) struct RecvSide {
    /// A task read the fd as a stream: the multishot recv is wanted.
    pub(super) mode: bool,
    /// The multishot recv in flight.
    pub(super) op: Option<Token>,
    /// Its cancellation was requested.
    pub(super) cancelling: bool,
    /// Received data, oldest first.
    pub(super) chunks: VecDeque<Chunk>,
    /// How many of `chunks` hold a provided buffer.
    pub(super) held: usize,
    /// The peer closed its side (after everything in `chunks`).
    pub(super) eof: bool,
    /// A failed recv, reported by the next read (after `chunks`).
    pub(super) err: Option<io::Error>,
    /// The recv ended for want of buffers; it is re-armed when some are free.
    pub(super) starved: bool,
    /// A reader ran off the loop's thread, where provided buffers cannot be
    /// read: the loop copies received data out of them for it.
    pub(super) copy: bool,
}

/// A run of received bytes.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// In provided buffer `id`, from byte `start`.
    Buf { id: u16, start: usize },
    /// Copied out (for a reader off the loop's thread), from byte `start`.
    Owned { data: Vec<u8>, start: usize },
}

/// The write side of a stream.
#[derive(Debug, Default)]
pub(crate) struct SendSide {
    /// Bytes not yet sent, at most [`SEND_CAP`]. Reallocated only while no
    /// send is in flight.
    pub(super) buf: Vec<u8>,
    /// The send in flight; it reads `buf[..in_flight]`, which nobody writes
    /// (or moves) until its completion.
    pub(super) op: Option<Token>,
    pub(super) in_flight: usize,
    /// Its cancellation was requested.
    pub(super) cancelling: bool,
    /// A failed send, reported by the next write or flush.
    pub(super) err: Option<io::Error>,
    /// That error was reported: later writes fail.
    pub(super) failed: bool,
    /// The write side is shut down, or will be once `buf` is sent.
    pub(super) shutdown: Shut,
    /// The task waiting in `poll_flush`.
    pub(super) flusher: Option<Waker>,
}

/// Whether a stream's write side is shut down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Shut {
    #[default]
    Open,
    /// `shutdown(2)` runs once the buffered bytes are sent.
    Pending,
    Done,
}

/// A one-shot poll for one direction.
#[derive(Debug, Default)]
pub(crate) struct PollSlot {
    /// A task waits for this direction: the next tick arms a poll.
    pub(super) wanted: bool,
    /// The poll in flight.
    pub(super) op: Option<Token>,
    /// Its cancellation was requested.
    pub(super) cancelling: bool,
}

impl RecvSide {
    /// Whether a multishot recv should be armed now.
    pub(super) fn wants_op(&self) -> bool {
        self.mode && self.op.is_none() && !self.eof && self.err.is_none() && self.held < MAX_HELD
    }

    /// Queues provided buffer `id`, just filled by the kernel (or copies it
    /// out and gives it back, for a reader off the loop's thread).
    pub(super) fn push_buf(&mut self, id: u16, bufs: &Local) {
        if self.copy {
            self.chunks.push_back(Chunk::Owned { data: bufs.to_vec(id, 0), start: 0 });
            bufs.recycle(id);
        } else {
            self.chunks.push_back(Chunk::Buf { id, start: 0 });
            self.held += 1;
        }
    }

    /// Copies every queued provided buffer out and gives it back.
    pub(super) fn own_chunks(&mut self, bufs: &Local) {
        for chunk in &mut self.chunks {
            if let Chunk::Buf { id, start } = *chunk {
                *chunk = Chunk::Owned { data: bufs.to_vec(id, start), start: 0 };
                bufs.recycle(id);
            }
        }
        self.held = 0;
    }

    /// Drops everything queued, giving the buffers back.
    pub(super) fn release(&mut self, bufs: &Local) {
        for chunk in self.chunks.drain(..) {
            if let Chunk::Buf { id, .. } = chunk {
                bufs.recycle(id);
            }
        }
        self.held = 0;
    }

    /// Copies queued bytes into `out`, oldest first; with `consume`, what
    /// was copied leaves the queue and emptied buffers go back to the
    /// kernel. `None` if a provided buffer is next and `bufs` is `None` (the
    /// reader is off the loop's thread).
    fn copy_out(&mut self, out: &mut [u8], bufs: Option<&Local>, consume: bool) -> Option<usize> {
        let mut n = 0;
        let mut i = 0;
        while n < out.len() {
            let Some(chunk) = self.chunks.get_mut(i) else { break };
            let (copied, left) = match chunk {
                Chunk::Owned { data, start } => {
                    let rest = &data[*start..];
                    let k = rest.len().min(out.len() - n);
                    out[n..n + k].copy_from_slice(&rest[..k]);
                    (k, rest.len())
                }
                Chunk::Buf { id, start } => match bufs {
                    Some(bufs) => bufs.copy(*id, *start, &mut out[n..]),
                    None if n == 0 => return None,
                    None => break,
                },
            };
            n += copied;
            if !consume {
                i += 1;
                continue;
            }
            if copied < left {
                match chunk {
                    Chunk::Owned { start, .. } | Chunk::Buf { start, .. } => *start += copied,
                }
                break;
            }
            if let Some(Chunk::Buf { id, .. }) = self.chunks.pop_front() {
                if let Some(bufs) = bufs {
                    bufs.recycle(id);
                }
                self.held -= 1;
            }
        }
        Some(n)
    }
}

impl SendSide {
    /// Bytes waiting to be sent.
    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }

    /// `n` bytes went out (no send is in flight): the rest moves to the front.
    pub(super) fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
    }

    /// Everything was sent (no send is in flight): the buffer goes back to
    /// the thread's spares, so an idle socket holds none.
    pub(super) fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.op.is_none() && self.buf.capacity() > 0 {
            give_send_buf(std::mem::take(&mut self.buf));
        }
    }

    /// Runs a pending write-side shutdown on `fd` (the buffer is empty).
    /// Its error, if any, has nobody to go to: the connection is failing.
    pub(super) fn finish_shutdown(&mut self, fd: RawFd) {
        if self.shutdown == Shut::Pending {
            self.shutdown = Shut::Done;
            let _ = sys::shutdown(fd, Shutdown::Write);
        }
    }

    /// Copies as much of `bufs` (`total` bytes) as fits; returns how much.
    /// The buffer grows only while no send is in flight: the kernel may be
    /// reading its start, so it must not move.
    fn append(&mut self, bufs: &[IoSlice<'_>], total: usize) -> usize {
        if self.buf.capacity() == 0 && self.op.is_none() {
            self.buf = take_send_buf();
        }
        let want = total.min(SEND_CAP - self.buf.len());
        let spare = self.buf.capacity() - self.buf.len();
        if spare < want && self.op.is_none() {
            let grow = want.max(SEND_MIN).min(SEND_CAP - self.buf.len());
            self.buf.reserve_exact(grow);
        }
        let room = want.min(self.buf.capacity() - self.buf.len());
        let mut n = 0;
        for b in bufs {
            if n == room {
                break;
            }
            let k = b.len().min(room - n);
            // Within capacity: the buffer does not move.
            self.buf.extend_from_slice(&b[..k]);
            n += k;
        }
        n
    }
}

impl Source {
    pub(super) fn new(io: Arc<ScheduledIo>, fd: RawFd, shared: Arc<Shared>) -> Source {
        Source { io, fd, shared, state: Mutex::new(State::default()) }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shared_id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// Puts the source on the dirty list, once: the loop's own list on its
    /// thread; the shared one elsewhere, waking the loop.
    fn mark_dirty(self: &Arc<Self>, st: &mut State) {
        if st.queued || self.shared.is_gone() {
            return;
        }
        st.queued = true;
        let mut me = Some(self.clone());
        if Local::with(self.shared_id(), |local| local.dirty.borrow_mut().extend(me.take())).is_none() {
            self.shared.lock_dirty().extend(me);
            self.shared.unpark();
        }
    }

    /// [`Source::mark_dirty`] for the loop itself.
    pub(super) fn mark_dirty_from_loop(self: &Arc<Self>, st: &mut State) {
        self.mark_dirty(st);
    }

    /// Reads received bytes (`recv(2)` semantics: `Ok(0)` at end of stream);
    /// parks the task while none are queued.
    pub(crate) fn poll_read(self: &Arc<Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_recv(cx, buf, true)
    }

    /// Like [`Source::poll_read`], leaving the bytes queued.
    pub(crate) fn poll_peek(self: &Arc<Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_recv(cx, buf, false)
    }

    fn poll_recv(self: &Arc<Self>, cx: &mut Context<'_>, buf: &mut [u8], consume: bool) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Bounded: each pass either returns or clears the readiness it saw,
        // and the next finds it set again only if something new arrived.
        loop {
            let ev = match self.io.poll_ready(cx, Direction::Read) {
                Poll::Ready(ev) => ev?,
                Poll::Pending => {
                    // E.g. a socket still connecting: its first read arms the recv.
                    self.start_reading();
                    return Poll::Pending;
                }
            };
            if let Some(res) = self.recv_now(ev, buf, consume) {
                return Poll::Ready(res);
            }
        }
    }

    /// [`Source::poll_read`] without waiting: `WouldBlock` if nothing is queued.
    pub(crate) fn try_read(self: &Arc<Self>, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.io.readiness(Direction::Read)? {
            Some(ev) => self.recv_now(ev, buf, true),
            None => {
                self.start_reading();
                None
            }
        }
        .unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
    }

    /// The stream is read from now on: make sure a recv is (or will be) armed.
    fn start_reading(self: &Arc<Self>) {
        let mut st = self.lock();
        st.recv.mode = true;
        if st.recv.wants_op() {
            self.mark_dirty(&mut st);
        }
    }

    /// One attempt to read, with `ev` the read readiness a task observed.
    /// `None`: nothing to return yet; the readiness is cleared and a recv
    /// is (or will be) armed.
    fn recv_now(self: &Arc<Self>, ev: ReadyEvent, out: &mut [u8], consume: bool) -> Option<io::Result<usize>> {
        let mut st = self.lock();
        st.recv.mode = true;
        if !st.recv.chunks.is_empty() {
            let copied = match Local::with(self.shared_id(), |bufs| st.recv.copy_out(out, Some(bufs), consume)) {
                Some(copied) => copied,
                None => st.recv.copy_out(out, None, consume),
            };
            let Some(n) = copied else {
                // Off the loop's thread: have the loop copy the data out.
                st.recv.copy = true;
                self.mark_dirty(&mut st);
                self.io.clear_readiness(ev);
                return None;
            };
            if st.recv.chunks.is_empty() && !st.recv.eof && st.recv.err.is_none() {
                self.io.clear_readiness(ev);
            }
            if st.recv.wants_op() {
                self.mark_dirty(&mut st);
            }
            return Some(Ok(n));
        }
        if let Some(e) = st.recv.err.take() {
            // Reported once; then reads see end of stream, as recv(2) does after a reset.
            st.recv.eof = true;
            return Some(Err(e));
        }
        if st.recv.eof {
            return Some(Ok(0));
        }
        if st.recv.wants_op() {
            self.mark_dirty(&mut st);
        }
        self.io.clear_readiness(ev);
        None
    }

    /// Copies bytes into the send buffer; parks the task while it is full.
    /// `Ok(n)` means the bytes are the driver's to send: a later failure
    /// is reported by the next write or flush.
    pub(crate) fn poll_write(self: &Arc<Self>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        loop {
            let ev = match self.io.poll_ready(cx, Direction::Write) {
                Poll::Ready(ev) => ev?,
                Poll::Pending => {
                    // Full, or not yet writable (connecting): a send or a poll reports room.
                    self.on_pending(Direction::Write);
                    return Poll::Pending;
                }
            };
            if let Some(res) = self.send_now(ev, bufs, total) {
                return Poll::Ready(res);
            }
        }
    }

    /// [`Source::poll_write`] without waiting: `WouldBlock` if the buffer is full.
    pub(crate) fn try_write(self: &Arc<Self>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Ok(0);
        }
        match self.io.readiness(Direction::Write)? {
            Some(ev) => self.send_now(ev, bufs, total).unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into())),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn send_now(self: &Arc<Self>, ev: ReadyEvent, bufs: &[IoSlice<'_>], total: usize) -> Option<io::Result<usize>> {
        let mut st = self.lock();
        if let Some(e) = st.send.err.take() {
            st.send.failed = true;
            return Some(Err(e));
        }
        if st.send.failed || st.send.shutdown != Shut::Open {
            let why =
                if st.send.failed { "an earlier send on this stream failed" } else { "the write side is shut down" };
            return Some(Err(io::Error::new(io::ErrorKind::BrokenPipe, why)));
        }
        let n = st.send.append(bufs, total);
        if n == 0 {
            // Full (or full until the send in flight lets it grow).
            self.io.clear_readiness(ev);
            return None;
        }
        if st.send.len() == SEND_CAP {
            self.io.clear_readiness(ev);
        }
        if st.send.op.is_none() {
            self.mark_dirty(&mut st);
        }
        Some(Ok(n))
    }

    /// Ready once every buffered byte is sent (or a send failed: its error).
    pub(crate) fn poll_flush(self: &Arc<Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.lock();
        if let Some(e) = st.send.err.take() {
            st.send.failed = true;
            return Poll::Ready(Err(e));
        }
        if st.send.len() == 0 {
            return Poll::Ready(Ok(()));
        }
        if self.shared.is_closed() {
            return Poll::Ready(Err(io::Error::other(
                "the weft runtime this I/O object was registered with has shut down",
            )));
        }
        match &mut st.send.flusher {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// `shutdown(2)`, after the buffered bytes for the write side: with
    /// bytes still buffered, the write side is shut down once they are sent
    /// (the call returns at once), so the FIN never overtakes data that a
    /// write already reported as written. Writes fail from now on.
    pub(crate) fn shutdown(self: &Arc<Self>, how: Shutdown) -> io::Result<()> {
        let mut st = self.lock();
        if how == Shutdown::Read {
            return sys::shutdown(self.fd, how);
        }
        if st.send.shutdown != Shut::Open {
            return Ok(());
        }
        if st.send.len() == 0 {
            sys::shutdown(self.fd, how)?;
            st.send.shutdown = Shut::Done;
            return Ok(());
        }
        if how == Shutdown::Both {
            sys::shutdown(self.fd, Shutdown::Read)?;
        }
        st.send.shutdown = Shut::Pending;
        Ok(())
    }

    /// A readiness wait found `dir` not ready and parked: make sure an op
    /// will report the change. A stream direction in use has its recv or
    /// send for that; anything else gets a one-shot poll.
    pub(crate) fn on_pending(self: &Arc<Self>, dir: Direction) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        match dir {
            Direction::Read if st.recv.mode => {
                if !st.recv.chunks.is_empty() || st.recv.eof || st.recv.err.is_some() {
                    // A readiness closure cleared what the queue stands for.
                    let mut wakers = Vec::new();
                    self.io.set_readiness(crate::reactor::Ready::READABLE, &mut wakers);
                    drop(st);
                    wakers.into_iter().for_each(Waker::wake);
                    return;
                }
                if st.recv.wants_op() {
                    self.mark_dirty(&mut st);
                }
                return;
            }
            // The send in flight reports room when it completes.
            Direction::Write if st.send.len() > 0 => return,
            _ => {}
        }
        let slot = &mut st.polls[dir as usize];
        if slot.op.is_none() && !slot.wanted {
            slot.wanted = true;
            self.mark_dirty(&mut st);
        }
    }

    /// The owner is about to close the fd: stop naming it, cancel its ops.
    ///
    /// On the loop's thread the cancellations are submitted at once (one
    /// enter, the counterpart of epoll's `EPOLL_CTL_DEL`), so the kernel has
    /// dropped its references to the socket when the owner closes the fd: a
    /// closed listener refuses connections, a closed stream sends its FIN,
    /// right away. From another thread they wait for the next tick.
    ///
    /// What close(2) would do with the data is kept: received bytes nobody
    /// read make the close a reset (`SO_LINGER` 0), as unread data in the
    /// socket would; bytes a write buffered are still sent, from a duplicate
    /// fd that closes when they are out, unless the socket holds unread data
    /// (the close resets the connection anyway) or no fd is left to dup.
    pub(crate) fn deregister(self: &Arc<Self>) {
        if Local::with(self.shared_id(), |local| self.deregister_on_loop(local)).is_some() {
            return;
        }
        // Off the loop's thread, `park` may be between building an SQE with
        // our fd and submitting it: wait for it (waking it first).
        self.shared.unpark();
        let submit = self.shared.submit.lock().unwrap_or_else(PoisonError::into_inner);
        let mut st = self.lock();
        if st.closed {
            return;
        }
        self.close_state(&mut st);
        let busy = st.recv.op.is_some()
            || st.send.op.is_some()
            || st.polls.iter().any(|p| p.op.is_some())
            || !st.recv.chunks.is_empty()
            || st.linger.is_some();
        if busy {
            self.mark_dirty(&mut st);
        }
        drop(st);
        drop(submit);
    }

    fn deregister_on_loop(self: &Arc<Self>, local: &Local) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        self.close_state(&mut st);
        st.recv.release(local);
        let Ok(mut ring) = local.ring.try_borrow_mut() else {
            // Inside the loop's own tick (it never deregisters there): let it cancel.
            self.mark_dirty(&mut st);
            return;
        };
        let mut cancels = Vec::new();
        if let (Some(token), false) = (st.recv.op, st.recv.cancelling) {
            st.recv.cancelling = true;
            cancels.push(token);
        }
        for slot in &mut st.polls {
            slot.wanted = false;
            if let (Some(token), false) = (slot.op, slot.cancelling) {
                slot.cancelling = true;
                cancels.push(token);
            }
        }
        if st.linger.is_none() {
            if let (Some(token), false) = (st.send.op, st.send.cancelling) {
                st.send.cancelling = true;
                cancels.push(token);
            }
        } else {
            // The loop sends the rest from the duplicate.
            self.mark_dirty(&mut st);
        }
        drop(st);
        if cancels.is_empty() {
            return;
        }
        for token in cancels {
            let mut sqe = Sqe::async_cancel(token.to_raw()).user_data(CANCEL);
            // Bounded: each round submits what fills the SQ.
            for _ in 0..4 {
                match ring.push(sqe) {
                    Ok(()) => break,
                    Err(full) => {
                        sqe = full.into_inner();
                        let _ = ring.submit_and_wait(0, Some(Duration::ZERO));
                    }
                }
            }
        }
        // Submits the cancellations and runs the kernel's deferred work, so
        // the cancelled ops have let go of the socket when this returns. An
        // error leaves them queued for the next tick.
        let _ = ring.submit_and_wait(0, Some(Duration::ZERO));
    }

    /// Marks the source closed and decides what happens to buffered bytes
    /// (see [`Source::deregister`]).
    fn close_state(&self, st: &mut State) {
        st.closed = true;
        st.send.flusher = None;
        if self.shared.is_closed() {
            return;
        }
        if !st.recv.chunks.is_empty() {
            // Unread data: close(2) would reset the connection.
            let _ = sys::reset_on_close(self.fd);
        } else if st.send.len() > 0 && !sys::has_unread_data(self.fd) {
            st.linger = sys::dup(self.fd).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_buffer_goes_back_to_the_thread_and_the_next_writer_takes_it() {
        let mut side = SendSide::default();
        assert_eq!(side.buf.capacity(), 0, "no buffer before the first write");
        assert_eq!(side.append(&[IoSlice::new(b"hello")], 5), 5);
        let addr = side.buf.as_ptr();
        assert!(side.buf.capacity() >= SEND_MIN);

        // Part sent: the buffer stays.
        side.consume(2);
        side.release_if_empty();
        assert_eq!(side.buf, b"llo");
        // All sent: an idle socket holds no buffer.
        side.consume(3);
        side.release_if_empty();
        assert_eq!(side.buf.capacity(), 0);

        let mut next = SendSide::default();
        assert_eq!(next.append(&[IoSlice::new(b"x"), IoSlice::new(b"yz")], 3), 3);
        assert_eq!(next.buf, b"xyz");
        assert_eq!(next.buf.as_ptr(), addr, "the spare was reused");
    }
}
