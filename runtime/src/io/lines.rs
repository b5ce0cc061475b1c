//! [`Lines`]: a buffered reader as a sequence of text lines.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use super::buf_read_ext::poll_read_line;
use super::AsyncBufRead;

pin_project! {
    /// The lines of an [`AsyncBufRead`], from
    /// [`AsyncBufReadExt::lines`](super::AsyncBufReadExt::lines).
    ///
    /// Each line comes without its `\n` or `\r\n`; a last line without a
    /// newline is still a line. A line that is not UTF-8 is an
    /// `ErrorKind::InvalidData` error (and is skipped). Get lines with
    /// [`next_line`](Lines::next_line) or poll it as a
    /// [`Stream`](futures_core::Stream) of `io::Result<String>`.
    ///
    /// ```
    /// use runtime::io::AsyncBufReadExt;
    ///
    /// runtime::block_on(async {
    ///     let mut lines = (&b"alpha\r\nbeta\ngamma"[..]).lines();
    ///     let mut all = Vec::new();
    ///     while let Some(line) = lines.next_line().await? {
    ///         all.push(line);
    ///     }
    ///     assert_eq!(all, ["alpha", "beta", "gamma"]);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Lines<R> {
        #[pin]
        reader: R,
        // The current line's bytes so far.
        bytes: Vec<u8>,
        read: usize,
    }
}

impl<R> Lines<R> {
    pub(crate) fn new(reader: R) -> Lines<R> {
        Lines { reader, bytes: Vec::new(), read: 0 }
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The pinned underlying reader.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut R> {
        self.project().reader
    }

    /// The underlying reader; the bytes of a partly read line are lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: AsyncBufRead> Lines<R> {
    /// The next line, or `None` at end of stream.
    ///
    /// Cancellation safe: if the future is dropped before it completes, the
    /// bytes of the partial line stay in the `Lines` for the next call.
    pub fn next_line(&mut self) -> NextLine<'_, R>
    where
        R: Unpin,
    {
        NextLine { lines: self }
    }

    /// Polls for the next line; `Ready(Ok(None))` at end of stream.
    pub fn poll_next_line(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<Option<String>>> {
        let me = self.project();
        let mut line = ready!(poll_read_line(me.reader, cx, me.bytes, me.read))?;
        if let Some(line) = &mut line {
            if line.ends_with('\n') {
                line.pop();
                if line.ends_with('\r') {
                    line.pop();
                }
            }
        }
        Poll::Ready(Ok(line))
    }
}

impl<R: AsyncBufRead> Stream for Lines<R> {
    type Item = io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<String>>> {
        self.poll_next_line(cx).map(Result::transpose)
    }
}

/// Future of [`Lines::next_line`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct NextLine<'a, R> {
    lines: &'a mut Lines<R>,
}

impl<R: AsyncBufRead + Unpin> Future for NextLine<'_, R> {
    type Output = io::Result<Option<String>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.get_mut().lines).poll_next_line(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{AsyncBufReadExt, BufReader};
    use std::future::poll_fn;

    #[test]
    fn strips_lf_and_crlf_only() {
        crate::block_on(async {
            let mut lines = (&b"a\nb\r\n\r\nc\rd\n\n \n"[..]).lines();
            let mut got = Vec::new();
            while let Some(l) = lines.next_line().await.unwrap() {
                got.push(l);
            }
            assert_eq!(got, ["a", "b", "", "c\rd", "", " "]);
        });
    }

    #[test]
    fn empty_input_has_no_lines() {
        crate::block_on(async {
            let mut lines = (&b""[..]).lines();
            assert_eq!(lines.next_line().await.unwrap(), None);
            assert_eq!(lines.next_line().await.unwrap(), None);
        });
    }

    #[test]
    fn invalid_utf8_line_is_an_error_then_reading_goes_on() {
        crate::block_on(async {
            let mut lines = BufReader::with_capacity(2, &b"x\n\xc3\x28\ny"[..]).lines();
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("x"));
            assert_eq!(lines.next_line().await.unwrap_err().kind(), io::ErrorKind::InvalidData);
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("y"));
            assert_eq!(lines.next_line().await.unwrap(), None);
        });
    }

    #[test]
    fn is_a_stream() {
        crate::block_on(async {
            let mut lines = Box::pin((&b"1\n2\n"[..]).lines());
            let mut got = Vec::new();
            while let Some(l) = poll_fn(|cx| lines.as_mut().poll_next(cx)).await {
                got.push(l.unwrap());
            }
            assert_eq!(got, ["1", "2"]);
            assert_eq!(lines.as_mut().get_pin_mut().len(), 0);
        });
    }
}
