//! What the example HTTP servers share: the accept loop, an idle timer,
//! response heads, and a graceful close.

use std::future::{poll_fn, Future};
use std::io;
use std::net::Shutdown;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use net::{TcpListener, TcpStream};
use runtime::io::AsyncReadExt;
use runtime::time::{sleep, sleep_until, timeout, Sleep};

use super::request::{RequestError, RequestHead};

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

/// What the response's `Connection` header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 keep-alive, the default: no header.
    KeepAlive,
    /// HTTP/1.0 keep-alive, which must be confirmed: `Connection: keep-alive`.
    KeepAlive10,
    /// The server closes after this response: `Connection: close`.
    Close,
}

impl Persistence {
    /// What the response to `head` says: close unless the request keeps the connection alive.
    pub fn for_request(head: &RequestHead) -> Persistence {
        match (head.keep_alive, head.version) {
            (false, _) => Persistence::Close,
            (true, 0) => Persistence::KeepAlive10,
            (true, _) => Persistence::KeepAlive,
        }
    }
}

/// Appends a complete `text/plain` response to `out`; with `head_only`
/// (a `HEAD` request) the body is left out but still counted.
///
/// ```
/// use examples::http::{write_response, Persistence};
/// let mut out = Vec::new();
/// write_response(&mut out, 200, "OK", b"OK", false, Persistence::Close);
/// assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
/// ```
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    body: &[u8],
    head_only: bool,
    persistence: Persistence,
) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n", body.len());
    match persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAlive10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Persistence::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Appends the error response for `err` (which always closes).
pub fn write_error(out: &mut Vec<u8>, err: &RequestError) {
    let (status, reason) = err.status();
    write_response(out, status, reason, format!("{reason}\n").as_bytes(), false, Persistence::Close);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ResponseParser;

    #[test]
    fn error_responses_are_well_formed() {
        for err in [RequestError::Malformed("x".into()), RequestError::TooLarge] {
            let mut out = Vec::new();
            write_error(&mut out, &err);
            let mut p = ResponseParser::new(false);
            assert!(p.feed(&out).unwrap());
            let r = p.into_response().unwrap();
            assert_eq!((r.status, r.header("connection")), (err.status().0, Some("close")));
            assert_eq!(r.body, format!("{}\n", err.status().1).as_bytes());
        }
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
