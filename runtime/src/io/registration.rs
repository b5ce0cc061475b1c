//! [`Registration`]: an fd owned together with its entry in the reactor.

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context::{self, Shared};
use crate::interest::Interest;
use crate::reactor::{Direction, ReadyEvent, ScheduledIo};

/// An I/O object (anything with an fd) registered with the current
/// runtime's reactor, edge-triggered, once.
///
/// The registration owns the object: on drop it first removes the fd from
/// the poller, then drops the object (closing the fd), so both happen exactly
/// once and in that order. [`Registration::into_inner`] deregisters and
/// hands the object back instead.
///
/// Readiness is cached: an I/O call tries the syscall first, and only when
/// the kernel answers `WouldBlock` does the registration clear the
/// readiness it observed and park the task until the next edge.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use runtime::io::Registration;
///
/// runtime::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     a.set_nonblocking(true)?;
///     let a = Registration::new(a)?;
///     std::io::Write::write_all(&mut &b, b"ping")?;
///     let mut buf = [0u8; 4];
///     let n = a.read_with(|s| std::io::Read::read(&mut &*s, &mut buf)).await?;
///     assert_eq!(&buf[..n], b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Registration<T: AsRawFd> {
    /// The runtime the fd is registered with (its poller does the deregistration).
    shared: Arc<Shared>,
    /// The registry entry: cached readiness and parked wakers.
    io: Arc<ScheduledIo>,
    /// The object; `None` only after `into_inner` took it.
    inner: Option<T>,
}

impl<T: AsRawFd> Registration<T> {
    /// Registers `inner` (which must already be non-blocking) for both
    /// directions with the current runtime.
    ///
    /// Fails outside a runtime, or if the poller refuses the fd.
    pub fn new(inner: T) -> io::Result<Registration<T>> {
        Registration::with_interest(inner, Interest::both())
    }

    /// Registers `inner` for the directions in `interest` only.
    pub fn with_interest(inner: T, interest: Interest) -> io::Result<Registration<T>> {
        let fd = inner.as_raw_fd();
        let registered = context::with_current(|core| {
            core.reactor.register(&core.shared.driver, fd, interest).map(|io| (core.shared.clone(), io))
        });
        match registered {
            Some(Ok((shared, io))) => Ok(Registration { shared, io, inner: Some(inner) }),
            Some(Err(e)) => Err(io::Error::new(e.kind(), format!("registering fd {fd} with the reactor: {e}"))),
            None => {
                Err(io::Error::other("an I/O object must be created inside a weft runtime (in block_on or a task)"))
            }
        }
    }

    /// The wrapped object.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("Registration used after into_inner")
    }

    /// The wrapped object, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("Registration used after into_inner")
    }

    /// Deregisters the fd and returns the object, still open.
    pub fn into_inner(mut self) -> io::Result<T> {
        let inner = self.inner.take().expect("Registration used after into_inner");
        let res = self.shared.driver.poller.delete(inner.as_raw_fd());
        self.release_slot();
        res.map(|()| inner)
    }

    /// Frees the registry slot: directly on the runtime's thread, else
    /// through the driver's queue for the loop to pick up.
    fn release_slot(&self) {
        let token = self.io.token;
        let done = context::with_current(|core| Arc::ptr_eq(&core.shared, &self.shared) && core.reactor.release(token));
        if done != Some(true) {
            self.shared.driver.release_later(token);
        }
    }

    /// Ready once the fd may be readable; parks the task's waker otherwise.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.io.poll_ready(cx, Direction::Read)
    }

    /// Ready once the fd may be writable; parks the task's waker otherwise.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.io.poll_ready(cx, Direction::Write)
    }

    /// Forgets the readiness in `event` after the operation returned
    /// `WouldBlock`, unless a newer event arrived since. Closed bits are
    /// cleared too: the kernel's answer wins over a stale hang-up report.
    pub fn clear_readiness(&self, event: ReadyEvent) {
        self.io.clear_readiness(event);
    }

    /// Waits for `dir`'s readiness and runs `f`; a `WouldBlock` clears the
    /// readiness it observed and waits again. A success for which
    /// `drained` is true clears readable/writable too (see `poll_transfer`).
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut f: impl FnMut(&T) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        loop {
            let event = match self.io.poll_ready(cx, dir) {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match f(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.io.clear_readiness(event),
                res => {
                    if matches!(&res, Ok(r) if drained(r)) {
                        self.io.clear_drained(event);
                    }
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// Runs the non-blocking read operation `f` once the fd is readable;
    /// on `WouldBlock`, clears readiness and waits for the next event.
    pub fn poll_read_with<R>(&self, cx: &mut Context<'_>, f: impl FnMut(&T) -> io::Result<R>) -> Poll<io::Result<R>> {
        self.poll_io(cx, Direction::Read, f, |_| false)
    }

    /// Like [`Registration::poll_read_with`], for writes.
    pub fn poll_write_with<R>(&self, cx: &mut Context<'_>, f: impl FnMut(&T) -> io::Result<R>) -> Poll<io::Result<R>> {
        self.poll_io(cx, Direction::Write, f, |_| false)
    }

    /// `async` form of [`Registration::poll_read_with`].
    pub async fn read_with<R>(&self, mut f: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_read_with(cx, &mut f)).await
    }

    /// `async` form of [`Registration::poll_write_with`].
    pub async fn write_with<R>(&self, mut f: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_write_with(cx, &mut f)).await
    }

    /// The cached readiness for `interest` (its read side if it has one),
    /// without parking the task: `None` if the last syscall saw
    /// `WouldBlock` and no event came since.
    #[inline]
    pub fn readiness(&self, interest: Interest) -> io::Result<Option<ReadyEvent>> {
        self.io.readiness(direction(interest))
    }

    /// Runs `f` once without waiting; a `WouldBlock` clears the cached
    /// readiness of `interest`'s directions (and is returned).
    pub fn try_io<R>(&self, interest: Interest, f: impl FnOnce(&T) -> io::Result<R>) -> io::Result<R> {
        let mut seen = [None, None];
        for (slot, (wanted, dir)) in
            seen.iter_mut().zip([(interest.is_readable(), Direction::Read), (interest.is_writable(), Direction::Write)])
        {
            if wanted {
                *slot = self.io.readiness(dir)?;
            }
        }
        let res = f(self.get_ref());
        if matches!(&res, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            seen.into_iter().flatten().for_each(|ev| self.io.clear_readiness(ev));
        }
        res
    }

    /// Polls a byte transfer on a stream socket: waits for `interest`'s
    /// readiness, then runs `f`, which moves at most `len` bytes.
    ///
    /// Besides `WouldBlock`, a *short* transfer (`0 < n < len`) also clears
    /// the readiness: a stream read that returns less than asked has
    /// drained the socket, a write that takes less has filled it. The next
    /// call then waits for the next edge instead of paying for a syscall
    /// that would fail with `EAGAIN`. Any data arriving after `f` ran
    /// raises a new event, and the tick guard keeps it.
    pub fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        len: usize,
        mut f: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        // A non-blocking transfer interrupted by a signal is simply retried.
        let transfer = |t: &T| loop {
            match f(t) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => return res,
            }
        };
        self.poll_io(cx, direction(interest), transfer, |&n| n > 0 && n < len)
    }

    /// [`Registration::poll_transfer`] without waiting: runs `f` once, even
    /// if no readiness is cached, and applies the same clearing rule.
    #[inline]
    pub fn try_transfer(
        &self,
        interest: Interest,
        len: usize,
        f: impl FnOnce(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let ev = self.io.readiness(direction(interest))?;
        let res = f(self.get_ref());
        if let Some(ev) = ev {
            match &res {
                Ok(n) if *n > 0 && *n < len => self.io.clear_drained(ev),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.io.clear_readiness(ev),
                _ => {}
            }
        }
        res
    }

    /// Waits until the fd may be readable.
    pub fn readable(&self) -> Readable<'_, T> {
        Readable { reg: self }
    }

    /// Waits until the fd may be writable.
    pub fn writable(&self) -> Writable<'_, T> {
        Writable { reg: self }
    }
}

/// The direction an interest waits on: reading if it includes reading.
fn direction(interest: Interest) -> Direction {
    if interest.is_readable() {
        Direction::Read
    } else {
        Direction::Write
    }
}

impl<T: AsRawFd> AsRawFd for Registration<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd> Drop for Registration<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Deregister before the fd closes: after close the number may be
            // reused, and a late DEL would hit the new owner. The error
            // (e.g. the runtime's poller is gone) leaves nothing to undo.
            let _ = self.shared.driver.poller.delete(inner.as_raw_fd());
            self.release_slot();
            drop(inner);
        }
    }
}

impl<T: AsRawFd + fmt::Debug> fmt::Debug for Registration<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration").field("inner", &self.inner).field("token", &self.io.token).finish()
    }
}

/// Future of [`Registration::readable`].
#[must_use = "futures do nothing unless awaited"]
pub struct Readable<'a, T: AsRawFd> {
    reg: &'a Registration<T>,
}

impl<T: AsRawFd> Future for Readable<'_, T> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg.poll_read_ready(cx).map_ok(|_| ())
    }
}

impl<T: AsRawFd> fmt::Debug for Readable<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readable").field("token", &self.reg.io.token).finish()
    }
}

/// Future of [`Registration::writable`].
#[must_use = "futures do nothing unless awaited"]
pub struct Writable<'a, T: AsRawFd> {
    reg: &'a Registration<T>,
}

impl<T: AsRawFd> Future for Writable<'_, T> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg.poll_write_ready(cx).map_ok(|_| ())
    }
}

impl<T: AsRawFd> fmt::Debug for Writable<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writable").field("token", &self.reg.io.token).finish()
    }
}
