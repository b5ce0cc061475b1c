//! [`TcpStream`]: a connected TCP socket.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use runtime::io::{Async, AsyncRead, AsyncWrite, Interest};

use crate::addr::{each_addr, ToSocketAddrs};
use crate::pooled::ReadPooled;
use crate::socket::{self, Socket};
use crate::split::{self, sealed, OwnedReadHalf, OwnedWriteHalf, ReadHalf, SplitStream, WriteHalf};
use crate::sys::RawAddr;

/// A TCP connection, readable and writable as
/// [`AsyncRead`](runtime::io::AsyncRead) / [`AsyncWrite`](runtime::io::AsyncWrite).
///
/// Writes never raise SIGPIPE: writing to a connection the peer closed is
/// an `ErrorKind::BrokenPipe` error. The socket is closed (and deregistered)
/// when the stream, or the last of its owned halves, is dropped.
///
/// ```no_run
/// use net::TcpStream;
/// use runtime::io::{AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     let mut s = TcpStream::connect("127.0.0.1:8080").await?;
///     s.write_all(b"hello").await?;
///     let mut buf = [0u8; 5];
///     s.read_exact(&mut buf).await?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    io: Async<Socket>,
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn; returns the
    /// first connection made or the last error. A refused connection is
    /// `ErrorKind::ConnectionRefused`.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, TcpStream::connect_addr).await
    }

    /// A non-blocking connect: start it, wait until the socket is writable,
    /// then read `SO_ERROR` for the outcome.
    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_socket(Socket::new(&addr, libc::SOCK_STREAM)?, addr).await
    }

    /// Connects `sock` (fresh, or configured by a `TcpSocket`) to `addr`.
    pub(crate) async fn connect_socket(sock: Socket, addr: SocketAddr) -> io::Result<TcpStream> {
        if sock.connect(&RawAddr::from_std(&addr))? {
            return Ok(TcpStream::from_socket(sock));
        }
        let stream = TcpStream { io: Async::connecting(sock) };
        stream.io.writable().await?;
        if let Some(e) = stream.io.get_ref().take_error()? {
            return Err(e);
        }
        Ok(stream)
    }

    pub(crate) fn from_socket(sock: Socket) -> TcpStream {
        TcpStream { io: Async::from_nonblocking(sock, Interest::both()) }
    }

    /// Takes a connected `std` stream and switches it to non-blocking mode.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream::from_socket(Socket::from_std(OwnedFd::from(stream))?))
    }

    /// Deregisters the socket and returns it as a `std` stream, still in
    /// non-blocking mode (call `set_nonblocking(false)` to block on it).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(std::net::TcpStream::from(self.io.into_inner()?.into_owned()))
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_raw()?.to_std()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_raw()?.to_std()
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_flag(libc::IPPROTO_TCP, libc::TCP_NODELAY, nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().flag(libc::IPPROTO_TCP, libc::TCP_NODELAY)
    }

    /// Sets the size of the kernel's receive buffer (`SO_RCVBUF`): how much
    /// data can queue before the reader takes it. Linux doubles the value
    /// (room for its bookkeeping) and caps it at `net.core.rmem_max`;
    /// [`recv_buffer_size`](Self::recv_buffer_size) tells what the kernel kept.
    ///
    /// ```
    /// use net::{TcpListener, TcpStream};
    ///
    /// runtime::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     stream.set_recv_buffer_size(1 << 20)?;
    ///     assert!(stream.recv_buffer_size()? >= 1 << 16);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
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

    /// Sets `SO_LINGER`: what closing does with data not yet sent. `None`
    /// (the default): close returns at once and the kernel sends the rest in
    /// the background. `Some(d)`: the close waits up to `d` (whole seconds)
    /// for it to go out. `Some(Duration::ZERO)`: the data is discarded and
    /// the connection reset (the peer reads `ConnectionReset`), with no
    /// `TIME_WAIT` left behind.
    ///
    /// ```
    /// use std::time::Duration;
    /// use net::{TcpListener, TcpStream};
    ///
    /// runtime::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     stream.set_linger(Some(Duration::ZERO))?;
    ///     assert_eq!(stream.linger()?, Some(Duration::ZERO));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.io.get_ref().set_linger(linger)
    }

    /// The `SO_LINGER` setting (see [`TcpStream::set_linger`]).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.io.get_ref().linger()
    }

    /// Turns TCP keep-alive probes on or off (`SO_KEEPALIVE`): an idle
    /// connection whose peer vanished then fails after the kernel's probe
    /// interval (`net.ipv4.tcp_keepalive_*`, two hours by default on Linux).
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.io.get_ref().set_flag(libc::SOL_SOCKET, libc::SO_KEEPALIVE, keepalive)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.io.get_ref().flag(libc::SOL_SOCKET, libc::SO_KEEPALIVE)
    }

    /// Sets the IPv4 time-to-live of outgoing packets (`IP_TTL`, 1 to 255).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IPv4 time-to-live of outgoing packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Shuts down the read side, the write side (sends FIN), or both.
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

    /// Any pending socket error (`SO_ERROR`), taking it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Borrowed halves for reading and writing at the same time in one task
    /// (e.g. with a `select`-style combinator).
    pub fn split(&mut self) -> (ReadHalf<'_, TcpStream>, WriteHalf<'_, TcpStream>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Owned halves that can move to two different tasks. The socket closes
    /// when both are dropped; dropping the write half shuts down the write side.
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        split::into_split(self)
    }
}

impl sealed::Stream for TcpStream {
    type Addr = SocketAddr;

    fn io(&self) -> &Async<Socket> {
        &self.io
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
}

impl SplitStream for TcpStream {}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }
}

/// `&TcpStream` reads and writes too: a reader and a writer can share one
/// stream (each direction has its own waker slot).
impl AsyncRead for &TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
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

impl AsyncWrite for &TcpStream {
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

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        socket::debug(f, "TcpStream", &[("local", self.local_addr()), ("peer", self.peer_addr())], self.as_raw_fd())
    }
}
