//! [`UnixStream`]: a connected Unix stream socket.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use runtime::io::{Async, AsyncRead, AsyncWrite, Interest};

use super::SocketAddr;
use crate::pooled::ReadPooled;
use crate::socket::{self, Socket};
use crate::split::{self, sealed, OwnedReadHalf, OwnedWriteHalf, ReadHalf, SplitStream, WriteHalf};

/// A Unix stream connection, readable and writable as
/// [`AsyncRead`](runtime::io::AsyncRead) / [`AsyncWrite`](runtime::io::AsyncWrite);
/// like [`TcpStream`](crate::TcpStream), but between processes on one machine.
///
/// Writes never raise SIGPIPE: writing after the peer closed is an
/// `ErrorKind::BrokenPipe` error.
///
/// ```
/// use net::UnixStream;
/// use runtime::io::{AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     let (mut a, mut b) = UnixStream::pair()?;
///     a.write_all(b"over the pair").await?;
///     drop(a);
///     let mut got = Vec::new();
///     b.read_to_end(&mut got).await?;
///     assert_eq!(got, b"over the pair");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    io: Async<Socket>,
}

impl UnixStream {
    /// Connects to the socket file at `path`. A missing file is
    /// `ErrorKind::NotFound`, a file with no listener behind it
    /// `ErrorKind::ConnectionRefused`; errors name the path.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = SocketAddr::from_pathname(path)?;
        UnixStream::connect_addr(&addr).await
    }

    /// Connects to `addr`: a path, or (on Linux) an abstract name.
    pub async fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        let raw = addr.to_raw()?;
        let context = |e: io::Error| io::Error::new(e.kind(), format!("connecting to {addr}: {e}"));
        let sock = Socket::new_raw(libc::AF_UNIX, libc::SOCK_STREAM)?;
        // Linux completes or refuses a Unix connect at once (a full backlog
        // is `EAGAIN`, returned as is); other systems may report it in
        // progress, and then the socket starts not ready, like a TCP connect.
        if sock.connect(&raw).map_err(context)? {
            return Ok(UnixStream::from_socket(sock));
        }
        let stream = UnixStream { io: Async::connecting(sock) };
        stream.io.writable().await?;
        if let Some(e) = stream.io.get_ref().take_error()? {
            return Err(context(e));
        }
        Ok(stream)
    }

    /// A connected pair of streams (`socketpair`): a private channel, for
    /// example to a child process or between two tasks.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(libc::AF_UNIX, libc::SOCK_STREAM)?;
        Ok((UnixStream::from_socket(a), UnixStream::from_socket(b)))
    }

    pub(crate) fn from_socket(sock: Socket) -> UnixStream {
        UnixStream { io: Async::from_nonblocking(sock, Interest::both()) }
    }

    /// Takes a connected `std` stream and switches it to non-blocking mode.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream::from_socket(Socket::from_std(OwnedFd::from(stream))?))
    }

    /// Deregisters the socket and returns it as a `std` stream, still in
    /// non-blocking mode (call `set_nonblocking(false)` to block on it).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(std::os::unix::net::UnixStream::from(self.io.into_inner()?.into_owned()))
    }

    /// This end's address (usually unnamed for a client).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_raw(&self.io.get_ref().local_raw()?)
    }

    /// The peer's address (the listener's path, for a client).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_raw(&self.io.get_ref().peer_raw()?)
    }

    /// Shuts down the read side, the write side (the peer reads EOF), or both.
    ///
    /// With the io_uring backend, a write side with bytes still buffered
    /// by the driver shuts down once they are sent.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// Reads incoming data without consuming it.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.io.poll_peek(cx, buf)).await
    }

    /// Waits until the stream may be readable.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream may be writable.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Waits for data and reads it into a buffer lent by the thread's pool
    /// (at most [`runtime::io::POOLED_BUF_SIZE`] bytes; empty at end of
    /// stream), so a connection that waits holds no buffer; the buffer goes
    /// back to the pool when the returned [`PooledBuf`](runtime::io::PooledBuf)
    /// is dropped.
    pub fn read_pooled(&self) -> ReadPooled<'_> {
        ReadPooled::new(&self.io)
    }

    /// Reads without waiting: `ErrorKind::WouldBlock` if no data is ready.
    /// Like `poll_read`, a short read clears the cached readiness, so a
    /// following `readable().await` waits for new data without a syscall.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_read(buf)
    }

    /// Writes without waiting: `ErrorKind::WouldBlock` if the send buffer
    /// is full. A short write clears the cached writability.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_write(buf)
    }

    /// Sets the size of the kernel's receive buffer (`SO_RCVBUF`): how much
    /// data can queue before the reader takes it. Linux doubles the value
    /// (room for its bookkeeping) and caps it at `net.core.rmem_max`;
    /// [`recv_buffer_size`](Self::recv_buffer_size) tells what the kernel kept.
    ///
    /// ```
    /// let (a, _b) = net::UnixStream::pair()?;
    /// a.set_recv_buffer_size(256 * 1024)?;
    /// assert!(a.recv_buffer_size()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.io.get_ref().set_size(libc::SO_RCVBUF, size)
    }

    /// The size of the kernel's receive buffer (`SO_RCVBUF`).
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.io.get_ref().size(libc::SO_RCVBUF)
    }

    /// Sets the size of the kernel's send buffer (`SO_SNDBUF`); Linux doubles
    /// it and caps it at `net.core.wmem_max`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.io.get_ref().set_size(libc::SO_SNDBUF, size)
    }

    /// The size of the kernel's send buffer (`SO_SNDBUF`).
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.io.get_ref().size(libc::SO_SNDBUF)
    }

    /// Any pending socket error (`SO_ERROR`), taking it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Borrowed halves for reading and writing at the same time in one task
    /// (e.g. with a `select`-style combinator).
    pub fn split(&mut self) -> (ReadHalf<'_, UnixStream>, WriteHalf<'_, UnixStream>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Owned halves that can move to two different tasks. The socket closes
    /// when both are dropped; dropping the write half shuts down the write side.
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        split::into_split(self)
    }
}

impl sealed::Stream for UnixStream {
    type Addr = SocketAddr;

    fn io(&self) -> &Async<Socket> {
        &self.io
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        UnixStream::local_addr(self)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        UnixStream::peer_addr(self)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        UnixStream::shutdown(self, how)
    }
}

impl SplitStream for UnixStream {}

impl AsyncRead for UnixStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }
}

/// `&UnixStream` reads and writes too: a reader and a writer can share one
/// stream (each direction has its own waker slot).
impl AsyncRead for &UnixStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }
}

impl AsyncWrite for UnixStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        split::poll_shutdown(&*self, cx)
    }
}

impl AsyncWrite for &UnixStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        split::poll_shutdown(*self, cx)
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        socket::debug(f, "UnixStream", &[("local", self.local_addr()), ("peer", self.peer_addr())], self.as_raw_fd())
    }
}
