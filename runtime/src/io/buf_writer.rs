//! [`BufWriter`]: adds a write buffer to any [`AsyncWrite`].

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::buf_reader::DEFAULT_BUF_SIZE;
use super::{AsyncBufRead, AsyncRead, AsyncWrite};

pin_project! {
    /// Adds buffering to a writer: many small writes become few large
    /// writes of the underlying sink.
    ///
    /// Bytes reach the inner writer when the buffer cannot take the next
    /// write, on [`poll_flush`](AsyncWrite::poll_flush) (`flush().await`)
    /// and on [`poll_shutdown`](AsyncWrite::poll_shutdown). A write at least
    /// as large as the buffer goes straight through (after the buffered
    /// bytes). Dropping a `BufWriter` does **not** flush: buffered bytes are
    /// lost unless it was flushed or shut down first. If the inner type
    /// also reads, so does the `BufWriter`, unbuffered.
    ///
    /// ```
    /// use runtime::io::{AsyncWriteExt, BufWriter};
    ///
    /// runtime::block_on(async {
    ///     let mut w = BufWriter::new(Vec::new());
    ///     w.write_all(b"hello ").await?;
    ///     w.write_all(b"world").await?;
    ///     assert!(w.get_ref().is_empty(), "still buffered");
    ///     w.flush().await?;
    ///     assert_eq!(w.get_ref(), b"hello world");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub struct BufWriter<W> {
        #[pin]
        inner: W,
        buf: Vec<u8>,
        capacity: usize,
        // `buf[..written]` already reached `inner` during an unfinished flush.
        written: usize,
    }
}

impl<W: AsyncWrite> BufWriter<W> {
    /// A writer with the default capacity (8 KiB).
    pub fn new(inner: W) -> BufWriter<W> {
        BufWriter::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A writer with a buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: W) -> BufWriter<W> {
        BufWriter { inner, buf: Vec::with_capacity(capacity), capacity, written: 0 }
    }

    /// Writes out the whole buffer (not flushing `inner` itself). On
    /// `Pending` the progress so far is kept for the next call.
    fn poll_flush_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut me = self.project();
        let mut res = Ok(());
        while *me.written < me.buf.len() {
            match ready!(me.inner.as_mut().poll_write(cx, &me.buf[*me.written..])) {
                Ok(0) => {
                    res = Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write the buffered data"));
                    break;
                }
                Ok(n) => *me.written += n,
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        me.buf.drain(..*me.written);
        *me.written = 0;
        Poll::Ready(res)
    }
}

impl<W> BufWriter<W> {
    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer, mutably. Writing to it directly puts those
    /// bytes before the ones still buffered.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The pinned underlying writer.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut W> {
        self.project().inner
    }

    /// The underlying writer; buffered bytes not yet written are lost
    /// (flush first to keep them).
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The bytes buffered and not yet written to the inner writer.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.written..]
    }

    /// The size of the internal buffer.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<W: AsyncWrite> AsyncWrite for BufWriter<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.buf.len() + buf.len() > self.capacity {
            ready!(self.as_mut().poll_flush_buf(cx))?;
        }
        let me = self.project();
        if buf.len() >= *me.capacity {
            me.inner.poll_write(cx, buf)
        } else {
            me.buf.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total = bufs.iter().fold(0usize, |n, b| n.saturating_add(b.len()));
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.buf.len().saturating_add(total) > self.capacity {
            ready!(self.as_mut().poll_flush_buf(cx))?;
        }
        let me = self.project();
        if total >= *me.capacity {
            if me.inner.is_write_vectored() {
                return me.inner.poll_write_vectored(cx, bufs);
            }
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
            if first.len() >= *me.capacity {
                return me.inner.poll_write(cx, first);
            }
        }
        // Everything fits, or (buffer just emptied) as much as fits.
        let mut n = 0;
        for b in bufs {
            let room = *me.capacity - me.buf.len();
            if room == 0 {
                break;
            }
            let take = b.len().min(room);
            me.buf.extend_from_slice(&b[..take]);
            n += take;
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush_buf(cx))?;
        self.get_pin_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush_buf(cx))?;
        self.get_pin_mut().poll_shutdown(cx)
    }
}

/// Reads go straight to the inner reader.
impl<W: AsyncRead> AsyncRead for BufWriter<W> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.get_pin_mut().poll_read(cx, buf)
    }
}

/// So a `BufWriter<BufReader<S>>` buffers both ways.
impl<W: AsyncBufRead> AsyncBufRead for BufWriter<W> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_pin_mut().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_pin_mut().consume(amt)
    }
}

impl<W: fmt::Debug> fmt::Debug for BufWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufWriter")
            .field("writer", &self.inner)
            .field("buffer", &format_args!("{}/{}", self.buf.len() - self.written, self.capacity))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{AsyncReadExt, AsyncWriteExt};

    /// Records each write; accepts at most `limit` bytes per call (0: no
    /// limit) and, when `pend` is set, returns `Pending` once (waking itself).
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
        limit: usize,
        pend: bool,
        flushes: usize,
        shut: bool,
        vectored: bool,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            if self.pend {
                self.pend = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = buf.len().min(if self.limit == 0 { usize::MAX } else { self.limit });
            self.writes.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let n = all.len();
            self.writes.push(all);
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut = true;
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn small_writes_coalesce_until_flush() {
        crate::block_on(async {
            let mut w = BufWriter::with_capacity(8, Recorder::default());
            for b in [&b"ab"[..], b"cd", b"ef"] {
                w.write_all(b).await.unwrap();
            }
            assert!(w.get_ref().writes.is_empty());
            assert_eq!(w.buffer(), b"abcdef");
            // Does not fit: the buffer goes out first, then "ghi" is buffered.
            w.write_all(b"ghi").await.unwrap();
            assert_eq!(w.get_ref().writes, [b"abcdef".to_vec()]);
            w.flush().await.unwrap();
            assert_eq!(w.get_ref().writes, [b"abcdef".to_vec(), b"ghi".to_vec()]);
            assert_eq!(w.get_ref().flushes, 1);
        });
    }

    #[test]
    fn large_writes_go_straight_through_after_the_buffer() {
        crate::block_on(async {
            let mut w = BufWriter::with_capacity(4, Recorder::default());
            w.write_all(b"x").await.unwrap();
            w.write_all(b"0123456789").await.unwrap();
            assert_eq!(w.get_ref().writes, [b"x".to_vec(), b"0123456789".to_vec()]);
            assert!(w.buffer().is_empty());
        });
    }

    #[test]
    fn partial_and_pending_writes_keep_flush_progress() {
        crate::block_on(async {
            let rec = Recorder { limit: 3, ..Recorder::default() };
            let mut w = BufWriter::with_capacity(16, rec);
            w.write_all(b"abcdefgh").await.unwrap();
            w.get_mut().pend = true;
            w.shutdown().await.unwrap();
            let rec = w.into_inner();
            assert_eq!(rec.writes, [b"abc".to_vec(), b"def".to_vec(), b"gh".to_vec()]);
            assert!(rec.shut);
        });
    }

    /// Accepts nothing.
    struct Full;

    impl AsyncWrite for Full {
        fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, _buf: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(0))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn write_zero_is_an_error() {
        crate::block_on(async {
            let mut w = BufWriter::with_capacity(4, Full);
            w.write_all(b"ab").await.unwrap();
            let err = w.flush().await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        });
    }

    #[test]
    fn vectored_writes() {
        crate::block_on(async {
            // Small: buffered whole.
            let mut w = BufWriter::with_capacity(8, Recorder::default());
            let n = w.write_vectored_for_test(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")]).await;
            assert_eq!(n, 4);
            assert_eq!(w.buffer(), b"abcd");
            // Large, vectored inner: passed through after a flush.
            w.get_mut().vectored = true;
            let n = w.write_vectored_for_test(&[IoSlice::new(b"0123"), IoSlice::new(b"45678")]).await;
            assert_eq!(n, 9);
            assert_eq!(w.get_ref().writes, [b"abcd".to_vec(), b"012345678".to_vec()]);
            // Large, plain inner, small first slice: as much as fits is buffered.
            w.get_mut().vectored = false;
            let n = w.write_vectored_for_test(&[IoSlice::new(b"012"), IoSlice::new(b"3456789")]).await;
            assert_eq!(n, 8);
            assert_eq!(w.buffer(), b"01234567");
        });
    }

    impl<W: AsyncWrite + Unpin> BufWriter<W> {
        async fn write_vectored_for_test(&mut self, bufs: &[IoSlice<'_>]) -> usize {
            std::future::poll_fn(|cx| Pin::new(&mut *self).poll_write_vectored(cx, bufs)).await.unwrap()
        }
    }

    #[test]
    fn reads_pass_through() {
        crate::block_on(async {
            let (mut a, b) = crate::io::duplex(64);
            a.write_all(b"data").await.unwrap();
            drop(a);
            let mut w = BufWriter::new(b);
            let mut s = String::new();
            w.read_to_string(&mut s).await.unwrap();
            assert_eq!(s, "data");
        });
    }
}
