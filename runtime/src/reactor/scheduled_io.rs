//! [`ScheduledIo`]: the per-fd entry of the wakers registry.
//!
//! The readiness word:
//!
//! ```text
//!  31 ............ 16  15 .. 8     7         6         5        4 ...... 0
//! +------------------+--------+----------+----------+----------+------------+
//! |  tick (u16)      | unused | MORE_W   | MORE_R   | SHUTDOWN | Ready bits |
//! +------------------+--------+----------+----------+----------+------------+
//! ```
//!
//! The reactor sets Ready bits (and bumps the tick) when an event arrives.
//! A task that gets `WouldBlock` clears the bits it acted on, but only if
//! the tick is still the one it observed: an event that arrived in between
//! must not be lost (the fd is edge-triggered and will not report it again).
//!
//! Waiters: each direction keeps its first waiting task inline, in a
//! lock-free [`AtomicWaker`] (the common case: one reader, one writer, no
//! lock, no allocation). A second task waiting in the same direction (two
//! tasks accepting from one listener, two receiving on one UDP socket)
//! goes to a mutex-guarded list shared by both directions, and sets that
//! direction's `MORE` bit in the readiness word. The reactor's update of
//! the word and the waiter's setting of `MORE` are read-modify-writes of
//! the same word, so one of them sees the other: either the reactor sees
//! `MORE` and wakes the list, or the waiter sees the new readiness and
//! does not wait. Every waiter of a direction is woken when it becomes
//! ready; those that find the data gone wait again.

use std::io;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker};

use super::ready::Ready;
use crate::loom::{AtomicUsize, Mutex};
use crate::util::slab::Token;
use crate::util::AtomicWaker;

/// The runtime that owned this registration has shut down: every poll fails.
const SHUTDOWN: usize = 1 << 5;
/// More readers than the inline one wait in `waiters`.
const MORE_READERS: usize = 1 << 6;
/// More writers than the inline one wait in `waiters`.
const MORE_WRITERS: usize = 1 << 7;
const READY_BITS: usize = 0x1f;
const TICK_SHIFT: u32 = 16;
const TICK_MASK: usize = 0xffff << TICK_SHIFT;

/// Which side of an fd a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> Ready {
        match self {
            Direction::Read => Ready::READ_MASK,
            Direction::Write => Ready::WRITE_MASK,
        }
    }

    fn more(self) -> usize {
        match self {
            Direction::Read => MORE_READERS,
            Direction::Write => MORE_WRITERS,
        }
    }
}

/// Readiness observed by a task, with the tick it was observed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadyEvent {
    pub(crate) ready: Ready,
    tick: u16,
}

/// One registered fd's readiness and waiting tasks (see the module docs).
#[derive(Debug)]
pub(crate) struct ScheduledIo {
    /// Ready bits, SHUTDOWN, the MORE bits and the tick (see the module docs).
    readiness: AtomicUsize,
    /// The token this entry is registered under (slab index + generation).
    pub(crate) token: Token,
    /// The first task waiting to read. Lock-free: the registration may be
    /// polled from any thread, and the reactor never blocks on it.
    reader: AtomicWaker,
    /// The first task waiting to write.
    writer: AtomicWaker,
    /// Further waiters of either direction; empty (and unallocated) unless
    /// two tasks wait in the same direction at once.
    waiters: Mutex<Vec<(Direction, Waker)>>,
}

/// What a poll finds in the readiness word.
enum Found {
    Ready(ReadyEvent),
    NotReady,
    Shutdown,
}

impl Found {
    #[inline]
    fn of(curr: usize, dir: Direction) -> Found {
        let ready = Ready(curr as u8 & READY_BITS as u8).intersection(dir.mask());
        if curr & SHUTDOWN != 0 {
            Found::Shutdown
        } else if ready.is_empty() {
            Found::NotReady
        } else {
            Found::Ready(ReadyEvent { ready, tick: ((curr & TICK_MASK) >> TICK_SHIFT) as u16 })
        }
    }
}

impl ScheduledIo {
    /// A new entry with `initial` readiness: usually optimistic, readable
    /// and writable, so the first I/O call tries the syscall and only parks
    /// on `WouldBlock`; empty for a socket still connecting, whose first
    /// event marks the end of the handshake.
    pub(crate) fn new(token: Token, initial: Ready) -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicUsize::new(initial.0 as usize),
            token,
            reader: AtomicWaker::new(),
            writer: AtomicWaker::new(),
            waiters: Mutex::new(Vec::new()),
        }
    }

    fn slot(&self, dir: Direction) -> &AtomicWaker {
        match dir {
            Direction::Read => &self.reader,
            Direction::Write => &self.writer,
        }
    }

    /// Moves the listed waiters of the directions in `dirs` (MORE bits) to `out`.
    #[cold]
    fn take_waiters(&self, dirs: usize, out: &mut Vec<Waker>) {
        let mut list = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|(dir, waker)| {
            let take = dir.more() & dirs != 0;
            if take {
                out.push(waker.clone());
            }
            !take
        });
    }

    /// Adds `ready` (from an event) and bumps the tick; then moves the
    /// wakers of the directions that just became ready to `out`.
    ///
    /// A direction that was already ready has no parked task: a task parks
    /// only after seeing its direction not ready (re-checked after its
    /// waker is stored), and the event that made it ready took that waker.
    /// Skipping it saves two atomic operations per event on the side
    /// nobody waits on (usually the writable side).
    #[inline]
    pub(crate) fn set_readiness(&self, ready: Ready, out: &mut Vec<Waker>) {
        // The directions this event makes ready that were not are woken
        // (their MORE bits cleared: their listed waiters are woken too).
        let mut curr = self.readiness.load(Acquire);
        let (read, write) = loop {
            let before = Ready(curr as u8);
            let read = ready.is_readable() && !before.is_readable();
            let write = ready.is_writable() && !before.is_writable();
            let mut keep = curr & !TICK_MASK;
            if curr & (MORE_READERS | MORE_WRITERS) != 0 {
                keep &= !(if read { MORE_READERS } else { 0 } | if write { MORE_WRITERS } else { 0 });
            }
            let next = (curr & TICK_MASK).wrapping_add(1 << TICK_SHIFT) & TICK_MASK | keep | ready.0 as usize;
            match self.readiness.compare_exchange_weak(curr, next, AcqRel, Acquire) {
                Ok(_) => break (read, write),
                Err(actual) => curr = actual,
            }
        };
        if read {
            out.extend(self.reader.take());
        }
        if write {
            out.extend(self.writer.take());
        }
        let more = curr & (if read { MORE_READERS } else { 0 } | if write { MORE_WRITERS } else { 0 });
        if more != 0 {
            self.take_waiters(more, out);
        }
    }

    /// Marks the entry dead (runtime shut down) and moves all wakers to `out`.
    pub(crate) fn shutdown(&self, out: &mut Vec<Waker>) {
        self.readiness.fetch_or(SHUTDOWN, AcqRel);
        out.extend(self.reader.take());
        out.extend(self.writer.take());
        self.take_waiters(MORE_READERS | MORE_WRITERS, out);
    }

    #[inline]
    fn find(&self, dir: Direction) -> Found {
        Found::of(self.readiness.load(Acquire), dir)
    }

    /// The direction's cached readiness, without parking anyone.
    #[inline]
    pub(crate) fn readiness(&self, dir: Direction) -> io::Result<Option<ReadyEvent>> {
        match self.find(dir) {
            Found::Ready(ev) => Ok(Some(ev)),
            Found::NotReady => Ok(None),
            Found::Shutdown => Err(shutdown_error()),
        }
    }

    /// Ready if the direction's bits are set; otherwise parks `cx`'s waker.
    #[inline]
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>> {
        match self.find(dir) {
            Found::Ready(ev) => return Poll::Ready(Ok(ev)),
            Found::Shutdown => return Poll::Ready(Err(shutdown_error())),
            Found::NotReady => {}
        }
        // Check again after parking the waker: the reactor sets readiness
        // before it takes wakers, so either we see the bit now or it sees
        // our waker.
        let found = if self.slot(dir).register_if_vacant(cx.waker()) {
            self.find(dir)
        } else {
            self.wait_in_list(cx.waker(), dir)
        };
        match found {
            Found::Ready(ev) => Poll::Ready(Ok(ev)),
            Found::Shutdown => Poll::Ready(Err(shutdown_error())),
            Found::NotReady => Poll::Pending,
        }
    }

    /// Another task waits inline in `dir`: queue `waker` in the list and set
    /// the direction's MORE bit, reading the readiness in the same step.
    #[cold]
    fn wait_in_list(&self, waker: &Waker, dir: Direction) -> Found {
        let mut list = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|(d, w)| *d == dir && w.will_wake(waker)) {
            list.push((dir, waker.clone()));
        }
        Found::of(self.readiness.fetch_or(dir.more(), AcqRel), dir)
    }

    /// After a `WouldBlock`: clears everything `event` reported, closed
    /// bits included (the kernel just said the operation cannot proceed;
    /// a read-shut-down datagram socket reports its read side closed yet
    /// answers `EAGAIN`, and keeping the bit would spin), unless a newer
    /// event arrived since (different tick).
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        self.clear(event, event.ready);
    }

    /// After a short stream transfer: clears readable/writable but keeps
    /// closed and error bits, so the next call still sees EOF (a FIN is
    /// reported once by an edge-triggered poller).
    pub(crate) fn clear_drained(&self, event: ReadyEvent) {
        self.clear(event, Ready(event.ready.0 & (Ready::READABLE.0 | Ready::WRITABLE.0)));
    }

    fn clear(&self, event: ReadyEvent, bits: Ready) {
        let clear = bits.0 as usize;
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |curr| {
            let tick = ((curr & TICK_MASK) >> TICK_SHIFT) as u16;
            (tick == event.tick).then_some(curr & !clear)
        });
    }
}

#[cold]
fn shutdown_error() -> io::Error {
    io::Error::other("the weft runtime this I/O object was registered with has shut down")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn clear_keeps_newer_events() {
        let io = ScheduledIo::new(Token::from_raw(1), Ready::READABLE | Ready::WRITABLE);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, Direction::Read) else { panic!("starts readable") };
        // An event arrives between our syscall and our clear: it must survive.
        let mut out = Vec::new();
        io.set_readiness(Ready::READABLE, &mut out);
        io.clear_readiness(ev);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_ready());

        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, Direction::Read) else { unreachable!() };
        io.clear_readiness(ev);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_pending());
        // Writable is untouched by clearing the read side.
        assert!(io.poll_ready(&mut cx, Direction::Write).is_ready());

        io.set_readiness(Ready::READABLE, &mut out);
        assert_eq!(out.len(), 1);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn closed_bits_survive_a_short_read_but_not_would_block() {
        let io = ScheduledIo::new(Token::from_raw(1), Ready::READABLE | Ready::WRITABLE);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        io.set_readiness(Ready::READ_CLOSED, &mut out);
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, Direction::Read) else { unreachable!() };
        io.clear_drained(ev);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_ready(), "EOF is still to be read");
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, Direction::Read) else { unreachable!() };
        io.clear_readiness(ev);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_pending(), "WouldBlock is believed");
        io.shutdown(&mut out);
        assert!(matches!(io.poll_ready(&mut cx, Direction::Write), Poll::Ready(Err(_))));
    }
}
