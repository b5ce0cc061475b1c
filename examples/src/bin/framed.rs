//! framed: messages over TCP with a length prefix, because TCP itself only
//! knows bytes (messages stick together or split, "粘包").
//!
//! Every message is a 4-byte big-endian length and then the payload (see
//! `examples::frame`). The server answers each message with one carrying
//! the same payload; the client sends each line of stdin as a message and
//! prints each answer as a line.
//!
//! Both ends exit with status 0 on SIGINT (Ctrl-C) or SIGTERM; the server
//! first gives open connections a grace period, which a second signal ends.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use examples::cli::{Args, Error, Long, Usage, Value, ValueExt};
use examples::frame::{echo_frames, write_frame, FrameReader, DEFAULT_MAX_FRAME};
use examples::servers::lifecycle::{listen_and_announce, serve_until_signal};
use examples::stdin::{Input, Next};
use net::TcpStream;
use runtime::io::AsyncWriteExt;

const USAGE: Usage = Usage {
    name: "framed",
    text: "\
usage: framed server [--addr HOST:PORT] [--max-frame BYTES] [--grace-ms MS]
       framed client HOST:PORT [--max-frame BYTES]

Length-prefixed messages over TCP: a 4-byte big-endian length, then the payload.

  server  answers every message with a message carrying the same payload;
          prints `listening on ADDR` once bound
  client  sends each line of stdin as one message and prints each answer
On SIGINT or SIGTERM the server stops accepting, gives open connections up
to the grace period (a second signal ends it), and exits with status 0; the
client exits with status 0 at once.

options:
  --addr HOST:PORT   address to listen on (default 127.0.0.1:9000; port 0 picks a free port)
  --max-frame BYTES  largest payload accepted; a longer declared length closes
                     the connection with an error (default 16777216)
  --grace-ms MS      how long open connections may finish after a signal (default 5000)
  --help             show this help
",
};

/// What the command line asks for.
enum Command {
    Server { addr: String, grace: Duration },
    Client { server: String },
}

fn main() -> ExitCode {
    let (command, max_frame) = match USAGE.parse(parse) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    let res = match command {
        Command::Server { addr, grace } => runtime::block_on(server(addr, max_frame, grace)),
        Command::Client { server } => runtime::block_on(client(server, max_frame)),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("framed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `server [--addr HOST:PORT] [--grace-ms MS]` or `client HOST:PORT`,
/// and `--max-frame` for either.
fn parse(args: &mut Args) -> Result<(Command, usize), Error> {
    let (mut words, mut addr, mut grace, mut max_frame) = (Vec::new(), None, None, DEFAULT_MAX_FRAME);
    while let Some(arg) = args.next()? {
        match arg {
            Value(word) if words.len() < 2 => words.push(word.string()?),
            Long("addr") => addr = Some(args.string()?),
            Long("grace-ms") => grace = Some(args.millis()?),
            Long("max-frame") => max_frame = args.parsed()?,
            _ => return Err(arg.unexpected()),
        }
    }
    let command = match &words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["server"] => Command::Server {
            addr: addr.unwrap_or_else(|| "127.0.0.1:9000".to_owned()),
            grace: grace.unwrap_or(Duration::from_millis(5000)),
        },
        ["client", server] if addr.is_none() && grace.is_none() => Command::Client { server: (*server).to_owned() },
        _ => return Err("expected `server [--addr HOST:PORT] [--grace-ms MS]` or `client HOST:PORT`".into()),
    };
    Ok((command, max_frame))
}

async fn server(addr: String, max_frame: usize, grace: Duration) -> io::Result<()> {
    let (listener, signals) = listen_and_announce(&addr).await?;
    // One task per connection; a bad frame closes only that connection.
    // Framed connections have no requests to finish: a shutdown gives them
    // the grace period as they are.
    serve_until_signal(listener, signals, grace, move |stream, _drain| async move {
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr();
        if let Err(e) = echo_frames(stream, max_frame).await {
            match peer {
                Ok(peer) => eprintln!("{peer}: {e}"),
                Err(_) => eprintln!("{e}"),
            }
        }
    })
    .await
}

async fn client(addr: String, max_frame: usize) -> io::Result<()> {
    let stream = TcpStream::connect(addr.as_str()).await?;
    stream.set_nodelay(true)?;
    let (read_half, mut write_half) = stream.into_split();
    // One task prints answers while this one sends lines: neither waits for the other.
    let printer = runtime::spawn(async move {
        let mut answers = FrameReader::new(read_half, max_frame);
        while let Some(payload) = answers.next().await? {
            print_line(&payload)?;
        }
        Ok::<_, io::Error>(())
    });
    let mut input = Input::start()?;
    eprintln!("connected to {}; type a line to send it", write_half.peer_addr()?);
    loop {
        match input.next().await {
            Next::Line(line) => write_frame(&mut write_half, line?.as_bytes()).await?,
            Next::End => break,
            // Ctrl-C: answers still on their way are not waited for.
            Next::Interrupted => return Ok(()),
        }
    }
    // End of input: the server sees EOF once it has everything, answers
    // the rest and closes, which ends the printer.
    write_half.shutdown().await?;
    printer.await?
}

fn print_line(payload: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(payload)?;
    out.write_all(b"\n")
}
