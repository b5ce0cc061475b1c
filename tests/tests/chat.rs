//! The `chat` binary: a TCP chat room (broadcast + lines()). A line from
//! one client reaches the two others as `PEER: message`, never its
//! sender; the client binary sends stdin lines and prints messages.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use tests::support::{connect, send_signal, wait_success, Running, PATIENCE};

/// A client that has joined: the server logged it, so it is subscribed.
fn join(server: &Running, addr: SocketAddr) -> io::Result<(TcpStream, BufReader<TcpStream>, SocketAddr)> {
    let s = connect(addr)?;
    let me = s.local_addr()?;
    assert_eq!(server.stderr.next()?, format!("{me} joined"));
    let reader = BufReader::new(s.try_clone()?);
    Ok((s, reader, me))
}

fn line(reader: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

#[test]
fn a_line_reaches_the_two_other_clients() -> io::Result<()> {
    let (server, addr) = Running::server("chat", &["server", "--addr", "127.0.0.1:0"])?;
    let (mut a, mut a_in, a_addr) = join(&server, addr)?;
    let (mut b, mut b_in, b_addr) = join(&server, addr)?;
    let (_c, mut c_in, _) = join(&server, addr)?;

    a.write_all(b"hello room\n")?;
    assert_eq!(line(&mut b_in)?, format!("{a_addr}: hello room"));
    assert_eq!(line(&mut c_in)?, format!("{a_addr}: hello room"));
    // The sender does not get its own line back: its next line is b's.
    b.write_all("héllo from b\r\n".as_bytes())?;
    assert_eq!(line(&mut a_in)?, format!("{b_addr}: héllo from b"));
    assert_eq!(line(&mut c_in)?, format!("{b_addr}: héllo from b"));

    drop(b_in);
    b.shutdown(std::net::Shutdown::Both)?;
    assert_eq!(server.stderr.next()?, format!("{b_addr} left"));

    send_signal(&server, libc::SIGTERM)?;
    assert_eq!(line(&mut a_in)?, "[the room is closing]");
    a.flush()?;
    wait_success(server, Instant::now() + PATIENCE)?;
    Ok(())
}

#[test]
fn client_binary_sends_lines_and_prints_messages() -> io::Result<()> {
    let (server, addr) = Running::server("chat", &["server", "--addr", "127.0.0.1:0"])?;
    let (mut peer, mut peer_in, peer_addr) = join(&server, addr)?;
    let mut chat = Running::start("chat", &["client", &addr.to_string()])?;
    let joined = server.stderr.next()?;
    assert!(joined.ends_with(" joined"), "{joined}");
    let stdin = chat.stdin.as_mut().ok_or_else(|| io::Error::other("no stdin"))?;
    stdin.write_all(b"hi from the binary\n")?;
    let relayed = line(&mut peer_in)?;
    assert!(relayed.ends_with(": hi from the binary"), "{relayed}");

    peer.write_all(b"hi back\n")?;
    assert_eq!(chat.stdout.next()?, format!("{peer_addr}: hi back"));
    chat.close_stdin();
    let (status, rest) = chat.wait(Instant::now() + PATIENCE)?;
    assert!(status.success(), "client exited with {status}");
    assert!(rest.is_empty(), "unexpected output: {rest:?}");
    Ok(())
}

#[test]
fn usage_errors_exit_2() -> io::Result<()> {
    for args in [&[][..], &["client"], &["server", "extra"], &["server", "--bogus"]] {
        let running = Running::start("chat", args)?;
        let (status, out) = running.wait(Instant::now() + PATIENCE)?;
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert!(out.is_empty(), "{args:?} printed on stdout: {out}");
    }
    Ok(())
}
