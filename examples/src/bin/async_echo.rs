//! async_echo: a TCP echo server where every connection is its own task,
//! all on one thread, multiplexed by epoll/kqueue.
//!
//! Each task reads like blocking code (`read`, then `write_all`, in a
//! loop), yet thousands run at once: when a socket has no data, its task
//! parks and the thread serves the others. An idle connection holds no
//! buffer: it waits for readability first and borrows a pooled buffer only
//! while it has data to echo.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use std::cell::RefCell;

use examples::{announce, Args};
use net::{TcpListener, TcpStream};
use runtime::io::AsyncWriteExt;

const USAGE: &str = "\
usage: async_echo [--addr HOST:PORT] [--upper] [--quiet]

A TCP echo server: one task per connection, one thread.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0 picks a free port)
  --upper           send ASCII letters back upper-cased
  --quiet           do not log connections on stderr
  --help            show this help
";

thread_local! {
    /// One read buffer for every connection: all tasks run on this thread,
    /// and a task uses it only between two awaits.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Size of the shared read buffer.
const SCRATCH_SIZE: usize = 64 * 1024;

/// How long to pause accepting when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug)]
struct Options {
    upper: bool,
    quiet: bool,
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1), &["upper", "quiet", "help"])
        .and_then(|a| a.reject_unknown(&["addr", "upper", "quiet", "help"]).map(|()| a))
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("async_echo: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.flag("help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let addr = args.value("addr").unwrap_or("127.0.0.1:8080").to_owned();
    let opts = Options { upper: args.flag("upper"), quiet: args.flag("quiet") };
    match runtime::block_on(serve(addr, opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("async_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: String, opts: Options) -> io::Result<()> {
    let listener = TcpListener::bind(addr.as_str()).await?;
    announce(listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Each connection is its own task; a failure ends only that task.
                runtime::spawn(connection(stream, peer, opts));
            }
            Err(e) if is_resource_exhaustion(&e) => {
                // The connection stays queued in the kernel; retrying at once
                // would fail again and spin. Pause, then try again.
                if !opts.quiet {
                    eprintln!("accept failed: {e}; retrying in {} ms", ACCEPT_BACKOFF.as_millis());
                }
                runtime::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("accept: {e}"))),
        }
    }
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
    let mut rest = Vec::new();
    loop {
        // Idle connections wait here, holding no buffer.
        stream.readable().await?;
        match SCRATCH.with_borrow_mut(|buf| echo_ready(stream, buf, upper, &mut rest))? {
            Some(0) => return Ok(()),
            Some(n) => *total += n as u64,
            None => continue, // woken, but the data was gone: wait again
        }
        // The socket took less than we read (its send buffer is full):
        // wait until it drains. This is the only time a connection keeps
        // bytes of its own.
        if !rest.is_empty() {
            let mut writer = stream;
            writer.write_all(&rest).await?;
            rest = Vec::new();
        }
    }
}

/// Reads what is ready into the thread's scratch buffer and writes it
/// straight back; what the socket cannot take yet goes to `rest`.
/// `Some(0)` is end of stream, `None` means no data after all.
fn echo_ready(stream: &TcpStream, buf: &mut Vec<u8>, upper: bool, rest: &mut Vec<u8>) -> io::Result<Option<usize>> {
    if buf.is_empty() {
        buf.resize(SCRATCH_SIZE, 0);
    }
    let n = match stream.try_read(buf) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e),
    };
    if upper {
        buf[..n].make_ascii_uppercase();
    }
    let written = match stream.try_write(&buf[..n]) {
        Ok(w) => w,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    rest.extend_from_slice(&buf[written..n]);
    Ok(Some(n))
}
