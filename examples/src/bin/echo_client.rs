//! echo_client: type lines, see them come back: the client for the echo
//! servers (`async_echo`, `callback_echo`, `blocking_echo`,
//! `busy_poll_echo`), so that trying them needs nothing but cargo (no
//! `nc`, no telnet).
//!
//! ```text
//! cargo run -p examples --bin async_echo                # terminal 1
//! cargo run -p examples --bin echo_client               # terminal 2: 127.0.0.1:8080
//! cargo run -p examples --bin echo_client -- 127.0.0.1:8083   # blocking_echo's port
//! ```
//!
//! Two tasks share the connection's two halves: one sends what you type,
//! the other prints what comes back, so neither waits for the other (a
//! server that answers late, or not at all, never blocks your typing).

use std::io::{self, Write};
use std::process::ExitCode;

use examples::cli::{Args, Error, Usage, Value, ValueExt};
use examples::stdin::{Input, Next};
use net::TcpStream;
use runtime::io::{AsyncReadExt, AsyncWriteExt};

const USAGE: Usage = Usage {
    name: "echo_client",
    text: "\
usage: echo_client [HOST:PORT]

Connects to an echo server (default 127.0.0.1:8080, async_echo's), sends
each line of stdin and prints whatever the server sends back. At the end of
input it closes its sending side, prints what is still coming back, and
exits once the server closes; on SIGINT (Ctrl-C) or SIGTERM it exits at
once. Exit status 0 then, 1 if the connection fails.

options:
  --help            show this help
",
};

/// Bytes read from the server in one call.
const CHUNK: usize = 16 * 1024;

fn main() -> ExitCode {
    let addr = match USAGE.parse(parse) {
        Ok(addr) => addr,
        Err(exit) => return exit,
    };
    match runtime::block_on(run(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server's address.
fn parse(args: &mut Args) -> Result<String, Error> {
    let mut addr = None;
    while let Some(arg) = args.next()? {
        match arg {
            Value(value) if addr.is_none() => addr = Some(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(addr.unwrap_or_else(|| "127.0.0.1:8080".to_owned()))
}

async fn run(addr: String) -> io::Result<()> {
    let stream = TcpStream::connect(addr.as_str())
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("connecting to {addr}: {e}")))?;
    let (mut from_server, mut to_server) = stream.into_split();
    let mut input = Input::start()?;
    eprintln!("connected to {}; type a line to send it", to_server.peer_addr()?);
    // Prints what comes back, as it comes, until the server closes.
    let printer = runtime::spawn(async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = from_server.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, io::Error>(());
            }
            let mut out = io::stdout().lock();
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    });
    loop {
        match input.next().await {
            Next::Line(line) => {
                let mut line = line?;
                line.push('\n');
                to_server.write_all(line.as_bytes()).await?;
            }
            Next::End => break,
            // Ctrl-C: what is still on its way back is not waited for.
            Next::Interrupted => return Ok(()),
        }
    }
    // End of input: the server sees EOF once it has everything, echoes the
    // rest and closes, which ends the printer.
    to_server.shutdown().await?;
    printer.await?
}
