//! How the example HTTP servers run their connections, from accept to
//! close, and how they stop.
//!
//! - [`accept_loop`] / [`accept_until`]: accept connections and hand each
//!   to its task; running out of file descriptors pauses, it does not fail.
//! - [`IdleTimer`]: drop a connection that made no progress for a while.
//! - [`linger_close`]: close without destroying the last response in flight.
//! - Graceful shutdown: on SIGINT or SIGTERM stop accepting, let open
//!   connections finish for up to a grace period, return.
//!   [`serve_until_signal`] runs the accept loop and the grace period; each
//!   connection gets a [`Drain`] that tells it the server is shutting down,
//!   so a connection between requests closes at once and one in the middle
//!   of a request answers it (`Connection: close`) before closing. A second
//!   signal ends the grace period early. [`listen_and_announce`] binds and
//!   announces the address only once the signals are caught.

use std::future::{poll_fn, Future};
use std::io;
use std::net::Shutdown;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use net::{TcpListener, TcpStream};
use runtime::io::AsyncReadExt;
use runtime::sync::{mpsc, oneshot};
use runtime::time::{sleep, sleep_until, timeout, Sleep};

pub use crate::signals::ShutdownSignals;

/// How long to pause accepting when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Most connections [`accept_until`] accepts in a row without polling its stop.
const STOP_CHECK_EVERY: usize = 64;
/// How long a closing connection keeps reading (and discarding) what the
/// client still sends, so our last response is not destroyed by a reset.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// Accepts connections forever, handing each to `on_connection` (which
/// spawns its task). Running out of file descriptors pauses accepting
/// instead of failing; connections reset before we accept them are skipped.
pub async fn accept_loop(listener: &TcpListener, on_connection: impl FnMut(TcpStream)) -> io::Result<()> {
    accept_until(listener, |_| Poll::Pending, on_connection).await
}

/// Like [`accept_loop`], until `stop` is ready: then returns `Ok(())`.
/// `stop` is polled whenever there is nothing to accept, and after every 64
/// connections of a flood: a flood delays a stop request by at most that
/// many connections, and does not pay for polling `stop` (which can cost
/// a syscall) on each one.
pub async fn accept_until(
    listener: &TcpListener,
    mut stop: impl FnMut(&mut Context<'_>) -> Poll<()>,
    mut on_connection: impl FnMut(TcpStream),
) -> io::Result<()> {
    let mut backoff: Option<Sleep> = None;
    let mut unchecked = 0;
    loop {
        let accepted = poll_fn(|cx| {
            if let Some(pause) = backoff.as_mut() {
                if Pin::new(pause).poll(cx).is_pending() {
                    return stop(cx).map(|()| None);
                }
                backoff = None;
            }
            if unchecked < STOP_CHECK_EVERY {
                if let Poll::Ready(res) = listener.poll_accept(cx) {
                    unchecked += 1;
                    return Poll::Ready(Some(res));
                }
            }
            unchecked = 0;
            if stop(cx).is_ready() {
                return Poll::Ready(None);
            }
            listener.poll_accept(cx).map(Some)
        })
        .await;
        match accepted {
            None => return Ok(()),
            Some(Ok((stream, _peer))) => on_connection(stream),
            Some(Err(e)) if is_resource_exhaustion(&e) => {
                // The connection stays queued in the kernel; retrying at once
                // would fail again and spin.
                eprintln!("accept failed: {e}; retrying in {} ms", ACCEPT_BACKOFF.as_millis());
                backoff = Some(sleep(ACCEPT_BACKOFF));
            }
            Some(Err(e)) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => {}
            Some(Err(e)) => return Err(io::Error::new(e.kind(), format!("accept: {e}"))),
        }
    }
}

/// EMFILE / ENFILE (out of fds) and ENOBUFS / ENOMEM: transient, wait them out.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// Drops a connection that made no progress for a while.
///
/// One timer per connection, moved lazily: [`touch`](Self::touch) only
/// records the time, and when the timer fires early because of a touch it
/// is re-armed for the new deadline. So a busy connection costs a clock
/// read per touch, not a timer insertion per request.
#[derive(Debug)]
pub struct IdleTimer {
    limit: Duration,
    /// When the connection last made progress.
    last: Instant,
    /// Fires at or before `last + limit`.
    sleep: Sleep,
}

impl IdleTimer {
    /// A timer that expires `limit` from now unless touched.
    pub fn new(limit: Duration) -> IdleTimer {
        let now = Instant::now();
        IdleTimer { limit, last: now, sleep: sleep_until(now + limit) }
    }

    /// Records progress: the deadline moves to `limit` from now.
    pub fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Runs `future` until it completes (`Some`) or the connection has been
    /// idle for `limit` (`None`, and `future` is dropped).
    pub async fn guard<F: Future>(&mut self, future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        poll_fn(|cx| {
            if let Poll::Ready(v) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            // At most two passes: after a re-arm the deadline is in the future.
            for _ in 0..2 {
                if Pin::new(&mut self.sleep).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let due = self.last + self.limit;
                if due <= Instant::now() {
                    return Poll::Ready(None);
                }
                self.sleep.reset(due);
            }
            Poll::Pending
        })
        .await
    }
}

/// Closes gracefully: sends FIN, then discards what the client still sends
/// until it closes too (at most [`LINGER`] and a megabyte), so unread
/// request bytes cannot make the kernel reset the connection and destroy
/// the response in flight (the "lingering close" of RFC 9112 §9.6).
pub async fn linger_close(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let _ = timeout(LINGER, async {
        let mut reader = stream;
        let mut buf = [0u8; 512];
        let mut total = 0;
        while total < LINGER_BYTES {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

/// Binds `addr`, starts listening for SIGINT and SIGTERM, and only then
/// announces the bound address (`listening on ADDR`, see
/// [`announce`](crate::cli::announce)): a signal sent right after the
/// announcement is not lost. A bind error names `addr`.
pub async fn listen_and_announce(addr: &str) -> io::Result<(TcpListener, ShutdownSignals)> {
    let listener =
        TcpListener::bind(addr).await.map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    let signals = ShutdownSignals::listen()?;
    crate::cli::announce(listener.local_addr()?);
    Ok((listener, signals))
}

/// A connection's view of its server's shutdown. Once it fires the
/// connection finishes the request in hand, answers it with
/// `Connection: close`, and closes; between requests it closes at once.
#[derive(Debug)]
pub struct Drain {
    /// Set by the server when it starts draining: checking it is one atomic
    /// load, cheap enough for every request.
    fired: Arc<AtomicBool>,
    /// Closed (its sender dropped) when the server starts draining, which
    /// wakes a connection waiting between requests; `None` for a server
    /// that never drains.
    rx: Option<oneshot::Receiver<()>>,
}

impl Drain {
    /// A drain that never fires, for servers stopped by other means.
    pub fn never() -> Drain {
        Drain { fired: Arc::new(AtomicBool::new(false)), rx: None }
    }

    /// True once the server is shutting down.
    pub fn is_draining(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Ready once the server is shutting down (and every time after).
    pub fn poll_draining(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_draining() {
            return Poll::Ready(());
        }
        match self.rx.as_mut() {
            None => Poll::Pending,
            Some(rx) => Pin::new(rx).poll(cx).map(|_| ()),
        }
    }

    /// Runs `future` until it completes (`Some`) or the server starts
    /// shutting down (`None`, and `future` is dropped). If both are ready
    /// the future wins: bytes that arrived before the signal are served.
    pub async fn unless_draining<F: Future>(&mut self, future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        poll_fn(|cx| {
            if let Poll::Ready(v) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            self.poll_draining(cx).map(|()| None)
        })
        .await
    }
}

/// The server's side of every open connection's [`Drain`].
#[derive(Debug, Default)]
struct Drains {
    /// Shared by every drain; set first when they fire.
    fired: Arc<AtomicBool>,
    /// One sender per connection; dropping it wakes that connection.
    senders: Vec<oneshot::Sender<()>>,
    /// When `senders` reaches this length the finished connections' senders
    /// are dropped, so memory follows the open connections (amortised O(1)).
    prune_at: usize,
}

impl Drains {
    fn add(&mut self) -> Drain {
        if self.senders.len() >= self.prune_at {
            self.senders.retain(|tx| !tx.is_closed());
            self.prune_at = (2 * self.senders.len()).max(64);
        }
        let (tx, rx) = oneshot::channel();
        self.senders.push(tx);
        Drain { fired: self.fired.clone(), rx: Some(rx) }
    }

    /// Fires every drain: the flag first, so a woken connection sees it.
    fn fire(&mut self) {
        self.fired.store(true, Ordering::Release);
        self.senders = Vec::new();
    }
}

/// How the grace period ended.
enum Ended {
    /// Every connection closed.
    AllClosed,
    /// Another signal came.
    Signal,
}

/// Serves `listener` until SIGINT or SIGTERM, spawning `connection(stream,
/// drain)` for each connection. Then closes the listener (new connections
/// are refused), fires every [`Drain`], and waits up to `grace` for the
/// open connections to finish (or for a second signal). Returns `Ok(())`:
/// the caller exits, and the connections still open close with it.
///
/// Logs on stderr, for people and tests: `shutting down: waiting up to N
/// ms for open connections` once the listener is closed, then `grace
/// period over: ...` or `second signal: ...` if connections remained.
pub async fn serve_until_signal<F, Fut>(
    listener: TcpListener,
    mut signals: ShutdownSignals,
    grace: Duration,
    mut connection: F,
) -> io::Result<()>
where
    F: FnMut(TcpStream, Drain) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Every connection task holds a clone of `open`; `closed` reports the
    // end of the channel once all of them have finished.
    let (open, mut closed) = mpsc::channel::<()>(1);
    let mut drains = Drains::default();
    accept_until(
        &listener,
        |cx| signals.poll_recv(cx),
        |stream| {
            let open = open.clone();
            let serve = connection(stream, drains.add());
            runtime::spawn(async move {
                serve.await;
                drop(open);
            });
        },
    )
    .await?;
    drop(listener);
    drop(open);
    drains.fire();
    eprintln!("shutting down: waiting up to {} ms for open connections", grace.as_millis());
    let ended = poll_fn(|cx| {
        if closed.poll_recv(cx).is_ready() {
            return Poll::Ready(Ended::AllClosed);
        }
        signals.poll_recv(cx).map(|()| Ended::Signal)
    });
    match timeout(grace, ended).await {
        Ok(Ended::AllClosed) => {}
        Ok(Ended::Signal) => eprintln!("second signal: closing the remaining connections"),
        Err(_elapsed) => eprintln!("grace period over: closing the remaining connections"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_fire_and_prune() {
        runtime::block_on(async {
            let mut drains = Drains::default();
            let mut kept: Vec<Drain> = (0..10).map(|_| drains.add()).collect();
            // Finished connections' senders go at the next prune.
            for _ in 0..200 {
                drop(drains.add());
            }
            assert!(drains.senders.len() < 150, "{} senders kept", drains.senders.len());
            assert!(kept.iter().all(|d| !d.is_draining()));
            assert!(!Drain::never().is_draining());
            assert_eq!(kept[0].unless_draining(async { 7 }).await, Some(7));
            drains.fire();
            for d in &mut kept {
                assert!(d.is_draining());
                assert_eq!(d.unless_draining(std::future::pending::<()>()).await, None);
            }
        });
    }

    #[test]
    fn idle_timer_fires_only_after_a_quiet_limit() {
        runtime::block_on(async {
            let limit = Duration::from_millis(60);
            let mut idle = IdleTimer::new(limit);
            let start = Instant::now();
            // Touching halfway pushes the deadline out.
            assert_eq!(idle.guard(runtime::time::sleep(limit / 2)).await, Some(()));
            idle.touch();
            let touched = Instant::now();
            assert_eq!(idle.guard(runtime::time::sleep(Duration::from_secs(10))).await, None);
            assert!(touched.elapsed() >= limit);
            assert!(start.elapsed() < Duration::from_secs(5));
        });
    }
}
