//! hyper_server: hyper 1.x serving HTTP/1.1 on weft, with no adapter: each
//! accepted weft `TcpStream` goes to hyper as it is (`net`'s `hyper`
//! feature), hyper's timers are weft's (`runtime::hyper::Timer`).
//!
//! Every request gets `200 OK` / `Hello, World!`; connections stay open
//! (keep-alive) and pipelined requests are answered in order, their
//! responses flushed together. SIGINT or SIGTERM stops accepting and asks
//! hyper to finish each connection's request in flight, then exits 0.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use examples::cli::{Args, Error, Long, Usage};
use examples::servers::lifecycle::{listen_and_announce, serve_until_signal, Drain};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};
use net::TcpStream;

const USAGE: Usage = Usage {
    name: "hyper_server",
    text: "\
usage: hyper_server [--addr HOST:PORT] [--grace-ms MS] [--quiet]

hyper 1.x on weft: every request gets `200 OK` with body `Hello, World!`.
Keep-alive and pipelining as hyper does them; one task per connection, one
thread. On SIGINT or SIGTERM it stops accepting, lets each connection finish
the request in flight for up to the grace period, and exits with status 0.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8083; port 0 picks a free port)
  --grace-ms MS     how long open connections may finish after a signal (default 5000)
  --quiet           do not log connection errors on stderr
  --help            show this help
",
};

fn main() -> ExitCode {
    let (addr, grace, quiet) = match USAGE.parse(parse) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    match runtime::block_on(serve(addr, grace, quiet)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hyper_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The address, the grace period and `--quiet`.
fn parse(args: &mut Args) -> Result<(String, Duration, bool), Error> {
    let (mut addr, mut grace, mut quiet) = ("127.0.0.1:8083".to_owned(), Duration::from_millis(5000), false);
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => addr = args.string()?,
            Long("grace-ms") => grace = args.millis()?,
            Long("quiet") => quiet = true,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok((addr, grace, quiet))
}

async fn serve(addr: String, grace: Duration, quiet: bool) -> io::Result<()> {
    let (listener, signals) = listen_and_announce(&addr).await?;
    serve_until_signal(listener, signals, grace, move |stream, drain| connection(stream, drain, quiet)).await
}

/// The service: the same answer to every request.
async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

/// Serves one connection until the client closes it, or until the server
/// drains: then hyper finishes the request in flight and closes.
async fn connection(stream: TcpStream, mut drain: Drain, quiet: bool) {
    let _ = stream.set_nodelay(true);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(runtime::hyper::Timer)
        // Pipelined requests: their responses go out in one write.
        .pipeline_flush(true)
        .serve_connection(stream, hyper::service::service_fn(hello));
    let mut conn = pin!(conn);
    let mut asked_to_stop = false;
    let res = poll_fn(|cx| {
        if !asked_to_stop && drain.poll_draining(cx).is_ready() {
            asked_to_stop = true;
            conn.as_mut().graceful_shutdown();
        }
        conn.as_mut().poll(cx)
    })
    .await;
    if let Err(e) = res {
        if !quiet {
            eprintln!("connection: {e}");
        }
    }
}
