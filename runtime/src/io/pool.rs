//! [`PooledBuf`]: read buffers lent by a per-thread pool, only while they
//! hold data.
//!
//! A server that gives each connection its own read buffer pays for it on
//! every idle connection: 10,000 idle connections with 64 KiB each hold
//! 640 MiB. A pooled read waits for the socket to be readable first, takes
//! a buffer from the thread's pool only then, and the buffer goes back
//! when the caller drops it (after writing the data on, say). An idle
//! connection holds no buffer, and a thread needs only as many as it has
//! reads in flight at once.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::util::spares::Spares;

/// Size of a pooled buffer: a read returns at most this many bytes.
pub const POOLED_BUF_SIZE: usize = 64 * 1024;

/// Buffers a thread keeps for reuse; more are freed when returned.
const POOL_CAP: usize = 64;

thread_local! {
    /// This thread's idle buffers.
    static POOL: Spares<Box<[u8]>> = const { Spares::new(POOL_CAP) };
}

/// A buffer from the pool (a fresh one if it is empty).
#[inline]
pub(crate) fn take() -> Box<[u8]> {
    POOL.try_with(Spares::take).ok().flatten().unwrap_or_else(|| vec![0u8; POOLED_BUF_SIZE].into())
}

/// Returns `buf` to this thread's pool (or frees it if the pool is full).
#[inline]
pub(crate) fn give(buf: Box<[u8]>) {
    let _ = POOL.try_with(|p| p.give(buf));
}

/// Bytes read into a buffer lent by the thread's pool (see the module
/// docs); it goes back to the pool of the thread that drops it. Derefs to
/// the bytes read; empty at end of stream.
///
/// `net`'s streams lend one with `read_pooled()`; on a bare [`Async`]
/// socket it is [`Async::poll_read_pooled`]:
///
/// ```
/// use std::future::poll_fn;
/// use std::os::unix::net::UnixStream;
/// use runtime::io::Async;
///
/// runtime::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let a = Async::new(a)?;
///     std::io::Write::write_all(&mut &b, b"ping")?;
///     // No buffer is held while this waits; one is lent once `a` is readable.
///     let data = poll_fn(|cx| a.poll_read_pooled(cx)).await?;
///     assert_eq!(&data[..], b"ping");
///     drop(b);
///     let eof = poll_fn(|cx| a.poll_read_pooled(cx)).await?;
///     assert!(eof.is_empty()); // end of stream
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// [`Async`]: crate::io::Async
/// [`Async::poll_read_pooled`]: crate::io::Async::poll_read_pooled
pub struct PooledBuf {
    /// The lent buffer (empty only while being dropped).
    buf: Box<[u8]>,
    /// Bytes of `buf` that hold data; `len <= buf.len()`.
    len: usize,
}

impl PooledBuf {
    #[inline]
    pub(crate) fn new(buf: Box<[u8]>, len: usize) -> PooledBuf {
        PooledBuf { len: len.min(buf.len()), buf }
    }
}

impl Deref for PooledBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl DerefMut for PooledBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Drop for PooledBuf {
    #[inline]
    fn drop(&mut self) {
        give(std::mem::take(&mut self.buf));
    }
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_to_the_pool() {
        let mut a = PooledBuf::new(take(), 3);
        a.copy_from_slice(b"abc");
        assert_eq!(&*a, b"abc");
        let lent = a.buf.as_ptr();
        drop(a);
        let b = PooledBuf::new(take(), 0);
        assert_eq!(b.buf.as_ptr(), lent, "the same buffer, reused");
        assert!(b.is_empty());
        // Two out at once: both come back (one to the spare cell, one to
        // the list: `util::spares` tests that split), and are lent again.
        let c = PooledBuf::new(take(), 1);
        let mut out = [b.buf.as_ptr(), c.buf.as_ptr()];
        drop((b, c));
        let mut back = [take(), take()].map(|buf| buf.as_ptr());
        out.sort();
        back.sort();
        assert_eq!(back, out);
    }
}
