//! chat: a chat room over TCP, server and client in one binary: the
//! seeds' UDP chat, on connections.
//!
//! Each connection is a task that reads lines (`AsyncBufReadExt::lines`)
//! and publishes them on one `broadcast` channel; every task also receives
//! from that channel and writes the others' lines to its client, as
//! `PEER: message`. A slow client that falls behind the channel's capacity
//! is told how many messages it missed instead of holding up the room.

use std::future::{poll_fn, Future};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::process::ExitCode;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use examples::cli::{Args, Error, Long, Usage, Value, ValueExt};
use examples::servers::lifecycle::{listen_and_announce, serve_until_signal, Drain};
use examples::stdin::{Input, Next};
use net::TcpStream;
use runtime::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use runtime::sync::broadcast::{self, error::RecvError};

const USAGE: Usage = Usage {
    name: "chat",
    text: "\
usage: chat server [--addr HOST:PORT] [--quiet]
       chat client HOST:PORT

A chat room over TCP.

  server  prints `listening on ADDR` once bound, then relays every line a
          client sends, as `PEER: message`, to every other client; on
          SIGINT or SIGTERM it closes the room and exits with status 0
  client  joins the room, sends each line of stdin and prints every message
          that arrives; ends at the end of input or when the server closes,
          and with status 0 on SIGINT (Ctrl-C) or SIGTERM

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:9998; port 0 picks a free port)
  --quiet           do not log clients joining and leaving on stderr
  --help            show this help
",
};

/// Messages the room holds for a slow reader before it starts to miss them.
const CAPACITY: usize = 256;
/// Longest line relayed; a longer one ends that client's connection.
const MAX_LINE: usize = 4096;
/// How long clients may stay after a signal.
const GRACE: Duration = Duration::from_secs(1);

/// A line said in the room, and who said it.
#[derive(Clone, Debug)]
struct Said {
    from: SocketAddr,
    text: Arc<str>,
}

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
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        }
    }
}

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
        (["server"], addr) => Ok(Command::Server { addr: addr.unwrap_or_else(|| "127.0.0.1:9998".to_owned()), quiet }),
        (["client", server], None) if !quiet => Ok(Command::Client { server: (*server).to_owned() }),
        _ => Err("expected `server [--addr HOST:PORT] [--quiet]` or `client HOST:PORT`".into()),
    }
}

async fn server(addr: String, quiet: bool) -> io::Result<()> {
    let (listener, signals) = listen_and_announce(&addr).await?;
    let (room, _) = broadcast::channel::<Said>(CAPACITY);
    serve_until_signal(listener, signals, GRACE, move |stream, drain| {
        // Subscribed before the task starts: nothing said after the accept is missed.
        let (room, inbox) = (room.clone(), room.subscribe());
        async move {
            let Ok(peer) = stream.peer_addr() else { return };
            if !quiet {
                eprintln!("{peer} joined");
            }
            let res = member(stream, peer, room, inbox, drain).await;
            if !quiet {
                match res {
                    Ok(()) => eprintln!("{peer} left"),
                    Err(e) => eprintln!("{peer} left: {e}"),
                }
            }
        }
    })
    .await
}

/// What woke a member's task.
enum Event {
    Line(io::Result<Option<String>>),
    Message(Result<Said, RecvError>),
    Closing,
}

/// One client in the room: its lines go out to the others, theirs come in.
async fn member(
    mut stream: TcpStream,
    me: SocketAddr,
    room: broadcast::Sender<Said>,
    mut inbox: broadcast::Receiver<Said>,
    mut drain: Drain,
) -> io::Result<()> {
    let (reader, mut writer) = stream.split();
    let mut lines = BufReader::new(reader).lines();
    loop {
        let event = {
            let mut message = pin!(inbox.recv());
            poll_fn(|cx| {
                if let Poll::Ready(line) = Pin::new(&mut lines).poll_next_line(cx) {
                    return Poll::Ready(Event::Line(line));
                }
                if let Poll::Ready(said) = message.as_mut().poll(cx) {
                    return Poll::Ready(Event::Message(said));
                }
                drain.poll_draining(cx).map(|()| Event::Closing)
            })
            .await
        };
        match event {
            Event::Line(Ok(Some(text))) if text.len() <= MAX_LINE => {
                // Err only when nobody is subscribed, and we are.
                let _ = room.send(Said { from: me, text: text.into() });
            }
            Event::Line(Ok(Some(_))) => {
                writer.write_all(b"[line too long: closing]\n").await?;
                return Ok(());
            }
            Event::Line(Ok(None)) => return Ok(()),
            Event::Line(Err(e)) => return Err(e),
            Event::Message(Ok(said)) if said.from == me => {}
            Event::Message(Ok(said)) => writer.write_all(format!("{}: {}\n", said.from, said.text).as_bytes()).await?,
            Event::Message(Err(RecvError::Lagged(n))) => {
                writer.write_all(format!("[you missed {n} messages]\n").as_bytes()).await?;
            }
            Event::Message(Err(RecvError::Closed)) | Event::Closing => {
                writer.write_all(b"[the room is closing]\n").await?;
                return Ok(());
            }
        }
    }
}

/// What woke the client.
enum ClientEvent {
    Input(Next),
    Line(io::Result<Option<String>>),
}

async fn client(addr: String) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr.as_str()).await?;
    // Ctrl-C from here on ends the client with status 0.
    let mut input = Input::start()?;
    eprintln!("joined {addr} from {}; type a line to send it", stream.local_addr()?);
    let (reader, mut writer) = stream.split();
    let mut lines = BufReader::new(reader).lines();
    loop {
        let event = poll_fn(|cx| {
            if let Poll::Ready(next) = input.poll_next(cx) {
                return Poll::Ready(ClientEvent::Input(next));
            }
            Pin::new(&mut lines).poll_next_line(cx).map(ClientEvent::Line)
        })
        .await;
        match event {
            ClientEvent::Input(Next::Line(line)) => writer.write_all(format!("{}\n", line?).as_bytes()).await?,
            // End of input: leave the room.
            ClientEvent::Input(Next::End) => return writer.shutdown().await,
            ClientEvent::Input(Next::Interrupted) => return Ok(()),
            ClientEvent::Line(Ok(Some(text))) => {
                let mut out = io::stdout().lock();
                writeln!(out, "{text}")?;
                out.flush()?;
            }
            ClientEvent::Line(Ok(None)) => return Ok(()),
            ClientEvent::Line(Err(e)) => return Err(e),
        }
    }
}
