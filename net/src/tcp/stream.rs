//! [`TcpStream`]: a connected TCP socket.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use runtime::io::{AsyncRead, AsyncWrite, Interest, Registration};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::addr::{each_addr, ToSocketAddrs};
use crate::socket::Socket;

/// A TCP connection, readable and writable as [`AsyncRead`] / [`AsyncWrite`].
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
    pub(crate) io: Registration<Socket>,
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
        let sock = Socket::new(&addr, libc::SOCK_STREAM)?;
        let connected = sock.connect(&addr)?;
        let stream = TcpStream { io: Registration::with_interest(sock, Interest::both())? };
        if !connected {
            // A new registration starts optimistic (readable and writable),
            // but a socket still connecting is neither: forget that, and wait
            // for the kernel's writability event, which marks the end of the
            // handshake (connect(2): then SO_ERROR says whether it
            // succeeded). The first read then waits for data instead of
            // paying for an EAGAIN.
            for interest in [Interest::READABLE, Interest::WRITABLE] {
                if let Some(ev) = stream.io.readiness(interest)? {
                    stream.io.clear_readiness(ev);
                }
            }
            stream.io.writable().await?;
            if let Some(e) = stream.io.get_ref().take_error()? {
                return Err(e);
            }
        }
        Ok(stream)
    }

    pub(crate) fn from_socket(sock: Socket) -> io::Result<TcpStream> {
        Ok(TcpStream { io: Registration::with_interest(sock, Interest::both())? })
    }

    /// Takes a connected `std` stream, switches it to non-blocking and registers it.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        let sock = Socket::from_owned(OwnedFd::from(stream));
        sock.set_nonblocking(true)?;
        TcpStream::from_socket(sock)
    }

    /// Deregisters the socket and returns it as a `std` stream, still in
    /// non-blocking mode (call `set_nonblocking(false)` to block on it).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(std::net::TcpStream::from(self.io.into_inner()?.into_owned()))
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().setsockopt(libc::IPPROTO_TCP, libc::TCP_NODELAY, nodelay.into())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.io.get_ref().getsockopt(libc::IPPROTO_TCP, libc::TCP_NODELAY)? != 0)
    }

    /// Shuts down the read side, the write side (sends FIN), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Reads incoming data without consuming it.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// Waits until the stream may be readable.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream may be writable.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Reads without waiting: `ErrorKind::WouldBlock` if no data is ready.
    /// Like `poll_read`, a short read clears the cached readiness, so a
    /// following `readable().await` waits for new data without a syscall.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.io.try_transfer(Interest::READABLE, len, |s| s.recv(buf))
    }

    /// Writes without waiting: `ErrorKind::WouldBlock` if the send buffer
    /// is full. A short write clears the cached writability.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_transfer(Interest::WRITABLE, buf.len(), |s| s.send(buf))
    }

    /// Any pending socket error (`SO_ERROR`), taking it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Borrowed halves for reading and writing at the same time in one task
    /// (e.g. with a `select`-style combinator).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split::split(self)
    }

    /// Owned halves that can move to two different tasks. The socket closes
    /// when both are dropped; dropping the write half shuts down the write side.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::into_split(Arc::new(self))
    }

    /// Reads once the socket is readable (see `Registration::poll_transfer`
    /// for why a short read needs no `EAGAIN` to know the socket is drained).
    pub(crate) fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.io.poll_transfer(cx, Interest::READABLE, len, |s| s.recv(buf))
    }

    pub(crate) fn poll_write_buf(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_transfer(cx, Interest::WRITABLE, buf.len(), |s| s.send(buf))
    }

    pub(crate) fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_transfer(cx, Interest::WRITABLE, len, |s| s.send_vectored(bufs))
    }

    pub(crate) fn poll_shutdown_priv(&self) -> Poll<io::Result<()>> {
        Poll::Ready(match self.io.get_ref().shutdown(Shutdown::Write) {
            // Already disconnected: nothing left to shut down.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            res => res,
        })
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_shutdown_priv()
    }
}

/// `&TcpStream` reads and writes too: a reader and a writer can share one
/// stream (each direction has its own waker slot).
impl AsyncRead for &TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_shutdown_priv()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
