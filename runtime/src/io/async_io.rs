//! [`Async`]: the one generic I/O type. An owned non-blocking fd plus its
//! registration with the driver of the loop that polls it.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use super::pool::{self, PooledBuf};
use super::registration::{Drained, Registration};
use super::stats::Op;
use crate::driver;
use crate::reactor::{Direction, Interest, Ready};
use crate::sys;

/// An I/O object (anything that owns an fd) driven by the runtime: the
/// type `net`'s sockets are built on, and the way to make your own fd
/// types async.
///
/// The fd is registered edge-triggered, once, with the driver of the loop
/// that first polls it, so a socket belongs to the loop that uses it. Its
/// readiness is cached: an operation tries the syscall first, and only when
/// the kernel answers `WouldBlock` does it forget the readiness it saw and
/// park the task until the next edge. Dropping an `Async` deregisters the
/// fd and then drops the object (closing the fd), exactly once and in that
/// order; [`Async::into_inner`] hands the object back instead.
///
/// Three layers of operations, each for what needs it:
/// - readiness: [`Async::poll_ready`], [`Async::readable`], [`Async::writable`];
/// - any non-blocking call, retried until it stops saying `WouldBlock`:
///   [`Async::read_with`] / [`Async::write_with`] and their `poll_` forms,
///   [`Async::try_io`], and [`Async::poll_read_stream_with`] for a stream
///   read with the caller's own receive call;
/// - the byte-stream path of a socket, which the driver may serve its own
///   way: [`Async::poll_read`], [`Async::poll_write`],
///   [`Async::poll_write_vectored`], [`Async::try_read`], [`Async::try_write`],
///   [`Async::poll_peek`], [`Async::poll_flush`], [`Async::shutdown`].
///
/// With the io_uring backend the byte-stream path is served by completions:
/// reads come from a multishot recv into buffers the driver owns, and a
/// write returns once its bytes are copied into a send buffer the driver
/// owns (bounded; a failed send is reported by the next write or flush).
/// [`Async::poll_flush`] waits until that buffer is sent, and a write-side
/// [`Async::shutdown`] takes effect after it. Use one path per direction:
/// once a stream is read with `poll_read`/`try_read`, read closures
/// (`read_with`) no longer see the bytes the driver has already received
/// (peek with [`Async::poll_peek`]); write closures wait until buffered
/// bytes are sent. Dropping the `Async` sends what is still buffered from a
/// duplicate fd, then closes it; [`Async::into_inner`] does the same, so
/// flush before taking the object back.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use runtime::io::Async;
///
/// runtime::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let a = Async::new(a)?;
///     std::io::Write::write_all(&mut &b, b"ping")?;
///     let mut buf = [0u8; 4];
///     let n = a.read_with(|s| std::io::Read::read(&mut &*s, &mut buf)).await?;
///     assert_eq!(&buf[..n], b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Async<T: AsFd> {
    /// The object; `None` only once `into_inner` or `drop` took it.
    inner: Option<T>,
    /// `inner`'s fd, kept for the hot paths.
    ///
    /// # Invariant
    /// Open while `inner` is `Some`: only `into_inner` and `drop` take it.
    fd: RawFd,
    /// Set at the first poll, on the polling loop's driver.
    registration: OnceLock<Registration>,
    /// The directions registered for.
    interest: Interest,
    /// The readiness the registration starts with.
    initial: Ready,
}

impl<T: AsFd> Async<T> {
    /// Switches `inner` to non-blocking mode and wraps it, for both directions.
    pub fn new(inner: T) -> io::Result<Async<T>> {
        sys::set_nonblocking(inner.as_fd().as_raw_fd())?;
        Ok(Async::from_nonblocking(inner, Interest::both()))
    }

    /// Wraps `inner`, which must already be in non-blocking mode (a socket
    /// made with `SOCK_NONBLOCK`, say), for the directions in `interest`.
    /// The first operation tries the syscall at once.
    pub fn from_nonblocking(inner: T, interest: Interest) -> Async<T> {
        Async::with_initial(inner, interest, Ready::READABLE | Ready::WRITABLE)
    }

    /// Wraps a non-blocking socket whose `connect` is still in progress: it
    /// starts neither readable nor writable, so [`Async::writable`] waits
    /// for the kernel's event that ends the handshake (connect(2): then
    /// `SO_ERROR` tells the outcome), and the first read waits for data
    /// instead of paying for an `EAGAIN`.
    pub fn connecting(inner: T) -> Async<T> {
        Async::with_initial(inner, Interest::both(), Ready::EMPTY)
    }

    fn with_initial(inner: T, interest: Interest, initial: Ready) -> Async<T> {
        let fd = inner.as_fd().as_raw_fd();
        Async { inner: Some(inner), fd, registration: OnceLock::new(), interest, initial }
    }

    /// The wrapped object.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("only into_inner and drop take the object, and both consume the Async")
    }

    /// The wrapped object, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("only into_inner and drop take the object, and both consume the Async")
    }

    /// Deregisters the fd and returns the object, still open (and still
    /// non-blocking).
    pub fn into_inner(mut self) -> io::Result<T> {
        let inner = self.inner.take().expect("only into_inner and drop take the object");
        match self.registration.get() {
            Some(reg) => reg.deregister(inner.as_fd().as_raw_fd()).map(|()| inner),
            None => Ok(inner),
        }
    }

    #[inline]
    fn fd(&self) -> RawFd {
        self.fd
    }

    /// The registration, made on first use with this thread's driver.
    #[inline]
    fn registration(&self) -> io::Result<&Registration> {
        match self.registration.get() {
            Some(reg) => Ok(reg),
            None => self.register(),
        }
    }

    #[cold]
    fn register(&self) -> io::Result<&Registration> {
        let fd = self.fd();
        let handle = driver::current().ok_or_else(|| {
            io::Error::other("an I/O object must be polled inside a weft runtime (in block_on or a task)")
        })?;
        let reg = Registration::new(handle, fd, self.interest, self.initial)
            .map_err(|e| io::Error::new(e.kind(), format!("registering fd {fd} with the reactor: {e}")))?;
        if let Err(ours) = self.registration.set(reg) {
            // Another loop registered it first (the object was polled on two
            // threads at once): leave it there, and take ours out of this
            // loop's poller.
            let _ = ours.deregister(fd);
        }
        Ok(self.registration.get().expect("set just above, by us or the other loop"))
    }

    /// Ready once the fd may be readable (if `interest` includes reading)
    /// or writable; parks the task's waker otherwise.
    #[inline]
    pub fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>> {
        self.registration()?.poll_ready(cx, direction(interest)).map_ok(|_| ())
    }

    /// Waits until the fd may be readable.
    pub fn readable(&self) -> Readable<'_, T> {
        Readable { io: self }
    }

    /// Waits until the fd may be writable.
    pub fn writable(&self) -> Writable<'_, T> {
        Writable { io: self }
    }

    /// Runs the non-blocking read operation `op` once the fd is readable;
    /// on `WouldBlock`, forgets the readiness and waits for the next event.
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration()?.poll_io(cx, Op::Read, Drained::OnWouldBlock, || op(self.get_ref()), |_| 0)
    }

    /// Like [`Async::poll_read_with`], for writes.
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration()?.poll_io(cx, Op::Write, Drained::OnWouldBlock, || op(self.get_ref()), |_| 0)
    }

    /// [`Async::poll_read_with`] for an `accept`: the same wait, counted as
    /// an accept in the runtime's metrics.
    pub fn poll_accept_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration()?.poll_io(cx, Op::Accept, Drained::OnWouldBlock, || op(self.get_ref()), |_| 0)
    }

    /// The stream read path of [`Async::poll_read`] with the caller's own
    /// receive call: `op` reads at most `len` bytes into memory the caller
    /// owns (uninitialised memory, say, such as hyper's read buffer), and a
    /// read shorter than `len` clears the readiness, so the next one waits
    /// for the next event instead of paying for an `EAGAIN`. A `WouldBlock`
    /// waits as [`Async::poll_read_with`] does.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::unix::net::UnixStream;
    /// use runtime::io::Async;
    ///
    /// runtime::block_on(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let a = Async::new(a)?;
    ///     std::io::Write::write_all(&mut &b, b"ping")?;
    ///     let mut buf = [0u8; 16];
    ///     let n = std::future::poll_fn(|cx| a.poll_read_stream_with(cx, buf.len(), |s| (&*s).read(&mut buf))).await?;
    ///     assert_eq!(&buf[..n], b"ping");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn poll_read_stream_with(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.registration()?.poll_io(cx, Op::Read, Drained::IfShorterThan(len), || op(self.get_ref()), |&n| n)
    }

    /// `async` form of [`Async::poll_read_with`].
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_read_with(cx, &mut op)).await
    }

    /// `async` form of [`Async::poll_write_with`].
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_write_with(cx, &mut op)).await
    }

    /// Runs `op` once without waiting; a `WouldBlock` forgets the cached
    /// readiness of `interest`'s directions (and is returned), so a later
    /// wait waits for a new event.
    pub fn try_io<R>(&self, interest: Interest, op: impl FnOnce(&T) -> io::Result<R>) -> io::Result<R> {
        let reg = self.registration()?;
        match (interest.is_readable(), interest.is_writable()) {
            (true, true) => reg.try_io_both(|| op(self.get_ref())),
            (true, false) => reg.try_io(Op::Read, Drained::OnWouldBlock, || op(self.get_ref()), |_| 0),
            _ => reg.try_io(Op::Write, Drained::OnWouldBlock, || op(self.get_ref()), |_| 0),
        }
    }

    /// Reads from a stream socket once it is readable (`recv(2)`). A read
    /// shorter than `buf` has drained the socket, so the next one waits for
    /// the next event instead of paying for an `EAGAIN`.
    #[inline]
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let fd = self.fd();
        let len = buf.len();
        let reg = self.registration()?;
        if let Some(c) = reg.completion() {
            return reg.poll_completion(cx, |cx| c.poll_read(cx, buf), |&n| n);
        }
        reg.poll_io(cx, Op::Read, Drained::IfShorterThan(len), || sys::recv(fd, buf), |&n| n)
    }

    /// Like [`Async::poll_read`], leaving the data queued (`MSG_PEEK`).
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let reg = self.registration()?;
        if let Some(c) = reg.completion() {
            return reg.poll_completion(cx, |cx| c.poll_peek(cx, buf), |_| 0);
        }
        let fd = self.fd();
        reg.poll_io(cx, Op::Read, Drained::OnWouldBlock, || sys::peek(fd, buf), |_| 0)
    }

    /// Writes to a stream socket once it is writable (`send(2)`, never
    /// raising SIGPIPE: a closed peer is `ErrorKind::BrokenPipe`). A write
    /// shorter than `buf` has filled the socket. An empty `buf` is done at once.
    #[inline]
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let fd = self.fd();
        let reg = self.registration()?;
        if let Some(c) = reg.completion() {
            return reg.poll_completion(cx, |cx| c.poll_write(cx, &[IoSlice::new(buf)]), |&n| n);
        }
        reg.poll_io(cx, Op::Write, Drained::IfShorterThan(buf.len()), || sys::send(fd, buf), |&n| n)
    }

    /// [`Async::poll_write`] from several buffers in order (`sendmsg(2)`).
    pub fn poll_write_vectored(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        let reg = self.registration()?;
        if let Some(c) = reg.completion() {
            return reg.poll_completion(cx, |cx| c.poll_write(cx, bufs), |&n| n);
        }
        let fd = self.fd();
        reg.poll_io(cx, Op::Write, Drained::IfShorterThan(len), || sys::send_vectored(fd, bufs), |&n| n)
    }

    /// Ready once the bytes written are out of the runtime's hands. Always
    /// at once with the readiness driver (a write went straight to the
    /// socket); with io_uring, once the driver's send buffer is empty, or
    /// with the error of a send that failed.
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.registration.get().and_then(Registration::completion) {
            Some(c) => c.poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Shuts down the read side, the write side or both (`shutdown(2)` on a
    /// socket). With io_uring, a write side with bytes still buffered shuts
    /// down once they are sent: the call returns at once, and the peer
    /// reads them all before its end of stream.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self.registration.get().and_then(Registration::completion) {
            Some(c) => c.shutdown(how),
            None => sys::shutdown(self.fd(), how),
        }
    }

    /// Reads from a stream socket into a buffer lent by the thread's pool,
    /// taken only once the socket is readable (see [`PooledBuf`]): an idle
    /// connection waiting here holds no buffer. Reads at most
    /// [`POOLED_BUF_SIZE`](super::POOLED_BUF_SIZE) bytes; empty at end of stream.
    #[inline]
    pub fn poll_read_pooled(&self, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuf>> {
        let fd = self.fd();
        let reg = self.registration()?;
        if let Some(c) = reg.completion() {
            // The driver holds the received bytes; the buffer is taken
            // only to copy them out, and given back if none are there.
            let mut buf = pool::take();
            return match reg.poll_completion(cx, |cx| c.poll_read(cx, &mut buf), |&n| n) {
                Poll::Ready(Ok(n)) => Poll::Ready(Ok(PooledBuf::new(buf, n))),
                Poll::Ready(Err(e)) => {
                    pool::give(buf);
                    Poll::Ready(Err(e))
                }
                Poll::Pending => {
                    pool::give(buf);
                    Poll::Pending
                }
            };
        }
        reg.poll_io(
            cx,
            Op::Read,
            Drained::IfShorterThan(pool::POOLED_BUF_SIZE),
            || {
                let mut buf = pool::take();
                match sys::recv(fd, &mut buf) {
                    Ok(n) => Ok(PooledBuf::new(buf, n)),
                    Err(e) => {
                        pool::give(buf);
                        Err(e)
                    }
                }
            },
            |data| data.len(),
        )
    }

    /// [`Async::poll_read`] without waiting: `ErrorKind::WouldBlock` if no
    /// data is ready.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.fd();
        let len = buf.len();
        let reg = self.registration()?;
        if let Some(c) = reg.completion() {
            return c.try_read(buf);
        }
        reg.try_io(Op::Read, Drained::IfShorterThan(len), || sys::recv(fd, buf), |&n| n)
    }

    /// [`Async::poll_write`] without waiting: `ErrorKind::WouldBlock` if the
    /// send buffer is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.fd();
        let reg = self.registration()?;
        if let Some(c) = reg.completion() {
            return c.try_write(&[IoSlice::new(buf)]);
        }
        reg.try_io(Op::Write, Drained::IfShorterThan(buf.len()), || sys::send(fd, buf), |&n| n)
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

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Deregister before the fd closes: after close the number may be
            // reused, and a late removal would hit the new owner. An error
            // (the runtime's poller is gone) leaves nothing to undo.
            if let Some(reg) = self.registration.get() {
                let _ = reg.deregister(inner.as_fd().as_raw_fd());
            }
            drop(inner);
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("inner", &self.inner)
            .field("registered", &self.registration.get().is_some())
            .finish()
    }
}

/// Future of [`Async::readable`].
#[must_use = "futures do nothing unless awaited"]
pub struct Readable<'a, T: AsFd> {
    io: &'a Async<T>,
}

impl<T: AsFd> Future for Readable<'_, T> {
    type Output = io::Result<()>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_ready(cx, Interest::READABLE)
    }
}

impl<T: AsFd> fmt::Debug for Readable<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readable").field("fd", &self.io.fd()).finish()
    }
}

/// Future of [`Async::writable`].
#[must_use = "futures do nothing unless awaited"]
pub struct Writable<'a, T: AsFd> {
    io: &'a Async<T>,
}

impl<T: AsFd> Future for Writable<'_, T> {
    type Output = io::Result<()>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_ready(cx, Interest::WRITABLE)
    }
}

impl<T: AsFd> fmt::Debug for Writable<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writable").field("fd", &self.io.fd()).finish()
    }
}
