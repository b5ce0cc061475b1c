//! Graceful shutdown of the `delay_server` and `http_server` binaries: on
//! SIGTERM or SIGINT they close the listener at once, close connections
//! that wait between requests, let a request in flight get its answer
//! (with `Connection: close`) for up to `--grace-ms`, and exit with status 0.
//!
//! The tests synchronise on the server's stderr (`shutting down: ...` is
//! printed right after the listener is closed), on responses, and on the
//! server's stdout reaching EOF (it exited). A request is "in flight" for
//! certain by pipelining it behind one whose answer we wait for: the server
//! read both in one read, so once the first answer arrives the second is
//! in its hands.

mod http_util;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use examples::http::proto::{Response, ResponseParser};
use http_util::read_to_close;
use tests::support::{assert_refused, connect, line_starting, send_signal, wait_success, Finished, Running, PATIENCE};

/// A grace period no test waits for: connections end before it does.
const LONG_GRACE_MS: u64 = 60_000;
/// A grace period the server must wait out.
const SHORT_GRACE: Duration = Duration::from_millis(300);
/// Most a server may take to exit once nothing holds it back.
const PROMPT: Duration = Duration::from_secs(5);

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
const DELAY_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
const PLAINTEXT_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

/// Which server a test runs, with the answer to a keep-alive `GET`.
#[derive(Clone, Copy, Debug)]
enum Server {
    /// `delay_server --delay-ms 200`.
    Delay,
    /// `http_server`.
    Plaintext,
}

/// The delay server's delay in these tests.
const DELAY: Duration = Duration::from_millis(200);

impl Server {
    fn start(self, grace_ms: u64) -> io::Result<(Running, SocketAddr)> {
        let grace = grace_ms.to_string();
        let delay = DELAY.as_millis().to_string();
        match self {
            Server::Delay => {
                Running::server("delay_server", &["--addr", "127.0.0.1:0", "--delay-ms", &delay, "--grace-ms", &grace])
            }
            Server::Plaintext => Running::server("http_server", &["--addr", "127.0.0.1:0", "--grace-ms", &grace]),
        }
    }

    fn ok(self) -> &'static [u8] {
        match self {
            Server::Delay => DELAY_OK,
            Server::Plaintext => PLAINTEXT_OK,
        }
    }
}

/// Reads exactly `expected.len()` bytes, which must be `expected`.
fn expect(stream: &mut TcpStream, expected: &[u8]) -> io::Result<()> {
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got)?;
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected));
    Ok(())
}

/// The single response in `bytes` (what the server sent before closing).
fn only_response(bytes: &[u8]) -> io::Result<Response> {
    let mut p = ResponseParser::new(false);
    assert!(p.feed(bytes)?, "no complete response in {:?}", String::from_utf8_lossy(bytes));
    let responses = bytes.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    assert_eq!(responses, 1, "not one response: {:?}", String::from_utf8_lossy(bytes));
    p.into_response()
}

/// The server closed this connection (EOF, or a reset if it had unread data).
fn assert_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: {n} unexpected bytes {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{what}: {e}"),
    }
}

/// A connection between requests is closed at once by the signal; one
/// whose next request the server already holds gets its answer, marked
/// `Connection: close`, then a close; new connections are refused; the
/// server exits 0 as soon as the last connection is done.
fn in_flight_request_completes(server_kind: Server, signal: libc::c_int) -> io::Result<()> {
    let (server, addr) = server_kind.start(LONG_GRACE_MS)?;
    let mut idle = connect(addr)?;
    idle.write_all(GET)?;
    expect(&mut idle, server_kind.ok())?;

    // Pipelined: a request, and the start of the next one (the delay
    // server gets the whole next request; it waits out its delay).
    let mut busy = connect(addr)?;
    let second: &[u8] = match server_kind {
        Server::Delay => GET,
        Server::Plaintext => b"GET / HTTP/1.1\r\nHo",
    };
    busy.write_all(&[GET, second].concat())?;
    expect(&mut busy, server_kind.ok())?;

    let signalled = Instant::now();
    send_signal(&server, signal)?;
    let line = line_starting(&server, "shutting down")?;
    assert!(line.contains(&format!("{LONG_GRACE_MS} ms")), "{line:?}");
    assert_refused(addr);
    assert_closed(&mut idle, "the idle keep-alive connection");

    if let Server::Plaintext = server_kind {
        busy.write_all(b"st: x\r\n\r\n")?;
    }
    let r = only_response(&read_to_close(&mut busy)?)?;
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    if let Server::Delay = server_kind {
        assert_eq!(r.body, b"OK");
    }
    drop(busy);
    let stderr = wait_success(server, signalled + PROMPT)?;
    assert!(!stderr.contains("grace period over"), "the server waited out its grace period:\n{stderr}");
    Ok(())
}

/// A connection in the middle of a request that never ends holds the
/// server for the grace period, and no longer: it exits 0 after it.
fn grace_period_ends_open_connections(server_kind: Server, signal: libc::c_int) -> io::Result<()> {
    let (server, addr) = server_kind.start(SHORT_GRACE.as_millis() as u64)?;
    let mut stuck = connect(addr)?;
    stuck.write_all(&[GET, b"GET / HTTP/1.1\r\n"].concat())?;
    expect(&mut stuck, server_kind.ok())?;

    let signalled = Instant::now();
    send_signal(&server, signal)?;
    line_starting(&server, "shutting down")?;
    assert_refused(addr);
    line_starting(&server, "grace period over")?;
    wait_success(server, signalled + PROMPT)?;
    let waited = signalled.elapsed();
    assert!(waited >= SHORT_GRACE, "the server exited after {waited:?}, before its grace period");
    assert!(waited < PROMPT, "exiting took {waited:?}");
    assert_closed(&mut stuck, "the unfinished request's connection");
    Ok(())
}

#[test]
fn delay_server_sigterm_lets_an_in_flight_request_complete() -> io::Result<()> {
    in_flight_request_completes(Server::Delay, libc::SIGTERM)
}

#[test]
fn delay_server_sigint_lets_an_in_flight_request_complete() -> io::Result<()> {
    in_flight_request_completes(Server::Delay, libc::SIGINT)
}

#[test]
fn http_server_sigterm_lets_a_started_request_complete() -> io::Result<()> {
    in_flight_request_completes(Server::Plaintext, libc::SIGTERM)
}

#[test]
fn http_server_sigint_lets_a_started_request_complete() -> io::Result<()> {
    in_flight_request_completes(Server::Plaintext, libc::SIGINT)
}

#[test]
fn delay_server_grace_period_ends_open_connections() -> io::Result<()> {
    grace_period_ends_open_connections(Server::Delay, libc::SIGTERM)
}

#[test]
fn http_server_grace_period_ends_open_connections() -> io::Result<()> {
    grace_period_ends_open_connections(Server::Plaintext, libc::SIGINT)
}

/// The in-flight delayed request is answered even when the signal comes
/// right after it was sent, and its answer still waits for the delay.
#[test]
fn delay_server_answers_after_its_delay_during_shutdown() -> io::Result<()> {
    let (server, addr) = Server::Delay.start(LONG_GRACE_MS)?;
    let mut s = connect(addr)?;
    s.write_all(&[GET, GET].concat())?;
    expect(&mut s, DELAY_OK)?;
    // The second request's delay started when the first answer was written.
    let started = Instant::now();
    send_signal(&server, libc::SIGTERM)?;
    line_starting(&server, "shutting down")?;
    let r = only_response(&read_to_close(&mut s)?)?;
    let took = started.elapsed();
    assert_eq!((r.status, r.header("connection"), r.body.as_slice()), (200, Some("close"), &b"OK"[..]));
    assert!(took >= DELAY - Duration::from_millis(50), "answered after {took:?}, before the {DELAY:?} delay");
    drop(s);
    wait_success(server, started + PROMPT)?;
    Ok(())
}

#[test]
fn a_second_signal_ends_the_grace_period() -> io::Result<()> {
    for (kind, signal) in [(Server::Delay, libc::SIGINT), (Server::Plaintext, libc::SIGTERM)] {
        let (server, addr) = kind.start(LONG_GRACE_MS)?;
        let mut stuck = connect(addr)?;
        stuck.write_all(&[GET, b"GET / HTTP/1.1\r\n"].concat())?;
        expect(&mut stuck, kind.ok())?;
        let signalled = Instant::now();
        send_signal(&server, signal)?;
        line_starting(&server, "shutting down")?;
        send_signal(&server, signal)?;
        line_starting(&server, "second signal")?;
        wait_success(server, signalled + PROMPT)?;
        assert!(signalled.elapsed() < PROMPT, "{kind:?}: exiting took {:?}", signalled.elapsed());
        assert_closed(&mut stuck, "the unfinished request's connection");
    }
    Ok(())
}

#[test]
fn exits_at_once_without_connections() -> io::Result<()> {
    for kind in [Server::Delay, Server::Plaintext] {
        let (server, _addr) = kind.start(LONG_GRACE_MS)?;
        let signalled = Instant::now();
        send_signal(&server, libc::SIGTERM)?;
        let stderr = wait_success(server, signalled + PROMPT)?;
        assert!(stderr.starts_with("shutting down"), "{kind:?}: stderr:\n{stderr}");
        assert!(!stderr.contains("grace period over"), "{kind:?} waited out its grace period:\n{stderr}");
        assert!(signalled.elapsed() < PROMPT, "{kind:?}: exiting took {:?}", signalled.elapsed());
    }
    Ok(())
}

#[test]
fn grace_and_idle_options() -> io::Result<()> {
    for (name, options) in
        [("delay_server", &["--grace-ms", "--idle-ms"]), ("http_server", &["--grace-ms", "--idle-ms"])]
    {
        let out =
            Finished::run(std::process::Command::new(tests::support::example_binary(name)?).arg("--help"), PATIENCE)?;
        assert!(out.status.success(), "{out:?}");
        for option in options {
            assert!(out.stdout.contains(option), "{name} --help does not mention {option}:\n{}", out.stdout);
        }
        assert!(out.stdout.contains("SIGTERM"), "{}", out.stdout);
        for bad in [&["--grace-ms", "soon"][..], &["--idle-ms", "0"], &["--idle-ms", "-1"]] {
            let out =
                Finished::run(std::process::Command::new(tests::support::example_binary(name)?).args(bad), PATIENCE)?;
            assert_eq!(out.status.code(), Some(2), "{name} {bad:?}: {out:?}");
            assert!(out.stderr.starts_with(&format!("{name}: ")), "{}", out.stderr);
        }
    }
    Ok(())
}
