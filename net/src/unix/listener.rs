//! [`UnixListener`]: accepts Unix stream connections.

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use runtime::io::{Async, Interest};

use super::path::BoundPath;
use super::{SocketAddr, UnixStream};
use crate::socket::{self, Socket, BACKLOG};

/// A Unix domain socket listening for stream connections.
///
/// Binding to a path creates a socket file there; if the path exists, the
/// bind fails with `ErrorKind::AddrInUse` and the existing file is left as
/// it is. When the listener is dropped it removes the file it created, if
/// the path still names that same file.
///
/// ```
/// use net::{UnixListener, UnixStream};
/// use runtime::io::{AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     let path = std::env::temp_dir().join(format!("weft-doc-{}.sock", std::process::id()));
///     let listener = UnixListener::bind(&path)?;
///     let client = runtime::spawn({
///         let path = path.clone();
///         async move {
///             let mut s = UnixStream::connect(&path).await?;
///             s.write_all(b"hi").await?;
///             Ok::<_, std::io::Error>(())
///         }
///     });
///     let (mut conn, _peer) = listener.accept().await?;
///     let mut buf = [0u8; 2];
///     conn.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     client.await??;
///     drop(listener);
///     assert!(!path.exists(), "the listener removes its socket file");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    io: Async<Socket>,
    /// The socket file this listener created, removed on drop; `None` for
    /// abstract names and listeners taken from `std`.
    bound: Option<BoundPath>,
}

impl UnixListener {
    /// Creates a socket file at `path` and listens on it.
    ///
    /// Fails with `ErrorKind::AddrInUse` (naming the path) if anything
    /// exists at `path`, and with `ErrorKind::InvalidInput` if the path is
    /// too long for a Unix socket address.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::bind_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Listens on `addr`: a path, or (on Linux) an abstract name.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        let sock = Socket::new_raw(libc::AF_UNIX, libc::SOCK_STREAM)?;
        // From here on, an error drops `bound`, which removes the new file.
        let bound = BoundPath::bind(&sock, addr)?;
        sock.listen(BACKLOG)?;
        Ok(UnixListener { io: Async::from_nonblocking(sock, Interest::READABLE), bound })
    }

    /// Waits for a connection; returns the new stream and the peer's
    /// address (usually unnamed: clients rarely bind).
    pub fn accept(&self) -> Accept<'_> {
        Accept { listener: self }
    }

    /// Polls for a connection; see [`UnixListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (sock, raw) = ready!(socket::poll_accept(&self.io, cx))?;
        let peer = SocketAddr::from_raw(&raw)?;
        Poll::Ready(Ok((UnixStream::from_socket(sock), peer)))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_raw(&self.io.get_ref().local_raw()?)
    }

    /// Any pending socket error (`SO_ERROR`), taking it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Takes a listening `std` socket and switches it to non-blocking
    /// mode. Its socket file is not removed on drop: this listener did not
    /// create it.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        let sock = Socket::from_std(OwnedFd::from(listener))?;
        Ok(UnixListener { io: Async::from_nonblocking(sock, Interest::READABLE), bound: None })
    }

    /// Deregisters the socket and returns it as a `std` listener, still in
    /// non-blocking mode. The socket file then stays when it is dropped.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        let UnixListener { io, mut bound } = self;
        if let Some(b) = bound.as_mut() {
            b.disarm();
        }
        Ok(std::os::unix::net::UnixListener::from(io.into_inner()?.into_owned()))
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        socket::debug(f, "UnixListener", &[("addr", self.local_addr())], self.as_raw_fd())
    }
}

/// Future of [`UnixListener::accept`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Accept<'a> {
    listener: &'a UnixListener,
}

impl Future for Accept<'_> {
    type Output = io::Result<(UnixStream, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.listener.poll_accept(cx)
    }
}
