//! tls_echo: a TLS echo server (rustls through futures-rustls) on weft,
//! with no adapter: futures-rustls takes the weft `TcpStream` as it is,
//! because `net`'s `futures-io` feature gives it futures' I/O traits.
//!
//! At start it makes a self-signed certificate (rcgen) for `localhost` and
//! 127.0.0.1 and prints it; `--client ADDR --cert FILE` is a tiny client
//! that trusts exactly that certificate and echoes stdin lines through it.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use examples::cli::{Args, Error, Long, Usage};
use examples::servers::lifecycle::{listen_and_announce, serve_until_signal, Drain};
use examples::stdin::{Input, Next};
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use net::TcpStream;

const USAGE: Usage = Usage {
    name: "tls_echo",
    text: "\
usage: tls_echo [--addr HOST:PORT] [--cert-out FILE] [--quiet]
       tls_echo --client HOST:PORT --cert FILE

A TLS echo server: rustls through futures-rustls, on weft's TcpStream.
At start it generates a self-signed certificate for `localhost` and
127.0.0.1, prints `listening on ADDR` and then the certificate (PEM) on
stdout, and echoes whatever each client sends. On SIGINT or SIGTERM it
stops accepting, lets connections finish for up to 5 s, and exits 0.

Connect with openssl (save the printed certificate to tls_echo.pem first):
  openssl s_client -connect 127.0.0.1:8443 -CAfile tls_echo.pem
or with the built-in client, which trusts only that certificate:
  tls_echo --client 127.0.0.1:8443 --cert tls_echo.pem

options:
  --addr HOST:PORT    address to listen on (default 127.0.0.1:8443; port 0 picks a free port)
  --cert-out FILE     also write the certificate (PEM) to FILE
  --quiet             do not log connections on stderr
  --client HOST:PORT  client mode: send each stdin line, print each echoed line
  --cert FILE         client mode: the server's certificate (PEM) to trust
  --help              show this help
",
};

/// How long open connections may finish after a signal.
const GRACE: Duration = Duration::from_secs(5);

/// What the command line asks for.
enum Command {
    Server { addr: String, cert_out: Option<String>, quiet: bool },
    Client { addr: String, cert: String },
}

fn main() -> ExitCode {
    let command = match USAGE.parse(parse) {
        Ok(command) => command,
        Err(exit) => return exit,
    };
    let res = match command {
        Command::Server { addr, cert_out, quiet } => runtime::block_on(server(addr, cert_out, quiet)),
        Command::Client { addr, cert } => runtime::block_on(client(addr, cert)),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &mut Args) -> Result<Command, Error> {
    let (mut addr, mut cert_out, mut quiet, mut client, mut cert) = (None, None, false, None, None);
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => addr = Some(args.string()?),
            Long("cert-out") => cert_out = Some(args.string()?),
            Long("quiet") => quiet = true,
            Long("client") => client = Some(args.string()?),
            Long("cert") => cert = Some(args.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    match (client, cert) {
        (Some(addr_), Some(cert)) if addr.is_none() && cert_out.is_none() => Ok(Command::Client { addr: addr_, cert }),
        (None, None) => {
            Ok(Command::Server { addr: addr.unwrap_or_else(|| "127.0.0.1:8443".to_owned()), cert_out, quiet })
        }
        _ => Err("client mode takes exactly --client HOST:PORT and --cert FILE".into()),
    }
}

async fn server(addr: String, cert_out: Option<String>, quiet: bool) -> io::Result<()> {
    // A fresh key pair and certificate, valid for both names a client may use.
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(|e| io::Error::other(format!("generating the certificate: {e}")))?;
    let pem = generated.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()));
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key)
        .map_err(io::Error::other)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    if let Some(path) = &cert_out {
        std::fs::write(path, &pem).map_err(|e| io::Error::new(e.kind(), format!("writing {path}: {e}")))?;
    }

    let (listener, signals) = listen_and_announce(&addr).await?;
    let mut out = io::stdout().lock();
    out.write_all(pem.as_bytes())?;
    out.flush()?;
    drop(out);
    serve_until_signal(listener, signals, GRACE, move |stream, drain| {
        let acceptor = acceptor.clone();
        async move {
            let peer = stream.peer_addr().map_or_else(|_| "?".to_owned(), |p| p.to_string());
            if let Err(e) = echo(acceptor, stream, drain).await {
                if !quiet {
                    eprintln!("connection {peer}: {e}");
                }
            }
        }
    })
    .await
}

/// The TLS handshake, then echo until the client closes (or the server drains).
async fn echo(acceptor: TlsAcceptor, stream: TcpStream, mut drain: Drain) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    // futures-rustls drives the handshake over the weft stream directly.
    let mut tls = acceptor.accept(stream).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Some(n) = drain.unless_draining(tls.read(&mut buf)).await else { break };
        let n = n?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
        // rustls buffers records: flush sends them.
        tls.flush().await?;
    }
    // close_notify, then FIN.
    tls.close().await
}

async fn client(addr: String, cert: String) -> io::Result<()> {
    let cert = CertificateDer::from_pem_file(&cert)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("reading {cert}: {e}")))?;
    let mut roots = RootCertStore::empty();
    roots.add(cert).map_err(io::Error::other)?;
    let config = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h).trim_matches(['[', ']']);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;

    let stream = TcpStream::connect(addr.as_str()).await?;
    let tls = TlsConnector::from(Arc::new(config)).connect(name, stream).await?;
    let mut tls = BufReader::new(tls);
    // Ctrl-C from here on ends the client with status 0.
    let mut input = Input::start()?;
    eprintln!("connected to {addr}; type a line to send it");
    let mut echoed = String::new();
    loop {
        let line = match input.next().await {
            Next::Line(line) => line? + "\n",
            Next::End => break,
            Next::Interrupted => return Ok(()),
        };
        tls.get_mut().write_all(line.as_bytes()).await?;
        tls.get_mut().flush().await?;
        echoed.clear();
        if tls.read_line(&mut echoed).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        print!("{echoed}");
        io::stdout().flush()?;
    }
    tls.get_mut().close().await
}
