//! http_server: the TechEmpower "plaintext" test's server. Every `GET` is
//! answered `200 OK` / `Hello, World!`, keep-alive, pipelined requests in
//! one write, all connections on one thread.
//!
//! SIGINT or SIGTERM shuts it down gracefully, like `delay_server`.

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use examples::cli::Usage;
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
    let args = match USAGE.args(&[], &["addr", "idle-ms", "grace-ms"]) {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    if let Some(extra) = args.positional.first() {
        return USAGE.error(format!("unexpected argument {extra:?}"));
    }
    let (idle, grace) =
        match (args.parsed("idle-ms", IDLE_TIMEOUT.as_millis() as u64), args.parsed("grace-ms", DEFAULT_GRACE_MS)) {
            (Ok(idle), Ok(grace)) if idle > 0 => (Duration::from_millis(idle), Duration::from_millis(grace)),
            (Err(e), _) | (_, Err(e)) => return USAGE.error(e),
            _ => return USAGE.error("--idle-ms must be above 0"),
        };
    let addr = args.value("addr").unwrap_or("127.0.0.1:8082").to_owned();
    match runtime::block_on(serve(addr, idle, grace)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: String, idle: Duration, grace: Duration) -> io::Result<()> {
    let (listener, signals) = listen_and_announce(&addr).await?;
    plaintext::serve_until_signal(listener, idle, signals, grace).await
}
