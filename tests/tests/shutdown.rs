//! Graceful shutdown of the echo server binaries, `async_echo` and
//! `callback_echo`: on SIGTERM or SIGINT each closes its listener at once,
//! lets open connections finish for up to `--grace-ms`, and exits with
//! status 0.
//!
//! The tests synchronise on the server's stderr: `shutting down: ...` is
//! printed right after the listening socket is closed, and the process's
//! stdout reaching EOF means it exited.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tests::support::{assert_refused, line_starting, send_signal, wait_success, Running, PATIENCE};

/// A grace period no test waits for: connections end before it does.
const LONG_GRACE_MS: u64 = 60_000;
/// A grace period the server must wait out.
const SHORT_GRACE: Duration = Duration::from_millis(300);
/// Most a server may take to exit once nothing holds it back (its last
/// connection closed, or the grace period over).
const PROMPT: Duration = Duration::from_secs(5);

/// The echo servers, which all shut down the same way.
const SERVERS: [&str; 2] = ["async_echo", "callback_echo"];

/// Starts the echo server `bin` with `--grace-ms grace_ms` (logging on stderr).
fn start(bin: &str, grace_ms: u64) -> io::Result<(Running, SocketAddr)> {
    Running::server(bin, &["--addr", "127.0.0.1:0", "--grace-ms", &grace_ms.to_string()])
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, PATIENCE)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    Ok(stream)
}

/// Sends `msg` and expects it back.
fn exchange(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    stream.write_all(msg)?;
    expect(stream, msg)
}

/// Reads `msg.len()` bytes, which must equal `msg`.
fn expect(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back)?;
    assert_eq!(back, msg, "the echo differs");
    Ok(())
}

/// Client A is mid-conversation (half a message sent, its echo not read)
/// when the signal comes: new clients are refused, A finishes its round
/// trip, and once A closes the server exits 0 without waiting for the grace.
fn in_flight_echo_completes(bin: &str, signal: libc::c_int) -> io::Result<()> {
    let (server, addr) = start(bin, LONG_GRACE_MS)?;
    let mut a = connect(addr)?;
    exchange(&mut a, b"hello")?;
    let peer = a.local_addr()?;
    a.write_all(b"first half, ")?;

    let signalled = Instant::now();
    send_signal(&server, signal)?;
    let line = line_starting(&server, "shutting down")?;
    assert!(line.contains(&format!("{LONG_GRACE_MS} ms")), "{bin}: {line:?}");
    assert_refused(addr);

    a.write_all(b"second half")?;
    expect(&mut a, b"first half, second half")?;
    exchange(&mut a, b"still served after the signal")?;

    // Our FIN ends the connection; the server closes in turn, then exits.
    a.shutdown(Shutdown::Write)?;
    let mut rest = [0u8; 16];
    assert_eq!(a.read(&mut rest)?, 0, "the server sent data after our FIN");
    let stderr = wait_success(server, Instant::now() + PROMPT)?;
    let waited = signalled.elapsed();
    assert!(waited < PROMPT, "{bin}: exiting took {waited:?}");
    let total = b"hello".len() + b"first half, second half".len() + b"still served after the signal".len();
    assert!(stderr.contains(&format!("closed {peer} after {total} bytes")), "{bin}: stderr:\n{stderr}");
    assert!(!stderr.contains("grace period over"), "{bin}: the server waited out its grace period:\n{stderr}");
    Ok(())
}

/// A connection that stays open holds the server for the grace period, and
/// no longer: the server exits 0 soon after, closing the connection.
fn grace_period_ends_open_connections(bin: &str, signal: libc::c_int) -> io::Result<()> {
    let (server, addr) = start(bin, SHORT_GRACE.as_millis() as u64)?;
    let mut idle = connect(addr)?;
    exchange(&mut idle, b"hello")?;

    let signalled = Instant::now();
    send_signal(&server, signal)?;
    line_starting(&server, "shutting down")?;
    assert_refused(addr);
    exchange(&mut idle, b"served during the grace period")?;

    line_starting(&server, "grace period over")?;
    wait_success(server, signalled + PROMPT)?;
    let waited = signalled.elapsed();
    assert!(waited >= SHORT_GRACE, "{bin}: the server exited after {waited:?}, before its grace period");
    assert!(waited < PROMPT, "{bin}: exiting took {waited:?}");
    // The server is gone: the idle connection was closed, not left dangling.
    let mut buf = [0u8; 16];
    match idle.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{bin}: {n} unexpected bytes after the server exited"),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "reading after the exit: {e}"),
    }
    Ok(())
}

#[test]
fn sigterm_lets_an_in_flight_echo_complete() -> io::Result<()> {
    SERVERS.iter().try_for_each(|bin| in_flight_echo_completes(bin, libc::SIGTERM))
}

#[test]
fn sigint_lets_an_in_flight_echo_complete() -> io::Result<()> {
    SERVERS.iter().try_for_each(|bin| in_flight_echo_completes(bin, libc::SIGINT))
}

#[test]
fn sigterm_grace_period_ends_open_connections() -> io::Result<()> {
    SERVERS.iter().try_for_each(|bin| grace_period_ends_open_connections(bin, libc::SIGTERM))
}

#[test]
fn sigint_grace_period_ends_open_connections() -> io::Result<()> {
    SERVERS.iter().try_for_each(|bin| grace_period_ends_open_connections(bin, libc::SIGINT))
}

#[test]
fn exits_at_once_without_connections() -> io::Result<()> {
    for bin in SERVERS {
        let (server, _addr) = start(bin, LONG_GRACE_MS)?;
        let signalled = Instant::now();
        send_signal(&server, libc::SIGTERM)?;
        let stderr = wait_success(server, signalled + PROMPT)?;
        assert!(stderr.starts_with("shutting down"), "{bin} stderr:\n{stderr}");
        assert!(!stderr.contains("grace period over"), "{bin} waited out its grace period:\n{stderr}");
        assert!(signalled.elapsed() < PROMPT, "{bin}: exiting took {:?}", signalled.elapsed());
    }
    Ok(())
}
