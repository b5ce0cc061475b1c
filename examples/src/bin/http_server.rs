//! http_server: the TechEmpower "plaintext" test's server. Every `GET` is
//! answered `200 OK` / `Hello, World!`, keep-alive, pipelined requests in
//! one write, all connections on one thread.

use std::io;
use std::process::ExitCode;

use examples::plaintext::{self, IDLE_TIMEOUT};
use examples::{announce, Args};
use net::TcpListener;

const USAGE: &str = "\
usage: http_server [--addr HOST:PORT]

A minimal HTTP/1.1 \"plaintext\" server: every GET gets `200 OK` with body
`Hello, World!`. Connections stay open unless the request says
`Connection: close`; pipelined requests are answered in order, in one write.
A malformed request gets 400. One task per connection, one thread.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8082; port 0 picks a free port)
  --help            show this help
";

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1), &["help"])
        .and_then(|a| a.reject_unknown(&["addr", "help"]).map(|()| a))
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("http_server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.flag("help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if let Some(extra) = args.positional.first() {
        eprintln!("http_server: unexpected argument {extra:?}\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let addr = args.value("addr").unwrap_or("127.0.0.1:8082").to_owned();
    match runtime::block_on(serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: String) -> io::Result<()> {
    let listener =
        TcpListener::bind(addr.as_str()).await.map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    announce(listener.local_addr()?);
    plaintext::serve(listener, IDLE_TIMEOUT).await
}
