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

use examples::cli::Usage;
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
    let args = match USAGE.args(&[], &["addr", "delay-ms", "idle-ms", "grace-ms"]) {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    if let Some(extra) = args.positional.first() {
        return USAGE.error(format!("unexpected argument {extra:?}"));
    }
    let defaults = Config::default();
    let config = match (
        args.parsed("delay-ms", defaults.delay.as_millis() as u64),
        args.parsed("idle-ms", defaults.idle_timeout.as_millis() as u64),
    ) {
        (Ok(delay), Ok(idle)) if idle > 0 => {
            Config { delay: Duration::from_millis(delay), idle_timeout: Duration::from_millis(idle) }
        }
        (Err(e), _) | (_, Err(e)) => return USAGE.error(e),
        _ => return USAGE.error("--idle-ms must be above 0"),
    };
    let grace = match args.parsed("grace-ms", DEFAULT_GRACE_MS) {
        Ok(ms) => Duration::from_millis(ms),
        Err(e) => return USAGE.error(e),
    };
    let addr = args.value("addr").unwrap_or("127.0.0.1:8081").to_owned();
    match runtime::block_on(serve(addr, config, grace)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("delay_server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: String, config: Config, grace: Duration) -> io::Result<()> {
    let (listener, signals) = listen_and_announce(&addr).await?;
    delay::serve_until_signal(listener, config, signals, grace).await
}
