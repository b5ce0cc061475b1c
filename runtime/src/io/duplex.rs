//! [`duplex`]: an in-memory, bidirectional byte pipe, for tests and for
//! connecting two pieces of code that expect a socket.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::{AsyncRead, AsyncWrite};

/// Creates a pair of connected in-memory streams: bytes written to one
/// are read from the other, in both directions, like a socket pair.
///
/// Each direction buffers at most `max_buf_size` bytes; a writer that
/// finds its direction full waits for the reader (backpressure). Shutting
/// one end's write side ([`AsyncWriteExt::shutdown`](super::AsyncWriteExt::shutdown))
/// makes the other end read end of stream once the buffered bytes are
/// read. Dropping an end does the same, and also makes later writes from
/// the other end fail with `ErrorKind::BrokenPipe`.
///
/// # Panics
/// If `max_buf_size` is 0.
///
/// ```
/// use runtime::io::{duplex, AsyncReadExt, AsyncWriteExt};
///
/// runtime::block_on(async {
///     let (mut client, mut server) = duplex(64);
///     client.write_all(b"ping").await?;
///     let mut buf = [0u8; 4];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     server.write_all(b"pong").await?;
///     drop(server);
///     let mut reply = Vec::new();
///     client.read_to_end(&mut reply).await?;
///     assert_eq!(reply, b"pong");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn duplex(max_buf_size: usize) -> (DuplexStream, DuplexStream) {
    assert!(max_buf_size > 0, "duplex: max_buf_size must be at least 1");
    let one = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    let two = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    (DuplexStream { read: one.clone(), write: two.clone() }, DuplexStream { read: two, write: one })
}

/// One end of a [`duplex`] pipe. It is `Send` and `Sync`, and wakes its
/// peer from any thread.
pub struct DuplexStream {
    read: Arc<Mutex<Pipe>>,
    write: Arc<Mutex<Pipe>>,
}

/// One direction: a bounded byte queue and the two wakers that wait on it.
#[derive(Debug)]
struct Pipe {
    buf: VecDeque<u8>,
    max: usize,
    /// The writer shut down or either end was dropped.
    closed: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

fn park(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl Pipe {
    fn new(max: usize) -> Pipe {
        Pipe { buf: VecDeque::new(), max, closed: false, read_waker: None, write_waker: None }
    }

    /// Marks the pipe closed; returns both wakers for the caller to wake
    /// once the lock is released.
    fn close(&mut self) -> (Option<Waker>, Option<Waker>) {
        self.closed = true;
        (self.read_waker.take(), self.write_waker.take())
    }
}

impl AsyncRead for DuplexStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut pipe = lock(&self.read);
        if pipe.buf.is_empty() {
            if pipe.closed {
                return Poll::Ready(Ok(0));
            }
            park(&mut pipe.read_waker, cx);
            return Poll::Pending;
        }
        let n = pipe.buf.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(pipe.buf.drain(..n)) {
            *dst = src;
        }
        let waker = pipe.write_waker.take();
        drop(pipe);
        wake(waker);
        Poll::Ready(Ok(n))
    }
}

impl DuplexStream {
    /// Appends as much of `bufs` as fits, waking the reader if any did.
    fn poll_write_bufs(&self, cx: &Context<'_>, bufs: &[&[u8]]) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let mut pipe = lock(&self.write);
        if pipe.closed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the duplex stream is closed")));
        }
        let mut room = pipe.max.saturating_sub(pipe.buf.len());
        if room == 0 {
            park(&mut pipe.write_waker, cx);
            return Poll::Pending;
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(room);
            pipe.buf.extend(&b[..take]);
            n += take;
            room -= take;
            if room == 0 {
                break;
            }
        }
        let waker = pipe.read_waker.take();
        drop(pipe);
        wake(waker);
        Poll::Ready(Ok(n))
    }

    fn close_write(&self) {
        let (reader, writer) = lock(&self.write).close();
        wake(reader);
        wake(writer);
    }
}

impl AsyncWrite for DuplexStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_bufs(cx, &[buf])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let slices: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        self.poll_write_bufs(cx, &slices)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes this end's write side: the peer reads what is buffered, then
    /// end of stream; further writes from this end fail.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_write();
        Poll::Ready(Ok(()))
    }
}

impl Drop for DuplexStream {
    fn drop(&mut self) {
        self.close_write();
        // Our read side goes too: the peer's writes now fail.
        let (reader, writer) = lock(&self.read).close();
        wake(reader);
        wake(writer);
    }
}

impl fmt::Debug for DuplexStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let readable = lock(&self.read).buf.len();
        let write = lock(&self.write);
        f.debug_struct("DuplexStream")
            .field("readable", &readable)
            .field("unread_written", &write.buf.len())
            .field("max_buf_size", &write.max)
            .field("write_closed", &write.closed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn backpressure_then_eof_after_shutdown() {
        crate::block_on(async {
            let (mut a, mut b) = duplex(3);
            let writer = crate::spawn(async move {
                a.write_all(b"abcdefgh").await?;
                a.shutdown().await?;
                // Writing after our own shutdown fails.
                let err = a.write_all(b"late").await.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
                Ok::<_, io::Error>(a)
            });
            let mut got = Vec::new();
            let mut chunk = [0u8; 8];
            loop {
                let n = b.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                assert!(n <= 3, "one direction holds at most 3 bytes, read {n}");
                got.extend_from_slice(&chunk[..n]);
            }
            assert_eq!(got, b"abcdefgh");
            // The other direction still works after a's write shutdown.
            let mut a = writer.await.unwrap().unwrap();
            b.write_all(b"ok!").await.unwrap();
            drop(b);
            let mut back = Vec::new();
            a.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, b"ok!");
            assert!(format!("{a:?}").contains("DuplexStream"));
        });
    }

    #[test]
    fn dropping_the_peer_wakes_a_blocked_writer_with_broken_pipe() {
        crate::block_on(async {
            let (mut a, b) = duplex(2);
            let writer = crate::spawn(async move { a.write_all(b"more than two").await });
            crate::yield_now().await;
            assert!(!writer.is_finished(), "the writer waits for room");
            drop(b);
            assert_eq!(writer.await.unwrap().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        });
    }

    #[test]
    fn vectored_writes_fill_across_slices() {
        crate::block_on(async {
            let (mut a, mut b) = duplex(5);
            let bufs = [IoSlice::new(b"abc"), IoSlice::new(b"def")];
            let n = std::future::poll_fn(|cx| Pin::new(&mut a).poll_write_vectored(cx, &bufs)).await.unwrap();
            assert_eq!(n, 5);
            let mut got = [0u8; 5];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"abcde");
        });
    }

    #[test]
    fn works_across_threads() {
        let (mut a, mut b) = duplex(16);
        // Miri: every 16-byte hand-off is a cross-thread wake through the
        // poller, minutes at 100 kB there; 2 kB still crosses 125 times.
        let len = if cfg!(miri) { 2_000 } else { 100_000 };
        let data: Vec<u8> = (0..len).map(|i: u32| i as u8).collect();
        let expected = data.clone();
        let t = std::thread::spawn(move || {
            crate::block_on(async move {
                a.write_all(&data).await.unwrap();
            })
        });
        let got = crate::block_on(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        t.join().unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    #[should_panic(expected = "max_buf_size must be at least 1")]
    fn zero_capacity_is_refused() {
        let _ = duplex(0);
    }
}
