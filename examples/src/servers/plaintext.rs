//! The plaintext server, in the shape of TechEmpower's "plaintext" test:
//! every `GET` is answered `200 OK` with `Hello, World!`.
//!
//! Built for throughput: a connection waits for readability holding no
//! buffer, then reads into one buffer shared by the whole thread, answers
//! every complete request in it (pipelined ones included) into one shared
//! output buffer, and writes that with a single `send`. Only when the
//! socket cannot take it all, or a request is split across reads, does the
//! connection keep bytes of its own. No allocation per request.
//!
//! Keep-alive is the default; `Connection: close` (or HTTP/1.0 without
//! keep-alive) is answered, then the connection closed. A malformed request
//! gets `400` and a close (so does a head cut short by the client's
//! half-close), a head over 8 KiB `431`, a method other than `GET` or `HEAD`
//! `405`. A connection with no complete request for the idle limit is
//! dropped, and so is one whose client stops reading its responses for as
//! long: the responses it cannot take are held (at most one read's worth)
//! only that long.
//!
//! [`serve_until_signal`] adds a graceful shutdown: on SIGINT or SIGTERM the
//! listener closes, connections between requests close at once, and one in
//! the middle of a request gets its answer with `Connection: close`.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use net::{TcpListener, TcpStream};
use runtime::io::AsyncWriteExt;

use super::lifecycle::{self, accept_loop, linger_close, Drain, IdleTimer, ShutdownSignals};
use crate::http::proto::{parse_request, write_error, BodySkip, Method, Persistence, RequestError};

/// The answer to a keep-alive `GET`, byte for byte the benchmark kit's
/// reference response (no `Date` or `Server` header).
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
/// The body every `GET` gets.
pub const BODY: &[u8] = b"Hello, World!";
/// The answer when the connection closes after it.
const RESPONSE_CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!";
/// The answer to an HTTP/1.0 request that asked for keep-alive (which must be confirmed).
const RESPONSE_KEEP_ALIVE_10: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, World!";
/// The answer to any other method; the connection closes after it.
const METHOD_NOT_ALLOWED: &[u8] =
    b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain\r\n\
Content-Length: 19\r\nConnection: close\r\n\r\nMethod Not Allowed\n";

/// Size of the thread's shared read buffer.
const READ_BUFFER: usize = 64 * 1024;

/// A connection without a complete request for this long is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The thread's shared buffers: all connections run on this thread and use
/// them only between two awaits.
#[derive(Debug, Default)]
struct Buffers {
    /// Where every read lands.
    input: Vec<u8>,
    /// The responses to one read's requests, written at once.
    output: Vec<u8>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// CPU time burned per answered request, in nanoseconds (0: none).
static WORK_NS: AtomicU64 = AtomicU64::new(0);

/// Makes every answered request cost `work` of CPU time (a busy loop), to
/// benchmark a server-bound workload (`http_server --work-us`): with it,
/// throughput depends on how many cores serve requests, not on the client.
pub fn set_work_per_request(work: Duration) {
    WORK_NS.store(u64::try_from(work.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Burns the CPU time of `requests` requests (see [`set_work_per_request`]).
fn work(requests: usize) {
    let ns = WORK_NS.load(Ordering::Relaxed);
    if ns == 0 || requests == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_nanos(ns.saturating_mul(requests as u64));
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Accepts connections on `listener` forever, each served by its own task;
/// connections idle for `idle_timeout` are dropped.
///
/// ```no_run
/// runtime::block_on(async {
///     let listener = net::TcpListener::bind("127.0.0.1:8082").await?;
///     examples::servers::plaintext::serve(listener, examples::servers::plaintext::IDLE_TIMEOUT).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn serve(listener: TcpListener, idle_timeout: Duration) -> io::Result<()> {
    accept_loop(&listener, |stream| {
        runtime::spawn(connection(stream, idle_timeout, Drain::never()));
    })
    .await
}

/// Like [`serve`] until SIGINT or SIGTERM, then shuts down gracefully (see
/// [`lifecycle::serve_until_signal`]): returns once the open connections
/// have finished, or after `grace`.
pub async fn serve_until_signal(
    listener: TcpListener,
    idle_timeout: Duration,
    signals: ShutdownSignals,
    grace: Duration,
) -> io::Result<()> {
    lifecycle::serve_until_signal(listener, signals, grace, move |stream, drain| {
        connection(stream, idle_timeout, drain)
    })
    .await
}

/// Serves one connection until it closes, fails, idles out, is rejected or
/// `drain` fires.
pub async fn connection(stream: TcpStream, idle_timeout: Duration, mut drain: Drain) {
    // Responses are complete when written: send them now, not after an ACK.
    let _ = stream.set_nodelay(true);
    // An error here is the peer's doing (reset, vanished); nothing to answer.
    let _ = serve_requests(&stream, idle_timeout, &mut drain).await;
}

/// What a connection keeps between reads.
#[derive(Debug, Default)]
struct Conn {
    /// Unconsumed bytes: the start of a request split across reads.
    pending: Vec<u8>,
    /// The body of the last request, if it is still arriving.
    body: BodySkip,
    /// Set once a response that ends the connection has been queued.
    close: bool,
    /// The server is shutting down: the next response closes the connection.
    draining: bool,
}

/// What one readiness event came to.
enum Step {
    /// Woken, but the data was gone.
    Again,
    /// The client closed the connection.
    Eof,
    /// Read and answered; `answered` counts complete requests, `full` says
    /// the read filled the buffer (more is probably waiting).
    Served { answered: usize, full: bool },
}

async fn serve_requests(stream: &TcpStream, idle_timeout: Duration, drain: &mut Drain) -> io::Result<()> {
    let mut conn = Conn::default();
    let mut idle = IdleTimer::new(idle_timeout);
    // Responses the socket could not take yet.
    let mut rest = Vec::new();
    let mut writer = stream;
    loop {
        // Idle connections wait here, holding no buffer. Between requests a
        // shutdown closes the connection at once.
        let between = conn.pending.is_empty() && conn.body.is_done();
        let ready = if between {
            idle.guard(drain.unless_draining(stream.readable())).await.flatten()
        } else {
            idle.guard(stream.readable()).await
        };
        match ready {
            None => return Ok(()),
            Some(ready) => ready?,
        }
        conn.draining = drain.is_draining();
        let step = BUFFERS.with_borrow_mut(|bufs| on_readable(stream, &mut conn, bufs, &mut rest))?;
        let Step::Served { answered, full } = step else {
            if let Step::Eof = step {
                if conn.pending.iter().any(|&b| b != b'\r' && b != b'\n') {
                    // The client half-closed in the middle of a head.
                    let why = format!("connection closed inside the request head ({} bytes)", conn.pending.len());
                    let mut out = Vec::new();
                    write_error(&mut out, &RequestError::Malformed(why));
                    if idle.guard(writer.write_all(&out)).await.transpose()?.is_some() {
                        linger_close(stream).await;
                    }
                }
                return Ok(());
            }
            continue;
        };
        if answered > 0 {
            idle.touch();
        }
        if !rest.is_empty() {
            // The send buffer is full: wait for it to drain before reading
            // more, so responses stay in order and memory stays bounded. A
            // client that reads nothing for the idle limit is dropped.
            if idle.guard(writer.write_all(&rest)).await.transpose()?.is_none() {
                return Ok(());
            }
            rest = Vec::new();
        }
        if conn.close {
            linger_close(stream).await;
            return Ok(());
        }
        if full {
            // Let the other connections run before reading the rest.
            runtime::yield_now().await;
        }
    }
}

/// Reads what is ready into the shared buffer, answers every complete
/// request, and writes the answers with one `send`; what the socket cannot
/// take goes to `rest`.
fn on_readable(stream: &TcpStream, conn: &mut Conn, bufs: &mut Buffers, rest: &mut Vec<u8>) -> io::Result<Step> {
    let Buffers { input, output } = bufs;
    if input.is_empty() {
        input.resize(READ_BUFFER, 0);
    }
    let n = match stream.try_read(input) {
        Ok(0) => return Ok(Step::Eof),
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Again),
        Err(e) => return Err(e),
    };
    output.clear();
    let Conn { pending, body, close, draining } = conn;
    let answered = if pending.is_empty() {
        // The common case: whole requests in one read, no copy.
        let (used, answered) = respond(&input[..n], body, close, *draining, output);
        if !*close {
            pending.extend_from_slice(&input[used..n]);
        }
        answered
    } else {
        pending.extend_from_slice(&input[..n]);
        let (used, answered) = respond(pending, body, close, *draining, output);
        pending.drain(..used);
        if pending.is_empty() {
            *pending = Vec::new();
        }
        answered
    };
    work(answered);
    if !output.is_empty() {
        let written = match stream.try_write(output) {
            Ok(w) => w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        rest.extend_from_slice(&output[written..]);
    }
    Ok(Step::Served { answered, full: n == input.len() })
}

/// Answers every complete request at the start of `data` into `out`, in
/// order, and skips request bodies. Returns the bytes consumed and the
/// requests answered; sets `close` when the connection must close once
/// `out` is written (and then stops). `draining` makes the first answer
/// the last, with `Connection: close`.
fn respond(data: &[u8], body: &mut BodySkip, close: &mut bool, draining: bool, out: &mut Vec<u8>) -> (usize, usize) {
    let mut used = 0;
    let mut answered = 0;
    // Each pass consumes a whole request or ends the loop.
    while !*close {
        if !body.is_done() {
            match body.skip(&data[used..]) {
                Ok(n) => used += n,
                Err(e) => {
                    write_error(out, &RequestError::Malformed(e.to_string()));
                    *close = true;
                    break;
                }
            }
            if !body.is_done() {
                break;
            }
        }
        let (head, len) = match parse_request(&data[used..]) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => break,
            Err(e) => {
                write_error(out, &e);
                *close = true;
                break;
            }
        };
        used += len;
        answered += 1;
        *body = BodySkip::new(head.body);
        let persistence = if draining { Persistence::Close } else { Persistence::for_request(&head) };
        let response = match (head.method, persistence) {
            (Method::Other, _) => {
                *close = true;
                METHOD_NOT_ALLOWED
            }
            (_, Persistence::KeepAlive) => RESPONSE,
            (_, Persistence::KeepAlive10) => RESPONSE_KEEP_ALIVE_10,
            (_, Persistence::Close) => {
                *close = true;
                RESPONSE_CLOSE
            }
        };
        // HEAD gets the same head, without the body.
        let end = if head.method == Method::Head { response.len() - BODY.len() } else { response.len() };
        out.extend_from_slice(&response[..end]);
    }
    (used, answered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::proto::{write_response, ResponseParser};

    fn run(data: &[u8]) -> (usize, usize, bool, Vec<u8>) {
        let mut body = BodySkip::default();
        let mut close = false;
        let mut out = Vec::new();
        let (used, answered) = respond(data, &mut body, &mut close, false, &mut out);
        (used, answered, close, out)
    }

    #[test]
    fn constants_are_what_write_response_builds() {
        let mut out = Vec::new();
        write_response(&mut out, 200, "OK", BODY, false, Persistence::KeepAlive);
        assert_eq!(out, RESPONSE);
        out.clear();
        write_response(&mut out, 200, "OK", BODY, false, Persistence::Close);
        assert_eq!(out, RESPONSE_CLOSE);
        out.clear();
        write_response(&mut out, 200, "OK", BODY, false, Persistence::KeepAlive10);
        assert_eq!(out, RESPONSE_KEEP_ALIVE_10);
        let mut p = ResponseParser::new(false);
        assert!(p.feed(METHOD_NOT_ALLOWED).unwrap());
        assert_eq!(p.into_response().unwrap().status, 405);
    }

    #[test]
    fn answers_pipelined_requests_in_one_buffer() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let data = [req.repeat(16), b"GET / HT".to_vec()].concat();
        let (used, answered, close, out) = run(&data);
        assert_eq!((used, answered, close), (req.len() * 16, 16, false));
        assert_eq!(out, RESPONSE.repeat(16));
    }

    #[test]
    fn close_head_method_and_errors() {
        let (_, answered, close, out) = run(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert_eq!((answered, close, out.as_slice()), (1, true, RESPONSE_CLOSE));
        let (_, _, close, out) = run(b"HEAD / HTTP/1.1\r\n\r\n");
        assert_eq!((close, out.as_slice()), (false, &RESPONSE[..RESPONSE.len() - 13]));
        let (_, _, close, out) = run(b"GET / HTTP/1.1\r\n\r\nnonsense\r\n\r\n");
        assert!(close && out.starts_with(RESPONSE) && out[RESPONSE.len()..].starts_with(b"HTTP/1.1 400 "));
        let (_, _, close, out) = run(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert!(close && out.starts_with(b"HTTP/1.1 405 "));
    }

    #[test]
    fn draining_answers_one_request_and_closes() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut body = BodySkip::default();
        let mut close = false;
        let mut out = Vec::new();
        let (used, answered) = respond(&req.repeat(3), &mut body, &mut close, true, &mut out);
        assert_eq!((used, answered, close, out.as_slice()), (req.len(), 1, true, RESPONSE_CLOSE));
    }

    #[test]
    fn skips_bodies_split_across_reads() {
        let mut body = BodySkip::default();
        let mut close = false;
        let mut out = Vec::new();
        let first = b"GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345";
        assert_eq!(respond(first, &mut body, &mut close, false, &mut out), (first.len(), 1));
        let second = b"67890GET / HTTP/1.1\r\n\r\n";
        assert_eq!(respond(second, &mut body, &mut close, false, &mut out), (second.len(), 1));
        assert_eq!(out, RESPONSE.repeat(2));
    }
}
