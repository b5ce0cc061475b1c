//! `hyper::rt::Read` / `Write` on the stream types and halves (feature
//! `hyper`). A read goes straight into hyper's uninitialised buffer: no
//! zeroing, no copy.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};

use crate::split::sealed::Stream;
use crate::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, SplitStream, WriteHalf};
use crate::{TcpStream, UnixStream};

/// Reads into the unfilled part of `buf` once the stream is readable, with
/// `poll_read`'s readiness rules (a short read has drained the socket).
fn poll_read<S: Stream>(stream: &S, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
    let len = buf.remaining();
    if len == 0 {
        return Poll::Ready(Ok(()));
    }
    stream.io().poll_read_stream_with(cx, len, |s| s.recv_into_cursor(&mut buf)).map_ok(drop)
}

fn poll_write<S: Stream>(stream: &S, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    stream.io().poll_write(cx, buf)
}

fn poll_write_vectored<S: Stream>(stream: &S, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
    stream.io().poll_write_vectored(cx, bufs)
}

/// The stream types and their shared references: `$get` turns `&Self` into the stream.
macro_rules! stream_impls {
    ($($ty:ty => |$s:ident| $get:expr;)*) => {$(
        impl Read for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
                let $s = &*self;
                poll_read($get, cx, buf)
            }
        }

        impl Write for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let $s = &*self;
                poll_write($get, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $s = &*self;
                poll_write_vectored($get, cx, bufs)
            }

            /// One `sendmsg` for hyper's queued head and body.
            fn is_write_vectored(&self) -> bool {
                true
            }

            /// Waits until written bytes are out of the runtime's hands
            /// (at once with epoll; the driver's send buffer with io_uring).
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $s = &*self;
                $get.io().poll_flush(cx)
            }

            /// Shuts down the write side: the peer reads end of stream.
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $s = &*self;
                split::poll_shutdown($get, cx)
            }
        }
    )*};
}

stream_impls! {
    TcpStream => |s| s;
    &TcpStream => |s| *s;
    UnixStream => |s| s;
    &UnixStream => |s| *s;
}

impl<S: SplitStream> Read for ReadHalf<'_, S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        poll_read(self.0, cx, buf)
    }
}

impl<S: SplitStream> Read for OwnedReadHalf<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        poll_read(self.stream(), cx, buf)
    }
}

impl<S: SplitStream> Write for WriteHalf<'_, S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        poll_write(self.0, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_write_vectored(self.0, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.io().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        split::poll_shutdown(self.0, cx)
    }
}

impl<S: SplitStream> Write for OwnedWriteHalf<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        poll_write(self.stream(), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_write_vectored(self.stream(), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().io().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        split::poll_shutdown(self.stream(), cx)
    }
}
