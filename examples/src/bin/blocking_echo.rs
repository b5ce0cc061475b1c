//! blocking_echo: a blocking echo server on one thread serves one client at
//! a time; everyone else waits in the kernel's accept queue.
//!
//! See it for yourself: start it, then open two clients in two terminals.
//!
//! ```text
//! cargo run -p examples --bin blocking_echo
//! cargo run -p examples --bin echo_client -- 127.0.0.1:8083   # client A: type a line, it comes back
//! cargo run -p examples --bin echo_client -- 127.0.0.1:8083   # client B: type a line ... nothing comes back
//! ```
//!
//! B's connection is established (the kernel completes the TCP handshake
//! and queues it, and even buffers what B sends), but the server's only
//! thread is blocked in `read` on A's socket, so nobody calls `accept` for
//! B. Quit A (Ctrl-D or Ctrl-C) and B's line comes back at once. The log
//! on stderr shows it: `accepted` for B only after `closed` for A.
//!
//! `--threads` is the classic fix: a thread per connection, so A and B are
//! both served. It works, and the code stays sequential, but every client
//! now costs a kernel thread with its own stack (Rust reserves 2 MiB of
//! address space per spawned thread), a scheduler entry and context
//! switches; ten thousand mostly idle clients are ten thousand threads.
//! `async_echo` keeps the sequential code and drops the thread: each
//! connection is a task of a few hundred bytes, and one thread waits for
//! all of them at once in `epoll_wait`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use examples::cli::{announce, Args, Error, Long, Usage};
use examples::signals::watch_on_thread;

const USAGE: Usage = Usage {
    name: "blocking_echo",
    text: "\
usage: blocking_echo [--addr HOST:PORT] [--threads] [--quiet]

A blocking TCP echo server. By default it has one thread and serves one
connection at a time: a second client gets no echo until the first one
disconnects. With --threads it starts a thread per connection instead.
On SIGINT or SIGTERM it exits with status 0 at once: a thread blocked in
read cannot be asked to finish, so the open connections close with it.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8083; port 0 picks a free port)
  --threads         serve each connection on its own thread
  --quiet           do not log connections on stderr
  --help            show this help
",
};

/// How long to pause accepting when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

struct Options {
    addr: String,
    threads: bool,
    quiet: bool,
}

fn main() -> ExitCode {
    let opts = match USAGE.parse(parse) {
        Ok(opts) => opts,
        Err(exit) => return exit,
    };
    match serve(&opts.addr, opts.threads, opts.quiet) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blocking_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &mut Args) -> Result<Options, Error> {
    let mut opts = Options { addr: "127.0.0.1:8083".to_owned(), threads: false, quiet: false };
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => opts.addr = args.string()?,
            Long("threads") => opts.threads = true,
            Long("quiet") => opts.quiet = true,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(opts)
}

fn serve(addr: &str, threads: bool, quiet: bool) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    // This thread spends its life blocked in accept or read, where no
    // signal can reach it; another one waits for the signals and ends the
    // process (the kernel closes every connection).
    watch_on_thread(move || {
        if !quiet {
            eprintln!("shutting down: closing every connection");
        }
        std::process::exit(0);
    })?;
    announce(listener.local_addr()?);
    loop {
        // Blocks until a client is in the accept queue.
        let (stream, peer) = match listener.accept() {
            Ok(conn) => conn,
            // The client gave up before we got to it: nothing to serve.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(e) if is_resource_exhaustion(&e) => {
                // The connection stays queued; retrying at once would spin.
                if !quiet {
                    eprintln!("accept failed: {e}; retrying in {} ms", ACCEPT_BACKOFF.as_millis());
                }
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("accept: {e}"))),
        };
        if threads {
            // One thread per connection: the accept loop is free again at once.
            let spawned =
                thread::Builder::new().name(format!("conn {peer}")).spawn(move || connection(stream, peer, quiet));
            if let Err(e) = spawned {
                // Out of threads (or memory for their stacks): this client is
                // dropped, which is what thread-per-connection does under load.
                eprintln!("cannot start a thread for {peer}: {e}");
            }
        } else {
            // The whole server is busy with this one client until it leaves:
            // this call returns only when the client closes its side.
            connection(stream, peer, quiet);
        }
    }
}

/// EMFILE / ENFILE (out of fds) and ENOBUFS / ENOMEM: transient, wait them out.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

fn connection(mut stream: TcpStream, peer: SocketAddr, quiet: bool) {
    if !quiet {
        eprintln!("accepted {peer}");
    }
    let _ = stream.set_nodelay(true);
    let mut total = 0u64;
    let res = echo(&mut stream, &mut total);
    if !quiet {
        match res {
            Ok(()) => eprintln!("closed {peer} after {total} bytes"),
            Err(e) => eprintln!("closed {peer} after {total} bytes: {e}"),
        }
    }
}

/// Echoes until the peer closes its side; counts the bytes in `total`.
fn echo(stream: &mut TcpStream, total: &mut u64) -> io::Result<()> {
    // Each connection owns a buffer for its whole life, idle or not.
    let mut buf = [0u8; 16 * 1024];
    loop {
        // The thread sleeps here until this one client sends something;
        // no other socket can wake it.
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // Blocks until the peer's receive window takes it all.
        stream.write_all(&buf[..n])?;
        *total += n as u64;
    }
}
