//! busy_poll_echo: a non-blocking echo server that never sleeps serves
//! every client on one thread, and burns a whole core doing it, even when
//! nobody sends anything.
//!
//! See it for yourself:
//!
//! ```text
//! cargo run -p examples --bin busy_poll_echo -- --secs 30
//! ```
//!
//! Connect a few clients, `cargo run -p examples --bin echo_client --
//! 127.0.0.1:8084` in several terminals (they are all served at once,
//! unlike `blocking_echo`) and watch `top` meanwhile: the server sits at
//! 100% CPU whether you type or not. After `--secs` it prints what the
//! spinning cost; with `--secs 2` and no client at all, on one machine:
//!
//! ```text
//! ran for 2.00 s: 2.00 s of CPU (100%), 495,350 loop iterations, 495,350 calls returned EAGAIN
//! ```
//!
//! Almost every one of those syscalls asked a socket "anything for me?"
//! and got "not yet" (`EAGAIN`). The kernel knows exactly when a socket
//! becomes readable; this server just never asks it to say so. `async_echo`
//! does: it registers each socket with epoll once and sleeps in
//! `epoll_wait` until one is ready, so idle it uses ~0% CPU (check with
//! `top`, or `ps -o time` after a while), and a wake-up costs the same
//! whether 10 or 10,000 connections are idle.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::cli::{announce, thousands, Args, Error, Long, Usage};
use examples::signals::watch_on_thread;
use examples::sys::cvt;

const USAGE: Usage = Usage {
    name: "busy_poll_echo",
    text: "\
usage: busy_poll_echo [--addr HOST:PORT] [--secs N] [--quiet]

A TCP echo server on one thread that polls every socket in a tight loop
(non-blocking accept and read, retried at once on EAGAIN) and never
sleeps. It serves many clients at once, and uses a full core even when
all of them are idle. It stops after --secs N seconds, or on SIGINT
(Ctrl-C) or SIGTERM, and then prints its CPU time against the wall time
and how many calls returned EAGAIN, and exits with status 0.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8084; port 0 picks a free port)
  --secs N          run for N seconds (may be fractional), then print the summary and exit
                    (default: run until SIGINT or SIGTERM)
  --quiet           do not log connections on stderr
  --help            show this help
",
};

/// Bytes read from a connection in one call.
const CHUNK: usize = 16 * 1024;

struct Options {
    addr: String,
    run_for: Option<Duration>,
    quiet: bool,
}

fn main() -> ExitCode {
    let opts = match USAGE.parse(parse) {
        Ok(opts) => opts,
        Err(exit) => return exit,
    };
    match serve(&opts.addr, opts.run_for, opts.quiet) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("busy_poll_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &mut Args) -> Result<Options, Error> {
    let mut opts = Options { addr: "127.0.0.1:8084".to_owned(), run_for: None, quiet: false };
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => opts.addr = args.string()?,
            Long("secs") => opts.run_for = Some(args.secs()?),
            Long("quiet") => opts.quiet = true,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(opts)
}

/// One client: its socket and the echo bytes its socket could not take yet.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes read but not yet written back; while non-empty, we read no more
    /// from this client (a client that does not read cannot make us buffer
    /// without bound).
    pending: Vec<u8>,
    /// Bytes echoed so far.
    total: u64,
}

/// What the spinning cost.
#[derive(Default)]
struct Counts {
    /// Passes over the listener and every connection.
    iterations: u64,
    /// accept, read and write calls that returned EAGAIN: "nothing yet".
    eagain: u64,
}

fn serve(addr: &str, run_for: Option<Duration>, quiet: bool) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    // Non-blocking: accept returns EAGAIN at once instead of waiting for a client.
    listener.set_nonblocking(true)?;
    // A signal sets this flag, and the loop looks at it on every pass: it
    // goes round so fast that it notices within microseconds.
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    watch_on_thread(move || stopped.store(true, Ordering::Relaxed))?;
    announce(listener.local_addr()?);

    let start = Instant::now();
    let deadline = run_for.map(|d| start + d);
    let mut conns: Vec<Conn> = Vec::new();
    let mut counts = Counts::default();
    let mut buf = vec![0u8; CHUNK];
    // The busy loop. There is no wait anywhere in it: when no socket has
    // anything, it goes round again immediately and asks them all again.
    // (Instant::now is read through the vDSO, without a syscall.)
    while deadline.is_none_or(|d| Instant::now() < d) && !stop.load(Ordering::Relaxed) {
        counts.iterations += 1;
        accept_all(&listener, &mut conns, &mut counts, quiet)?;
        conns.retain_mut(|conn| match poll_conn(conn, &mut buf, &mut counts) {
            Ok(true) => true,
            Ok(false) => {
                if !quiet {
                    eprintln!("closed {} after {} bytes", conn.peer, conn.total);
                }
                false
            }
            Err(e) => {
                if !quiet {
                    eprintln!("closed {} after {} bytes: {e}", conn.peer, conn.total);
                }
                false
            }
        });
    }

    let wall = start.elapsed();
    let cpu = cpu_time()?;
    let share = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(f64::MIN_POSITIVE);
    println!(
        "ran for {:.2} s: {:.2} s of CPU ({share:.0}%), {} loop iterations, {} calls returned EAGAIN",
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        thousands(counts.iterations),
        thousands(counts.eagain),
    );
    Ok(())
}

/// Accepts every queued client; stops at EAGAIN (none left).
fn accept_all(listener: &TcpListener, conns: &mut Vec<Conn>, counts: &mut Counts, quiet: bool) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                stream.set_nonblocking(true)?;
                let _ = stream.set_nodelay(true);
                if !quiet {
                    eprintln!("accepted {peer}");
                }
                conns.push(Conn { stream, peer, pending: Vec::new(), total: 0 });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                counts.eagain += 1;
                return Ok(());
            }
            // Transient: the client left, or we are out of fds for now
            // (spinning on, we retry on the next pass).
            Err(e) if is_transient(&e) => return Ok(()),
            Err(e) => return Err(io::Error::new(e.kind(), format!("accept: {e}"))),
        }
    }
}

/// ECONNABORTED, EINTR, and running out of fds or memory.
fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted)
        || matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// One non-blocking look at a connection: finish a pending write, or read
/// and echo what is there. `Ok(false)` once the client has closed.
fn poll_conn(conn: &mut Conn, buf: &mut [u8], counts: &mut Counts) -> io::Result<bool> {
    if !conn.pending.is_empty() {
        match conn.stream.write(&conn.pending) {
            Ok(n) => {
                conn.pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => counts.eagain += 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        return Ok(true);
    }
    // The question this server asks millions of times a second.
    let n = match conn.stream.read(buf) {
        Ok(0) => return Ok(false),
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            counts.eagain += 1;
            return Ok(true);
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
        Err(e) => return Err(e),
    };
    conn.total += n as u64;
    let written = match conn.stream.write(&buf[..n]) {
        Ok(w) => w,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            counts.eagain += 1;
            0
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
        Err(e) => return Err(e),
    };
    conn.pending.extend_from_slice(&buf[written..n]);
    Ok(true)
}

/// User plus system CPU time this process has used (getrusage(2)).
fn cpu_time() -> io::Result<Duration> {
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage that outlives the call.
    cvt(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) })?;
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Ok(tv(usage.ru_utime) + tv(usage.ru_stime))
}
