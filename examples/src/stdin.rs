//! Standard input as a channel of lines, for the interactive clients.
//!
//! Reading stdin blocks, so a plain thread does it and feeds the lines to
//! the event loop through a bounded [`mpsc`] channel: the loop never
//! blocks, and the thread waits while the loop is behind. [`Input`] adds
//! SIGINT and SIGTERM, so that Ctrl-C ends a client cleanly.

use std::future::poll_fn;
use std::io::{self, BufRead};
use std::task::{Context, Poll};
use std::thread;

use runtime::sync::mpsc;

use crate::signals::ShutdownSignals;

/// Lines of standard input (without their line endings), read on a
/// helper thread. The channel closes at end of input; a read error is the
/// last item.
pub fn lines() -> mpsc::Receiver<io::Result<String>> {
    let (tx, rx) = mpsc::channel(16);
    thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let failed = line.is_err();
            // The receiver is gone (the program is finishing): stop reading.
            if tx.blocking_send(line).is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// What an interactive client waits for next: a line it typed, the end of
/// its input, or Ctrl-C.
#[derive(Debug)]
pub enum Next {
    /// A line of stdin (or the error that ended reading).
    Line(io::Result<String>),
    /// End of input (Ctrl-D, or the pipe closed).
    End,
    /// SIGINT or SIGTERM: the client should exit, with status 0.
    Interrupted,
}

/// Lines of standard input that a signal can cut short: the interactive
/// clients' input (`framed client`, `echo_client`, `udp_chat client`).
#[derive(Debug)]
pub struct Input {
    lines: mpsc::Receiver<io::Result<String>>,
    signals: ShutdownSignals,
}

impl Input {
    /// Catches SIGINT and SIGTERM (from now on they no longer kill the
    /// process) and starts reading stdin.
    pub fn start() -> io::Result<Input> {
        Ok(Input { signals: ShutdownSignals::listen()?, lines: lines() })
    }

    /// Ready with the next line, the end of input, or a signal; a signal
    /// wins over a line that is ready at the same time.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        if self.signals.poll_recv(cx).is_ready() {
            return Poll::Ready(Next::Interrupted);
        }
        self.lines.poll_recv(cx).map(|line| line.map_or(Next::End, Next::Line))
    }

    /// Waits for the next line, the end of input, or a signal.
    pub async fn next(&mut self) -> Next {
        poll_fn(|cx| self.poll_next(cx)).await
    }
}
