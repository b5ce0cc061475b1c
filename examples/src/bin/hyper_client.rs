//! hyper_client: the seeds' demonstration with hyper 1.x as the HTTP
//! client: N requests to a server that answers after 1 s, each on its own
//! connection in its own task, all on one thread: about 1 s in total, not N.
//!
//! The weft `TcpStream` goes to `hyper::client::conn::http1::handshake` as
//! it is (`net`'s `hyper` feature); hyper's connection task is a weft task.
//! Without a URL it starts the examples' delay server in-process.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use examples::cli::{Args, Error, Long, Short, Usage, Value, ValueExt};
use examples::http::proto::Url;
use examples::servers::delay::{Background, Config};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use net::TcpStream;
use runtime::time::timeout;

const USAGE: Usage = Usage {
    name: "hyper_client",
    text: "\
usage: hyper_client [URL] [-n N] [--timeout SECS] [--delay-ms MS]

Sends N GET requests to URL (http://host[:port]/path) at once, each on its
own connection in its own task, with hyper's HTTP/1.1 client on weft, and
prints each response (status, body length, time) and the total.

Without URL, it starts a delay server in-process on a free port (answering
after --delay-ms) and asks it: N requests take about one delay, not N.

options:
  -n N              requests (default 3)
  --timeout SECS    limit for each request, from connect to last byte (default 10)
  --delay-ms MS     the in-process server's delay, without URL only (default 1000)
  --help            show this help

exit status: 0 if every request got a complete response; 1 if one did not,
with one line on stderr saying why; 2 for a bad option or URL.
",
};

fn main() -> ExitCode {
    let (n, limit, delay, url) = match USAGE.parse(options) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    let url = match url {
        None => None,
        Some(url) if delay.is_none() => match Url::parse(&url) {
            Ok(url) => Some(url),
            Err(e) => return USAGE.error(e),
        },
        Some(_) => return USAGE.error("--delay-ms applies only without URL (to the in-process server)"),
    };
    let res = match url {
        Some(url) => fetch_all(&url, n, limit),
        None => demo(n, limit, delay.unwrap_or(Duration::from_secs(1))),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hyper_client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `-n`, `--timeout`, `--delay-ms` if given, and the URL if given.
fn options(args: &mut Args) -> Result<(usize, Duration, Option<Duration>, Option<String>), Error> {
    let (mut n, mut limit, mut delay, mut url) = (3usize, Duration::from_secs(10), None, None);
    while let Some(arg) = args.next()? {
        match arg {
            Short('n') => n = args.parsed()?,
            Long("timeout") => limit = args.secs()?,
            Long("delay-ms") => delay = Some(args.millis()?),
            Value(u) if url.is_none() => url = Some(u.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if n == 0 {
        return Err("-n must be at least 1".into());
    }
    if limit.is_zero() {
        return Err("--timeout 0: expected a number of seconds above 0".into());
    }
    Ok((n, limit, delay, url))
}

/// Starts a delay server on another thread and fetches from it.
fn demo(n: usize, limit: Duration, delay: Duration) -> Result<(), String> {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = Background::start(any_port, Config { delay, ..Config::default() })
        .map_err(|e| format!("starting the delay server: {e}"))?;
    println!("delay server (in-process) listening on {}, answering after {} ms", server.addr(), delay.as_millis());
    let url = Url::parse(&format!("http://{}/", server.addr())).map_err(|e| e.to_string())?;
    fetch_all(&url, n, limit)
}

/// `n` concurrent requests to `url`, one task each.
fn fetch_all(url: &Url, n: usize, limit: Duration) -> Result<(), String> {
    println!("GET {url} x{n} with hyper: {n} tasks on one thread");
    let start = Instant::now();
    let errors = runtime::block_on(async {
        let tasks: Vec<_> = (1..=n)
            .map(|i| {
                let url = url.clone();
                runtime::spawn(async move {
                    let t = Instant::now();
                    let (status, len) = timeout(limit, get(&url)).await.map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, format!("no response within {limit:?}"))
                    })??;
                    println!("  #{i}: {status}, {len} bytes, {:.2} s", t.elapsed().as_secs_f64());
                    Ok::<(), io::Error>(())
                })
            })
            .collect();
        let mut errors = Vec::new();
        for task in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(io::Error::other(e)),
            }
        }
        errors
    });
    if let Some(first) = errors.first() {
        return Err(format!("GET {url}: {first} ({} of {n} requests failed)", errors.len()));
    }
    println!("{n} requests in {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// One GET on a new connection: the status line's code and reason, and the body's length.
async fn get(url: &Url) -> io::Result<(String, usize)> {
    let stream = TcpStream::connect((url.host(), url.port())).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.map_err(io::Error::other)?;
    // hyper's connection state machine runs as its own task; it ends when
    // `sender` is dropped and the response is read.
    runtime::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("connection: {e}");
        }
    });
    let request = Request::get(url.target())
        .header(hyper::header::HOST, url.authority())
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    let response = sender.send_request(request).await.map_err(io::Error::other)?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(io::Error::other)?.to_bytes();
    Ok((format!("{} {}", status.as_str(), status.canonical_reason().unwrap_or("")), body.len()))
}
