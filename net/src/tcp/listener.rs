//! [`TcpListener`]: accepts TCP connections.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use runtime::io::{Async, Interest};

use super::TcpStream;
use crate::addr::{each_addr, ToSocketAddrs};
use crate::socket::{self, Socket, BACKLOG};
use crate::sys::RawAddr;

/// A TCP socket listening for connections.
///
/// Bound with `SO_REUSEADDR` (a restarted server can rebind at once) and a
/// large backlog (the kernel caps it at `net.core.somaxconn`), so thousands
/// of connections arriving together queue rather than fail.
///
/// ```
/// use net::{TcpListener, TcpStream};
/// use runtime::io::{AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let client = runtime::spawn(async move {
///         let mut s = TcpStream::connect(addr).await?;
///         s.write_all(b"hi").await?;
///         Ok::<_, std::io::Error>(())
///     });
///     let (mut conn, _peer) = listener.accept().await?;
///     let mut buf = [0u8; 2];
///     conn.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     client.await??;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    io: Async<Socket>,
}

impl TcpListener {
    /// Binds to `addr`, trying each resolved address in turn, and listens.
    /// Port 0 picks a free port; see [`TcpListener::local_addr`].
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| async move {
            TcpListener::bind_addr(a).map_err(|e| io::Error::new(e.kind(), format!("binding {a}: {e}")))
        })
        .await
    }

    fn bind_addr(addr: SocketAddr) -> io::Result<TcpListener> {
        let sock = Socket::new(&addr, libc::SOCK_STREAM)?;
        sock.setsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        sock.bind(&RawAddr::from_std(&addr))?;
        sock.listen(BACKLOG)?;
        Ok(TcpListener::from_socket(sock))
    }

    pub(crate) fn from_socket(sock: Socket) -> TcpListener {
        TcpListener { io: Async::from_nonblocking(sock, Interest::READABLE) }
    }

    /// Waits for a connection; returns the new stream and the peer's address.
    ///
    /// Errors such as `EMFILE` (out of file descriptors) are returned as they
    /// are: the pending connection stays queued, so a server should log,
    /// back off briefly and accept again.
    pub fn accept(&self) -> Accept<'_> {
        Accept { listener: self }
    }

    /// Polls for a connection; see [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (sock, peer) = ready!(socket::poll_accept(&self.io, cx))?;
        Poll::Ready(Ok((TcpStream::from_socket(sock), peer.to_std()?)))
    }

    /// A stream of accepted connections (never ends; errors are items).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to (with the real port if bound to 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_raw()?.to_std()
    }

    /// Takes a listening `std` socket and switches it to non-blocking mode.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener::from_socket(Socket::from_std(OwnedFd::from(listener))?))
    }

    /// Deregisters the socket and returns it as a `std` listener, still in
    /// non-blocking mode (call `set_nonblocking(false)` to block on it).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(std::net::TcpListener::from(self.io.into_inner()?.into_owned()))
    }

    /// Sets the IPv4 time-to-live (`IP_TTL`, 1 to 255) of the listener's
    /// packets; accepted connections inherit it.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IPv4 time-to-live of the listener's packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        socket::debug(f, "TcpListener", &[("addr", self.local_addr())], self.as_raw_fd())
    }
}

/// Future of [`TcpListener::accept`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Accept<'a> {
    listener: &'a TcpListener,
}

impl Future for Accept<'_> {
    type Output = io::Result<(TcpStream, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.listener.poll_accept(cx)
    }
}

/// Stream of [`TcpListener::incoming`] connections.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener.poll_accept(cx).map(|r| Some(r.map(|(s, _)| s)))
    }
}
