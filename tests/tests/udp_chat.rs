//! The `udp_chat` binary: the server relays each datagram as `PEER:
//! message` to every other client it has heard from; the client sends
//! stdin lines and prints what arrives.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use tests::support::{Running, PATIENCE};

/// A plain blocking client socket on loopback.
fn client() -> io::Result<UdpSocket> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_read_timeout(Some(PATIENCE))?;
    Ok(s)
}

fn recv_text(s: &UdpSocket) -> io::Result<String> {
    let mut buf = vec![0u8; 65536];
    let (n, _) = s.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn start_server() -> io::Result<(Running, SocketAddr)> {
    Running::server("udp_chat", &["server", "--addr", "127.0.0.1:0"])
}

#[test]
fn server_relays_to_every_other_client() -> io::Result<()> {
    let (server, addr) = start_server()?;
    let (a, b, c) = (client()?, client()?, client()?);
    let (a_addr, b_addr, c_addr) = (a.local_addr()?, b.local_addr()?, c.local_addr()?);

    // `a` speaks before anyone else is there: nobody gets it.
    a.send_to(b"anyone?", addr)?;
    assert_eq!(server.stderr.next()?, format!("{a_addr} joined"));
    // An empty datagram only joins.
    b.send_to(b"", addr)?;
    assert_eq!(server.stderr.next()?, format!("{b_addr} joined"));
    c.send_to(b"", addr)?;
    assert_eq!(server.stderr.next()?, format!("{c_addr} joined"));

    a.send_to(b"hello all\n", addr)?;
    assert_eq!(recv_text(&b)?, format!("{a_addr}: hello all"), "b's first message");
    assert_eq!(recv_text(&c)?, format!("{a_addr}: hello all"), "c's first message");
    b.send_to("héllo from b".as_bytes(), addr)?;
    // `a` never gets its own message back: its first datagram is b's.
    assert_eq!(recv_text(&a)?, format!("{b_addr}: héllo from b"));
    assert_eq!(recv_text(&c)?, format!("{b_addr}: héllo from b"));

    // A datagram longer than the server's buffer is cut and marked.
    c.send_to(&[b'x'; 5000], addr)?;
    let long = recv_text(&a)?;
    assert!(long.starts_with(&format!("{c_addr}: xxx")), "{long:.40}");
    assert!(long.ends_with(" [truncated]"), "{}", &long[long.len().saturating_sub(40)..]);
    assert!(long.len() < 5000, "{} bytes relayed", long.len());
    assert_eq!(recv_text(&b)?, long);
    Ok(())
}

#[test]
fn client_binary_sends_lines_and_prints_messages() -> io::Result<()> {
    let (_server, addr) = start_server()?;
    let peer = client()?;
    peer.send_to(b"", addr)?;
    let mut chat = Running::start("udp_chat", &["client", &addr.to_string()])?;
    let stdin = chat.stdin.as_mut().ok_or_else(|| io::Error::other("no stdin"))?;
    stdin.write_all(b"hi from the binary\n")?;
    // The relayed line names the binary's address: it has now joined.
    let relayed = recv_text(&peer)?;
    let (from, text) = relayed.split_once(": ").ok_or_else(|| io::Error::other(relayed.clone()))?;
    assert_eq!(text, "hi from the binary");
    let from: SocketAddr = from.parse().map_err(|_| io::Error::other(relayed.clone()))?;
    assert!(from.ip().is_loopback(), "{from}");

    peer.send_to(b"hi back", addr)?;
    assert_eq!(chat.stdout.next()?, format!("{}: hi back", peer.local_addr()?));

    chat.close_stdin();
    let (status, rest) = chat.wait(Instant::now() + PATIENCE)?;
    assert!(status.success(), "client exited with {status}");
    assert!(rest.is_empty(), "unexpected output: {rest:?}");
    Ok(())
}

#[test]
fn usage_errors_exit_2() -> io::Result<()> {
    for args in [&[][..], &["client"], &["server", "extra"], &["server", "--bogus"]] {
        let running = Running::start("udp_chat", args)?;
        let (status, out) = running.wait(Instant::now() + PATIENCE)?;
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert!(out.is_empty(), "{args:?} printed on stdout: {out}");
    }
    Ok(())
}
