//! [`Split`]: a buffered reader as a sequence of delimited segments.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use super::buf_read_ext::poll_read_until;
use super::AsyncBufRead;

pin_project! {
    /// The segments of an [`AsyncBufRead`] separated by one byte, from
    /// [`AsyncBufReadExt::split`](super::AsyncBufReadExt::split).
    ///
    /// Segments come without the delimiter; a last segment without one is
    /// still a segment. Get them with [`next_segment`](Split::next_segment)
    /// or poll it as a [`Stream`](futures_core::Stream) of
    /// `io::Result<Vec<u8>>`.
    ///
    /// ```
    /// use runtime::io::{AsyncBufReadExt, BufReader};
    ///
    /// runtime::block_on(async {
    ///     let mut fields = BufReader::new(&b"a:bc::d"[..]).split(b':');
    ///     let mut all = Vec::new();
    ///     while let Some(field) = fields.next_segment().await? {
    ///         all.push(field);
    ///     }
    ///     assert_eq!(all, [&b"a"[..], b"bc", b"", b"d"]);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Split<R> {
        #[pin]
        reader: R,
        delim: u8,
        // The current segment's bytes so far.
        buf: Vec<u8>,
        read: usize,
    }
}

impl<R> Split<R> {
    pub(crate) fn new(reader: R, delim: u8) -> Split<R> {
        Split { reader, delim, buf: Vec::new(), read: 0 }
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The underlying reader; the bytes of a partly read segment are lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: AsyncBufRead> Split<R> {
    /// The next segment, or `None` at end of stream.
    ///
    /// Cancellation safe: if the future is dropped before it completes, the
    /// bytes of the partial segment stay in the `Split` for the next call.
    pub fn next_segment(&mut self) -> NextSegment<'_, R>
    where
        R: Unpin,
    {
        NextSegment { split: self }
    }

    /// Polls for the next segment; `Ready(Ok(None))` at end of stream.
    pub fn poll_next_segment(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<Option<Vec<u8>>>> {
        let me = self.project();
        let n = ready!(poll_read_until(me.reader, cx, *me.delim, me.buf, me.read))?;
        if n == 0 && me.buf.is_empty() {
            return Poll::Ready(Ok(None));
        }
        if me.buf.last() == Some(me.delim) {
            me.buf.pop();
        }
        Poll::Ready(Ok(Some(std::mem::take(me.buf))))
    }
}

impl<R: AsyncBufRead> Stream for Split<R> {
    type Item = io::Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Vec<u8>>>> {
        self.poll_next_segment(cx).map(Result::transpose)
    }
}

/// Future of [`Split::next_segment`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct NextSegment<'a, R> {
    split: &'a mut Split<R>,
}

impl<R: AsyncBufRead + Unpin> Future for NextSegment<'_, R> {
    type Output = io::Result<Option<Vec<u8>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.get_mut().split).poll_next_segment(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{AsyncBufReadExt, BufReader};
    use std::future::poll_fn;

    #[test]
    fn segments_through_a_small_buffer() {
        crate::block_on(async {
            let mut split = BufReader::with_capacity(3, &b"\0abcdef\0g\0"[..]).split(0);
            let mut got = Vec::new();
            while let Some(s) = split.next_segment().await.unwrap() {
                got.push(s);
            }
            assert_eq!(got, [&b""[..], b"abcdef", b"g"]);
        });
    }

    #[test]
    fn is_a_stream() {
        crate::block_on(async {
            let mut split = Box::pin(AsyncBufReadExt::split(&b"x y"[..], b' '));
            let mut got = Vec::new();
            while let Some(s) = poll_fn(|cx| split.as_mut().poll_next(cx)).await {
                got.push(s.unwrap());
            }
            assert_eq!(got, [b"x", b"y"]);
        });
    }
}
