//! What [`TcpStream`](crate::TcpStream) and [`UnixStream`](crate::UnixStream)
//! share: byte transfers on a registered stream socket, the `AsyncRead` /
//! `AsyncWrite` impls built on them ([`stream_io!`]), and the methods both
//! streams have ([`stream_common!`]).
//!
//! Transfers go through `Registration::poll_transfer` / `try_transfer`,
//! which also clear readiness after a short transfer: on a stream socket,
//! a read that returns less than asked has drained it, and a write that
//! takes less has filled it.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::task::{Context, Poll};

use runtime::io::{Interest, Registration};

use crate::socket::Socket;

/// Reads once the socket is readable (see `Registration::poll_transfer`
/// for why a short read needs no `EAGAIN` to know the socket is drained).
#[inline]
pub(crate) fn poll_read(io: &Registration<Socket>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    let len = buf.len();
    io.poll_transfer(cx, Interest::READABLE, len, |s| s.recv(buf))
}

/// Writes once the socket is writable; an empty `buf` is done at once.
#[inline]
pub(crate) fn poll_write(io: &Registration<Socket>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    io.poll_transfer(cx, Interest::WRITABLE, buf.len(), |s| s.send(buf))
}

/// [`poll_write`] for a gathered write (`sendmsg`).
#[inline]
pub(crate) fn poll_write_vectored(
    io: &Registration<Socket>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let len: usize = bufs.iter().map(|b| b.len()).sum();
    if len == 0 {
        return Poll::Ready(Ok(0));
    }
    io.poll_transfer(cx, Interest::WRITABLE, len, |s| s.send_vectored(bufs))
}

/// Shuts down the write side: the peer reads EOF.
pub(crate) fn poll_shutdown(io: &Registration<Socket>) -> Poll<io::Result<()>> {
    Poll::Ready(match io.get_ref().shutdown(Shutdown::Write) {
        // Already disconnected: nothing left to shut down.
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        res => res,
    })
}

/// [`poll_read`] without waiting.
#[inline]
pub(crate) fn try_read(io: &Registration<Socket>, buf: &mut [u8]) -> io::Result<usize> {
    let len = buf.len();
    io.try_transfer(Interest::READABLE, len, |s| s.recv(buf))
}

/// [`poll_write`] without waiting.
#[inline]
pub(crate) fn try_write(io: &Registration<Socket>, buf: &[u8]) -> io::Result<usize> {
    io.try_transfer(Interest::WRITABLE, buf.len(), |s| s.send(buf))
}

/// Implements `AsyncRead` or `AsyncWrite` for `$ty` on a stream socket:
/// `$io` is its `&Registration<Socket>`, an expression in `$this: &$ty`.
macro_rules! stream_io {
    ($(#[$attr:meta])* AsyncRead for $ty:ty, |$this:ident| $io:expr) => {
        $(#[$attr])*
        impl ::runtime::io::AsyncRead for $ty {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut [u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_read($io, cx, buf)
            }
        }
    };
    ($(#[$attr:meta])* AsyncWrite for $ty:ty, |$this:ident| $io:expr) => {
        $(#[$attr])*
        impl ::runtime::io::AsyncWrite for $ty {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_write($io, cx, buf)
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_write_vectored($io, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                let $this = &*self;
                $crate::stream::poll_shutdown($io)
            }
        }
    };
}

/// The methods and I/O traits both stream types have, for `$stream` with an
/// `io: Registration<Socket>` field: `peek`, `readable`, `writable`,
/// `try_read`, `try_write`, `take_error`, and `AsyncRead` / `AsyncWrite`
/// for `$stream` and `&$stream`.
macro_rules! stream_common {
    ($stream:ident) => {
        impl $stream {
            /// Reads incoming data without consuming it.
            pub async fn peek(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                self.io.read_with(|s| s.peek(buf)).await
            }

            /// Waits until the stream may be readable.
            pub async fn readable(&self) -> ::std::io::Result<()> {
                self.io.readable().await
            }

            /// Waits until the stream may be writable.
            pub async fn writable(&self) -> ::std::io::Result<()> {
                self.io.writable().await
            }

            /// Reads without waiting: `ErrorKind::WouldBlock` if no data is ready.
            /// Like `poll_read`, a short read clears the cached readiness, so a
            /// following `readable().await` waits for new data without a syscall.
            pub fn try_read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                $crate::stream::try_read(&self.io, buf)
            }

            /// Writes without waiting: `ErrorKind::WouldBlock` if the send buffer
            /// is full. A short write clears the cached writability.
            pub fn try_write(&self, buf: &[u8]) -> ::std::io::Result<usize> {
                $crate::stream::try_write(&self.io, buf)
            }

            /// Any pending socket error (`SO_ERROR`), taking it.
            pub fn take_error(&self) -> ::std::io::Result<Option<::std::io::Error>> {
                self.io.get_ref().take_error()
            }
        }

        $crate::stream::stream_io!(AsyncRead for $stream, |s| &s.io);
        $crate::stream::stream_io!(AsyncWrite for $stream, |s| &s.io);
        $crate::stream::stream_io!(
            #[doc = concat!("`&", stringify!($stream), "` reads and writes too: a reader and a writer can share one")]
            #[doc = "stream (each direction has its own waker slot)."]
            AsyncRead for &$stream,
            |s| &s.io
        );
        $crate::stream::stream_io!(AsyncWrite for &$stream, |s| &s.io);
    };
}

pub(crate) use {stream_common, stream_io};
