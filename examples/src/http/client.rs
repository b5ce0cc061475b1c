//! A minimal HTTP/1.1 `GET` client, twice: [`get`] as a weft task, and
//! [`get_blocking`] on plain `std::net`, one thread waiting per request.
//!
//! Both send the same request (one per connection, `Connection: close`),
//! parse with the same [`ResponseParser`], and fail the same way: refused
//! connections keep `ErrorKind::ConnectionRefused`, a time limit is
//! `TimedOut`, a malformed response `InvalidData`, a response cut short
//! `UnexpectedEof`; each message names the server and what was going on.

use std::io::{self, Read, Write};
use std::net::ToSocketAddrs as _;
use std::time::{Duration, Instant};

use net::TcpStream;
use runtime::io::{AsyncReadExt, AsyncWriteExt};

use super::proto::{Response, ResponseParser, Url};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 8 * 1024;

/// The request both clients send for `url`.
///
/// ```
/// let url = examples::http::proto::Url::parse("http://127.0.0.1:8081/x")?;
/// let req = examples::http::client::request_bytes(&url);
/// assert!(req.starts_with(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn request_bytes(url: &Url) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: weft-http-client\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.target(),
        url.authority()
    )
    .into_bytes()
}

/// Adds what was being done (and to whom) to an error, keeping its kind.
fn context(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn timed_out(url: &Url, limit: Duration) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("no complete response from {} within {limit:?}", url.authority()))
}

/// Fetches `url` on the current weft runtime: connect (host names resolve
/// on the blocking pool, never on the event loop), send, read the whole
/// response; all within `limit`.
///
/// ```no_run
/// runtime::block_on(async {
///     let url = examples::http::proto::Url::parse("http://localhost:8081/")?;
///     let r = examples::http::client::get(&url, std::time::Duration::from_secs(5)).await?;
///     println!("{} {}, {} bytes", r.status, r.reason, r.body.len());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn get(url: &Url, limit: Duration) -> io::Result<Response> {
    match runtime::time::timeout(limit, fetch(url)).await {
        Ok(res) => res,
        Err(_elapsed) => Err(timed_out(url, limit)),
    }
}

async fn fetch(url: &Url) -> io::Result<Response> {
    let authority = url.authority();
    let mut stream = TcpStream::connect((url.host(), url.port()))
        .await
        .map_err(|e| context(e, format_args!("connecting to {authority}")))?;
    // One small write: no reason to wait for Nagle.
    let _ = stream.set_nodelay(true);
    stream.write_all(&request_bytes(url)).await.map_err(|e| context(e, format_args!("sending to {authority}")))?;
    let mut parser = ResponseParser::new(false);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| context(e, format_args!("reading from {authority}")))?;
        let done = if n == 0 { parser.finish().map(|()| true) } else { parser.feed(&buf[..n]) };
        if done.map_err(|e| context(e, format_args!("response from {authority}")))? {
            return parser.into_response();
        }
    }
}

/// Fetches `url` with blocking `std::net` calls, all within `limit`: the
/// thread waits in each `connect` and `read`.
pub fn get_blocking(url: &Url, limit: Duration) -> io::Result<Response> {
    let deadline = Instant::now() + limit;
    let authority = url.authority();
    // What is left of the limit; none left is a timeout.
    let remaining = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(timed_out(url, limit))
        } else {
            Ok(left)
        }
    };
    let as_timeout = |e: io::Error, what: &str| {
        if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            timed_out(url, limit)
        } else {
            context(e, format_args!("{what} {authority}"))
        }
    };
    let addrs =
        (url.host(), url.port()).to_socket_addrs().map_err(|e| context(e, format_args!("resolving {}", url.host())))?;
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, remaining()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(as_timeout(e, "connecting to")),
        }
    }
    let mut stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(e),
        (None, None) => {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} resolved to no address", url.host())))
        }
    };
    let _ = stream.set_nodelay(true);
    stream.set_write_timeout(Some(remaining()?))?;
    stream.write_all(&request_bytes(url)).map_err(|e| as_timeout(e, "sending to"))?;
    let mut parser = ResponseParser::new(false);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        stream.set_read_timeout(Some(remaining()?))?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(as_timeout(e, "reading from")),
        };
        let done = if n == 0 { parser.finish().map(|()| true) } else { parser.feed(&buf[..n]) };
        if done.map_err(|e| context(e, format_args!("response from {authority}")))? {
            return parser.into_response();
        }
    }
}
