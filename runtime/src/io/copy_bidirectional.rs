//! [`copy_bidirectional`]: pump two duplex streams into each other, as a
//! proxy does.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncRead, AsyncWrite};

const BUF_SIZE: usize = 16 * 1024;

/// One direction's copy buffer.
#[derive(Debug)]
struct CopyBuffer {
    buf: Box<[u8]>,
    /// `buf[pos..cap]` is read but not yet written.
    pos: usize,
    cap: usize,
    total: u64,
    read_done: bool,
    /// Bytes were written since the last flush.
    need_flush: bool,
}

impl CopyBuffer {
    fn new() -> CopyBuffer {
        CopyBuffer {
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            cap: 0,
            total: 0,
            read_done: false,
            need_flush: false,
        }
    }

    /// Copies until `reader` ends, then flushes `writer`; returns the count.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            if self.pos == self.cap && !self.read_done {
                match reader.as_mut().poll_read(cx, &mut self.buf) {
                    Poll::Ready(Ok(0)) => self.read_done = true,
                    Poll::Ready(Ok(n)) => {
                        self.pos = 0;
                        self.cap = n;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // Nothing to read for now: push out what a buffering
                        // writer holds, or the other side may wait forever.
                        if self.need_flush {
                            ready!(writer.as_mut().poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                }
            }
            while self.pos < self.cap {
                let n = ready!(writer.as_mut().poll_write(cx, &self.buf[self.pos..self.cap]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::WriteZero, "write zero byte into writer")));
                }
                self.pos += n;
                self.total += n as u64;
                self.need_flush = true;
            }
            if self.read_done {
                ready!(writer.as_mut().poll_flush(cx))?;
                self.need_flush = false;
                return Poll::Ready(Ok(self.total));
            }
        }
    }
}

/// Where one direction of a [`copy_bidirectional`] is.
#[derive(Debug)]
enum Transfer {
    Running(CopyBuffer),
    ShuttingDown(u64),
    Done(u64),
}

impl Transfer {
    fn poll<R, W>(&mut self, cx: &mut Context<'_>, reader: &mut R, writer: &mut W) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            match self {
                Transfer::Running(buf) => {
                    let n = ready!(buf.poll_copy(cx, Pin::new(&mut *reader), Pin::new(&mut *writer)))?;
                    *self = Transfer::ShuttingDown(n);
                }
                Transfer::ShuttingDown(n) => {
                    ready!(Pin::new(&mut *writer).poll_shutdown(cx))?;
                    *self = Transfer::Done(*n);
                }
                Transfer::Done(n) => return Poll::Ready(Ok(*n)),
            }
        }
    }
}

/// Copies `a` to `b` and `b` to `a` at the same time, until both reach end
/// of stream; returns `(bytes from a to b, bytes from b to a)`.
///
/// When one side's read reaches end of stream, the other side's write side
/// is flushed and shut down (a TCP peer gets a FIN), and the other
/// direction keeps going. The first error (either direction) ends the copy
/// and is returned; nothing is shut down then. Each direction has its own
/// 16 KiB buffer; a writer is flushed whenever its reader has nothing new.
///
/// ```
/// use runtime::io::{duplex, AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     // client <-> (proxy_in, proxy_out) <-> server
///     let (mut client, mut proxy_in) = duplex(64);
///     let (mut proxy_out, mut server) = duplex(64);
///     let proxy = runtime::spawn(async move {
///         runtime::io::copy_bidirectional(&mut proxy_in, &mut proxy_out).await
///     });
///
///     client.write_all(b"ping").await?;
///     client.shutdown().await?;
///     let mut request = Vec::new();
///     server.read_to_end(&mut request).await?;
///     assert_eq!(request, b"ping");
///     server.write_all(b"pong!").await?;
///     drop(server);
///
///     let mut reply = Vec::new();
///     client.read_to_end(&mut reply).await?;
///     assert_eq!(reply, b"pong!");
///     assert_eq!(proxy.await??, (4, 5));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_bidirectional<'a, A, B>(a: &'a mut A, b: &'a mut B) -> CopyBidirectional<'a, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    CopyBidirectional {
        a,
        b,
        a_to_b: Transfer::Running(CopyBuffer::new()),
        b_to_a: Transfer::Running(CopyBuffer::new()),
    }
}

/// The future returned by [`copy_bidirectional`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct CopyBidirectional<'a, A: ?Sized, B: ?Sized> {
    a: &'a mut A,
    b: &'a mut B,
    a_to_b: Transfer,
    b_to_a: Transfer,
}

impl<A, B> Future for CopyBidirectional<'_, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    type Output = io::Result<(u64, u64)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<(u64, u64)>> {
        let this = self.get_mut();
        let a_to_b = this.a_to_b.poll(cx, &mut *this.a, &mut *this.b)?;
        let b_to_a = this.b_to_a.poll(cx, &mut *this.b, &mut *this.a)?;
        let a_to_b = ready!(a_to_b);
        let b_to_a = ready!(b_to_a);
        Poll::Ready(Ok((a_to_b, b_to_a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{duplex, AsyncReadExt, AsyncWriteExt, BufWriter, DuplexStream};

    /// Writes `data` then shuts down, while reading everything the peer
    /// sends, both at once on one task; returns what was read.
    async fn exchange(mut s: DuplexStream, data: Vec<u8>) -> io::Result<Vec<u8>> {
        let (mut sent, mut shut, mut eof) = (0, false, false);
        let mut got = Vec::new();
        std::future::poll_fn(|cx| loop {
            let mut progress = false;
            if sent < data.len() {
                if let Poll::Ready(n) = Pin::new(&mut s).poll_write(cx, &data[sent..])? {
                    sent += n;
                    progress = true;
                }
            } else if !shut {
                ready!(Pin::new(&mut s).poll_shutdown(cx))?;
                shut = true;
                progress = true;
            }
            if !eof {
                let mut buf = [0u8; 1000];
                if let Poll::Ready(n) = Pin::new(&mut s).poll_read(cx, &mut buf)? {
                    got.extend_from_slice(&buf[..n]);
                    eof = n == 0;
                    progress = true;
                }
            }
            if shut && eof {
                return Poll::Ready(Ok::<(), io::Error>(()));
            }
            if !progress {
                return Poll::Pending;
            }
        })
        .await?;
        Ok(got)
    }

    #[test]
    fn both_directions_at_once_with_half_close() {
        crate::block_on(async {
            let (left, mut a) = duplex(7);
            let (mut b, right) = duplex(5);
            let proxy = crate::spawn(async move { copy_bidirectional(&mut a, &mut b).await });
            // Each end sends far more than the pipes hold while it reads, so
            // the two directions must progress together.
            let up: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
            let down: Vec<u8> = (0..7_000u32).map(|i| (i * 7) as u8).collect();
            let l = crate::spawn(exchange(left, up.clone()));
            let r = crate::spawn(exchange(right, down.clone()));
            assert_eq!(l.await.unwrap().unwrap(), down);
            assert_eq!(r.await.unwrap().unwrap(), up);
            assert_eq!(proxy.await.unwrap().unwrap(), (10_000, 7_000));
        });
    }

    #[test]
    fn buffered_writers_are_flushed_while_waiting_for_input() {
        crate::block_on(async {
            let (mut client, a) = duplex(1024);
            let (b, mut server) = duplex(1024);
            let (mut a, mut b) = (BufWriter::new(a), BufWriter::new(b));
            let proxy = crate::spawn(async move { copy_bidirectional(&mut a, &mut b).await });
            // A request/response exchange with both sides still open: it only
            // completes if the proxy flushes its BufWriters without an EOF.
            client.write_all(b"req").await.unwrap();
            let mut buf = [0u8; 3];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"req");
            server.write_all(b"resp").await.unwrap();
            let mut buf = [0u8; 4];
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"resp");
            drop((client, server));
            assert_eq!(proxy.await.unwrap().unwrap(), (3, 4));
        });
    }

    #[test]
    fn an_error_ends_the_copy() {
        crate::block_on(async {
            let (mut client, mut a) = duplex(16);
            let (mut b, server) = duplex(16);
            drop(server);
            client.write_all(b"x").await.unwrap();
            let err = copy_bidirectional(&mut a, &mut b).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        });
    }
}
