//! udp_chat: a chat room over UDP, server and client in one binary.
//!
//! UDP has no connections: the server learns who is in the room from the
//! datagrams it receives, and relays each message, as `PEER: message`, to
//! every other sender it has heard from. One socket, one task, no
//! per-client state beyond an address.
//!
//! Both ends exit with status 0 on SIGINT (Ctrl-C) or SIGTERM.

use std::future::{poll_fn, Future};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::task::Poll;

use examples::cli::{announce, Args, Error, Long, Usage, Value, ValueExt};
use examples::signals::ShutdownSignals;
use examples::stdin::{Input, Next};
use net::UdpSocket;

const USAGE: Usage = Usage {
    name: "udp_chat",
    text: "\
usage: udp_chat server [--addr HOST:PORT] [--quiet]
       udp_chat client HOST:PORT

A chat room over UDP.

  server  prints `listening on ADDR` once bound, then relays every datagram,
          as `PEER: message`, to every other client it has received one from
          (an empty datagram only joins the room)
  client  joins the room, sends each line of stdin as one datagram and prints
          every message that arrives; ends at the end of input
Either ends with status 0 on SIGINT (Ctrl-C) or SIGTERM.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:9999; port 0 picks a free port)
  --quiet           do not log clients joining on stderr
  --help            show this help
",
};

/// Longest message relayed in full; longer datagrams are cut (and marked).
const MAX_MESSAGE: usize = 4096;

/// Most clients remembered; the one heard from least recently is forgotten
/// first (UDP never says when a client has gone).
const MAX_CLIENTS: usize = 1024;

/// What the command line asks for.
enum Command {
    Server { addr: String, quiet: bool },
    Client { server: String },
}

fn main() -> ExitCode {
    let command = match USAGE.parse(parse) {
        Ok(command) => command,
        Err(exit) => return exit,
    };
    let res = match command {
        Command::Server { addr, quiet } => runtime::block_on(server(addr, quiet)),
        Command::Client { server } => runtime::block_on(client(server)),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_chat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `server [--addr HOST:PORT] [--quiet]` or `client HOST:PORT`.
fn parse(args: &mut Args) -> Result<Command, Error> {
    let (mut words, mut addr, mut quiet) = (Vec::new(), None, false);
    while let Some(arg) = args.next()? {
        match arg {
            Value(word) if words.len() < 2 => words.push(word.string()?),
            Long("addr") => addr = Some(args.string()?),
            Long("quiet") => quiet = true,
            _ => return Err(arg.unexpected()),
        }
    }
    match (&words.iter().map(String::as_str).collect::<Vec<_>>()[..], addr) {
        (["server"], addr) => Ok(Command::Server { addr: addr.unwrap_or_else(|| "127.0.0.1:9999".to_owned()), quiet }),
        (["client", server], None) if !quiet => Ok(Command::Client { server: (*server).to_owned() }),
        _ => Err("expected `server [--addr HOST:PORT] [--quiet]` or `client HOST:PORT`".into()),
    }
}

/// What woke the server.
enum ServerEvent {
    Datagram(io::Result<(usize, SocketAddr, bool)>),
    Shutdown,
}

async fn server(addr: String, quiet: bool) -> io::Result<()> {
    let socket = UdpSocket::bind(addr.as_str()).await?;
    let mut signals = ShutdownSignals::listen()?;
    announce(socket.local_addr()?);
    // Clients in the order last heard from, most recent at the end.
    let mut clients: Vec<SocketAddr> = Vec::new();
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let event = {
            let mut datagram = pin!(socket.recv_from_truncated(&mut buf));
            poll_fn(|cx| {
                if signals.poll_recv(cx).is_ready() {
                    return Poll::Ready(ServerEvent::Shutdown);
                }
                datagram.as_mut().poll(cx).map(ServerEvent::Datagram)
            })
            .await
        };
        let (n, peer, truncated) = match event {
            ServerEvent::Datagram(Ok(got)) => got,
            ServerEvent::Shutdown => {
                if !quiet {
                    eprintln!("shutting down");
                }
                return Ok(());
            }
            // An error on one datagram (e.g. an ICMP error for an earlier
            // send) is no reason to close the room.
            ServerEvent::Datagram(Err(e)) => {
                eprintln!("receive failed: {e}");
                continue;
            }
        };
        match clients.iter().position(|c| *c == peer) {
            Some(i) => {
                clients.remove(i);
            }
            None => {
                if !quiet {
                    eprintln!("{peer} joined");
                }
                if clients.len() == MAX_CLIENTS {
                    clients.remove(0);
                }
            }
        }
        clients.push(peer);
        if n == 0 {
            continue;
        }
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut line = format!("{peer}: {}", text.trim_end_matches(['\r', '\n']));
        if truncated {
            line.push_str(" [truncated]");
        }
        for &client in clients.iter().filter(|&&c| c != peer) {
            if let Err(e) = socket.send_to(line.as_bytes(), client).await {
                eprintln!("sending to {client} failed: {e}");
            }
        }
    }
}

/// What woke the client.
enum Event {
    Input(Next),
    Datagram(io::Result<usize>),
}

async fn client(addr: String) -> io::Result<()> {
    let server = *net::lookup_host(addr.as_str())
        .await?
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} resolved to nothing")))?;
    let any: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(any).await?;
    // Connected: `send` needs no address, and only the server's datagrams arrive.
    socket.connect(server).await?;
    // An empty datagram joins the room, so messages arrive before we say anything.
    socket.send(b"").await?;
    let mut input = Input::start()?;
    eprintln!("joined {server} from {}; type a line to send it", socket.local_addr()?);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let event = poll_fn(|cx| {
            if let Poll::Ready(next) = input.poll_next(cx) {
                return Poll::Ready(Event::Input(next));
            }
            socket.poll_recv(cx, &mut buf).map(Event::Datagram)
        })
        .await;
        match event {
            Event::Input(Next::Line(line)) => {
                socket.send(line?.as_bytes()).await?;
            }
            Event::Input(Next::End | Next::Interrupted) => return Ok(()),
            Event::Datagram(Ok(n)) => {
                let mut out = io::stdout().lock();
                out.write_all(&buf[..n])?;
                out.write_all(b"\n")?;
            }
            // A connected UDP socket hears ICMP "port unreachable": nobody
            // is listening at the server's address.
            Event::Datagram(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(io::Error::new(e.kind(), format!("no server at {server}: {e}")));
            }
            Event::Datagram(Err(e)) => return Err(e),
        }
    }
}
