//! The HTTP clients (`examples::http::client::get` on weft, `get_blocking` on
//! std) against a scripted server: every body framing decodes, and each
//! failure is the documented error kind with a message that says what
//! happened.

mod http_util;

use std::io;
use std::time::{Duration, Instant};

use examples::http::client::{get, get_blocking};
use examples::http::proto::{Response, Url};
use http_util::{refused_addr, Act, Scripted};
use tests::support::PATIENCE;

/// Which client a test runs.
#[derive(Clone, Copy, Debug)]
enum Client {
    Async,
    Blocking,
}

const CLIENTS: [Client; 2] = [Client::Async, Client::Blocking];

fn fetch(client: Client, url: &str, limit: Duration) -> io::Result<Response> {
    let url = Url::parse(url)?;
    match client {
        Client::Async => runtime::block_on(get(&url, limit)),
        Client::Blocking => get_blocking(&url, limit),
    }
}

/// Serves `response` (written in `pieces`, then a close) once per client and fetches it.
fn fetch_scripted(client: Client, pieces: &[&[u8]]) -> io::Result<Response> {
    let mut script: Vec<Act> = pieces.iter().map(|p| Act::Send(p.to_vec())).collect();
    script.push(Act::Close);
    let server = Scripted::start(vec![script])?;
    let r = fetch(client, &server.url("/path?q=1"), PATIENCE);
    let head = server.next_head()?;
    assert!(head.starts_with("GET /path?q=1 HTTP/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nHost: {}\r\n", server.addr)), "{head}");
    r
}

#[test]
fn content_length_body() -> io::Result<()> {
    for client in CLIENTS {
        let r = fetch_scripted(
            client,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhel", b"lo", b"trailing garbage is ignored"],
        )?;
        assert_eq!((r.status, r.reason.as_str(), r.body.as_slice()), (200, "OK", &b"hello"[..]), "{client:?}");
        assert_eq!(r.header("x-a"), Some("b"));
    }
    Ok(())
}

#[test]
fn chunked_body_is_decoded() -> io::Result<()> {
    for client in CLIENTS {
        let r = fetch_scripted(
            client,
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"5\r\nhello\r\n",
                b"9;ext=\"x\"\r\n, chunk",
                b"s!\r\n0\r\nX-Trailer: 1\r\n\r\n",
            ],
        )?;
        assert_eq!(String::from_utf8_lossy(&r.body), "hello, chunks!", "{client:?}");
    }
    Ok(())
}

#[test]
fn read_to_close_body_is_decoded() -> io::Result<()> {
    for client in CLIENTS {
        let r = fetch_scripted(
            client,
            &[b"HTTP/1.0 200 OK\r\nServer: scripted\r\n\r\n", b"all of this, ", b"until close"],
        )?;
        assert_eq!((r.version, r.body.as_slice()), (0, &b"all of this, until close"[..]), "{client:?}");
    }
    Ok(())
}

#[test]
fn interim_and_bodiless_responses() -> io::Result<()> {
    for client in CLIENTS {
        let r = fetch_scripted(client, &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"])?;
        assert_eq!((r.status, r.body.len()), (204, 0), "{client:?}");
        let r = fetch_scripted(client, &[b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnah"])?;
        assert_eq!((r.status, r.reason.as_str(), r.body.as_slice()), (404, "Not Found", &b"nah"[..]));
    }
    Ok(())
}

#[test]
fn refused_connection_is_connection_refused() -> io::Result<()> {
    let addr = refused_addr()?;
    for client in CLIENTS {
        let err = fetch(client, &format!("http://{addr}/"), PATIENCE).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{client:?}: {err}");
        assert!(err.to_string().starts_with(&format!("connecting to {addr}: ")), "{err}");
    }
    Ok(())
}

#[test]
fn malformed_responses_are_invalid_data() -> io::Result<()> {
    for client in CLIENTS {
        for bad in [
            &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot hex\r\n",
        ] {
            let err = fetch_scripted(client, &[bad]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{client:?} {bad:?}: {err}");
            assert!(err.to_string().contains("malformed"), "{err}");
        }
    }
    Ok(())
}

#[test]
fn response_cut_short_is_unexpected_eof() -> io::Result<()> {
    for client in CLIENTS {
        for short in [&b""[..], b"HTTP/1.1 200 OK\r\nContent-Le", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"] {
            let err = fetch_scripted(client, &[short]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{client:?} {short:?}: {err}");
        }
    }
    Ok(())
}

#[test]
fn silent_server_is_a_timeout() -> io::Result<()> {
    let limit = Duration::from_millis(300);
    for client in CLIENTS {
        let server = Scripted::start(vec![vec![Act::Send(b"HTTP/1.1 200 OK\r\n".to_vec()), Act::Hang]])?;
        let start = Instant::now();
        let err = fetch(client, &server.url("/"), limit).unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{client:?}: {err}");
        assert!(err.to_string().contains("within 300ms"), "{err}");
        assert!(took >= limit && took < PATIENCE, "{client:?} gave up after {took:?}");
    }
    Ok(())
}

#[test]
fn localhost_resolves() -> io::Result<()> {
    for client in CLIENTS {
        let server = Scripted::start(vec![vec![Act::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec())]])?;
        let port = server.addr.port();
        // `localhost` may resolve to ::1 first, where nothing listens: the clients try each address.
        let r = fetch(client, &format!("http://localhost:{port}/"), PATIENCE)?;
        assert_eq!(r.status, 200, "{client:?}");
        assert!(server.next_head()?.contains(&format!("\r\nHost: localhost:{port}\r\n")));
    }
    Ok(())
}
