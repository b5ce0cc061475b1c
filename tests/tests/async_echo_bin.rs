//! The `async_echo` binary itself: its announcement line, echo and
//! `--upper` through plain blocking std sockets, its command line, and its
//! connection log on stderr.
//!
//! The binary (from the `examples` package) is built by
//! `tests::support::example_binary`, with the same cargo, target directory
//! and profile as this test.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;

use tests::support::{connect, example_binary, exchange, Finished, Guard, Lines, Running};

/// A running `async_echo`, killed on drop.
struct Server {
    /// Held for its `Drop`, which kills the server.
    _child: Guard,
    addr: SocketAddr,
    stderr: Lines,
}

impl Server {
    /// Starts `async_echo --addr 127.0.0.1:0 ARGS` and waits for its announcement.
    fn start(args: &[&str]) -> io::Result<Server> {
        let running = Running::spawn(
            Command::new(example_binary("async_echo")?).args(["--addr", "127.0.0.1:0"]).args(args).stdin(Stdio::null()),
        )?;
        let (line, addr) = running.stdout.announcement()?;
        assert!(addr.ip().is_loopback() && addr.port() != 0, "announced {addr}");
        assert_eq!(line, format!("listening on 127.0.0.1:{}", addr.port()));
        let Running { child, stderr, .. } = running;
        Ok(Server { _child: child, addr, stderr })
    }

    fn connect(&self) -> io::Result<TcpStream> {
        connect(self.addr)
    }
}

/// Closes our write side and expects the server to close in turn.
fn close_and_expect_eof(mut stream: TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf)?, 0, "server sent data after our FIN");
    Ok(())
}

#[test]
fn announces_and_echoes() -> io::Result<()> {
    let server = Server::start(&["--quiet"])?;
    let mut a = server.connect()?;
    let mut b = server.connect()?;
    // `a` stays open and idle while `b` is served: one task per connection.
    assert_eq!(exchange(&mut b, b"hello, b")?, b"hello, b");
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    let writer = {
        let mut a = a.try_clone()?;
        let data = all_bytes.clone();
        // A 200 kB echo needs a concurrent reader, or full buffers stall both sides.
        thread::spawn(move || a.write_all(&data))
    };
    let mut back = vec![0u8; all_bytes.len()];
    a.read_exact(&mut back)?;
    writer.join().map_err(|_| io::Error::other("writer thread panicked"))??;
    assert!(back == all_bytes, "echo differs from what was sent");
    close_and_expect_eof(a)?;
    close_and_expect_eof(b)?;
    Ok(())
}

#[test]
fn upper_changes_only_ascii_letters() -> io::Result<()> {
    let server = Server::start(&["--quiet", "--upper"])?;
    let mut stream = server.connect()?;
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let back = exchange(&mut stream, &every_byte)?;
    let expected: Vec<u8> = every_byte.iter().map(u8::to_ascii_uppercase).collect();
    assert_eq!(back, expected);
    assert_eq!(exchange(&mut stream, "Grüße, wörld 42!".as_bytes())?, "GRüßE, WöRLD 42!".as_bytes());
    close_and_expect_eof(stream)
}

#[test]
fn logs_accepted_and_closed_connections() -> io::Result<()> {
    let server = Server::start(&[])?;
    let mut stream = server.connect()?;
    let peer = stream.local_addr()?;
    assert_eq!(server.stderr.next()?, format!("accepted {peer}"));
    assert_eq!(exchange(&mut stream, b"twelve bytes")?, b"twelve bytes");
    assert_eq!(exchange(&mut stream, b"+3!")?, b"+3!");
    close_and_expect_eof(stream)?;
    assert_eq!(server.stderr.next()?, format!("closed {peer} after 15 bytes"));

    // The server is still up for the next client.
    let next = server.connect()?;
    assert_eq!(server.stderr.next()?, format!("accepted {}", next.local_addr()?));
    Ok(())
}

#[test]
fn help_exits_zero_and_documents_addr() -> io::Result<()> {
    let out = Finished::example("async_echo", &["--help"])?;
    assert!(out.status.success(), "--help exited with {}", out.status);
    assert!(out.stdout.contains("--addr"), "--help output does not mention --addr:\n{}", out.stdout);
    assert!(out.stdout.starts_with("usage: async_echo"), "{}", out.stdout);
    Ok(())
}

#[test]
fn unknown_option_exits_nonzero() -> io::Result<()> {
    let out = Finished::example("async_echo", &["--bogus-option"])?;
    assert!(!out.status.success(), "an unknown option was accepted");
    assert!(out.stderr.contains("--bogus-option"), "stderr does not name the option:\n{}", out.stderr);
    assert!(out.stdout.is_empty(), "printed on stdout: {}", out.stdout);
    Ok(())
}
