//! [`BufReader`]: adds a read buffer to any [`AsyncRead`].

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::{AsyncBufRead, AsyncRead, AsyncWrite};

/// The capacity [`BufReader::new`] and [`BufWriter::new`](super::BufWriter::new) use.
pub(crate) const DEFAULT_BUF_SIZE: usize = 8 * 1024;

pin_project! {
    /// Adds buffering to a reader: many small reads (or line-by-line
    /// reading through [`AsyncBufReadExt`](super::AsyncBufReadExt)) become
    /// few large reads of the underlying source.
    ///
    /// A read at least as large as the buffer, made while the buffer is
    /// empty, goes straight to the source. Dropping (or
    /// [`into_inner`](BufReader::into_inner)) discards buffered bytes that
    /// were not read yet. If the inner type also writes, so does the
    /// `BufReader`, unbuffered.
    ///
    /// ```
    /// use runtime::io::{AsyncBufReadExt, BufReader};
    ///
    /// runtime::block_on(async {
    ///     let mut reader = BufReader::new(&b"first\nsecond\n"[..]);
    ///     let mut line = String::new();
    ///     reader.read_line(&mut line).await?;
    ///     assert_eq!(line, "first\n");
    ///     assert_eq!(reader.buffer(), b"second\n");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub struct BufReader<R> {
        #[pin]
        inner: R,
        buf: Box<[u8]>,
        // `buf[pos..cap]` is read from `inner` and not yet consumed.
        pos: usize,
        cap: usize,
    }
}

impl<R: AsyncRead> BufReader<R> {
    /// A reader with the default capacity (8 KiB).
    pub fn new(inner: R) -> BufReader<R> {
        BufReader::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A reader with a buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: R) -> BufReader<R> {
        BufReader { inner, buf: vec![0; capacity].into_boxed_slice(), pos: 0, cap: 0 }
    }
}

impl<R> BufReader<R> {
    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader, mutably. Reading from it directly skips the
    /// bytes already in the buffer.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The pinned underlying reader.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut R> {
        self.project().inner
    }

    /// The underlying reader; buffered bytes not yet read are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The bytes read from the source and not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.cap]
    }

    /// The size of the internal buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn discard_buffer(self: Pin<&mut Self>) {
        let me = self.project();
        *me.pos = 0;
        *me.cap = 0;
    }
}

impl<R: AsyncRead> AsyncRead for BufReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Nothing buffered and a large destination: skip the copy.
        if self.pos == self.cap && buf.len() >= self.buf.len() {
            let res = ready!(self.as_mut().get_pin_mut().poll_read(cx, buf));
            self.discard_buffer();
            return Poll::Ready(res);
        }
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: AsyncRead> AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let me = self.project();
        if *me.pos >= *me.cap {
            let n = ready!(me.inner.poll_read(cx, me.buf))?;
            *me.cap = n;
            *me.pos = 0;
        }
        Poll::Ready(Ok(&me.buf[*me.pos..*me.cap]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let me = self.project();
        *me.pos = (*me.pos + amt).min(*me.cap);
    }
}

/// Writes go straight to the inner writer.
impl<R: AsyncWrite> AsyncWrite for BufReader<R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_pin_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_pin_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_pin_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_pin_mut().poll_shutdown(cx)
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("reader", &self.inner)
            .field("buffer", &format_args!("{}/{}", self.cap - self.pos, self.buf.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// Serves `data` in reads of at most `chunk` bytes, counting the reads.
    struct Chunked {
        data: Vec<u8>,
        chunk: usize,
        reads: Arc<AtomicUsize>,
    }

    impl AsyncRead for Chunked {
        fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            self.reads.fetch_add(1, SeqCst);
            let n = self.data.len().min(self.chunk).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data.drain(..n);
            Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn small_reads_are_served_from_one_fill() {
        let reads = Arc::new(AtomicUsize::new(0));
        let src = Chunked { data: (0..100u8).collect(), chunk: 1000, reads: reads.clone() };
        crate::block_on(async {
            let mut r = BufReader::with_capacity(64, src);
            let mut byte = [0u8; 1];
            for i in 0..64u8 {
                r.read_exact(&mut byte).await.unwrap();
                assert_eq!(byte[0], i);
            }
            assert_eq!(reads.load(SeqCst), 1, "64 one-byte reads took one fill of 64");
            assert!(r.buffer().is_empty());
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, (64..100u8).collect::<Vec<_>>());
        });
    }

    #[test]
    fn large_reads_bypass_an_empty_buffer() {
        let reads = Arc::new(AtomicUsize::new(0));
        let src = Chunked { data: vec![7; 300], chunk: 1000, reads: reads.clone() };
        crate::block_on(async {
            let mut r = BufReader::with_capacity(16, src);
            let mut big = [0u8; 200];
            assert_eq!(r.read(&mut big).await.unwrap(), 200);
            assert!(r.buffer().is_empty(), "the bytes went straight to the caller");
            // A small read fills the buffer; a large one then drains it first.
            let mut small = [0u8; 4];
            assert_eq!(r.read(&mut small).await.unwrap(), 4);
            assert_eq!(r.buffer().len(), 12);
            assert_eq!(r.read(&mut big).await.unwrap(), 12);
            assert_eq!(r.read(&mut big).await.unwrap(), 84);
            assert_eq!(r.read(&mut big).await.unwrap(), 0);
        });
    }

    #[test]
    fn fill_buf_and_consume() {
        crate::block_on(async {
            let mut r = BufReader::with_capacity(4, &b"abcdef"[..]);
            assert_eq!(r.fill_buf().await.unwrap(), b"abcd");
            r.consume(3);
            assert_eq!(r.fill_buf().await.unwrap(), b"d");
            r.consume(1);
            assert_eq!(r.fill_buf().await.unwrap(), b"ef");
            r.consume(2);
            assert_eq!(r.fill_buf().await.unwrap(), b"");
            assert_eq!(r.capacity(), 4);
            assert_eq!(r.get_ref().len(), 0);
            assert!(format!("{r:?}").starts_with("BufReader"));
        });
    }

    #[test]
    fn writes_pass_through() {
        crate::block_on(async {
            let (a, mut b) = crate::io::duplex(64);
            let mut r = BufReader::new(a);
            r.write_all(b"hi").await.unwrap();
            r.flush().await.unwrap();
            r.shutdown().await.unwrap();
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"hi");
        });
    }
}
