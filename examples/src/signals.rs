//! How the long-running examples stop: SIGINT (Ctrl-C) and SIGTERM end
//! every server and client with exit status 0, never by the signal's
//! default action (which kills the process mid-write and reports it as
//! killed).
//!
//! - [`ShutdownSignals`]: both signals as one async event, for programs on
//!   weft. Listen before announcing the server, so an early signal is
//!   neither lost nor fatal; a server with a grace period keeps polling it
//!   there, so a second Ctrl-C ends the wait at once.
//! - [`watch_on_thread`]: the same for programs without a runtime
//!   (`blocking_echo`, `busy_poll_echo`): a thread of its own waits for the
//!   signals and calls back.

use std::future::poll_fn;
use std::io;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread;

use runtime::signal::{signal, Signal, SignalKind};

/// SIGINT and SIGTERM, listened for from creation on: create it before
/// announcing the server, so an early signal is neither lost nor fatal.
#[derive(Debug)]
pub struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    /// Starts listening on the current runtime; the signals' default action
    /// (exiting at once) no longer happens.
    pub fn listen() -> io::Result<ShutdownSignals> {
        Ok(ShutdownSignals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    /// Ready once either signal arrived since the last time this was ready.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Both are polled, so both register the waker.
        let interrupt = self.interrupt.poll_recv(cx).is_ready();
        let terminate = self.terminate.poll_recv(cx).is_ready();
        if interrupt || terminate {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Waits for the next SIGINT or SIGTERM.
    pub async fn recv(&mut self) {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

/// Calls `on_signal` on a thread of its own each time SIGINT or SIGTERM
/// arrives, for a program whose own threads block in system calls and so
/// cannot wait for a signal beside their work. Returns once the signals
/// are caught: from then on they no longer end the process by themselves.
///
/// The thread runs a weft runtime with nothing on it but the signals.
pub fn watch_on_thread(mut on_signal: impl FnMut() + Send + 'static) -> io::Result<()> {
    let (caught, is_caught) = mpsc::channel();
    thread::Builder::new().name("signals".to_owned()).spawn(move || {
        runtime::block_on(async move {
            let mut signals = match ShutdownSignals::listen() {
                Ok(signals) => signals,
                Err(e) => {
                    let _ = caught.send(Err(e));
                    return;
                }
            };
            let _ = caught.send(Ok(()));
            // Until the process exits.
            loop {
                signals.recv().await;
                on_signal();
            }
        })
    })?;
    is_caught.recv().map_err(|_| io::Error::other("the signal thread ended before catching the signals"))?
}
