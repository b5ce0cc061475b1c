//! [`JoinError`]: why a task produced no output.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::{Mutex, PoisonError};

/// Why a task produced no output: it panicked, or it was cancelled.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic {
        /// The panic message, extracted when the panic was caught.
        message: Option<String>,
        payload: SyncPayload,
    },
}

/// A panic payload. The `Mutex` makes `JoinError` `Sync` (a payload is
/// only `Send`); it is never locked, since the payload only leaves by move.
type SyncPayload = Mutex<Box<dyn Any + Send + 'static>>;

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError { repr: Repr::Cancelled }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        let message = panic_message(&*payload);
        JoinError { repr: Repr::Panic { message, payload: Mutex::new(payload) } }
    }

    /// True if the task was cancelled (aborted, or its runtime shut down).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task did not panic; use [`JoinError::try_into_panic`] to check.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().expect("JoinError::into_panic called on a cancelled task's error")
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic { payload, .. } => Ok(payload.into_inner().unwrap_or_else(PoisonError::into_inner)),
            Repr::Cancelled => Err(self),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic { message: Some(m), .. } => write!(f, "task panicked: {m}"),
            Repr::Panic { message: None, .. } => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic { message, .. } => f.debug_tuple("JoinError::Panic").field(message).finish(),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(err: JoinError) -> io::Error {
        let kind = if err.is_cancelled() { io::ErrorKind::Interrupted } else { io::ErrorKind::Other };
        io::Error::new(kind, err.to_string())
    }
}

/// Extracts a printable message from a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&'static str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}
