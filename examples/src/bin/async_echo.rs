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

use examples::{announce, put_buffer, take_buffer, Args};
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
    loop {
        // Idle here, holding no buffer.
        stream.readable().await?;
        let mut buf = take_buffer();
        let n = match stream.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                put_buffer(buf);
                continue;
            }
            Err(e) => return Err(e),
        };
        if upper {
            buf[..n].make_ascii_uppercase();
        }
        let mut writer = stream;
        writer.write_all(&buf[..n]).await?;
        *total += n as u64;
        put_buffer(buf);
    }
}
