//! The `hyper_server` and `hyper_client` binaries: hyper 1.x on weft
//! answers curl-like raw requests (keep-alive, pipelined, HTTP/1.0), shuts
//! down on a signal, and the hyper client's 3 concurrent 1 s requests take
//! about 1 s.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use tests::support::{connect, send_signal, wait_success, Finished, Running, PATIENCE};

/// Reads exactly `count` responses, each with a `content-length` body.
fn responses(s: &mut TcpStream, count: usize) -> io::Result<Vec<(String, String)>> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    // Each turn parses one response or reads more; the read timeout bounds it.
    while out.len() < count {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| io::Error::other(format!("no content-length in {head:?}")))?;
            if buf.len() >= end + 4 + len {
                out.push((head, text[end + 4..end + 4 + len].to_owned()));
                buf.drain(..end + 4 + len);
                continue;
            }
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("after {} responses", out.len())));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

#[test]
fn hyper_server_answers_curl_like_and_pipelined_requests() -> io::Result<()> {
    let (server, addr) = Running::server("hyper_server", &["--addr", "127.0.0.1:0"])?;
    // What curl sends, twice on one kept-alive connection.
    let mut s = connect(addr)?;
    for _ in 0..2 {
        s.write_all(
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n").as_bytes(),
        )?;
        let (head, body) = responses(&mut s, 1)?.remove(0);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: text/plain"), "{head}");
        assert_eq!(body, "Hello, World!");
    }
    // Sixteen pipelined requests in one write, answered in order.
    let batch = "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".repeat(16);
    s.write_all(batch.as_bytes())?;
    let all = responses(&mut s, 16)?;
    assert!(all.iter().all(|(h, b)| h.starts_with("HTTP/1.1 200 OK") && b == "Hello, World!"));
    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut s10 = connect(addr)?;
    s10.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut all = String::new();
    s10.read_to_string(&mut all)?;
    assert!(all.starts_with("HTTP/1.0 200 OK") && all.ends_with("Hello, World!"), "{all}");

    // SIGTERM: the kept-alive idle connection is closed, the server exits 0.
    send_signal(&server, libc::SIGTERM)?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)?;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    let stderr = wait_success(server, Instant::now() + PATIENCE)?;
    assert!(stderr.contains("shutting down"), "{stderr}");
    Ok(())
}

#[test]
fn hyper_client_demo_takes_one_delay_for_three_requests() -> io::Result<()> {
    let out = Finished::example("hyper_client", &[])?;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.starts_with("delay server (in-process) listening on 127.0.0.1:"), "{}", out.stdout);
    for i in 1..=3 {
        assert!(out.stdout.contains(&format!("  #{i}: 200 OK, 2 bytes, ")), "no #{i} in:\n{}", out.stdout);
    }
    let total = out.stdout.lines().find_map(|l| l.strip_prefix("3 requests in ")).expect("a total line");
    let secs: f64 = total.trim_end_matches(" s").parse().expect("seconds");
    // Three 1 s requests at once: about 1 s, well under 2 (sequential: 3).
    assert!((0.995..2.0).contains(&secs), "3 requests took {secs} s:\n{}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    Ok(())
}

#[test]
fn hyper_examples_command_lines() -> io::Result<()> {
    for name in ["hyper_server", "hyper_client"] {
        let out = Finished::example(name, &["--help"])?;
        assert!(out.status.success() && out.stdout.starts_with(&format!("usage: {name}")), "{out:?}");
        let out = Finished::example(name, &["--bogus"])?;
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(out.stderr.starts_with(&format!("{name}: ")), "{}", out.stderr);
    }
    let out = Finished::example("hyper_client", &["http://127.0.0.1:1/", "--delay-ms", "5"])?;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    Ok(())
}
