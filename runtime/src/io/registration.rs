//! [`Registration`]: an fd's entry in a driver, and the I/O loop on top
//! of its cached readiness.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::stats::{self, Op};
use crate::driver;
use crate::reactor::{Direction, Interest, Ready, ReadyEvent, ScheduledIo};
use crate::task::budget;

/// An fd registered with a driver, edge-triggered, once. Dropping it does
/// not deregister: the owner calls [`Registration::deregister`] before it
/// closes the fd.
#[derive(Debug)]
pub(crate) struct Registration {
    /// The driver the fd is registered with (its poller deregisters it).
    handle: Arc<driver::Handle>,
    /// The registry entry: cached readiness and parked wakers.
    io: Arc<ScheduledIo>,
    /// The completion driver's state for the fd (its stream reads and
    /// writes, its readiness polls); `None` with the readiness driver.
    completion: Option<Arc<driver::Completion>>,
}

/// Whether a successful operation drained the fd's readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Only `WouldBlock` clears readiness (datagrams, accepts, peeks).
    OnWouldBlock,
    /// A transfer shorter than this many bytes also clears it: on a stream
    /// socket, a short read has emptied the receive buffer and a short
    /// write has filled the send buffer.
    IfShorterThan(usize),
}

impl Registration {
    /// Registers `fd` with `handle` for `interest`, starting with `initial` readiness.
    pub(crate) fn new(handle: Arc<driver::Handle>, fd: RawFd, interest: Interest, initial: Ready) -> io::Result<Self> {
        let (io, completion) = handle.register(fd, interest, initial)?;
        Ok(Registration { handle, io, completion })
    }

    /// Removes `fd` from its driver; call it before closing the fd.
    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        self.handle.deregister(fd, &self.io, self.completion.as_ref())
    }

    /// The completion driver's state for the fd, if that is the driver.
    #[inline]
    pub(crate) fn completion(&self) -> Option<&Arc<driver::Completion>> {
        self.completion.as_ref()
    }

    /// A wait for `dir` parked: the completion driver arms what reports it.
    fn parked(&self, dir: Direction) {
        if let Some(c) = &self.completion {
            c.on_pending(dir);
        }
    }

    /// Ready once `dir` may make progress; parks the task's waker otherwise.
    /// Spends one unit of the task's budget when ready.
    #[inline]
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>> {
        budget::cooperate(cx, |cx| {
            if self.completion.is_some() {
                // Out of line: the readiness path keeps its size.
                self.poll_ready_completion(cx, dir)
            } else {
                self.io.poll_ready(cx, dir)
            }
        })
    }

    #[inline(never)]
    fn poll_ready_completion(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>> {
        let res = self.io.poll_ready(cx, dir);
        if res.is_pending() {
            self.parked(dir);
        }
        res
    }

    /// Waits for `dir`'s readiness and runs `op`; a `WouldBlock` clears the
    /// readiness it observed and waits again, a success that `drained`
    /// says emptied the fd clears readable/writable (keeping closed bits:
    /// an edge-triggered poller reports a FIN once). Any event that arrived
    /// after `op` ran survives either clearing (the tick guard).
    #[inline]
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        kind: Op,
        drained: Drained,
        mut op: impl FnMut() -> io::Result<R>,
        len_of: impl Fn(&R) -> usize,
    ) -> Poll<io::Result<R>> {
        let dir = kind.direction();
        // The budget is checked first and spent on completion, in line:
        // no closure around the loop, so the result is not moved through one.
        if !budget::has_budget(cx) {
            return Poll::Pending;
        }
        if let (Some(c), Direction::Write) = (&self.completion, dir) {
            // Bytes a stream write buffered go first.
            ready!(c.poll_flush(cx))?;
        }
        loop {
            let event = match self.io.poll_ready(cx, dir) {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => {
                    budget::spend(0);
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    self.parked(dir);
                    return Poll::Pending;
                }
            };
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    stats::count(kind, true);
                    self.io.clear_readiness(event);
                }
                res => {
                    stats::count(kind, false);
                    let mut moved = 0;
                    if let (Ok(r), Drained::IfShorterThan(len)) = (&res, drained) {
                        moved = len_of(r);
                        if moved > 0 && moved < len {
                            self.io.clear_drained(event);
                        }
                    }
                    budget::spend(moved);
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// Runs one of the completion driver's stream operations (`op`) under
    /// the task's budget: checked first, spent (by `len_of` the result's
    /// bytes) when it is ready. The syscall counters are not touched: the
    /// driver makes no system call per operation.
    #[inline(never)]
    pub(crate) fn poll_completion<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut Context<'_>) -> Poll<io::Result<R>>,
        len_of: impl Fn(&R) -> usize,
    ) -> Poll<io::Result<R>> {
        budget::cooperate_moving(cx, op, |r| r.as_ref().map_or(0, len_of))
    }

    /// Runs `op` once without waiting, applying [`Registration::poll_io`]'s
    /// clearing rules to the readiness cached for `dir`.
    #[inline]
    pub(crate) fn try_io<R>(
        &self,
        kind: Op,
        drained: Drained,
        op: impl FnOnce() -> io::Result<R>,
        len_of: impl Fn(&R) -> usize,
    ) -> io::Result<R> {
        let seen = self.io.readiness(kind.direction())?;
        let res = op();
        stats::count(kind, matches!(&res, Err(e) if e.kind() == io::ErrorKind::WouldBlock));
        if let Some(ev) = seen {
            match (&res, drained) {
                (Err(e), _) if e.kind() == io::ErrorKind::WouldBlock => self.io.clear_readiness(ev),
                (Ok(r), Drained::IfShorterThan(len)) => {
                    let n = len_of(r);
                    if n > 0 && n < len {
                        self.io.clear_drained(ev);
                    }
                }
                _ => {}
            }
        }
        res
    }

    /// [`Registration::try_io`] for an operation that may need either
    /// direction: a `WouldBlock` forgets the readiness of both.
    pub(crate) fn try_io_both<R>(&self, op: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        let seen = [self.io.readiness(Direction::Read)?, self.io.readiness(Direction::Write)?];
        let res = op();
        let would_block = matches!(&res, Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        stats::count(Op::Read, would_block);
        if would_block {
            seen.into_iter().flatten().for_each(|ev| self.io.clear_readiness(ev));
        }
        res
    }
}
