//! [`copy_buf`]: pump a buffered reader into a writer, without a copy buffer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncBufRead, AsyncWrite};

/// Copies everything from `reader` to `writer` until end of stream, then
/// flushes; returns the number of bytes copied. Like [`copy`](super::copy),
/// but writes straight from the reader's own buffer.
///
/// ```
/// use runtime::io::BufReader;
///
/// runtime::block_on(async {
///     let mut src = BufReader::new(&b"payload"[..]);
///     let mut dst = Vec::new();
///     let n = runtime::io::copy_buf(&mut src, &mut dst).await?;
///     assert_eq!((n, dst.as_slice()), (7, &b"payload"[..]));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_buf<'a, R, W>(reader: &'a mut R, writer: &'a mut W) -> CopyBuf<'a, R, W>
where
    R: AsyncBufRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    CopyBuf { reader, writer, total: 0 }
}

/// The future returned by [`copy_buf`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct CopyBuf<'a, R: ?Sized, W: ?Sized> {
    reader: &'a mut R,
    writer: &'a mut W,
    total: u64,
}

impl<R, W> Future for CopyBuf<'_, R, W>
where
    R: AsyncBufRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            let available = ready!(Pin::new(&mut *this.reader).poll_fill_buf(cx))?;
            if available.is_empty() {
                ready!(Pin::new(&mut *this.writer).poll_flush(cx))?;
                return Poll::Ready(Ok(this.total));
            }
            let n = ready!(Pin::new(&mut *this.writer).poll_write(cx, available))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            Pin::new(&mut *this.reader).consume(n);
            this.total += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{duplex, AsyncReadExt, AsyncWriteExt, BufReader};

    #[test]
    fn copies_through_a_small_pipe() {
        crate::block_on(async {
            let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
            let (mut tx, rx) = duplex(100);
            let expected = data.clone();
            let writer = crate::spawn(async move {
                tx.write_all(&data).await?;
                tx.shutdown().await
            });
            let mut src = BufReader::with_capacity(64, rx);
            let mut dst = Vec::new();
            assert_eq!(copy_buf(&mut src, &mut dst).await.unwrap(), 5000);
            writer.await.unwrap().unwrap();
            assert_eq!(dst, expected);
            assert_eq!(src.read(&mut [0u8; 4]).await.unwrap(), 0);
        });
    }
}
