//! http_count: sends exactly N HTTP/1.1 `GET /` requests over C keep-alive
//! connections (P pipelined per write), checks every response is `200`
//! with a body, and exits: the fixed-count driver for per-request
//! instruction counts under callgrind (`benches/scripts/hyper.sh`), where
//! wrk can only run for a time.
//!
//! usage: http_count --addr HOST:PORT [--conns 64] [--requests 20000] [--pipeline 1]
//! One blocking thread per connection; prints `requests N ok` and exits 0,
//! or an error and exits 1.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// Reads `count` responses from `s` (each head with a content-length), keeping leftovers in `buf`.
fn read_responses(s: &mut TcpStream, buf: &mut Vec<u8>, count: usize) -> io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let mut done = 0;
    while done < count {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                return Err(io::Error::other(format!("unexpected response {head:?}")));
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| io::Error::other("no content-length"))?;
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                done += 1;
                continue;
            }
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

fn connection(addr: &str, requests: usize, pipeline: usize) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let one = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut buf = Vec::new();
    let mut left = requests;
    while left > 0 {
        let k = left.min(pipeline);
        s.write_all(one.repeat(k).as_bytes())?;
        read_responses(&mut s, &mut buf, k)?;
        left -= k;
    }
    Ok(())
}

fn main() -> ExitCode {
    let (mut addr, mut conns, mut requests, mut pipeline) = (String::new(), 64usize, 20_000usize, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        let ok = match (arg.as_str(), value) {
            ("--addr", Some(v)) => {
                addr = v;
                true
            }
            ("--conns", Some(v)) => v.parse().map(|n| conns = n).is_ok(),
            ("--requests", Some(v)) => v.parse().map(|n| requests = n).is_ok(),
            ("--pipeline", Some(v)) => v.parse().map(|n| pipeline = n).is_ok(),
            _ => false,
        };
        if !ok {
            eprintln!("usage: http_count --addr HOST:PORT [--conns 64] [--requests 20000] [--pipeline 1]");
            return ExitCode::from(2);
        }
    }
    if addr.is_empty() || conns == 0 || pipeline == 0 {
        eprintln!("http_count: --addr is required; --conns and --pipeline must be above 0");
        return ExitCode::from(2);
    }
    let threads: Vec<_> = (0..conns)
        .map(|i| {
            let addr = addr.clone();
            let share = requests / conns + usize::from(i < requests % conns);
            std::thread::spawn(move || connection(&addr, share, pipeline))
        })
        .collect();
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("http_count: {e}");
                return ExitCode::FAILURE;
            }
            Err(_) => return ExitCode::FAILURE,
        }
    }
    println!("requests {requests} ok");
    ExitCode::SUCCESS
}
