//! [`AsyncBufReadExt`]: line and delimiter reading on every [`AsyncBufRead`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncBufRead, Lines, Split};

/// `async` helpers for every [`AsyncBufRead`] (wrap a plain reader in a
/// [`BufReader`](super::BufReader) to get one).
///
/// ```
/// use runtime::io::{AsyncBufReadExt, BufReader};
///
/// runtime::block_on(async {
///     let mut reader = BufReader::new(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
///     let mut request_line = String::new();
///     reader.read_line(&mut request_line).await?;
///     assert_eq!(request_line, "GET / HTTP/1.1\r\n");
///
///     let mut headers = reader.lines();
///     assert_eq!(headers.next_line().await?.as_deref(), Some("Host: x"));
///     assert_eq!(headers.next_line().await?.as_deref(), Some(""));
///     assert_eq!(headers.next_line().await?, None);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait AsyncBufReadExt: AsyncBufRead {
    /// Returns the buffered bytes, reading from the source first if there
    /// are none; an empty slice is end of stream. Follow with
    /// [`consume`](AsyncBufReadExt::consume) to mark bytes as read.
    fn fill_buf(&mut self) -> FillBuf<'_, Self>
    where
        Self: Unpin,
    {
        FillBuf { reader: Some(self) }
    }

    /// Marks `amt` buffered bytes as read.
    fn consume(&mut self, amt: usize)
    where
        Self: Unpin,
    {
        Pin::new(self).consume(amt)
    }

    /// Appends bytes to `buf` up to and including the first `byte` (or to
    /// end of stream); returns how many were appended (`0` at end of
    /// stream). On an I/O error the bytes read so far stay in `buf`.
    ///
    /// Not cancellation safe: bytes taken from the reader by a dropped
    /// future are appended to `buf` but the count is lost.
    fn read_until<'a>(&'a mut self, byte: u8, buf: &'a mut Vec<u8>) -> ReadUntil<'a, Self>
    where
        Self: Unpin,
    {
        ReadUntil { reader: self, byte, buf, read: 0 }
    }

    /// Appends one line, including its `\n` (if the stream did not end
    /// first), to `buf`; returns how many bytes were appended (`0` at end
    /// of stream).
    ///
    /// The line must be UTF-8: otherwise the result is
    /// `ErrorKind::InvalidData` and `buf` is left as it was (the line's
    /// bytes are consumed). On an I/O error the bytes read so far are
    /// appended if they are valid UTF-8. Not cancellation safe: a dropped
    /// future loses the bytes it already read.
    fn read_line<'a>(&'a mut self, buf: &'a mut String) -> ReadLine<'a, Self>
    where
        Self: Unpin,
    {
        ReadLine { reader: self, buf, bytes: Vec::new(), read: 0 }
    }

    /// The lines of this reader, without their `\n` or `\r\n`, as
    /// [`Lines::next_line`] or a [`Stream`](futures_core::Stream).
    fn lines(self) -> Lines<Self>
    where
        Self: Sized,
    {
        Lines::new(self)
    }

    /// The segments of this reader separated by `byte` (not included), as
    /// [`Split::next_segment`] or a [`Stream`](futures_core::Stream).
    fn split(self, byte: u8) -> Split<Self>
    where
        Self: Sized,
    {
        Split::new(self, byte)
    }
}

impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

/// Future of [`AsyncBufReadExt::fill_buf`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct FillBuf<'a, R: ?Sized> {
    /// Taken when the future completes, since the output borrows it for `'a`.
    reader: Option<&'a mut R>,
}

impl<'a, R: AsyncBufRead + Unpin + ?Sized> Future for FillBuf<'a, R> {
    type Output = io::Result<&'a [u8]>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&'a [u8]>> {
        let this = self.get_mut();
        let reader = this.reader.take().expect("FillBuf polled after completion");
        // Poll through a short reborrow first, so `reader` can be put back
        // if the data is not there yet...
        match Pin::new(&mut *reader).poll_fill_buf(cx) {
            Poll::Pending => {
                this.reader = Some(reader);
                return Poll::Pending;
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok([])) => return Poll::Ready(Ok(&[])),
            Poll::Ready(Ok(_)) => {}
        }
        // ...then again for the full `'a`: a non-empty buffer is returned
        // as it is, without I/O (the trait's contract).
        match Pin::new(reader).poll_fill_buf(cx) {
            Poll::Ready(res) => Poll::Ready(res),
            Poll::Pending => Poll::Ready(Err(io::Error::other("poll_fill_buf returned Pending with data buffered"))),
        }
    }
}

/// Appends from `reader` to `buf` up to and including `byte`, counting in
/// `read`; returns (and resets) the count at the delimiter or end of stream.
pub(crate) fn poll_read_until<R: AsyncBufRead + ?Sized>(
    mut reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    byte: u8,
    buf: &mut Vec<u8>,
    read: &mut usize,
) -> Poll<io::Result<usize>> {
    loop {
        let (found, used) = {
            let available = match ready!(reader.as_mut().poll_fill_buf(cx)) {
                Ok(available) => available,
                Err(e) => {
                    *read = 0;
                    return Poll::Ready(Err(e));
                }
            };
            match available.iter().position(|&b| b == byte) {
                Some(i) => {
                    buf.extend_from_slice(&available[..=i]);
                    (true, i + 1)
                }
                None => {
                    buf.extend_from_slice(available);
                    (false, available.len())
                }
            }
        };
        reader.as_mut().consume(used);
        *read += used;
        if found || used == 0 {
            return Poll::Ready(Ok(std::mem::take(read)));
        }
    }
}

/// Future of [`AsyncBufReadExt::read_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadUntil<'a, R: ?Sized> {
    reader: &'a mut R,
    byte: u8,
    buf: &'a mut Vec<u8>,
    read: usize,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadUntil<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        poll_read_until(Pin::new(&mut *this.reader), cx, this.byte, this.buf, &mut this.read)
    }
}

/// Reads one line (through its `\n`), collecting its bytes in `bytes`
/// (empty between lines): `Ok(Some(line))`, or `Ok(None)` at end of stream.
/// Invalid UTF-8 is `InvalidData`; the line's bytes are dropped.
pub(crate) fn poll_read_line<R: AsyncBufRead + ?Sized>(
    reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    bytes: &mut Vec<u8>,
    read: &mut usize,
) -> Poll<io::Result<Option<String>>> {
    let res = ready!(poll_read_until(reader, cx, b'\n', bytes, read));
    let bytes = std::mem::take(bytes);
    Poll::Ready(match (res, String::from_utf8(bytes)) {
        (Ok(0), _) => Ok(None),
        (Ok(_), Ok(line)) => Ok(Some(line)),
        (Ok(_), Err(e)) => Err(io::Error::new(io::ErrorKind::InvalidData, e.utf8_error())),
        (Err(e), _) => Err(e),
    })
}

/// Future of [`AsyncBufReadExt::read_line`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadLine<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut String,
    /// The line's bytes so far, appended to `buf` once complete and valid.
    bytes: Vec<u8>,
    read: usize,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadLine<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = ready!(poll_read_until(Pin::new(&mut *this.reader), cx, b'\n', &mut this.bytes, &mut this.read));
        let bytes = std::mem::take(&mut this.bytes);
        Poll::Ready(match (res, String::from_utf8(bytes)) {
            (Ok(n), Ok(line)) => {
                this.buf.push_str(&line);
                Ok(n)
            }
            (Ok(_), Err(e)) => Err(io::Error::new(io::ErrorKind::InvalidData, e.utf8_error())),
            (Err(e), Ok(partial)) => {
                this.buf.push_str(&partial);
                Err(e)
            }
            (Err(e), Err(_)) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{AsyncRead, BufReader};

    /// Yields `chunks` one per read, then end of stream or `err`, with a
    /// `Pending` (self-woken) before every read.
    struct Script {
        chunks: Vec<Vec<u8>>,
        err: Option<io::ErrorKind>,
        pend: bool,
    }

    impl Script {
        fn new(chunks: &[&[u8]]) -> Script {
            Script { chunks: chunks.iter().rev().map(|c| c.to_vec()).collect(), err: None, pend: false }
        }
    }

    impl AsyncRead for Script {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            self.pend = !self.pend;
            if self.pend {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match self.chunks.pop() {
                Some(mut c) => {
                    let n = c.len().min(buf.len());
                    buf[..n].copy_from_slice(&c[..n]);
                    if n < c.len() {
                        self.chunks.push(c.split_off(n));
                    }
                    Poll::Ready(Ok(n))
                }
                None => Poll::Ready(self.err.map_or(Ok(0), |k| Err(k.into()))),
            }
        }
    }

    #[test]
    fn read_until_across_chunks_and_pending() {
        crate::block_on(async {
            let mut r = BufReader::with_capacity(4, Script::new(&[b"ab", b"c,de", b"f,", b"g"]));
            let mut buf = Vec::new();
            assert_eq!(r.read_until(b',', &mut buf).await.unwrap(), 4);
            assert_eq!(buf, b"abc,");
            assert_eq!(r.read_until(b',', &mut buf).await.unwrap(), 4);
            assert_eq!(buf, b"abc,def,");
            assert_eq!(r.read_until(b',', &mut buf).await.unwrap(), 1);
            assert_eq!(r.read_until(b',', &mut buf).await.unwrap(), 0);
            assert_eq!(buf, b"abc,def,g");
        });
    }

    #[test]
    fn read_until_keeps_partial_bytes_on_error() {
        crate::block_on(async {
            let mut script = Script::new(&[b"par"]);
            script.err = Some(io::ErrorKind::ConnectionReset);
            let mut r = BufReader::new(script);
            let mut buf = Vec::new();
            let err = r.read_until(b'\n', &mut buf).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(buf, b"par");
        });
    }

    #[test]
    fn read_line_appends_and_counts() {
        crate::block_on(async {
            let mut r: &[u8] = b"one\ntwo\r\nthree";
            let mut s = String::from(">");
            assert_eq!(r.read_line(&mut s).await.unwrap(), 4);
            assert_eq!(r.read_line(&mut s).await.unwrap(), 5);
            assert_eq!(r.read_line(&mut s).await.unwrap(), 5);
            assert_eq!(r.read_line(&mut s).await.unwrap(), 0);
            assert_eq!(s, ">one\ntwo\r\nthree");
        });
    }

    #[test]
    fn read_line_rejects_invalid_utf8_and_leaves_buf_alone() {
        crate::block_on(async {
            let mut r: &[u8] = b"ok\n\xff\xfe\nafter\n";
            let mut s = String::new();
            r.read_line(&mut s).await.unwrap();
            let err = r.read_line(&mut s).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert_eq!(s, "ok\n");
            // The bad line was consumed; reading carries on after it.
            r.read_line(&mut s).await.unwrap();
            assert_eq!(s, "ok\nafter\n");
        });
    }

    #[test]
    fn read_line_keeps_valid_partial_line_on_io_error() {
        crate::block_on(async {
            let mut script = Script::new(&[b"hal"]);
            script.err = Some(io::ErrorKind::BrokenPipe);
            let mut r = BufReader::new(script);
            let mut s = String::new();
            assert_eq!(r.read_line(&mut s).await.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
            assert_eq!(s, "hal");
        });
    }

    #[test]
    fn fill_buf_survives_pending_and_returns_the_buffer() {
        crate::block_on(async {
            let mut r = BufReader::new(Script::new(&[b"xy"]));
            assert_eq!(r.fill_buf().await.unwrap(), b"xy");
            AsyncBufReadExt::consume(&mut r, 2);
            assert_eq!(r.fill_buf().await.unwrap(), b"");
        });
    }
}
