//! The delay server (`examples::servers::delay`), in-process on its own thread: the
//! seeds' demonstration in numbers (3 requests: blocking needs 3 delays,
//! concurrent about 1; 1,000 concurrent requests in about 1 delay), then
//! its HTTP behaviour through raw sockets.

mod http_util;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use examples::http::client::{get, get_blocking};
use examples::http::proto::{Response, ResponseParser, Url};
use examples::servers::delay::{Background, Config};
use http_util::{read_len, read_to_close, timing_lock};
use tests::support::{connect, PATIENCE};

const OK_KEEP_ALIVE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
const OK_CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK";

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn start_server(delay: Duration) -> io::Result<Background> {
    Background::start(any_port(), Config { delay, ..Config::default() })
}

fn url_of(server: &Background) -> io::Result<Url> {
    Url::parse(&format!("http://{}/", server.addr()))
}

/// Runs `n` requests as tasks on a fresh runtime; returns the responses and the wall time.
fn concurrent(url: &Url, n: usize) -> io::Result<(Vec<Response>, Duration)> {
    let rt = runtime::Runtime::new()?;
    let start = Instant::now();
    let responses = rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let url = url.clone();
                runtime::spawn(async move { get(&url, PATIENCE).await })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for t in tasks {
            out.push(t.await.map_err(io::Error::other)??);
        }
        Ok::<_, io::Error>(out)
    })?;
    Ok((responses, start.elapsed()))
}

fn assert_ok(r: &Response) {
    assert_eq!((r.status, r.reason.as_str(), r.body.as_slice()), (200, "OK", &b"OK"[..]));
    assert_eq!(r.header("content-length"), Some("2"));
}

#[test]
fn three_requests_concurrent_take_one_delay_blocking_take_three() -> io::Result<()> {
    let _timing = timing_lock();
    let delay = Duration::from_millis(300);
    let server = start_server(delay)?;
    let url = url_of(&server)?;

    let (responses, took) = concurrent(&url, 3)?;
    responses.iter().for_each(assert_ok);
    assert!(took >= delay, "3 concurrent requests answered in {took:?}, before the {delay:?} delay");
    assert!(took < 2 * delay, "3 concurrent requests took {took:?}, not under 2 x {delay:?}");

    let start = Instant::now();
    for _ in 0..3 {
        assert_ok(&get_blocking(&url, PATIENCE)?);
    }
    let took = start.elapsed();
    assert!(took >= 3 * delay, "3 blocking requests took only {took:?}, under 3 x {delay:?}");
    server.stop()
}

#[test]
fn a_thousand_concurrent_requests_take_about_one_delay() -> io::Result<()> {
    let _timing = timing_lock();
    let delay = Duration::from_millis(500);
    let server = start_server(delay)?;
    let url = url_of(&server)?;
    let (responses, took) = concurrent(&url, 1000)?;
    assert_eq!(responses.len(), 1000);
    responses.iter().for_each(assert_ok);
    assert!(took >= delay);
    assert!(took < 2 * delay, "1,000 concurrent requests took {took:?}, not under 2 x {delay:?}");
    server.stop()
}

#[test]
fn bare_http10_request_is_answered_then_closed() -> io::Result<()> {
    let server = start_server(Duration::from_millis(10))?;
    let mut s = connect(server.addr())?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    assert_eq!(read_to_close(&mut s)?, OK_CLOSE);
    Ok(())
}

#[test]
fn http11_keeps_alive_and_answers_pipelined_requests_in_order() -> io::Result<()> {
    let server = start_server(Duration::from_millis(10))?;
    let mut s = connect(server.addr())?;
    s.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")?;
    assert_eq!(read_len(&mut s, OK_KEEP_ALIVE.len())?, OK_KEEP_ALIVE);
    // Three in one write: a HEAD, a POST with a body, and a closing GET.
    s.write_all(
        b"HEAD /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /4 HTTP/1.1\r\nConnection: close\r\n\r\n",
    )?;
    let head_only = &OK_KEEP_ALIVE[..OK_KEEP_ALIVE.len() - 2];
    let expected = [head_only, OK_KEEP_ALIVE, OK_CLOSE].concat();
    assert_eq!(String::from_utf8_lossy(&read_to_close(&mut s)?), String::from_utf8_lossy(&expected));
    Ok(())
}

#[test]
fn chunked_request_bodies_are_skipped() -> io::Result<()> {
    let server = start_server(Duration::ZERO)?;
    let mut s = connect(server.addr())?;
    s.write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")?;
    assert_eq!(read_len(&mut s, OK_KEEP_ALIVE.len())?, OK_KEEP_ALIVE);
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    assert_eq!(read_to_close(&mut s)?, OK_CLOSE);
    Ok(())
}

/// Parses what the server sent before closing as one response.
fn response_of(bytes: &[u8]) -> io::Result<Response> {
    let mut p = ResponseParser::new(false);
    if !p.feed(bytes)? {
        p.finish()?;
    }
    p.into_response()
}

#[test]
fn malformed_request_gets_400_and_a_close() -> io::Result<()> {
    let server = start_server(Duration::from_secs(60))?;
    for garbage in [&b"hello there\r\n\r\n"[..], b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"\x16\x03\x01\x00"] {
        let mut s = connect(server.addr())?;
        s.write_all(garbage)?;
        let r = response_of(&read_to_close(&mut s)?)?;
        assert_eq!((r.status, r.header("connection")), (400, Some("close")), "{garbage:?}");
    }
    Ok(())
}

#[test]
fn head_over_8_kib_gets_431() -> io::Result<()> {
    let server = start_server(Duration::from_secs(60))?;
    let mut s = connect(server.addr())?;
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9 * 1024));
    s.write_all(big.as_bytes())?;
    let r = response_of(&read_to_close(&mut s)?)?;
    assert_eq!((r.status, r.reason.as_str()), (431, "Request Header Fields Too Large"));
    // Just under the limit is fine.
    let quick = start_server(Duration::ZERO)?;
    let mut s = connect(quick.addr())?;
    let fits = format!("GET / HTTP/1.0\r\nX: {}\r\n\r\n", "a".repeat(8 * 1024 - 100));
    s.write_all(fits.as_bytes())?;
    assert_eq!(read_to_close(&mut s)?, OK_CLOSE);
    Ok(())
}

#[test]
fn silent_client_is_dropped_after_the_idle_limit() -> io::Result<()> {
    let idle = Duration::from_millis(200);
    let server = Background::start(any_port(), Config { delay: Duration::ZERO, idle_timeout: idle })?;
    let start = Instant::now();
    let mut silent = connect(server.addr())?;
    let mut partial = connect(server.addr())?;
    partial.write_all(b"GET / HTTP/1.1\r\n")?;
    // Both see the server close, without an answer.
    assert_eq!(read_to_close(&mut silent)?, b"");
    assert_eq!(read_to_close(&mut partial)?, b"");
    let took = start.elapsed();
    assert!(took >= idle && took < PATIENCE, "dropped after {took:?}");
    // An active keep-alive connection is not dropped while requests come.
    let mut active = connect(server.addr())?;
    for _ in 0..3 {
        active.write_all(b"GET / HTTP/1.1\r\n\r\n")?;
        assert_eq!(read_len(&mut active, OK_KEEP_ALIVE.len())?, OK_KEEP_ALIVE);
    }
    active.shutdown(Shutdown::Write)?;
    assert_eq!(read_to_close(&mut active)?, b"");
    Ok(())
}

#[test]
fn stopping_the_background_server_frees_its_port() -> io::Result<()> {
    let server = start_server(Duration::ZERO)?;
    let addr = server.addr();
    assert_ok(&get_blocking(&url_of(&server)?, PATIENCE)?);
    server.stop()?;
    let err = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    Ok(())
}
