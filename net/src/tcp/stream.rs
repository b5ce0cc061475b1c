//! [`TcpStream`]: a connected TCP socket.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;

use runtime::io::{Interest, Registration};

use crate::addr::{each_addr, ToSocketAddrs};
use crate::socket::Socket;

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
}

// `peek`, `readable`, `writable`, `try_read`, `try_write`, `take_error` and
// the `AsyncRead` / `AsyncWrite` impls, as for `UnixStream`; `split` and
// `into_split` come with the halves (`split.rs`).
crate::stream::stream_common!(TcpStream);

crate::socket::socket_traits!(TcpStream { "local": local_addr, "peer": peer_addr });
