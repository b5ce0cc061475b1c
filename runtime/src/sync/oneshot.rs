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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Creates a one-shot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State { value: None, rx_waker: None, tx_waker: None, tx_gone: false, rx_gone: false }),
    });
    (Sender { inner: inner.clone() }, Receiver { inner })
}

struct Inner<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Option<T>,
    /// The receiver waiting for the value.
    rx_waker: Option<Waker>,
    /// The sender waiting in `closed()`.
    tx_waker: Option<Waker>,
    tx_gone: bool,
    rx_gone: bool,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
        let mut s = self.inner.lock();
        if s.rx_gone {
            return Err(value);
        }
        s.value = Some(value);
        let waker = s.rx_waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// True once the receiver has been dropped.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().rx_gone
    }

    /// Waits until the receiver is dropped (to stop work nobody awaits).
    pub async fn closed(&mut self) {
        std::future::poll_fn(|cx| {
            let mut s = self.inner.lock();
            if s.rx_gone {
                return Poll::Ready(());
            }
            s.tx_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.inner.lock();
        s.tx_gone = true;
        let waker = s.rx_waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut s = self.inner.lock();
        match s.value.take() {
            Some(v) => Ok(v),
            None if s.tx_gone => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses the value: a later `send` fails and returns it.
    pub fn close(&mut self) {
        let mut s = self.inner.lock();
        s.rx_gone = true;
        let waker = s.tx_waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
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
        let mut s = self.inner.lock();
        if let Some(v) = s.value.take() {
            return Poll::Ready(Ok(v));
        }
        if s.tx_gone {
            return Poll::Ready(Err(RecvError(())));
        }
        if !s.rx_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.rx_waker = Some(cx.waker().clone());
        }
        Poll::Pending
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
