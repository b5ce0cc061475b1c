//! [`AsyncBufRead`]: a reader with an internal buffer that callers can look
//! into before deciding how much of it to take.

use std::io;
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::AsyncRead;

/// Reads bytes asynchronously through an internal buffer, like
/// `std::io::BufRead`.
///
/// [`poll_fill_buf`](AsyncBufRead::poll_fill_buf) returns the buffered
/// bytes (reading more from the source only if the buffer is empty), and
/// [`consume`](AsyncBufRead::consume) marks some of them as used. The
/// methods most code calls live on [`AsyncBufReadExt`](super::AsyncBufReadExt):
/// `read_line`, `read_until`, `lines`, `split`.
///
/// ```
/// use std::pin::Pin;
/// use std::future::poll_fn;
/// use runtime::io::AsyncBufRead;
///
/// runtime::block_on(async {
///     let mut src: &[u8] = b"abc";
///     let peek = poll_fn(|cx| Pin::new(&mut src).poll_fill_buf(cx).map_ok(|b| b.to_vec())).await?;
///     assert_eq!(peek, b"abc");
///     Pin::new(&mut src).consume(2);
///     assert_eq!(src, b"c");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait AsyncBufRead: AsyncRead {
    /// Returns the buffered bytes, first reading from the source if the
    /// buffer is empty. An empty slice means end of stream. If the buffer is
    /// empty and no data is available, arranges for `cx`'s waker to be woken
    /// and returns `Pending`.
    ///
    /// While the buffer is not empty this must return it at once, without
    /// I/O: callers rely on a second call returning the same bytes.
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>>;

    /// Marks `amt` bytes of the buffer as read: the next
    /// [`poll_fill_buf`](AsyncBufRead::poll_fill_buf) no longer returns them.
    /// `amt` must not exceed the length of the slice it last returned.
    fn consume(self: Pin<&mut Self>, amt: usize);
}

macro_rules! deref_async_buf_read {
    () => {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            Pin::new(&mut **self.get_mut()).poll_fill_buf(cx)
        }

        fn consume(mut self: Pin<&mut Self>, amt: usize) {
            Pin::new(&mut **self).consume(amt)
        }
    };
}

impl<T: ?Sized + AsyncBufRead + Unpin> AsyncBufRead for &mut T {
    deref_async_buf_read!();
}

impl<T: ?Sized + AsyncBufRead + Unpin> AsyncBufRead for Box<T> {
    deref_async_buf_read!();
}

impl<P> AsyncBufRead for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncBufRead,
{
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().as_mut().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().as_mut().consume(amt)
    }
}

/// A byte slice is its own buffer: never pending, consuming advances it.
impl AsyncBufRead for &[u8] {
    fn poll_fill_buf(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Poll::Ready(Ok(*self.get_mut()))
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        *self = &self[amt.min(self.len())..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    #[test]
    fn slices_boxes_and_pins_forward() {
        crate::block_on(async {
            let mut src: &[u8] = b"hello";
            let got = poll_fn(|cx| Pin::new(&mut &mut src).poll_fill_buf(cx).map_ok(<[u8]>::to_vec)).await.unwrap();
            assert_eq!(got, b"hello");
            Pin::new(&mut &mut src).consume(3);
            assert_eq!(src, b"lo");

            let mut boxed: Box<&[u8]> = Box::new(b"xyz");
            Pin::new(&mut boxed).consume(1);
            // `Pin<Box<_>>` is itself an `AsyncBufRead`.
            let mut pinned = Box::pin(*boxed);
            let got = poll_fn(|cx| Pin::new(&mut pinned).poll_fill_buf(cx).map_ok(<[u8]>::to_vec)).await.unwrap();
            assert_eq!(got, b"yz");
            // Consuming past the end stops at the end.
            Pin::new(&mut pinned).consume(10);
            let got = poll_fn(|cx| Pin::new(&mut pinned).poll_fill_buf(cx).map_ok(<[u8]>::len)).await.unwrap();
            assert_eq!(got, 0);
        });
    }
}
