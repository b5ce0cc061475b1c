//! [`copy`]: pump a reader into a writer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ext::ready;
use super::{AsyncRead, AsyncWrite};

const BUF_SIZE: usize = 16 * 1024;

/// Copies everything from `reader` to `writer` until end of stream, then
/// flushes; returns the number of bytes copied.
///
/// ```
/// runtime::block_on(async {
///     let mut src: &[u8] = b"payload";
///     let mut dst = Vec::new();
///     let n = runtime::io::copy(&mut src, &mut dst).await?;
///     assert_eq!((n, dst.as_slice()), (7, &b"payload"[..]));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy<'a, R, W>(reader: &'a mut R, writer: &'a mut W) -> Copy<'a, R, W>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    Copy { reader, writer, buf: vec![0; BUF_SIZE].into_boxed_slice(), pos: 0, cap: 0, total: 0, eof: false }
}

/// The future returned by [`copy`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Copy<'a, R: ?Sized, W: ?Sized> {
    reader: &'a mut R,
    writer: &'a mut W,
    buf: Box<[u8]>,
    /// `buf[pos..cap]` is read but not yet written.
    pos: usize,
    cap: usize,
    total: u64,
    eof: bool,
}

impl<R, W> Future for Copy<'_, R, W>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            if this.pos == this.cap && !this.eof {
                let n = ready!(Pin::new(&mut *this.reader).poll_read(cx, &mut this.buf))?;
                if n == 0 {
                    this.eof = true;
                } else {
                    this.pos = 0;
                    this.cap = n;
                }
            }
            while this.pos < this.cap {
                let n = ready!(Pin::new(&mut *this.writer).poll_write(cx, &this.buf[this.pos..this.cap]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                this.pos += n;
                this.total += n as u64;
            }
            if this.eof {
                ready!(Pin::new(&mut *this.writer).poll_flush(cx))?;
                return Poll::Ready(Ok(this.total));
            }
        }
    }
}
