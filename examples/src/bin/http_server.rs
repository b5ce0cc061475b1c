//! http_server: the TechEmpower "plaintext" test's server. Every `GET` is
//! answered `200 OK` / `Hello, World!`, keep-alive, pipelined requests in
//! one write, all connections on one thread (or spread over `--threads N`).
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
usage: http_server [--addr HOST:PORT] [--threads N] [--work-us US] [--idle-ms MS] [--grace-ms MS]

A minimal HTTP/1.1 \"plaintext\" server: every GET gets `200 OK` with body
`Hello, World!`. Connections stay open unless the request says
`Connection: close`; pipelined requests are answered in order, in one write.
A malformed request gets 400, a head over 8 KiB 431, another method 405.
A connection that completes no request, or takes no response, for the idle
limit is dropped. One task per connection, one thread (or N).
On SIGINT or SIGTERM it stops accepting, closes idle connections, lets open
ones finish for up to the grace period, and exits with status 0.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8082; port 0 picks a free port)
  --threads N       event loops, one per thread (default 1; 0: one per core);
                    connections are spread over them as they are accepted
  --work-us US      burn US microseconds of CPU per request (a benchmark's
                    server-bound workload; default 0)
  --idle-ms MS      drop a connection idle for this long (default 10000)
  --grace-ms MS     how long open connections may finish after a signal (default 5000)
  --help            show this help
",
};

/// How long open connections may finish after a signal, by default.
const DEFAULT_GRACE_MS: u64 = 5000;

/// The command line.
struct Options {
    addr: String,
    idle: Duration,
    grace: Duration,
    threads: usize,
    work: Duration,
}

fn main() -> ExitCode {
    let Options { addr, idle, grace, threads, work } = match USAGE.parse(parse) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    plaintext::set_work_per_request(work);
    let rt = match runtime::Builder::new().worker_threads(threads).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("http_server: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(addr, idle, grace)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &mut Args) -> Result<Options, Error> {
    let mut o = Options {
        addr: "127.0.0.1:8082".to_owned(),
        idle: IDLE_TIMEOUT,
        grace: Duration::from_millis(DEFAULT_GRACE_MS),
        threads: 1,
        work: Duration::ZERO,
    };
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => o.addr = args.string()?,
            Long("idle-ms") => o.idle = args.millis()?,
            Long("grace-ms") => o.grace = args.millis()?,
            Long("threads") => o.threads = args.parsed()?,
            Long("work-us") => o.work = Duration::from_micros(args.parsed()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if o.idle.is_zero() {
        return Err("--idle-ms must be above 0".into());
    }
    Ok(o)
}

async fn serve(addr: String, idle: Duration, grace: Duration) -> io::Result<()> {
    let (listener, signals) = listen_and_announce(&addr).await?;
    plaintext::serve_until_signal(listener, idle, signals, grace).await
}
