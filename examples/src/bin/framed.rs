//! framed: messages over TCP with a length prefix, because TCP itself only
//! knows bytes (messages stick together or split, "粘包").
//!
//! Every message is a 4-byte big-endian length and then the payload (see
//! `examples::frame`). The server answers each message with one carrying
//! the same payload; the client sends each line of stdin as a message and
//! prints each answer as a line.

use std::io::{self, Write};
use std::process::ExitCode;

use examples::cli::{announce, Usage};
use examples::frame::{echo_frames, write_frame, FrameReader, DEFAULT_MAX_FRAME};
use examples::stdin;
use net::{TcpListener, TcpStream};
use runtime::io::AsyncWriteExt;

const USAGE: Usage = Usage {
    name: "framed",
    text: "\
usage: framed server [--addr HOST:PORT] [--max-frame BYTES]
       framed client HOST:PORT [--max-frame BYTES]

Length-prefixed messages over TCP: a 4-byte big-endian length, then the payload.

  server  answers every message with a message carrying the same payload;
          prints `listening on ADDR` once bound
  client  sends each line of stdin as one message and prints each answer

options:
  --addr HOST:PORT   address to listen on (default 127.0.0.1:9000; port 0 picks a free port)
  --max-frame BYTES  largest payload accepted; a longer declared length closes
                     the connection with an error (default 16777216)
  --help             show this help
",
};

fn main() -> ExitCode {
    let args = match USAGE.args(&[], &["addr", "max-frame"]) {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    let max_frame = match args.parsed("max-frame", DEFAULT_MAX_FRAME) {
        Ok(m) => m,
        Err(e) => return USAGE.error(e),
    };
    let res = match args.positional.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["server"] => {
            let addr = args.value("addr").unwrap_or("127.0.0.1:9000").to_owned();
            runtime::block_on(server(addr, max_frame))
        }
        ["client", addr] if args.value("addr").is_none() => runtime::block_on(client(addr.to_owned(), max_frame)),
        _ => return USAGE.error("expected `server [--addr HOST:PORT]` or `client HOST:PORT`"),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("framed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn server(addr: String, max_frame: usize) -> io::Result<()> {
    let listener = TcpListener::bind(addr.as_str()).await?;
    announce(listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        // One task per connection; a bad frame closes only that connection.
        runtime::spawn(async move {
            let _ = stream.set_nodelay(true);
            if let Err(e) = echo_frames(stream, max_frame).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
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
    let mut lines = stdin::lines();
    while let Some(line) = lines.recv().await {
        write_frame(&mut write_half, line?.as_bytes()).await?;
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
