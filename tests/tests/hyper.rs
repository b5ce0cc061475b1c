//! `net`'s and `runtime`'s `hyper` features: hyper 1.x serves and requests
//! over weft streams as they are (no adapter): a server answering a raw
//! HTTP/1.1 client (pipelined requests included), a hyper client against
//! it, a Unix stream, split halves, and hyper's timer (header-read timeout)
//! on weft's timers.

use std::convert::Infallible;
use std::io;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use net::{TcpListener, TcpStream, UnixStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use tests::net_util::run;

const LIMIT: Duration = Duration::from_secs(10);

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("Hello, World! {}", req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

fn server() -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(runtime::hyper::Timer).pipeline_flush(true);
    b
}

/// A listener whose connections hyper serves, each in its own task.
async fn start_server() -> io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    runtime::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            runtime::spawn(server().serve_connection(stream, hyper::service::service_fn(hello)));
        }
    });
    Ok(addr)
}

/// Reads until `count` complete responses (each with a Content-Length body) arrived.
async fn read_responses(stream: &mut TcpStream, count: usize) -> io::Result<Vec<String>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut bodies = Vec::new();
    // Bounded by the test's time limit; each turn reads or parses.
    while bodies.len() < count {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let head = &text[..head_end];
            assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no content-length in {head}"));
            if buf.len() >= head_end + 4 + len {
                bodies.push(text[head_end + 4..head_end + 4 + len].to_owned());
                buf.drain(..head_end + 4 + len);
                continue;
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("after {} responses", bodies.len())));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(bodies)
}

#[test]
fn hyper_server_answers_raw_and_pipelined_requests() -> io::Result<()> {
    run(LIMIT, async {
        let addr = start_server().await?;
        let mut s = TcpStream::connect(addr).await?;
        // Keep-alive: two requests one after the other on one connection.
        for path in ["/a", "/b"] {
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await?;
            assert_eq!(read_responses(&mut s, 1).await?, [format!("Hello, World! {path}")]);
        }
        // Sixteen pipelined requests in one write.
        let batch: String = (0..16).map(|i| format!("GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n")).collect();
        s.write_all(batch.as_bytes()).await?;
        let bodies = read_responses(&mut s, 16).await?;
        for (i, body) in bodies.iter().enumerate() {
            assert_eq!(body, &format!("Hello, World! /p{i}"));
        }
        Ok(())
    })
}

#[test]
fn hyper_client_over_weft_streams() -> io::Result<()> {
    run(LIMIT, async {
        let addr = start_server().await?;
        let stream = TcpStream::connect(addr).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.map_err(io::Error::other)?;
        runtime::spawn(conn);
        for i in 0..3 {
            let req = Request::get(format!("/req{i}")).header("host", "x").body(Full::new(Bytes::new())).unwrap();
            let res = sender.send_request(req).await.map_err(io::Error::other)?;
            assert_eq!(res.status(), 200);
            let body = res.into_body().collect().await.map_err(io::Error::other)?.to_bytes();
            assert_eq!(body, format!("Hello, World! /req{i}"));
        }

        // A Unix stream pair; the server side serves `&UnixStream` (a
        // shared reference reads and writes too).
        let (a, b) = UnixStream::pair()?;
        runtime::spawn(async move {
            let _ = server().serve_connection(&a, hyper::service::service_fn(hello)).await;
        });
        let (mut sender, conn) = hyper::client::conn::http1::handshake(b).await.map_err(io::Error::other)?;
        runtime::spawn(conn);
        let req = Request::get("/unix").header("host", "x").body(Full::new(Bytes::new())).unwrap();
        let res = sender.send_request(req).await.map_err(io::Error::other)?;
        let body = res.into_body().collect().await.map_err(io::Error::other)?.to_bytes();
        assert_eq!(body, "Hello, World! /unix");
        Ok(())
    })
}

/// hyper's header-read timeout runs on `runtime::hyper::Timer`: a client
/// that sends half a request head is dropped after the timeout.
#[test]
fn header_read_timeout_fires_on_weft_timers() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut s = TcpStream::connect(listener.local_addr()?).await?;
        let (conn, _) = listener.accept().await?;
        let start = Instant::now();
        let serve = runtime::spawn(async move {
            let mut b = server();
            b.header_read_timeout(Duration::from_millis(200));
            b.serve_connection(conn, hyper::service::service_fn(hello)).await
        });
        s.write_all(b"GET / HTTP/1.1\r\nHost:").await?;
        let res = serve.await.map_err(io::Error::other)?;
        let took = start.elapsed();
        assert!(res.is_err(), "a half-sent head was served");
        assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(5), "{took:?}");
        Ok(())
    })
}

/// Split halves take part too: hyper's `Read` on a read half, `Write` on a
/// write half (here driven by hand through hyper's traits).
#[test]
fn split_halves_implement_hyper_traits() -> io::Result<()> {
    use hyper::rt::{Read, ReadBuf, Write};
    use std::future::poll_fn;
    use std::mem::MaybeUninit;
    use std::pin::Pin;

    run(LIMIT, async {
        let (a, b) = UnixStream::pair()?;
        let (mut a_read, mut a_write) = a.into_split();
        let (mut b_read, mut b_write) = b.into_split();
        let n = poll_fn(|cx| Pin::new(&mut a_write).poll_write(cx, b"over hyper's Write")).await?;
        assert_eq!(n, 18);
        let mut storage = [MaybeUninit::<u8>::uninit(); 64];
        let mut buf = ReadBuf::uninit(&mut storage);
        poll_fn(|cx| Pin::new(&mut b_read).poll_read(cx, buf.unfilled())).await?;
        assert_eq!(buf.filled(), b"over hyper's Write");
        poll_fn(|cx| Pin::new(&mut b_write).poll_shutdown(cx)).await?;
        let mut buf = ReadBuf::uninit(&mut storage);
        poll_fn(|cx| Pin::new(&mut a_read).poll_read(cx, buf.unfilled())).await?;
        assert!(buf.filled().is_empty(), "end of stream after shutdown");
        Ok(())
    })
}
