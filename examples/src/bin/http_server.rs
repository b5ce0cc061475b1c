//! http_server: the TechEmpower "plaintext" test's server. Every `GET` is
//! answered `200 OK` / `Hello, World!`, keep-alive, pipelined requests in
//! one write, all connections on one thread.
//!
//! SIGINT or SIGTERM shuts it down gracefully, like `delay_server`.

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use examples::cli::{Args, Error, Long, Usage};
use examples::servers::lifecycle::listen_and_announce;
use examples::servers::plaintext::{self, IDLE_TIMEOUT};

const USAGE: Usage = Usage {
    name: "http_server",
    text: "\
usage: http_server [--addr HOST:PORT] [--idle-ms MS] [--grace-ms MS]

A minimal HTTP/1.1 \"plaintext\" server: every GET gets `200 OK` with body
`Hello, World!`. Connections stay open unless the request says
`Connection: close`; pipelined requests are answered in order, in one write.
A malformed request gets 400, a head over 8 KiB 431, another method 405.
A connection that completes no request, or takes no response, for the idle
limit is dropped. One task per connection, one thread.
On SIGINT or SIGTERM it stops accepting, closes idle connections, lets open
ones finish for up to the grace period, and exits with status 0.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8082; port 0 picks a free port)
  --idle-ms MS      drop a connection idle for this long (default 10000)
  --grace-ms MS     how long open connections may finish after a signal (default 5000)
  --help            show this help
",
};

/// How long open connections may finish after a signal, by default.
const DEFAULT_GRACE_MS: u64 = 5000;

fn main() -> ExitCode {
    let (addr, idle, grace) = match USAGE.parse(parse) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    match runtime::block_on(serve(addr, idle, grace)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The address to listen on, the idle limit, the grace period.
fn parse(args: &mut Args) -> Result<(String, Duration, Duration), Error> {
    let mut addr = "127.0.0.1:8082".to_owned();
    let mut idle = IDLE_TIMEOUT;
    let mut grace = Duration::from_millis(DEFAULT_GRACE_MS);
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => addr = args.string()?,
            Long("idle-ms") => idle = args.millis()?,
            Long("grace-ms") => grace = args.millis()?,
            _ => return Err(arg.unexpected()),
        }
    }
    if idle.is_zero() {
        return Err("--idle-ms must be above 0".into());
    }
    Ok((addr, idle, grace))
}

async fn serve(addr: String, idle: Duration, grace: Duration) -> io::Result<()> {
    let (listener, signals) = listen_and_announce(&addr).await?;
    plaintext::serve_until_signal(listener, idle, signals, grace).await
}
