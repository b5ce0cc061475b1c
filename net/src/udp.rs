//! [`UdpSocket`]: UDP datagrams, on the shared [`Datagram`] core.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{Context, Poll};

use crate::addr::{each_addr, ToSocketAddrs};
use crate::datagram::Datagram;
use crate::socket::{self, Socket};
use crate::sys::{RawAddr, Received};

/// A UDP socket: sends and receives whole datagrams.
///
/// Every send is one datagram and every receive takes one, so message
/// boundaries are preserved. A datagram longer than the receive buffer is
/// truncated, as the OS does: the `recv*` methods return the bytes that fit
/// and the rest is lost. To learn that it happened, use
/// [`UdpSocket::recv_from_truncated`] or [`UdpSocket::recv_truncated`]
/// (the kernel's `MSG_TRUNC` flag from `recvmsg`).
///
/// ```
/// use net::UdpSocket;
///
/// runtime::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///
///     // A datagram larger than the buffer is cut, and that is reported.
///     b.send_to(b"a long reply", from).await?;
///     let mut small = [0u8; 6];
///     let (n, _, truncated) = a.recv_from_truncated(&mut small).await?;
///     assert_eq!((&small[..n], truncated), (&b"a long"[..], true));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    io: Datagram,
}

impl UdpSocket {
    /// Binds to `addr`, trying each resolved address in turn. Port 0 picks
    /// a free port; see [`UdpSocket::local_addr`].
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| async move {
            UdpSocket::bind_addr(a).map_err(|e| io::Error::new(e.kind(), format!("binding {a}: {e}")))
        })
        .await
    }

    fn bind_addr(addr: SocketAddr) -> io::Result<UdpSocket> {
        let sock = Socket::new(&addr, libc::SOCK_DGRAM)?;
        sock.bind(&RawAddr::from_std(&addr))?;
        Ok(UdpSocket { io: Datagram::new(sock) })
    }

    /// Sets the default destination of [`UdpSocket::send`] and limits
    /// [`UdpSocket::recv`] (and `recv_from`) to datagrams from that address.
    /// Tries each resolved address in turn. Connecting sends nothing.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| async move {
            self.io
                .connect(&RawAddr::from_std(&a))
                .map_err(|e| io::Error::new(e.kind(), format!("connecting to {a}: {e}")))
        })
        .await
    }

    /// Sends `buf` as one datagram to the connected peer; returns its length.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.send(buf).await
    }

    /// Polls [`UdpSocket::send`].
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_send(cx, buf)
    }

    /// Sends without waiting: `ErrorKind::WouldBlock` if the socket's send
    /// buffer is full.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_send(buf)
    }

    /// Sends `buf` as one datagram to `target` (its first resolved address).
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let addrs = target.resolve().await?;
        let addr =
            addrs.first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing"))?;
        self.io.send_to(buf, &RawAddr::from_std(addr)).await
    }

    /// Polls sending `buf` as one datagram to `target`.
    pub fn poll_send_to(&self, cx: &mut Context<'_>, buf: &[u8], target: SocketAddr) -> Poll<io::Result<usize>> {
        self.io.poll_send_to(cx, buf, &RawAddr::from_std(&target))
    }

    /// Sends one datagram to `target` without waiting.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.try_send_to(buf, &RawAddr::from_std(&target))
    }

    /// Receives one datagram from the connected peer into `buf`; returns
    /// the bytes copied. A longer datagram is truncated silently (see
    /// [`UdpSocket::recv_truncated`]).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_truncated(buf).await.map(|(n, _)| n)
    }

    /// Like [`UdpSocket::recv`], and also says whether the datagram was
    /// longer than `buf` (its excess is lost).
    pub async fn recv_truncated(&self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        let got = self.io.recv(buf, 0).await?;
        Ok((got.len, got.truncated))
    }

    /// Polls [`UdpSocket::recv`].
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_recv(cx, buf).map_ok(|got| got.len)
    }

    /// Receives without waiting: `ErrorKind::WouldBlock` if no datagram is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_recv(buf).map(|got| got.len)
    }

    /// Receives one datagram into `buf`; returns the bytes copied and the
    /// sender. A longer datagram is truncated silently, as by the OS (see
    /// [`UdpSocket::recv_from_truncated`]).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_truncated(buf).await.map(|(n, from, _)| (n, from))
    }

    /// Like [`UdpSocket::recv_from`], and also says whether the datagram
    /// was longer than `buf`: `true` means only `buf.len()` bytes of it
    /// arrived and the rest is lost.
    pub async fn recv_from_truncated(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, bool)> {
        let got = self.io.recv(buf, 0).await?;
        Ok((got.len, got.from.to_std()?, got.truncated))
    }

    /// Polls [`UdpSocket::recv_from`].
    pub fn poll_recv_from(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_recv(cx, buf).map(|res| res.and_then(from_std))
    }

    /// Receives one datagram without waiting: `ErrorKind::WouldBlock` if none is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_recv(buf).and_then(from_std)
    }

    /// Copies the next datagram into `buf` without removing it from the
    /// queue; returns the bytes copied and the sender.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.recv(buf, libc::MSG_PEEK).await.and_then(from_std)
    }

    /// Allows or forbids sending to broadcast addresses (`SO_BROADCAST`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.socket().setsockopt(libc::SOL_SOCKET, libc::SO_BROADCAST, on.into())
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        Ok(self.io.socket().getsockopt(libc::SOL_SOCKET, libc::SO_BROADCAST)? != 0)
    }

    /// Sets the IPv4 time-to-live of outgoing datagrams (`IP_TTL`).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.socket().set_ttl(ttl)
    }

    /// The IPv4 time-to-live of outgoing datagrams.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.socket().ttl()
    }

    /// Sets the size of the kernel's receive buffer (`SO_RCVBUF`): how much
    /// incoming datagrams can queue before the reader takes it. Linux doubles the value
    /// (room for its bookkeeping) and caps it at `net.core.rmem_max`;
    /// [`recv_buffer_size`](Self::recv_buffer_size) tells what the kernel kept.
    ///
    /// ```
    /// runtime::block_on(async {
    ///     let socket = net::UdpSocket::bind("127.0.0.1:0").await?;
    ///     // Room for a burst of datagrams that arrive before the reader runs.
    ///     socket.set_recv_buffer_size(1 << 20)?;
    ///     assert!(socket.recv_buffer_size()? >= 1 << 16);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
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

    /// The address the socket is bound to (with the real port if bound to 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket().local_raw()?.to_std()
    }

    /// The connected peer's address; `ErrorKind::NotConnected` if not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket().peer_raw()?.to_std()
    }

    /// Any pending socket error (`SO_ERROR`), taking it; e.g. an ICMP
    /// "port unreachable" reported for a connected socket.
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

    /// Takes a bound `std` socket and switches it to non-blocking mode.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket { io: Datagram::new(Socket::from_std(OwnedFd::from(socket))?) })
    }

    /// Deregisters the socket and returns it as a `std` socket, still in
    /// non-blocking mode (call `set_nonblocking(false)` to block on it).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(std::net::UdpSocket::from(self.io.into_socket()?.into_owned()))
    }
}

/// `(len, sender)` of a received datagram, with an IP sender address.
fn from_std(got: Received) -> io::Result<(usize, SocketAddr)> {
    Ok((got.len, got.from.to_std()?))
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.io().as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.io().as_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        socket::debug(f, "UdpSocket", &[("local", self.local_addr()), ("peer", self.peer_addr())], self.as_raw_fd())
    }
}
