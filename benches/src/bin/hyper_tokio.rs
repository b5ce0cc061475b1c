//! hyper_tokio: the service of examples' `hyper_server` (every request
//! `200 OK` / `Hello, World!`, keep-alive, pipelined responses flushed
//! together, hyper's timer set) on tokio, for the side-by-side benchmark
//! (`benches/scripts/hyper.sh`).
//!
//! usage: hyper_tokio [--addr HOST:PORT] [--flavor current_thread|multi_thread]
//! (`multi_thread` runs one worker). Prints `listening on ADDR`; SIGINT or
//! SIGTERM exits 0 at once.

use std::convert::Infallible;
use std::process::ExitCode;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

async fn serve(addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr.as_str()).await?;
    for kind in [SignalKind::interrupt(), SignalKind::terminate()] {
        let mut s = signal(kind)?;
        tokio::spawn(async move {
            s.recv().await;
            std::process::exit(0);
        });
    }
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(hello))
                .await;
        });
    }
}

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:8084".to_owned();
    let mut flavor = "current_thread".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            ("--flavor", Some(v)) if v == "current_thread" || v == "multi_thread" => flavor = v,
            _ => {
                eprintln!("usage: hyper_tokio [--addr HOST:PORT] [--flavor current_thread|multi_thread]");
                return ExitCode::from(2);
            }
        }
    }
    let rt = if flavor == "multi_thread" {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    };
    match rt.and_then(|rt| rt.block_on(serve(addr))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hyper_tokio: {e}");
            ExitCode::FAILURE
        }
    }
}
