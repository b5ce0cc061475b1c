//! [`UnixStream`]: a connected Unix stream socket.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::path::Path;

use runtime::io::Registration;

use super::SocketAddr;
use crate::socket::Socket;

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
    pub(crate) io: Registration<Socket>,
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
        // is `EAGAIN`, returned as is); other systems may report it in progress.
        let connected = sock.connect_raw(&raw).map_err(context)?;
        let stream = UnixStream::from_socket(sock)?;
        if !connected {
            stream.io.writable().await?;
            if let Some(e) = stream.io.get_ref().take_error()? {
                return Err(context(e));
            }
        }
        Ok(stream)
    }

    /// A connected pair of streams (`socketpair`): a private channel, for
    /// example to a child process or between two tasks.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(libc::AF_UNIX, libc::SOCK_STREAM)?;
        Ok((UnixStream::from_socket(a)?, UnixStream::from_socket(b)?))
    }

    pub(crate) fn from_socket(sock: Socket) -> io::Result<UnixStream> {
        Ok(UnixStream { io: Registration::new(sock)? })
    }

    /// Takes a connected `std` stream, switches it to non-blocking and registers it.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        let sock = Socket::from_owned(OwnedFd::from(stream));
        sock.set_nonblocking(true)?;
        UnixStream::from_socket(sock)
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
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }
}

// `peek`, `readable`, `writable`, `try_read`, `try_write`, `take_error` and
// the `AsyncRead` / `AsyncWrite` impls, as for `TcpStream`; `split` and
// `into_split` come with the halves (`split.rs`).
crate::stream::stream_common!(UnixStream);

crate::socket::socket_traits!(UnixStream { "local": local_addr, "peer": peer_addr });
