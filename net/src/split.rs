//! Split halves of a stream socket, written once for [`TcpStream`] and
//! [`UnixStream`]: borrowed ([`ReadHalf`], [`WriteHalf`]) and owned
//! ([`OwnedReadHalf`], [`OwnedWriteHalf`]).
//!
//! Splitting needs no lock: the registry keeps one waker slot per
//! direction, so a reader and a writer can wait on the same socket at once.
//!
//! [`TcpStream`]: crate::TcpStream
//! [`UnixStream`]: crate::UnixStream

use std::fmt;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use runtime::io::{AsyncRead, AsyncWrite};

use crate::pooled::ReadPooled;

pub(crate) mod sealed {
    use std::io;
    use std::net::Shutdown;

    use runtime::io::Async;

    use crate::socket::Socket;

    /// What the halves need of a stream; implemented by `net`'s stream types only.
    pub trait Stream {
        /// The stream's address type.
        type Addr;
        /// The registered socket.
        fn io(&self) -> &Async<Socket>;
        /// The local address.
        fn local_addr(&self) -> io::Result<Self::Addr>;
        /// The peer's address.
        fn peer_addr(&self) -> io::Result<Self::Addr>;
        /// Shuts down a side of the connection.
        fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    }
}

/// A stream socket that can be split: [`TcpStream`](crate::TcpStream) and
/// [`UnixStream`](crate::UnixStream). Sealed: only `net`'s streams implement it.
pub trait SplitStream: sealed::Stream + Sized {}

/// The reading half of a stream's `split`: borrowed, for reading and
/// writing at the same time in one task.
///
/// ```
/// use net::{TcpListener, TcpStream};
/// use runtime::io::{AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///
///     // Both halves borrow `server`; each has its own waker slot, so a
///     // `select` over a read and a write on them is fine.
///     let (mut reader, mut writer) = server.split();
///     writer.write_all(b"hello").await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0u8; 2];
///     reader.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///
///     let mut greeting = [0u8; 5];
///     client.read_exact(&mut greeting).await?;
///     assert_eq!(&greeting, b"hello");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ReadHalf<'a, S: SplitStream>(pub(crate) &'a S);

/// The writing half of a stream's `split`; see [`ReadHalf`] for an example.
/// Dropping it does not shut down the write side (the stream is only
/// borrowed): call `shutdown` for that.
pub struct WriteHalf<'a, S: SplitStream>(pub(crate) &'a S);

/// The reading half of a stream's `into_split`: owned, `Send`, movable to
/// another task. The socket closes when both halves are dropped.
///
/// ```
/// use net::{TcpListener, TcpStream};
/// use runtime::io::{AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///
///     // One task reads while this one writes: neither waits for the other.
///     let (mut reader, writer) = client.into_split();
///     let printer = runtime::spawn(async move {
///         let mut echoed = Vec::new();
///         reader.read_to_end(&mut echoed).await?;
///         Ok::<_, std::io::Error>((reader, echoed))
///     });
///     let mut buf = [0u8; 5];
///     let mut writer = writer;
///     writer.write_all(b"hello").await?;
///     server.read_exact(&mut buf).await?;
///     server.write_all(&buf).await?;
///     drop(server); // the reader sees EOF
///
///     let (reader, echoed) = printer.await??;
///     assert_eq!(echoed, b"hello");
///     // Back together: the same stream.
///     let stream = reader.reunite(writer).expect("halves of one stream");
///     assert!(stream.peer_addr().is_ok());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct OwnedReadHalf<S: SplitStream> {
    inner: Arc<S>,
}

/// The writing half of a stream's `into_split`. Dropping it shuts down the
/// write side (the peer sees EOF) unless [`OwnedWriteHalf::forget`] was called.
///
/// ```
/// use net::{TcpListener, TcpStream};
/// use runtime::io::{AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///
///     let (_reader, mut writer) = client.into_split();
///     let sender = runtime::spawn(async move {
///         writer.write_all(b"last words").await
///         // `writer` is dropped here: the server reads EOF next.
///     });
///     sender.await??;
///     let mut all = Vec::new();
///     server.read_to_end(&mut all).await?;
///     assert_eq!(all, b"last words");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct OwnedWriteHalf<S: SplitStream> {
    inner: Arc<S>,
    shutdown_on_drop: bool,
}

/// The halves passed to [`OwnedReadHalf::reunite`] came from different streams.
pub struct ReuniteError<S: SplitStream>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

/// Owned halves of `stream`.
pub(crate) fn into_split<S: SplitStream>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let inner = Arc::new(stream);
    (OwnedReadHalf { inner: inner.clone() }, OwnedWriteHalf { inner, shutdown_on_drop: true })
}

impl<S: SplitStream> OwnedReadHalf<S> {
    /// Joins the halves back into the stream, if they belong together.
    pub fn reunite(self, other: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.inner, &other.inner) {
            return Err(ReuniteError(self, other));
        }
        let mut other = other;
        other.shutdown_on_drop = false;
        let inner = other.inner.clone();
        drop(other);
        drop(self);
        Ok(Arc::into_inner(inner).expect("both halves were just dropped"))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<S::Addr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<S::Addr> {
        self.inner.local_addr()
    }

    /// Reads incoming data without consuming it.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.inner.io().poll_peek(cx, buf)).await
    }

    /// Waits for data and reads it into a buffer lent by the thread's pool;
    /// see the stream's `read_pooled`.
    pub fn read_pooled(&self) -> ReadPooled<'_> {
        ReadPooled::new(self.inner.io())
    }

    /// The stream both halves share.
    #[cfg(any(feature = "futures-io", feature = "hyper"))]
    pub(crate) fn stream(&self) -> &S {
        &self.inner
    }
}

impl<S: SplitStream> ReadHalf<'_, S> {
    /// Waits for data and reads it into a buffer lent by the thread's pool;
    /// see the stream's `read_pooled`.
    pub fn read_pooled(&self) -> ReadPooled<'_> {
        ReadPooled::new(self.0.io())
    }
}

impl<S: SplitStream> OwnedWriteHalf<S> {
    /// Joins the halves back into the stream, if they belong together.
    pub fn reunite(self, other: OwnedReadHalf<S>) -> Result<S, ReuniteError<S>> {
        other.reunite(self)
    }

    /// Drops the half without shutting down the write side.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// The stream both halves share.
    #[cfg(any(feature = "futures-io", feature = "hyper"))]
    pub(crate) fn stream(&self) -> &S {
        &self.inner
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<S::Addr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<S::Addr> {
        self.inner.local_addr()
    }
}

impl<S: SplitStream> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.inner.shutdown(Shutdown::Write);
        }
    }
}

/// Flushes, then shuts down the write side of `stream`: the peer reads
/// everything written, then EOF.
pub(crate) fn poll_shutdown<S: sealed::Stream>(stream: &S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    if let Err(e) = std::task::ready!(stream.io().poll_flush(cx)) {
        return Poll::Ready(Err(e));
    }
    Poll::Ready(match stream.shutdown(Shutdown::Write) {
        // Already disconnected: nothing left to shut down.
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        res => res,
    })
}

impl<S: SplitStream> AsyncRead for ReadHalf<'_, S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.0.io().poll_read(cx, buf)
    }
}

impl<S: SplitStream> AsyncRead for OwnedReadHalf<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.inner.io().poll_read(cx, buf)
    }
}

impl<S: SplitStream> AsyncWrite for WriteHalf<'_, S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.io().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.io().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.io().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_shutdown(self.0, cx)
    }
}

impl<S: SplitStream> AsyncWrite for OwnedWriteHalf<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.io().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.io().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.io().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_shutdown(&*self.inner, cx)
    }
}

impl<S: SplitStream + fmt::Debug> fmt::Debug for ReadHalf<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadHalf").field(self.0).finish()
    }
}

impl<S: SplitStream + fmt::Debug> fmt::Debug for WriteHalf<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteHalf").field(self.0).finish()
    }
}

impl<S: SplitStream + fmt::Debug> fmt::Debug for OwnedReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedReadHalf").field("inner", &self.inner).finish()
    }
}

impl<S: SplitStream + fmt::Debug> fmt::Debug for OwnedWriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedWriteHalf").field("inner", &self.inner).finish()
    }
}

impl<S: SplitStream + fmt::Debug> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReuniteError").field(&self.0).field(&self.1).finish()
    }
}

impl<S: SplitStream> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same stream")
    }
}

impl<S: SplitStream + fmt::Debug> std::error::Error for ReuniteError<S> {}
