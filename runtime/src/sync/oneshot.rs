//! A channel for exactly one value.
//!
//! ```
//! use runtime::sync::oneshot;
//! runtime::block_on(async {
//!     let (tx, rx) = oneshot::channel();
//!     std::thread::spawn(move || tx.send(42).unwrap());
//!     assert_eq!(rx.await, Ok(42));
//! });
//! ```

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crate::util::AtomicWaker;

/// The value was stored (it may have been taken since).
const SENT: u8 = 1;
/// The sender is gone.
const TX_GONE: u8 = 2;
/// The receiver is gone or closed.
const RX_GONE: u8 = 4;

/// Creates a one-shot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        value: Mutex::new(None),
        state: AtomicU8::new(0),
        rx_waker: AtomicWaker::new(),
        tx_waker: AtomicWaker::new(),
    });
    (Sender { inner: inner.clone() }, Receiver { inner })
}

struct Inner<T> {
    value: Mutex<Option<T>>,
    /// `SENT`, `TX_GONE`, `RX_GONE`: each set once, never cleared.
    state: AtomicU8,
    /// The receiver waiting for the value.
    rx_waker: AtomicWaker,
    /// The sender waiting in `closed()`.
    tx_waker: AtomicWaker,
}

impl<T> Inner<T> {
    fn has(&self, bit: u8) -> bool {
        self.state.load(Ordering::Acquire) & bit != 0
    }

    /// Sets `bit`, returning the state before.
    fn set(&self, bit: u8) -> u8 {
        self.state.fetch_or(bit, Ordering::AcqRel)
    }

    fn take_value(&self) -> Option<T> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Sends the value; see [`channel`].
pub struct Sender<T> {
    inner: Arc<Inner<T>>,
}

/// Receives the value: a future of `Result<T, RecvError>`.
#[must_use = "futures do nothing unless awaited"]
pub struct Receiver<T> {
    inner: Arc<Inner<T>>,
}

/// The sender was dropped without sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending a value")
    }
}

impl Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; the sender is alive.
    Empty,
    /// The sender was dropped without sending.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("oneshot channel is empty"),
            TryRecvError::Closed => f.write_str("oneshot sender dropped without sending a value"),
        }
    }
}

impl Error for TryRecvError {}

impl<T> Sender<T> {
    /// Sends `value`, waking the receiver. If the receiver is gone the
    /// value comes back as `Err(value)`.
    pub fn send(self, value: T) -> Result<(), T> {
        if self.inner.has(RX_GONE) {
            return Err(value);
        }
        *self.inner.value.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        if self.inner.set(SENT) & RX_GONE != 0 {
            // The receiver closed meanwhile and will never look: take it back.
            if let Some(value) = self.inner.take_value() {
                return Err(value);
            }
        }
        self.inner.rx_waker.wake();
        Ok(())
    }

    /// True once the receiver has been dropped.
    pub fn is_closed(&self) -> bool {
        self.inner.has(RX_GONE)
    }

    /// Waits until the receiver is dropped (to stop work nobody awaits).
    pub async fn closed(&mut self) {
        std::future::poll_fn(|cx| {
            self.inner.tx_waker.register(cx.waker());
            if self.inner.has(RX_GONE) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.inner.set(TX_GONE);
        self.inner.rx_waker.wake();
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let state = self.inner.state.load(Ordering::Acquire);
        if state & SENT != 0 {
            return self.inner.take_value().ok_or(TryRecvError::Closed);
        }
        if state & TX_GONE != 0 {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Refuses the value: a later `send` fails and returns it.
    pub fn close(&mut self) {
        self.inner.set(RX_GONE);
        self.inner.tx_waker.wake();
    }

    /// Waits for the value on a plain OS thread.
    ///
    /// # Panics
    /// If called inside a weft runtime.
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        super::park_on(self)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // The unread value, if any, is dropped with the last Arc.
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        crate::task::budget::cooperate(cx, |cx| {
            let this = self.get_mut();
            match this.try_recv() {
                Ok(v) => return Poll::Ready(Ok(v)),
                Err(TryRecvError::Closed) => return Poll::Ready(Err(RecvError(()))),
                Err(TryRecvError::Empty) => {}
            }
            // Register, then look again: a send after the look wakes us.
            this.inner.rx_waker.register(cx.waker());
            match this.try_recv() {
                Ok(v) => Poll::Ready(Ok(v)),
                Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError(()))),
                Err(TryRecvError::Empty) => Poll::Pending,
            }
        })
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").field("closed", &self.is_closed()).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_sender_is_an_error() {
        let (tx, rx) = channel::<u8>();
        drop(tx);
        assert_eq!(crate::block_on(rx), Err(RecvError(())));
    }

    #[test]
    fn send_to_dropped_receiver_returns_value() {
        let (tx, rx) = channel();
        drop(rx);
        assert_eq!(tx.send(5), Err(5));
    }

    #[test]
    fn closed_wakes_sender() {
        let (mut tx, rx) = channel::<u8>();
        crate::block_on(async move {
            let h = crate::spawn(async move {
                tx.closed().await;
                tx.is_closed()
            });
            crate::yield_now().await;
            drop(rx);
            assert!(h.await.unwrap());
        });
    }
}
