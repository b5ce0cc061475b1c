//! [`TcpSocket`]: a TCP socket not yet bound or connected, for the options
//! that only count before then.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{TcpListener, TcpStream};
use crate::socket::{self, Socket};
use crate::sys::RawAddr;

/// A TCP socket that is neither listening nor connected yet: set options
/// that must come before `bind` or `connect` (`SO_REUSEPORT`, buffer sizes
/// that size the TCP window), then turn it into a [`TcpListener`] with
/// [`listen`](TcpSocket::listen) or a [`TcpStream`] with
/// [`connect`](TcpSocket::connect). tokio's `TcpSocket`, with the same names.
///
/// Unlike [`TcpListener::bind`], nothing is set for you: no `SO_REUSEADDR`
/// unless you ask for it.
///
/// ```
/// use net::{TcpSocket, TcpStream};
///
/// runtime::block_on(async {
///     // Two listeners on one port: the kernel spreads connections over them.
///     let a = TcpSocket::new_v4()?;
///     a.set_reuseport(true)?;
///     a.set_recv_buffer_size(256 * 1024)?;
///     a.bind("127.0.0.1:0".parse().unwrap())?;
///     let addr = a.local_addr()?;
///     let a = a.listen(1024)?;
///
///     let b = TcpSocket::new_v4()?;
///     b.set_reuseport(true)?;
///     b.bind(addr)?;
///     let _b = b.listen(1024)?;
///
///     let client = TcpSocket::new_v4()?;
///     client.set_nodelay(true)?;
///     let stream: TcpStream = client.connect(addr).await?;
///     assert_eq!(stream.peer_addr()?, a.local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpSocket {
    inner: Socket,
}

impl TcpSocket {
    /// A new IPv4 TCP socket (non-blocking, close-on-exec).
    pub fn new_v4() -> io::Result<TcpSocket> {
        Socket::new_raw(libc::AF_INET, libc::SOCK_STREAM).map(|inner| TcpSocket { inner })
    }

    /// A new IPv6 TCP socket (non-blocking, close-on-exec).
    pub fn new_v6() -> io::Result<TcpSocket> {
        Socket::new_raw(libc::AF_INET6, libc::SOCK_STREAM).map(|inner| TcpSocket { inner })
    }

    /// Takes a `std` stream that is not connected yet (made, say, by a
    /// library that configures sockets), switching it to non-blocking mode.
    /// Unlike tokio's, this can fail: the mode switch is a system call.
    pub fn from_std_stream(stream: std::net::TcpStream) -> io::Result<TcpSocket> {
        Socket::from_std(OwnedFd::from(stream)).map(|inner| TcpSocket { inner })
    }

    /// Lets `bind` reuse a local address still in `TIME_WAIT`
    /// (`SO_REUSEADDR`): a restarted server can rebind its port at once.
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.inner.set_flag(libc::SOL_SOCKET, libc::SO_REUSEADDR, reuseaddr)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.flag(libc::SOL_SOCKET, libc::SO_REUSEADDR)
    }

    /// Lets several sockets bind the same address and port
    /// (`SO_REUSEPORT`), each of which must set it before `bind`. On Linux
    /// the kernel spreads incoming connections over the listeners (one per
    /// thread, say); on the BSDs and macOS the last one bound gets them.
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.inner.set_flag(libc::SOL_SOCKET, libc::SO_REUSEPORT, reuseport)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.flag(libc::SOL_SOCKET, libc::SO_REUSEPORT)
    }

    /// Sets the size of the kernel's receive buffer (`SO_RCVBUF`). Set
    /// before `connect` or `listen` it also sizes the TCP window the
    /// handshake announces. Linux doubles the value and caps it at
    /// `net.core.rmem_max`.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_size(libc::SO_RCVBUF, size)
    }

    /// The size of the kernel's receive buffer (`SO_RCVBUF`).
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.inner.size(libc::SO_RCVBUF)
    }

    /// Sets the size of the kernel's send buffer (`SO_SNDBUF`); Linux
    /// doubles it and caps it at `net.core.wmem_max`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_size(libc::SO_SNDBUF, size)
    }

    /// The size of the kernel's send buffer (`SO_SNDBUF`).
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.inner.size(libc::SO_SNDBUF)
    }

    /// Turns TCP keep-alive probes on or off (`SO_KEEPALIVE`); see
    /// [`TcpStream::set_keepalive`]. Accepted sockets inherit it from a listener.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.inner.set_flag(libc::SOL_SOCKET, libc::SO_KEEPALIVE, keepalive)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.flag(libc::SOL_SOCKET, libc::SO_KEEPALIVE)
    }

    /// Sets `SO_LINGER`; see [`TcpStream::set_linger`].
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.set_linger(linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_flag(libc::IPPROTO_TCP, libc::TCP_NODELAY, nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.flag(libc::IPPROTO_TCP, libc::TCP_NODELAY)
    }

    /// The bound address (with the real port once bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_raw()?.to_std()
    }

    /// Any pending socket error (`SO_ERROR`), taking it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Binds to `addr`; port 0 picks a free port.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&RawAddr::from_std(&addr))
    }

    /// Starts listening with room for `backlog` pending connections (the
    /// kernel caps it at `net.core.somaxconn`); binds to a free port first
    /// if the socket is not bound.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.inner.listen(libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX))?;
        Ok(TcpListener::from_socket(self.inner))
    }

    /// Connects to `addr`, waiting for the handshake, and returns the stream.
    /// A refused connection is `ErrorKind::ConnectionRefused`.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_socket(self.inner, addr).await
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl IntoRawFd for TcpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

/// The socket's fd, for a library that configures sockets its own way (the
/// way back is [`TcpSocket::from_std_stream`]).
impl From<TcpSocket> for OwnedFd {
    fn from(socket: TcpSocket) -> OwnedFd {
        socket.inner.into_owned()
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        socket::debug(f, "TcpSocket", &[("local", self.local_addr())], self.as_raw_fd())
    }
}
