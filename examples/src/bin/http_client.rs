//! http_client: the same GET requests, first with a blocking client (one
//! after another, the thread waits in each), then as tasks on one thread.
//!
//! Without URLs it starts a delay server in-process (1 s per answer) and
//! shows the point of the project: 3 blocking requests take 3 s, the same 3
//! as coroutines about 1 s.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use examples::cli::{Args, Error, Long, Short, Usage, Value, ValueExt};
use examples::http::client::{get, get_blocking};
use examples::http::proto::{Response, Url};
use examples::servers::delay::{Background, Config};

const USAGE: Usage = Usage {
    name: "http_client",
    text: "\
usage: http_client [URL...] [-n N] [--mode blocking|concurrent|both] [--timeout SECS] [--delay-ms MS]

Sends N GET requests per URL (http://host[:port]/path): with a blocking
client, one after another, then as N tasks on one thread; prints each
response (status, body length, time) and the total per mode.

Without URL, it starts a delay server in-process on a free port and asks it.

options:
  -n N              requests per URL (default 3)
  --mode MODE       blocking, concurrent or both (default both)
  --timeout SECS    limit for each request, from connect to last byte (default 10)
  --delay-ms MS     the in-process server's delay, without URL only (default 1000)
  --help            show this help

exit status: 0 if every request got a complete response (whatever its status);
1 if one did not (refused, timed out, malformed, cut short), with one line
on stderr saying why; 2 for a bad option or URL.
",
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Blocking,
    Concurrent,
    Both,
}

#[derive(Clone, Copy, Debug)]
struct Options {
    requests: usize,
    mode: Mode,
    timeout: Duration,
}

fn main() -> ExitCode {
    let (opts, delay, urls) = match USAGE.parse(options) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    let urls: Vec<Url> = match urls.iter().map(|u| Url::parse(u)).collect() {
        Ok(urls) => urls,
        Err(e) => {
            eprintln!("http_client: {e}");
            return ExitCode::from(2);
        }
    };
    let res = if urls.is_empty() {
        demo(opts, delay.unwrap_or(Duration::from_secs(1)))
    } else if delay.is_some() {
        return USAGE.error("--delay-ms applies only without URL (to the in-process server)");
    } else {
        urls.iter().try_for_each(|url| fetch_all(url, opts))
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The options, the in-process server's delay if `--delay-ms` was given,
/// and the URLs as written.
fn options(args: &mut Args) -> Result<(Options, Option<Duration>, Vec<String>), Error> {
    let mut opts = Options { requests: 3, mode: Mode::Both, timeout: Duration::from_secs(10) };
    let (mut delay, mut urls) = (None, Vec::new());
    while let Some(arg) = args.next()? {
        match arg {
            Short('n') => opts.requests = args.parsed()?,
            Long("mode") => {
                opts.mode = match args.string()?.as_str() {
                    "blocking" => Mode::Blocking,
                    "concurrent" => Mode::Concurrent,
                    "both" => Mode::Both,
                    other => return Err(format!("--mode {other:?}: expected blocking, concurrent or both").into()),
                }
            }
            Long("timeout") => opts.timeout = args.secs()?,
            Long("delay-ms") => delay = Some(args.millis()?),
            Value(url) => urls.push(url.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if opts.requests == 0 {
        return Err("-n must be at least 1".into());
    }
    if opts.timeout.is_zero() {
        return Err("--timeout 0: expected a number of seconds above 0".into());
    }
    Ok((opts, delay, urls))
}

/// Starts a delay server on another thread and fetches from it.
fn demo(opts: Options, delay: Duration) -> Result<(), String> {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = Background::start(any_port, Config { delay, ..Config::default() })
        .map_err(|e| format!("starting the delay server: {e}"))?;
    println!("delay server (in-process) listening on {}, answering after {} ms", server.addr(), delay.as_millis());
    let url = Url::parse(&format!("http://{}/", server.addr())).map_err(|e| e.to_string())?;
    fetch_all(&url, opts)
}

/// Runs the requests to `url` in the modes asked for.
fn fetch_all(url: &Url, opts: Options) -> Result<(), String> {
    let n = opts.requests;
    if opts.mode != Mode::Concurrent {
        println!("GET {url} x{n}, blocking: one request after another, the thread waits in each");
        let start = Instant::now();
        for i in 1..=n {
            let t = Instant::now();
            let r = get_blocking(url, opts.timeout).map_err(|e| format!("GET {url}: {e}"))?;
            report("blocking", i, &r, t.elapsed());
        }
        println!("blocking: {n} requests in {:.2} s", start.elapsed().as_secs_f64());
    }
    if opts.mode != Mode::Blocking {
        println!("GET {url} x{n}, concurrent: {n} tasks on one thread");
        let rt = runtime::Runtime::new().map_err(|e| format!("creating the runtime: {e}"))?;
        let start = Instant::now();
        let errors = rt.block_on(concurrent(url, opts));
        let elapsed = start.elapsed();
        if let Some(first) = errors.first() {
            let more = match errors.len() {
                1 => String::new(),
                k => format!(" (and {} more of {n} requests failed)", k - 1),
            };
            return Err(format!("GET {url}: {first}{more}"));
        }
        println!("concurrent: {n} requests in {:.2} s", elapsed.as_secs_f64());
    }
    Ok(())
}

/// `opts.requests` tasks, each one request; returns the errors.
async fn concurrent(url: &Url, opts: Options) -> Vec<io::Error> {
    let tasks: Vec<_> = (1..=opts.requests)
        .map(|i| {
            let url = url.clone();
            runtime::spawn(async move {
                let t = Instant::now();
                let r = get(&url, opts.timeout).await?;
                report("concurrent", i, &r, t.elapsed());
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
}

fn report(mode: &str, i: usize, r: &Response, took: Duration) {
    println!("  {mode} #{i}: {} {}, {} bytes, {:.2} s", r.status, r.reason, r.body.len(), took.as_secs_f64());
}
