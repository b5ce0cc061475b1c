//! Unix signals as async events: [`ctrl_c`], [`signal`].
//!
//! A self-pipe: the first listener for a signal number installs a handler
//! (`sigaction`, `SA_RESTART`) that bumps that signal's delivery counter and
//! writes one byte to a process-wide socket pair. Every [`Signal`] holds its
//! own duplicate of the read end, registered with its runtime's reactor, so
//! each write wakes every listener; the counters say which signal arrived.
//! Deliveries that arrive between two `recv` calls are coalesced into one.
//!
//! ```no_run
//! runtime::block_on(async {
//!     runtime::signal::ctrl_c().await?;
//!     println!("interrupted: shutting down");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, Read};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use crate::io::{Async, Interest};
use crate::sys;

/// Signal numbers we keep counters for (covers the real-time range on Linux).
const MAX_SIGNAL: usize = 65;

/// A signal number to listen for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// `SIGINT`: Ctrl-C in a terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGTERM`: the polite request to exit (`kill`, service managers).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGHUP`: the terminal went away; often "reload configuration".
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGUSR1`.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// Any signal number; [`signal`] rejects those that cannot be handled.
    pub const fn from_raw(signum: libc::c_int) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal number.
    pub const fn as_raw(self) -> libc::c_int {
        self.0
    }
}

/// Per-signal delivery counters, bumped by the handler.
static COUNTERS: [AtomicU64; MAX_SIGNAL] = [const { AtomicU64::new(0) }; MAX_SIGNAL];
/// Whether the handler is installed for each signal.
static INSTALLED: [AtomicBool; MAX_SIGNAL] = [const { AtomicBool::new(false) }; MAX_SIGNAL];
/// The write end of the self-pipe, or -1 before it exists.
static WRITE_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// The read end of the self-pipe (listeners register duplicates of it).
fn read_end() -> io::Result<&'static OwnedFd> {
    static PIPE: OnceLock<Result<OwnedFd, i32>> = OnceLock::new();
    let pipe = PIPE.get_or_init(|| {
        let make = || -> io::Result<OwnedFd> {
            let (read, write) = UnixStream::pair()?;
            read.set_nonblocking(true)?;
            write.set_nonblocking(true)?;
            // The write end lives for the rest of the process: handlers may
            // run at any moment.
            WRITE_FD.store(write.into_raw_fd(), Ordering::SeqCst);
            Ok(OwnedFd::from(read))
        };
        make().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    });
    pipe.as_ref().map_err(|&errno| io::Error::from_raw_os_error(errno))
}

/// The handler: async-signal-safe (an atomic add and a `write`), and it
/// preserves `errno` for the code it interrupted.
extern "C" fn on_signal(signum: libc::c_int) {
    if let Some(counter) = usize::try_from(signum).ok().and_then(|i| COUNTERS.get(i)) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
    let fd = WRITE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // A full pipe is fine: the counter already records the delivery.
        sys::write_byte_in_signal_handler(fd, signum as u8);
    }
}

/// Installs `on_signal` for `signum` once per process.
fn install(signum: libc::c_int) -> io::Result<()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let index = usize::try_from(signum).ok().filter(|&i| i > 0 && i < MAX_SIGNAL);
    let forbidden = [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];
    let Some(index) = index.filter(|_| !forbidden.contains(&signum)) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("signal {signum} cannot be listened for")));
    };
    let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    if INSTALLED[index].load(Ordering::SeqCst) {
        return Ok(());
    }
    sys::install_signal_handler(signum, on_signal)
        .map_err(|e| io::Error::new(e.kind(), format!("installing a handler for signal {signum}: {e}")))?;
    INSTALLED[index].store(true, Ordering::SeqCst);
    Ok(())
}

/// A listener for one signal, registered with the current runtime.
pub struct Signal {
    kind: SignalKind,
    /// The counter value already reported.
    seen: u64,
    /// Our duplicate of the self-pipe's read end.
    pipe: Async<UnixStream>,
}

/// Listens for `kind` on the current runtime. Deliveries from now on are
/// reported by [`Signal::recv`]; the signal's default action (e.g. exit on
/// `SIGINT`) no longer happens, for the rest of the process.
///
/// Fails for signals that cannot be handled (`SIGKILL`, `SIGSTOP`, and
/// the fault signals). It must be awaited inside a runtime.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let read = UnixStream::from(read_end()?.try_clone()?);
    install(kind.0)?;
    let seen = COUNTERS[kind.0 as usize].load(Ordering::SeqCst);
    // The duplicate shares the read end's non-blocking mode (one open file).
    Ok(Signal { kind, seen, pipe: Async::from_nonblocking(read, Interest::READABLE) })
}

impl Signal {
    /// Waits for the next delivery. Several deliveries since the last call
    /// count as one. Returns `None` only if the runtime shut down.
    pub async fn recv(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for a delivery; see [`Signal::recv`]. Makes no syscall unless
    /// the pipe has become readable since the last poll.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        crate::task::budget::cooperate(cx, |cx| {
            loop {
                // Check the counter, then wait for the pipe: the handler bumps
                // the counter before it writes, so a delivery after the check
                // leaves the pipe readable and its event wakes us.
                let now = COUNTERS[self.kind.0 as usize].load(Ordering::SeqCst);
                if now != self.seen {
                    self.seen = now;
                    return Poll::Ready(Some(()));
                }
                match self.pipe.poll_ready(cx, Interest::READABLE) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(_)) => return Poll::Ready(None),
                    // Bytes (ours or another signal's): drain them, which ends
                    // in WouldBlock and clears the readiness, then look again.
                    Poll::Ready(Ok(_)) => self.drain(),
                }
            }
        })
    }

    /// Reads and discards pending bytes until `WouldBlock` (which also
    /// clears the cached readiness).
    fn drain(&self) {
        let mut buf = [0u8; 64];
        for _ in 0..1024 {
            match self.pipe.try_io(Interest::READABLE, |pipe| (&*pipe).read(&mut buf)) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

/// Waits for `SIGINT` (Ctrl-C).
pub async fn ctrl_c() -> io::Result<()> {
    let mut sig = signal(SignalKind::interrupt())?;
    sig.recv().await.ok_or_else(|| io::Error::other("the runtime shut down while waiting for Ctrl-C"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receives_a_raised_signal() {
        crate::block_on(async {
            let mut sig = signal(SignalKind::user_defined1()).unwrap();
            sys::raise(libc::SIGUSR1).unwrap();
            assert_eq!(sig.recv().await, Some(()));
        });
    }

    #[test]
    fn rejects_unhandleable_signals() {
        crate::block_on(async {
            assert_eq!(signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
            assert_eq!(signal(SignalKind::from_raw(0)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        });
    }
}
