//! [`split_halves!`]: the split halves of a stream type, defined once for
//! [`TcpStream`](crate::TcpStream) and [`UnixStream`](crate::UnixStream).
//!
//! Splitting needs no lock: the registry keeps one waker slot per
//! direction, so a reader and a writer can wait on the same socket at once.

/// Defines, in the calling module, the halves of stream type `$stream`
/// (whose addresses are `$addr`): borrowed `ReadHalf` / `WriteHalf`, owned
/// `OwnedReadHalf` / `OwnedWriteHalf`, `ReuniteError`, and the stream's
/// `split` and `into_split` methods.
///
/// `$stream` needs an `io: Registration<Socket>` field and the methods
/// `peer_addr`, `local_addr`, `peek` and `shutdown`.
macro_rules! split_halves {
    ($stream:ident, $addr:ty) => {
        impl $stream {
            /// Borrowed halves for reading and writing at the same time in one task
            /// (e.g. with a `select`-style combinator).
            pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
                (ReadHalf(self), WriteHalf(self))
            }

            /// Owned halves that can move to two different tasks. The socket closes
            /// when both are dropped; dropping the write half shuts down the write side.
            pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
                let inner = ::std::sync::Arc::new(self);
                (OwnedReadHalf { inner: inner.clone() }, OwnedWriteHalf { inner, shutdown_on_drop: true })
            }
        }

        #[doc = concat!("The reading half of [`", stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct ReadHalf<'a>(&'a $stream);

        #[doc = concat!("The writing half of [`", stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct WriteHalf<'a>(&'a $stream);

        #[doc = concat!(
            "The reading half of [`", stringify!($stream), "::into_split`]; `Send`, movable to another task."
        )]
        #[derive(Debug)]
        pub struct OwnedReadHalf {
            inner: ::std::sync::Arc<$stream>,
        }

        #[doc = concat!(
            "The writing half of [`", stringify!($stream), "::into_split`]. Dropping it shuts down\n",
            "the write side (the peer sees EOF) unless [`OwnedWriteHalf::forget`] was called."
        )]
        #[derive(Debug)]
        pub struct OwnedWriteHalf {
            inner: ::std::sync::Arc<$stream>,
            shutdown_on_drop: bool,
        }

        /// The halves passed to [`OwnedReadHalf::reunite`] came from different streams.
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl ::std::fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str("tried to reunite halves that are not from the same stream")
            }
        }

        impl ::std::error::Error for ReuniteError {}

        impl OwnedReadHalf {
            /// Joins the halves back into the stream, if they belong together.
            pub fn reunite(self, other: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
                if !::std::sync::Arc::ptr_eq(&self.inner, &other.inner) {
                    return Err(ReuniteError(self, other));
                }
                let mut other = other;
                other.shutdown_on_drop = false;
                let inner = other.inner.clone();
                drop(other);
                drop(self);
                Ok(::std::sync::Arc::try_unwrap(inner).expect("both halves were just dropped"))
            }

            /// The peer's address.
            pub fn peer_addr(&self) -> ::std::io::Result<$addr> {
                self.inner.peer_addr()
            }

            /// The local address.
            pub fn local_addr(&self) -> ::std::io::Result<$addr> {
                self.inner.local_addr()
            }

            /// Reads incoming data without consuming it.
            pub async fn peek(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                self.inner.peek(buf).await
            }
        }

        impl OwnedWriteHalf {
            /// Joins the halves back into the stream, if they belong together.
            pub fn reunite(self, other: OwnedReadHalf) -> Result<$stream, ReuniteError> {
                other.reunite(self)
            }

            /// Drops the half without shutting down the write side.
            pub fn forget(mut self) {
                self.shutdown_on_drop = false;
            }

            /// The peer's address.
            pub fn peer_addr(&self) -> ::std::io::Result<$addr> {
                self.inner.peer_addr()
            }

            /// The local address.
            pub fn local_addr(&self) -> ::std::io::Result<$addr> {
                self.inner.local_addr()
            }
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    let _ = self.inner.shutdown(::std::net::Shutdown::Write);
                }
            }
        }

        $crate::stream::stream_io!(AsyncRead for ReadHalf<'_>, |h| &h.0.io);
        $crate::stream::stream_io!(AsyncWrite for WriteHalf<'_>, |h| &h.0.io);
        $crate::stream::stream_io!(AsyncRead for OwnedReadHalf, |h| &h.inner.io);
        $crate::stream::stream_io!(AsyncWrite for OwnedWriteHalf, |h| &h.inner.io);
    };
}

pub(crate) use split_halves;
