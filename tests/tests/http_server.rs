//! The `http_server` binary (the "plaintext" server): byte-exact answers,
//! keep-alive, pipelining, `Connection: close`, and errors.

mod http_util;

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};

use examples::http::proto::ResponseParser;
use http_util::{read_len, read_to_close, ServerProcess};
use tests::support::{connect, Finished};

/// The benchmark kit's reference response (`HTTP_RESPONSE` in its
/// `src/lib.rs`, sent by `ref_tokio_http` and `ref_epoll_http`), byte for byte.
const REFERENCE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!";
/// What wrk sends.
const WRK_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8082\r\n\r\n";

fn server() -> io::Result<ServerProcess> {
    ServerProcess::start("http_server", &[])
}

/// Half-closes and expects the server to close too, sending nothing more.
fn expect_clean_close(mut s: TcpStream) -> io::Result<()> {
    s.shutdown(Shutdown::Write)?;
    assert_eq!(read_to_close(&mut s)?, b"", "unexpected bytes after the last response");
    Ok(())
}

#[test]
fn answers_with_the_reference_bytes_and_keeps_alive() -> io::Result<()> {
    let server = server()?;
    assert_eq!(examples::servers::plaintext::RESPONSE, REFERENCE);
    let mut s = connect(server.addr)?;
    for _ in 0..3 {
        s.write_all(WRK_REQUEST)?;
        assert_eq!(read_len(&mut s, REFERENCE.len())?, REFERENCE);
    }
    expect_clean_close(s)
}

#[test]
fn pipelined_requests_are_answered_in_order() -> io::Result<()> {
    let server = server()?;
    let mut s = connect(server.addr)?;
    // wrk --pipeline 16 style: 16 requests in one write.
    s.write_all(&WRK_REQUEST.repeat(16))?;
    assert_eq!(read_len(&mut s, REFERENCE.len() * 16)?, REFERENCE.repeat(16));
    // HEAD between two GETs: same order, no body for it.
    s.write_all(b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n")?;
    let head_only = &REFERENCE[..REFERENCE.len() - 13];
    let expected = [REFERENCE, head_only, REFERENCE].concat();
    assert_eq!(read_len(&mut s, expected.len())?, expected);
    expect_clean_close(s)
}

#[test]
fn requests_split_across_writes_are_answered() -> io::Result<()> {
    let server = server()?;
    let mut s = connect(server.addr)?;
    s.set_nodelay(true)?;
    let two = WRK_REQUEST.repeat(2);
    for piece in two.chunks(7) {
        s.write_all(piece)?;
    }
    assert_eq!(read_len(&mut s, REFERENCE.len() * 2)?, REFERENCE.repeat(2));
    // A body (skipped) and the next request, byte by byte.
    let with_body = b"GET / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET / HTTP/1.1\r\n\r\n";
    for byte in with_body.chunks(1) {
        s.write_all(byte)?;
    }
    assert_eq!(read_len(&mut s, REFERENCE.len() * 2)?, REFERENCE.repeat(2));
    expect_clean_close(s)
}

#[test]
fn connection_close_and_http10_are_honoured() -> io::Result<()> {
    let server = server()?;
    let mut s = connect(server.addr)?;
    // Requests after the closing one are not answered.
    s.write_all(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n")?;
    assert_eq!(read_to_close(&mut s)?, [REFERENCE, CLOSE].concat());
    let mut s = connect(server.addr)?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    assert_eq!(read_to_close(&mut s)?, CLOSE);
    Ok(())
}

/// What the server sent before closing, parsed (the last response).
fn last_response(bytes: &[u8]) -> io::Result<examples::http::proto::Response> {
    let mut p = ResponseParser::new(false);
    if !p.feed(bytes)? {
        p.finish()?;
    }
    p.into_response()
}

#[test]
fn malformed_request_gets_400_after_the_good_ones() -> io::Result<()> {
    let server = server()?;
    let mut s = connect(server.addr)?;
    s.write_all(&[WRK_REQUEST, b"BLAH\r\n\r\n"].concat())?;
    let got = read_to_close(&mut s)?;
    assert!(got.starts_with(REFERENCE), "{}", String::from_utf8_lossy(&got));
    let r = last_response(&got[REFERENCE.len()..])?;
    assert_eq!((r.status, r.header("connection")), (400, Some("close")));
    // Over 8 KiB without an end: 431.
    let mut s = connect(server.addr)?;
    s.write_all(format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000)).as_bytes())?;
    assert_eq!(last_response(&read_to_close(&mut s)?)?.status, 431);
    // Another method: 405.
    let mut s = connect(server.addr)?;
    s.write_all(b"DELETE / HTTP/1.1\r\n\r\n")?;
    let r = last_response(&read_to_close(&mut s)?)?;
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    Ok(())
}

#[test]
fn many_connections_at_once() -> io::Result<()> {
    let server = server()?;
    let mut conns: Vec<TcpStream> = (0..200).map(|_| connect(server.addr)).collect::<io::Result<_>>()?;
    for s in &mut conns {
        s.write_all(&WRK_REQUEST.repeat(4))?;
    }
    for s in &mut conns {
        assert_eq!(read_len(s, REFERENCE.len() * 4)?, REFERENCE.repeat(4));
    }
    Ok(())
}

#[test]
fn command_line() -> io::Result<()> {
    let out = Finished::example("http_server", &["--help"])?;
    assert!(out.status.success() && out.stdout.starts_with("usage: http_server"), "{out:?}");
    assert!(out.stdout.contains("--addr") && out.stdout.contains("127.0.0.1:8082"), "{}", out.stdout);
    let out = Finished::example("http_server", &["--bogus"])?;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("--bogus"), "{}", out.stderr);
    Ok(())
}
