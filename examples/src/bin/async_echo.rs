//! async_echo: a TCP echo server where every connection is its own task,
//! all on one thread, multiplexed by epoll/kqueue (or on every core with
//! `--threads N`: one such loop per thread).
//!
//! Each task reads like blocking code (read, write it back, until the
//! client hangs up), yet thousands run at once: when a socket has no data,
//! its task parks and the thread serves the others. An idle connection
//! holds no buffer: `read_pooled` waits for data first and only then takes
//! a buffer from the thread's pool, which gets it back once the echo is
//! written.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

use examples::cli::{announce, Args, Error, Long, Usage};
use net::{TcpListener, TcpSocket, TcpStream};
use runtime::io::AsyncWriteExt;
use runtime::signal::{signal, Signal, SignalKind};
use runtime::sync::mpsc;
use runtime::time::{sleep, timeout, Sleep};
use runtime::Handle;

const USAGE: Usage = Usage {
    name: "async_echo",
    text: "\
usage: async_echo [--addr HOST:PORT] [--threads N [--reuseport]] [--upper] [--quiet] [--grace-ms MS]

A TCP echo server: one task per connection, one thread (or N).
On SIGINT or SIGTERM it stops accepting, gives open connections up to the
grace period to finish (a second signal ends it), and exits with status 0.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0 picks a free port)
  --threads N       event loops, one per thread (default 1; 0: one per core);
                    connections are spread over them as they are accepted
  --reuseport       with --threads: a listener per thread (SO_REUSEPORT),
                    the kernel spreads connections, each thread accepts its own
  --upper           send ASCII letters back upper-cased
  --quiet           do not log connections on stderr
  --grace-ms MS     how long open connections may finish after a signal (default 5000)
  --help            show this help
",
};

/// How long to pause accepting when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug)]
struct Options {
    upper: bool,
    quiet: bool,
    grace: Duration,
    threads: usize,
    reuseport: bool,
}

fn main() -> ExitCode {
    let (addr, opts) = match USAGE.parse(parse) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    let rt = match runtime::Builder::new().worker_threads(opts.threads).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("async_echo: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(addr, opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("async_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The address to listen on, and the options.
fn parse(args: &mut Args) -> Result<(String, Options), Error> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut opts =
        Options { upper: false, quiet: false, grace: Duration::from_millis(5000), threads: 1, reuseport: false };
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => addr = args.string()?,
            Long("upper") => opts.upper = true,
            Long("quiet") => opts.quiet = true,
            Long("grace-ms") => opts.grace = args.millis()?,
            Long("threads") => opts.threads = args.parsed()?,
            Long("reuseport") => opts.reuseport = true,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok((addr, opts))
}

/// What woke the accept loop.
enum Event {
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Shutdown,
}

/// How the grace period ended.
enum Ended {
    AllClosed,
    SecondSignal,
}

async fn serve(addr: String, opts: Options) -> io::Result<()> {
    let workers = Handle::current().workers();
    if opts.reuseport && workers > 1 {
        return serve_reuseport(&addr, opts).await;
    }
    let listener = TcpListener::bind(addr.as_str()).await?;
    let signals = Signals::listen()?;
    announce(listener.local_addr()?);
    // Accepting here, in `block_on`: each `spawn` below goes to the next
    // thread in turn, so the connections spread over every thread.
    accept_until_signal(listener, signals, opts).await
}

/// A listener per thread, all on one port (SO_REUSEPORT): the kernel hands
/// each new connection to one of them, and each thread serves what it accepts.
async fn serve_reuseport(addr: &str, opts: Options) -> io::Result<()> {
    let handle = Handle::current();
    let first = net::lookup_host(addr).await?.into_iter().next().ok_or_else(|| io::Error::other("no address"))?;
    let bind = |addr: SocketAddr| -> io::Result<TcpListener> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    };
    let listener = bind(first)?;
    let addr = listener.local_addr()?; // the real port, if `first` asked for 0
                                       // Every listener and signal watcher exists before the address is
                                       // announced: a connection or a signal from then on reaches them.
    let mut threads = vec![handle.spawn_on(0, accept_until_signal(listener, Signals::listen()?, opts))];
    for i in 1..handle.workers() {
        threads.push(handle.spawn_on(i, accept_until_signal(bind(addr)?, Signals::listen()?, opts)));
    }
    announce(addr);
    for t in threads {
        t.await.map_err(io::Error::from)??;
    }
    Ok(())
}

/// SIGINT and SIGTERM, watched from the moment they are created.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn listen() -> io::Result<Signals> {
        Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.interrupt.poll_recv(cx).is_ready() || self.terminate.poll_recv(cx).is_ready() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Accepts until SIGINT or SIGTERM, a task per connection; then waits for
/// the open connections, at most the grace period.
async fn accept_until_signal(listener: TcpListener, mut signals: Signals, opts: Options) -> io::Result<()> {
    // Every connection task holds a clone of `open`; `closed.recv()` returns
    // `None` once all of them have finished.
    let (open, mut closed) = mpsc::channel::<()>(1);
    let mut backoff: Option<Sleep> = None;
    loop {
        let event = poll_fn(|cx| {
            if signals.poll(cx).is_ready() {
                return Poll::Ready(Event::Shutdown);
            }
            if let Some(pause) = backoff.as_mut() {
                if Pin::new(pause).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                backoff = None;
            }
            listener.poll_accept(cx).map(Event::Accepted)
        })
        .await;
        match event {
            Event::Accepted(Ok((stream, peer))) => {
                // Each connection is its own task; a failure ends only that task.
                let open = open.clone();
                runtime::spawn(async move {
                    connection(stream, peer, opts).await;
                    drop(open);
                });
            }
            Event::Accepted(Err(e)) if is_resource_exhaustion(&e) => {
                // The connection stays queued in the kernel; retrying at once
                // would fail again and spin. Pause, then try again.
                if !opts.quiet {
                    eprintln!("accept failed: {e}; retrying in {} ms", ACCEPT_BACKOFF.as_millis());
                }
                backoff = Some(sleep(ACCEPT_BACKOFF));
            }
            Event::Accepted(Err(e)) => return Err(io::Error::new(e.kind(), format!("accept: {e}"))),
            Event::Shutdown => break,
        }
    }
    // Stop accepting (the listening socket closes now), then wait for the
    // open connections, at most the grace period.
    drop(listener);
    drop(open);
    if !opts.quiet {
        eprintln!("shutting down: waiting up to {} ms for open connections", opts.grace.as_millis());
    }
    let ended = poll_fn(|cx| {
        if closed.poll_recv(cx).is_ready() {
            return Poll::Ready(Ended::AllClosed);
        }
        if signals.poll(cx).is_ready() {
            return Poll::Ready(Ended::SecondSignal);
        }
        Poll::Pending
    });
    let why = match timeout(opts.grace, ended).await {
        Ok(Ended::AllClosed) => return Ok(()),
        Ok(Ended::SecondSignal) => "second signal",
        Err(_elapsed) => "grace period over",
    };
    if !opts.quiet {
        eprintln!("{why}: closing the remaining connections");
    }
    Ok(())
}

/// EMFILE / ENFILE (out of fds) and ENOBUFS / ENOMEM: transient, wait them out.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

async fn connection(stream: TcpStream, peer: SocketAddr, opts: Options) {
    if !opts.quiet {
        eprintln!("accepted {peer}");
    }
    let _ = stream.set_nodelay(true);
    let mut total = 0u64;
    let res = echo(&stream, opts.upper, &mut total).await;
    if !opts.quiet {
        match res {
            Ok(()) => eprintln!("closed {peer} after {total} bytes"),
            Err(e) => eprintln!("closed {peer} after {total} bytes: {e}"),
        }
    }
}

/// Echoes until the peer closes its side; counts the bytes in `total`.
async fn echo(stream: &TcpStream, upper: bool, total: &mut u64) -> io::Result<()> {
    let mut writer = stream;
    loop {
        // Waits here, holding no buffer, until data arrives.
        let mut data = stream.read_pooled().await?;
        if data.is_empty() {
            return Ok(()); // the client closed its side
        }
        if upper {
            data.make_ascii_uppercase();
        }
        writer.write_all(&data).await?;
        *total += data.len() as u64;
    }
}
