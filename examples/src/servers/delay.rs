//! The delay server: every HTTP request is answered `200 OK` after a fixed
//! delay, waited on an async timer, so thousands of requests wait at once
//! on one thread.
//!
//! HTTP/1.1 connections stay open and pipelined requests are answered in
//! order (each after its own delay, one after another); HTTP/1.0 requests
//! are answered and the connection closed (unless they ask for
//! keep-alive). A malformed request gets `400`, a head over 8 KiB `431`,
//! both followed by a close; so does a request cut short by the client's
//! (half-)close. A connection without a complete request for
//! [`Config::idle_timeout`] is dropped, and so is one whose client stops
//! reading: a response that cannot be written within the idle limit ends it.
//!
//! [`serve_until_signal`] adds a graceful shutdown: on SIGINT or SIGTERM the
//! listener closes, connections between requests close at once, and a
//! request in flight still gets its answer (with `Connection: close`)
//! within the grace period.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use net::{TcpListener, TcpStream};
use runtime::io::AsyncWriteExt;

use super::lifecycle::{self, accept_loop, linger_close, Drain, IdleTimer, ShutdownSignals};
use crate::http::proto::{write_error, write_response, Method, Next, Persistence, RequestReader};

/// The body of every answer.
pub const BODY: &[u8] = b"OK";

/// How the delay server behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long each request waits before its answer (default 1 s).
    pub delay: Duration,
    /// A connection that completes no request for this long is dropped (default 10 s).
    pub idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config { delay: Duration::from_secs(1), idle_timeout: Duration::from_secs(10) }
    }
}

/// Accepts connections on `listener` forever, each served by its own task.
///
/// ```no_run
/// use examples::servers::delay::{serve, Config};
/// runtime::block_on(async {
///     let listener = net::TcpListener::bind("127.0.0.1:8081").await?;
///     serve(listener, Config::default()).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn serve(listener: TcpListener, config: Config) -> io::Result<()> {
    accept_loop(&listener, |stream| {
        runtime::spawn(connection(stream, config, Drain::never()));
    })
    .await
}

/// Like [`serve`] until SIGINT or SIGTERM, then shuts down gracefully (see
/// [`lifecycle::serve_until_signal`]): returns once the open connections
/// have finished, or after `grace`.
pub async fn serve_until_signal(
    listener: TcpListener,
    config: Config,
    signals: ShutdownSignals,
    grace: Duration,
) -> io::Result<()> {
    lifecycle::serve_until_signal(listener, signals, grace, move |stream, drain| connection(stream, config, drain))
        .await
}

/// Serves one connection until it closes, fails, idles out, is rejected or
/// `drain` fires.
pub async fn connection(stream: TcpStream, config: Config, mut drain: Drain) {
    let _ = stream.set_nodelay(true);
    // An error here is the peer's doing (reset, vanished); nothing to answer.
    let _ = serve_requests(&stream, config, &mut drain).await;
}

async fn serve_requests(stream: &TcpStream, config: Config, drain: &mut Drain) -> io::Result<()> {
    let mut reader = RequestReader::new(stream);
    let mut idle = IdleTimer::new(config.idle_timeout);
    let mut writer = stream;
    loop {
        // Between requests a shutdown closes the connection at once.
        match idle.guard(drain.unless_draining(reader.wait_for_bytes())).await {
            None | Some(None) => return Ok(()), // idle too long, or shutting down
            Some(Some(more)) => {
                if !more? {
                    return Ok(()); // the client closed
                }
            }
        }
        let Some(next) = idle.guard(reader.next_request()).await else {
            return Ok(()); // idle too long: drop without a word
        };
        let mut out = Vec::new();
        let head = match next? {
            Next::Request(head) => head,
            Next::Closed => return Ok(()),
            Next::Reject(err) => {
                write_error(&mut out, &err);
                idle.touch();
                idle.guard(writer.write_all(&out)).await.transpose()?;
                linger_close(stream).await;
                return Ok(());
            }
        };
        // The whole point: an async timer, so this thread serves the other
        // connections while this one waits.
        runtime::time::sleep(config.delay).await;
        // Shutting down: this answer is the connection's last.
        let persistence = if drain.is_draining() { Persistence::Close } else { Persistence::for_request(&head) };
        write_response(&mut out, 200, "OK", BODY, head.method == Method::Head, persistence);
        idle.touch();
        if idle.guard(writer.write_all(&out)).await.transpose()?.is_none() {
            return Ok(()); // the client stopped reading
        }
        if persistence == Persistence::Close {
            linger_close(stream).await;
            return Ok(());
        }
        idle.touch();
    }
}

/// A delay server on its own thread and runtime, for programs (and tests)
/// that need one in-process. Dropping it stops the server and joins the thread.
///
/// ```
/// use std::time::Duration;
/// use examples::servers::delay::{Background, Config};
/// use examples::http::client::get_blocking;
/// use examples::http::proto::Url;
///
/// let config = Config { delay: Duration::from_millis(10), ..Config::default() };
/// let server = Background::start("127.0.0.1:0".parse().unwrap(), config)?;
/// let url = Url::parse(&format!("http://{}/", server.addr()))?;
/// let r = get_blocking(&url, Duration::from_secs(5))?;
/// assert_eq!((r.status, r.body.as_slice()), (200, &b"OK"[..]));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Background {
    addr: SocketAddr,
    stop: Arc<Stop>,
    /// The server thread; `None` once joined.
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl Background {
    /// Binds `addr` (port 0 picks a free port) and serves on a new thread.
    /// Returns once the listener is bound.
    pub fn start(addr: SocketAddr, config: Config) -> io::Result<Background> {
        let stop = Arc::new(Stop::default());
        let (bound_tx, bound_rx) = mpsc::channel();
        let thread = thread::Builder::new().name("delay_server".to_owned()).spawn({
            let stop = stop.clone();
            move || {
                let rt = runtime::Runtime::new()?;
                rt.block_on(async move {
                    let listener = match TcpListener::bind(addr).await.and_then(|l| l.local_addr().map(|a| (l, a))) {
                        Ok((listener, bound)) => {
                            let _ = bound_tx.send(Ok(bound));
                            listener
                        }
                        Err(e) => {
                            let _ = bound_tx.send(Err(io::Error::new(e.kind(), format!("binding {addr}: {e}"))));
                            return Ok(());
                        }
                    };
                    race(serve(listener, config), stop.wait()).await
                })
            }
        })?;
        let mut server = Background { addr, stop, thread: Some(thread) };
        match bound_rx.recv() {
            Ok(Ok(bound)) => {
                server.addr = bound;
                Ok(server)
            }
            Ok(Err(e)) => Err(e),
            // The thread ended without a word: it could not create its runtime.
            Err(_) => Err(server.join().err().unwrap_or_else(|| io::Error::other("delay server thread ended"))),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server, cancelling its connections, and waits for its thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.join()
    }

    fn join(&mut self) -> io::Result<()> {
        self.stop.fire();
        match self.thread.take().map(thread::JoinHandle::join) {
            None => Ok(()),
            Some(Ok(res)) => res,
            Some(Err(_)) => Err(io::Error::other("the delay server thread panicked")),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// A one-shot stop signal that wakes the server's runtime from another thread.
#[derive(Debug, Default)]
struct Stop {
    fired: AtomicBool,
    /// The waiting task's waker; taken by `fire`.
    waker: Mutex<Option<Waker>>,
}

impl Stop {
    fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    async fn wait(&self) -> io::Result<()> {
        poll_fn(|cx| {
            if self.fired.load(Ordering::SeqCst) {
                return Poll::Ready(Ok(()));
            }
            *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            // Fired between the check and storing the waker: do not sleep through it.
            if self.fired.load(Ordering::SeqCst) {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Runs both futures; the first to finish wins and the other is dropped.
async fn race<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        b.as_mut().poll(cx)
    })
    .await
}
