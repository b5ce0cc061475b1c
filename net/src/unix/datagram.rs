//! [`UnixDatagram`]: Unix datagram sockets.
//!
//! Like UDP, reads and writes use `Registration::poll_read_with` /
//! `poll_write_with` only: a short datagram says nothing about the queue.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use runtime::io::{Interest, Registration};

use super::path::BoundPath;
use super::SocketAddr;
use crate::socket::{Received, Socket};

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
    io: Registration<Socket>,
    /// The socket file this socket created, removed on drop.
    bound: Option<BoundPath>,
    /// `shutdown(Read)` (or `Both`) was called. Linux then answers every
    /// receive with `EAGAIN` forever (a blocking `recv` would hang), so
    /// receives return 0 instead: a receiving task notices the shutdown,
    /// as it would notice EOF on a stream.
    read_shut: AtomicBool,
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
        Ok(UnixDatagram { io: Registration::new(sock)?, bound, read_shut: AtomicBool::new(false) })
    }

    /// Creates a socket bound to no name: it can send, but peers cannot
    /// reply unless it is one end of a [`pair`](UnixDatagram::pair) or they
    /// are connected to it.
    pub fn unbound() -> io::Result<UnixDatagram> {
        let sock = Socket::new_raw(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        UnixDatagram::from_socket(sock)
    }

    /// A connected pair of unnamed sockets (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Socket::pair(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        Ok((UnixDatagram::from_socket(a)?, UnixDatagram::from_socket(b)?))
    }

    fn from_socket(sock: Socket) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { io: Registration::new(sock)?, bound: None, read_shut: AtomicBool::new(false) })
    }

    /// Sets the default destination of [`UnixDatagram::send`] to the socket
    /// at `path`, and receives only from it.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Like [`UnixDatagram::connect`], for a path or an abstract name.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        // Datagram connects complete at once: they only record the peer.
        match self.io.get_ref().connect_raw(&addr.to_raw()?) {
            Ok(_) => Ok(()),
            Err(e) => Err(io::Error::new(e.kind(), format!("connecting to {addr}: {e}"))),
        }
    }

    /// Sends `buf` as one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|s| s.send(buf)).await
    }

    /// Polls [`UnixDatagram::send`].
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| s.send(buf))
    }

    /// Sends without waiting: `ErrorKind::WouldBlock` if the peer's queue
    /// (or our send buffer) is full.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Interest::WRITABLE, |s| s.send(buf))
    }

    /// Sends `buf` as one datagram to the socket at `path`.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let addr = SocketAddr::from_pathname(path)?;
        self.send_to_addr(buf, &addr).await
    }

    /// Sends `buf` as one datagram to `addr` (a path or an abstract name).
    pub async fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        let raw = addr.to_raw()?;
        self.io.write_with(|s| s.send_to_raw(buf, &raw)).await
    }

    /// Sends one datagram to `addr` without waiting.
    pub fn try_send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        let raw = addr.to_raw()?;
        self.io.try_io(Interest::WRITABLE, |s| s.send_to_raw(buf, &raw))
    }

    /// Receives one datagram from the connected peer; returns the bytes
    /// copied (a longer datagram is truncated silently).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_truncated(buf).await.map(|(n, _)| n)
    }

    /// Like [`UnixDatagram::recv`], and also says whether the datagram was
    /// longer than `buf` (its excess is lost).
    pub async fn recv_truncated(&self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        let got = self.io.read_with(|s| self.recv_op(s, buf, 0)).await?;
        Ok((got.len, got.truncated))
    }

    /// Polls [`UnixDatagram::recv`].
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read_with(cx, |s| self.recv_op(s, buf, 0)).map_ok(|got| got.len)
    }

    /// Receives without waiting: `ErrorKind::WouldBlock` if none is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Interest::READABLE, |s| self.recv_op(s, buf, 0)).map(|got| got.len)
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
        let got = self.io.read_with(|s| self.recv_op(s, buf, 0)).await?;
        Ok((got.len, SocketAddr::from_raw(&got.from)?, got.truncated))
    }

    /// Polls [`UnixDatagram::recv_from`].
    pub fn poll_recv_from(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_with(cx, |s| self.recv_op(s, buf, 0)).map(|res| res.and_then(from_unix))
    }

    /// Receives one datagram without waiting: `ErrorKind::WouldBlock` if none is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_io(Interest::READABLE, |s| self.recv_op(s, buf, 0)).and_then(from_unix)
    }

    /// Copies the next datagram into `buf` without removing it from the queue.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| self.recv_op(s, buf, libc::MSG_PEEK)).await.and_then(from_unix)
    }

    /// The address the socket is bound to (unnamed if not bound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_raw(&self.io.get_ref().local_raw()?)
    }

    /// The connected peer's address; `ErrorKind::NotConnected` if not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_raw(&self.io.get_ref().peer_raw()?)
    }

    /// Shuts down the read side, the write side, or both. Once the read
    /// side is shut down, pending and later receives return 0 bytes from
    /// an unnamed sender when nothing is queued (rather than wait forever);
    /// after the write side, sends fail with `BrokenPipe`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)?;
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.read_shut.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// One `recvmsg`, with the read-side shutdown rule of [`UnixDatagram::shutdown`].
    fn recv_op(&self, sock: &Socket, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
        match sock.recv_msg(buf, flags) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.read_shut.load(Ordering::Acquire) => {
                Ok(Received::nothing())
            }
            res => res,
        }
    }

    /// Any pending socket error (`SO_ERROR`), taking it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Waits until a datagram may be queued.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until a datagram may be sent.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Takes a `std` socket, switches it to non-blocking and registers it.
    /// Its socket file (if any) is not removed on drop.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        let sock = Socket::from_owned(OwnedFd::from(socket));
        sock.set_nonblocking(true)?;
        UnixDatagram::from_socket(sock)
    }

    /// Deregisters the socket and returns it as a `std` socket, still in
    /// non-blocking mode. Its socket file then stays when it is dropped.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        let UnixDatagram { io, mut bound, .. } = self;
        if let Some(b) = bound.as_mut() {
            b.disarm();
        }
        Ok(std::os::unix::net::UnixDatagram::from(io.into_inner()?.into_owned()))
    }
}

/// `(len, sender)` of a received datagram, with a Unix sender address.
fn from_unix(got: Received) -> io::Result<(usize, SocketAddr)> {
    Ok((got.len, SocketAddr::from_raw(&got.from)?))
}

crate::socket::socket_traits!(UnixDatagram { "local": local_addr, "peer": peer_addr });
