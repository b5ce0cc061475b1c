//! [`UnixDatagram`]: Unix datagram sockets, on the shared [`Datagram`] core.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::task::{Context, Poll};

use super::path::BoundPath;
use super::SocketAddr;
use crate::datagram::Datagram;
use crate::socket::{self, Socket};
use crate::sys::Received;

/// A Unix datagram socket: reliable, ordered messages between processes on
/// one machine, with boundaries preserved.
///
/// A datagram longer than the receive buffer is truncated as the OS does:
/// the `recv*` methods return the bytes that fit, and
/// [`UnixDatagram::recv_from_truncated`] / [`UnixDatagram::recv_truncated`]
/// also report that the rest was lost.
///
/// A socket bound to a path removes its socket file when dropped, under the
/// same rule as [`UnixListener`](crate::UnixListener): only the file it
/// created, and only if the path still names it.
///
/// ```
/// use net::UnixDatagram;
///
/// runtime::block_on(async {
///     let (a, b) = UnixDatagram::pair()?;
///     a.send(b"one").await?;
///     a.send(b"two").await?;
///     let mut buf = [0u8; 16];
///     let n = b.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"one"); // one datagram per receive
///     let (n, truncated) = b.recv_truncated(&mut buf[..2]).await?;
///     assert_eq!((&buf[..n], truncated), (&b"tw"[..], true));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    io: Datagram,
    /// The socket file this socket created, removed on drop.
    bound: Option<BoundPath>,
}

impl UnixDatagram {
    /// Creates a socket bound to a new socket file at `path`. Fails with
    /// `ErrorKind::AddrInUse` (naming the path) if anything exists there.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Creates a socket bound to `addr`: a path, or (on Linux) an abstract name.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        let sock = Socket::new_raw(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        let bound = BoundPath::bind(&sock, addr)?;
        Ok(UnixDatagram { io: Datagram::new(sock), bound })
    }

    /// Creates a socket bound to no name: it can send, but peers cannot
    /// reply unless it is one end of a [`pair`](UnixDatagram::pair) or they
    /// are connected to it.
    pub fn unbound() -> io::Result<UnixDatagram> {
        let sock = Socket::new_raw(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        Ok(UnixDatagram::from_socket(sock))
    }

    /// A connected pair of unnamed sockets (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Socket::pair(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        Ok((UnixDatagram::from_socket(a), UnixDatagram::from_socket(b)))
    }

    fn from_socket(sock: Socket) -> UnixDatagram {
        UnixDatagram { io: Datagram::new(sock), bound: None }
    }

    /// Sets the default destination of [`UnixDatagram::send`] to the socket
    /// at `path`, and receives only from it.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Like [`UnixDatagram::connect`], for a path or an abstract name.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.io.connect(&addr.to_raw()?).map_err(|e| io::Error::new(e.kind(), format!("connecting to {addr}: {e}")))
    }

    /// Sends `buf` as one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.send(buf).await
    }

    /// Polls [`UnixDatagram::send`].
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_send(cx, buf)
    }

    /// Sends without waiting: `ErrorKind::WouldBlock` if the peer's queue
    /// (or our send buffer) is full.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_send(buf)
    }

    /// Sends `buf` as one datagram to the socket at `path`.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let addr = SocketAddr::from_pathname(path)?;
        self.send_to_addr(buf, &addr).await
    }

    /// Sends `buf` as one datagram to `addr` (a path or an abstract name).
    pub async fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.io.send_to(buf, &addr.to_raw()?).await
    }

    /// Sends one datagram to `addr` without waiting.
    pub fn try_send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.io.try_send_to(buf, &addr.to_raw()?)
    }

    /// Receives one datagram from the connected peer; returns the bytes
    /// copied (a longer datagram is truncated silently).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_truncated(buf).await.map(|(n, _)| n)
    }

    /// Like [`UnixDatagram::recv`], and also says whether the datagram was
    /// longer than `buf` (its excess is lost).
    pub async fn recv_truncated(&self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        let got = self.io.recv(buf, 0).await?;
        Ok((got.len, got.truncated))
    }

    /// Polls [`UnixDatagram::recv`].
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_recv(cx, buf).map_ok(|got| got.len)
    }

    /// Receives without waiting: `ErrorKind::WouldBlock` if none is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_recv(buf).map(|got| got.len)
    }

    /// Receives one datagram; returns the bytes copied and the sender's
    /// address (unnamed if the sender is not bound). A longer datagram is
    /// truncated silently, as by the OS.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_truncated(buf).await.map(|(n, from, _)| (n, from))
    }

    /// Like [`UnixDatagram::recv_from`], and also says whether the datagram
    /// was longer than `buf`: `true` means its excess is lost.
    pub async fn recv_from_truncated(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, bool)> {
        let got = self.io.recv(buf, 0).await?;
        Ok((got.len, SocketAddr::from_raw(&got.from)?, got.truncated))
    }

    /// Polls [`UnixDatagram::recv_from`].
    pub fn poll_recv_from(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_recv(cx, buf).map(|res| res.and_then(from_unix))
    }

    /// Receives one datagram without waiting: `ErrorKind::WouldBlock` if none is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_recv(buf).and_then(from_unix)
    }

    /// Copies the next datagram into `buf` without removing it from the queue.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.recv(buf, libc::MSG_PEEK).await.and_then(from_unix)
    }

    /// The address the socket is bound to (unnamed if not bound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_raw(&self.io.socket().local_raw()?)
    }

    /// The connected peer's address; `ErrorKind::NotConnected` if not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_raw(&self.io.socket().peer_raw()?)
    }

    /// Shuts down the read side, the write side, or both. Once the read
    /// side is shut down, pending and later receives return 0 bytes from
    /// an unnamed sender when nothing is queued (rather than wait forever);
    /// after the write side, sends fail with `BrokenPipe`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// Sets the size of the kernel's receive buffer (`SO_RCVBUF`): how much
    /// incoming datagrams can queue before the reader takes it. Linux doubles the value
    /// (room for its bookkeeping) and caps it at `net.core.rmem_max`;
    /// [`recv_buffer_size`](Self::recv_buffer_size) tells what the kernel kept.
    ///
    /// ```
    /// let (a, _b) = net::UnixDatagram::pair()?;
    /// a.set_recv_buffer_size(256 * 1024)?;
    /// assert!(a.recv_buffer_size()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.io.socket().set_size(libc::SO_RCVBUF, size)
    }

    /// The size of the kernel's receive buffer (`SO_RCVBUF`).
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.io.socket().size(libc::SO_RCVBUF)
    }

    /// Sets the size of the kernel's send buffer (`SO_SNDBUF`); Linux doubles
    /// it and caps it at `net.core.wmem_max`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.io.socket().set_size(libc::SO_SNDBUF, size)
    }

    /// The size of the kernel's send buffer (`SO_SNDBUF`).
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.io.socket().size(libc::SO_SNDBUF)
    }

    /// Any pending socket error (`SO_ERROR`), taking it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.socket().take_error()
    }

    /// Waits until a datagram may be queued.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.io().readable().await
    }

    /// Waits until a datagram may be sent.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.io().writable().await
    }

    /// Takes a `std` socket and switches it to non-blocking mode. Its
    /// socket file (if any) is not removed on drop.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram::from_socket(Socket::from_std(OwnedFd::from(socket))?))
    }

    /// Deregisters the socket and returns it as a `std` socket, still in
    /// non-blocking mode. Its socket file then stays when it is dropped.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        let UnixDatagram { io, mut bound } = self;
        if let Some(b) = bound.as_mut() {
            b.disarm();
        }
        Ok(std::os::unix::net::UnixDatagram::from(io.into_socket()?.into_owned()))
    }
}

/// `(len, sender)` of a received datagram, with a Unix sender address.
fn from_unix(got: Received) -> io::Result<(usize, SocketAddr)> {
    Ok((got.len, SocketAddr::from_raw(&got.from)?))
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.io.io().as_raw_fd()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.io().as_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        socket::debug(f, "UnixDatagram", &[("local", self.local_addr()), ("peer", self.peer_addr())], self.as_raw_fd())
    }
}
