//! The echo server binaries from the outside, through plain blocking std
//! sockets: `async_echo` (a task per connection) and `callback_echo`
//! (callbacks on a hand-made event loop, with each of its pollers) must
//! behave the same: the announcement line, echo for many clients at once,
//! a 4 MiB stream that fills every socket buffer on the way, a close after
//! the client's, the connection log on stderr, and the command line.
//!
//! The binaries (from the `examples` package) are built by
//! `tests::support::example_binary`, with the same cargo, target directory
//! and profile as this test.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;

use tests::support::{connect, example_binary, exchange, Finished, Guard, Lines, Running};

/// Every echo server: its binary and the arguments that pick a variant.
const SERVERS: [(&str, &[&str]); 4] = [
    ("async_echo", &[]),
    ("callback_echo", &[]),
    ("callback_echo", &["--poller", "poll"]),
    ("callback_echo", &["--poller", "select"]),
];

/// A running echo server, killed on drop.
struct Server {
    /// Held for its `Drop`, which kills the server.
    _child: Guard,
    addr: SocketAddr,
    stderr: Lines,
    /// The command line, for failure messages.
    name: String,
}

impl Server {
    /// Starts `BIN --addr 127.0.0.1:0 VARIANT ARGS` and waits for its announcement.
    fn start(bin: &str, variant: &[&str], args: &[&str]) -> io::Result<Server> {
        let name = [&[bin][..], variant].concat().join(" ");
        let running = Running::spawn(
            Command::new(example_binary(bin)?)
                .args(["--addr", "127.0.0.1:0"])
                .args(variant)
                .args(args)
                .stdin(Stdio::null()),
        )?;
        let (line, addr) = running.stdout.announcement()?;
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{name} announced {addr}");
        let plain = format!("listening on 127.0.0.1:{}", addr.port());
        let backend = line.strip_prefix(&plain).unwrap_or_else(|| panic!("{name} announced {line:?}"));
        assert!(["", " (epoll)", " (io_uring)"].contains(&backend), "{name} announced {line:?}");
        let Running { child, stderr, .. } = running;
        Ok(Server { _child: child, addr, stderr, name })
    }

    fn connect(&self) -> io::Result<TcpStream> {
        connect(self.addr)
    }
}

/// Runs `test` against a fresh instance of every echo server started with
/// `args`; an error names the server.
fn each_server(args: &[&str], test: impl Fn(&Server) -> io::Result<()>) -> io::Result<()> {
    for (bin, variant) in SERVERS {
        let server = Server::start(bin, variant, args)?;
        test(&server).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", server.name)))?;
    }
    Ok(())
}

/// Closes our write side and expects the server to close in turn.
fn close_and_expect_eof(mut stream: TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf)?, 0, "server sent data after our FIN");
    Ok(())
}

/// Writes `data` on a thread while reading its echo here (a large echo
/// needs a concurrent reader, or full buffers stall both sides); the echo
/// must be exactly `data`.
fn stream_through(stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    let writer = {
        let mut stream = stream.try_clone()?;
        let data = data.to_vec();
        thread::spawn(move || stream.write_all(&data))
    };
    let mut back = vec![0u8; data.len()];
    let read = stream.read_exact(&mut back);
    writer.join().map_err(|_| io::Error::other("writer thread panicked"))??;
    read?;
    if back != data {
        let at = back.iter().zip(data).position(|(a, b)| a != b).unwrap_or(0);
        return Err(io::Error::other(format!("the echo of {} bytes differs from byte {at} on", data.len())));
    }
    Ok(())
}

#[test]
fn announces_and_echoes() -> io::Result<()> {
    each_server(&["--quiet"], |server| {
        let mut a = server.connect()?;
        let mut b = server.connect()?;
        // `a` stays open and idle while `b` is served.
        assert_eq!(exchange(&mut b, b"hello, b")?, b"hello, b", "{}", server.name);
        let all_bytes: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        stream_through(&mut a, &all_bytes)?;
        close_and_expect_eof(a)?;
        close_and_expect_eof(b)
    })
}

/// Eight clients trade messages at once while a ninth streams 4 MiB.
/// Nobody waits for anybody else, and every client's close is answered
/// with the server's.
#[test]
fn serves_many_clients_while_one_streams_4_mib() -> io::Result<()> {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 20;
    each_server(&["--quiet"], |server| {
        let mut big = server.connect()?;
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let streamer = thread::spawn(move || stream_through(&mut big, &data).map(|()| big));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let mut stream = server.connect()?;
                Ok(thread::spawn(move || -> io::Result<TcpStream> {
                    for round in 0..ROUNDS {
                        let msg = format!("client {i}, round {round}");
                        let back = exchange(&mut stream, msg.as_bytes())?;
                        if back != msg.as_bytes() {
                            return Err(io::Error::other(format!("{msg:?} came back as {back:?}")));
                        }
                    }
                    Ok(stream)
                }))
            })
            .collect::<io::Result<_>>()?;
        for client in clients {
            let stream = client.join().map_err(|_| io::Error::other("a client thread panicked"))??;
            close_and_expect_eof(stream)?;
        }
        let big = streamer.join().map_err(|_| io::Error::other("the streaming thread panicked"))??;
        close_and_expect_eof(big)
    })
}

/// A client that sends without reading fills every buffer on the way back
/// from `callback_echo`, so the server's echo comes up short: the rest
/// waits in `Conn::pending` (logged as `PEER is not reading`), nothing more
/// is read from that client, and the others are served meanwhile. Once the
/// client reads, it gets every byte back, in order.
/// Bytes that cannot all fit in the buffers from the server back to a
/// client that does not read: the client's receive buffer stays small
/// (it grows only as the client reads), but the server's send buffer may
/// grow to the kernel's `tcp_wmem` maximum. Twice that, plus 4 MiB.
fn more_than_the_way_back_holds() -> usize {
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).and_then(|max| max.parse().ok()))
        .unwrap_or(4 << 20);
    2 * wmem_max + (4 << 20)
}

#[test]
fn callback_echo_keeps_what_a_slow_reader_cannot_take_yet() -> io::Result<()> {
    for (bin, variant) in SERVERS.into_iter().filter(|(bin, _)| *bin == "callback_echo") {
        let server = Server::start(bin, variant, &[])?;
        let name = &server.name;
        let mut slow = server.connect()?;
        let peer = slow.local_addr()?;
        assert_eq!(server.stderr.next()?, format!("accepted {peer}"), "{name}");
        let data: Vec<u8> = (0..more_than_the_way_back_holds()).map(|i| (i % 251) as u8).collect();
        let writer = {
            let mut slow = slow.try_clone()?;
            let data = data.clone();
            // Blocks once the server stops reading from us, until we read below.
            thread::spawn(move || slow.write_all(&data))
        };
        let stalled = server.stderr.skip_to(&format!("{peer} is not reading: "))?;

        // Stalled on one client, the server still serves another.
        let mut other = server.connect()?;
        assert_eq!(exchange(&mut other, b"not stuck")?, b"not stuck", "{name}: {stalled}");
        close_and_expect_eof(other)?;

        let mut back = vec![0u8; data.len()];
        slow.read_exact(&mut back)?;
        writer.join().map_err(|_| io::Error::other("writer thread panicked"))??;
        assert!(back == data, "{name}: the echo differs from what was sent");
        close_and_expect_eof(slow)?;
        let closed = server.stderr.skip_to(&format!("closed {peer} "))?;
        assert_eq!(closed, format!("closed {peer} after {} bytes", data.len()), "{name}");
    }
    Ok(())
}

#[test]
fn logs_accepted_and_closed_connections() -> io::Result<()> {
    each_server(&[], |server| {
        let mut stream = server.connect()?;
        let peer = stream.local_addr()?;
        assert_eq!(server.stderr.next()?, format!("accepted {peer}"), "{}", server.name);
        assert_eq!(exchange(&mut stream, b"twelve bytes")?, b"twelve bytes");
        assert_eq!(exchange(&mut stream, b"+3!")?, b"+3!");
        close_and_expect_eof(stream)?;
        assert_eq!(server.stderr.next()?, format!("closed {peer} after 15 bytes"), "{}", server.name);

        // The server is still up for the next client.
        let next = server.connect()?;
        assert_eq!(server.stderr.next()?, format!("accepted {}", next.local_addr()?), "{}", server.name);
        Ok(())
    })
}

#[test]
fn upper_changes_only_ascii_letters() -> io::Result<()> {
    let server = Server::start("async_echo", &[], &["--quiet", "--upper"])?;
    let mut stream = server.connect()?;
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let back = exchange(&mut stream, &every_byte)?;
    let expected: Vec<u8> = every_byte.iter().map(u8::to_ascii_uppercase).collect();
    assert_eq!(back, expected);
    assert_eq!(exchange(&mut stream, "Grüße, wörld 42!".as_bytes())?, "GRüßE, WöRLD 42!".as_bytes());
    close_and_expect_eof(stream)
}

#[test]
fn help_exits_zero_and_documents_the_options() -> io::Result<()> {
    for (bin, options) in
        [("async_echo", &["--addr", "--grace-ms"][..]), ("callback_echo", &["--addr", "--poller", "--grace-ms"])]
    {
        let out = Finished::example(bin, &["--help"])?;
        assert!(out.status.success(), "{bin} --help exited with {}", out.status);
        assert!(out.stdout.starts_with(&format!("usage: {bin}")), "{}", out.stdout);
        for option in options {
            assert!(out.stdout.contains(option), "{bin} --help does not mention {option}:\n{}", out.stdout);
        }
    }
    Ok(())
}

#[test]
fn bad_options_exit_2_and_say_why() -> io::Result<()> {
    for (bin, args, named) in [
        ("async_echo", &["--bogus-option"][..], "--bogus-option"),
        ("callback_echo", &["--bogus-option"], "--bogus-option"),
        ("callback_echo", &["--poller", "carrier-pigeon"], "carrier-pigeon"),
    ] {
        let out = Finished::example(bin, args)?;
        assert_eq!(out.status.code(), Some(2), "{bin} {args:?} exited with {}", out.status);
        assert!(out.stderr.contains(named), "{bin} {args:?}: stderr does not name {named}:\n{}", out.stderr);
        assert!(out.stdout.is_empty(), "{bin} {args:?} printed on stdout: {}", out.stdout);
    }
    Ok(())
}

/// `echo_client`, the README's way to talk to these servers: each line
/// typed comes back, and the end of input ends the client with status 0
/// once everything came back. The learner servers (blocking, busy-poll)
/// speak the same protocol.
#[test]
fn echo_client_sends_lines_and_prints_the_echo() -> io::Result<()> {
    let servers: [(&str, &[&str]); 4] =
        [("async_echo", &[]), ("callback_echo", &[]), ("blocking_echo", &[]), ("busy_poll_echo", &["--quiet"])];
    for (bin, variant) in servers {
        let server = Server::start(bin, variant, &[])?;
        let mut client = Running::start("echo_client", &[&server.addr.to_string()])?;
        client.stderr.skip_to("connected to")?;
        let stdin = client.stdin.as_mut().ok_or_else(|| io::Error::other("no stdin"))?;
        stdin.write_all("first line\n\nthird: 粘包\n".as_bytes())?;
        assert_eq!(client.stdout.next()?, "first line", "{}", server.name);
        assert_eq!(client.stdout.next()?, "", "{}", server.name);
        assert_eq!(client.stdout.next()?, "third: 粘包", "{}", server.name);
        stdin.write_all(b"last, unanswered before the end of input\n")?;
        client.close_stdin();
        let (status, rest) = client.wait(std::time::Instant::now() + tests::support::PATIENCE)?;
        assert!(status.success(), "{}: echo_client exited with {status}", server.name);
        assert_eq!(rest, "last, unanswered before the end of input\n", "{}", server.name);
    }
    Ok(())
}

/// `WEFT_BACKEND` picks the driver of every weft binary without a rebuild,
/// and the startup line names it after the address.
#[test]
fn the_startup_line_names_the_backend_the_environment_chose() -> io::Result<()> {
    let uring = runtime::Builder::new().backend(runtime::Backend::Auto).build()?.backend() == runtime::Backend::IoUring;
    let backends: &[&str] = if uring { &["epoll", "io_uring"] } else { &["epoll"] };
    for backend in backends {
        let running = Running::spawn(
            Command::new(example_binary("async_echo")?)
                .args(["--addr", "127.0.0.1:0"])
                .env("WEFT_BACKEND", backend)
                .stdin(Stdio::null()),
        )?;
        let (line, addr) = running.stdout.announcement()?;
        assert_eq!(line, format!("listening on {addr} ({backend})"));
        let mut stream = connect(addr)?;
        assert_eq!(exchange(&mut stream, b"which driver?")?, b"which driver?", "{backend}");
    }
    Ok(())
}
