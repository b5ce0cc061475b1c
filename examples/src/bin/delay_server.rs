//! delay_server: answers every HTTP request after a delay, waited on an
//! async timer, so thousands of requests wait at once on one thread.
//!
//! With the default 1 s delay, 3 requests take 3 s from a blocking client
//! (one after another) but about 1 s as 3 coroutines: see `http_client`.
//!
//! SIGINT or SIGTERM shuts it down gracefully: requests in flight still get
//! their answer, within the grace period.

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use examples::cli::{Args, Error, Long, Usage};
use examples::servers::delay::{self, Config};
use examples::servers::lifecycle::listen_and_announce;

const USAGE: Usage = Usage {
    name: "delay_server",
    text: "\
usage: delay_server [--addr HOST:PORT] [--delay-ms MS] [--idle-ms MS] [--grace-ms MS]

An HTTP/1.1 server that answers every request `200 OK` (body `OK`) after a
delay: one task per connection, one thread. HTTP/1.1 connections stay open
(pipelined requests are answered in order); HTTP/1.0 ones close after the
answer. A malformed request (or one cut short by the client's close) gets
400, a head over 8 KiB gets 431. A connection that completes no request,
or takes no response, for the idle limit is dropped.
On SIGINT or SIGTERM it stops accepting, closes idle connections, lets
requests in flight get their answer for up to the grace period, and exits
with status 0.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8081; port 0 picks a free port)
  --delay-ms MS     how long each request waits for its answer (default 1000)
  --idle-ms MS      drop a connection without a complete request for this long (default 10000)
  --grace-ms MS     how long open connections may finish after a signal (default 5000)
  --help            show this help
",
};

/// How long open connections may finish after a signal, by default.
const DEFAULT_GRACE_MS: u64 = 5000;

fn main() -> ExitCode {
    let (addr, config, grace) = match USAGE.parse(parse) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    match runtime::block_on(serve(addr, config, grace)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("delay_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The address to listen on, the server's configuration, the grace period.
fn parse(args: &mut Args) -> Result<(String, Config, Duration), Error> {
    let mut addr = "127.0.0.1:8081".to_owned();
    let mut config = Config::default();
    let mut grace = Duration::from_millis(DEFAULT_GRACE_MS);
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => addr = args.string()?,
            Long("delay-ms") => config.delay = args.millis()?,
            Long("idle-ms") => config.idle_timeout = args.millis()?,
            Long("grace-ms") => grace = args.millis()?,
            _ => return Err(arg.unexpected()),
        }
    }
    if config.idle_timeout.is_zero() {
        return Err("--idle-ms must be above 0".into());
    }
    Ok((addr, config, grace))
}

async fn serve(addr: String, config: Config, grace: Duration) -> io::Result<()> {
    let (listener, signals) = listen_and_announce(&addr).await?;
    delay::serve_until_signal(listener, config, signals, grace).await
}
