//! weft's networking: async sockets on the weft runtime's reactor.
//!
//! Each socket is an owned non-blocking fd inside the runtime's one generic
//! I/O type, [`runtime::io::Async`]: the fd is registered once,
//! edge-triggered, with the loop that first polls it, and every operation
//! tries the syscall first, parking the task only when the kernel says
//! `WouldBlock`. Dropping the socket deregisters and closes it, exactly
//! once. `net` makes its own system calls, all in one file (`sys.rs`), and
//! knows nothing of epoll or kqueue.
//!
//! The types: [`TcpListener`] and [`TcpStream`] (with split halves),
//! [`TcpSocket`] (options before bind or connect),
//! [`UdpSocket`], and the Unix domain sockets in [`unix`]:
//! [`UnixListener`], [`UnixStream`] and [`UnixDatagram`].
//!
//! ```
//! use net::{TcpListener, TcpStream};
//! use runtime::io::{AsyncReadExt, AsyncWriteExt};
//!
//! runtime::block_on(async {
//!     // An echo server task and a client, on one thread.
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     runtime::spawn(async move {
//!         let (mut conn, _) = listener.accept().await?;
//!         let mut buf = [0u8; 1024];
//!         loop {
//!             let n = conn.read(&mut buf).await?;
//!             if n == 0 {
//!                 return Ok::<_, std::io::Error>(());
//!             }
//!             conn.write_all(&buf[..n]).await?;
//!         }
//!     });
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"echo me").await?;
//!     let mut reply = [0u8; 7];
//!     client.read_exact(&mut reply).await?;
//!     assert_eq!(&reply, b"echo me");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Optional features
//!
//! None is on by default: the default build depends on `runtime`,
//! `futures-core`, `libc` and `pin-project-lite` only.
//!
//! - `futures-io`: the stream types and their halves implement
//!   `futures_io::AsyncRead` / `AsyncWrite`, so futures' `io` utilities
//!   (`BufReader`, `copy`, `split`, ...) and libraries built on those traits
//!   (futures-rustls, async-tungstenite) take a weft stream as it is.
//!   Pulls in `futures-io`.
//! - `hyper`: the stream types and their halves implement `hyper::rt::Read`
//!   / `Write` (reads go straight into hyper's uninitialised buffer), and
//!   `runtime`'s `hyper` feature adds `runtime::hyper::{Executor, Timer}`:
//!   a weft `TcpStream` goes to `hyper::server::conn::http1::Builder::
//!   serve_connection` or `hyper::client::conn::http1::handshake` as it is.
//!   Pulls in `hyper` without features (and through it `bytes`, `http`,
//!   `http-body` and tokio's `sync` module; no tokio runtime).
//!
//! ```
//! # #[cfg(all(feature = "hyper", feature = "futures-io"))] {
//! use http_body_util::{BodyExt, Full};
//! use hyper::body::Bytes;
//! use hyper::{Request, Response};
//! use net::{TcpListener, TcpStream};
//!
//! runtime::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     runtime::spawn(async move {
//!         let (stream, _) = listener.accept().await?;
//!         let hello = |_req: Request<hyper::body::Incoming>| async {
//!             Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("Hello, World!"))))
//!         };
//!         // A weft TcpStream, given to hyper as it is.
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(runtime::hyper::Timer)
//!             .serve_connection(stream, hyper::service::service_fn(hello))
//!             .await
//!             .map_err(std::io::Error::other)
//!     });
//!     let stream = TcpStream::connect(addr).await?;
//!     let (mut client, conn) = hyper::client::conn::http1::handshake(stream).await.map_err(std::io::Error::other)?;
//!     runtime::spawn(conn);
//!     let request = Request::get("/").header("host", "localhost").body(Full::new(Bytes::new())).unwrap();
//!     let response = client.send_request(request).await.map_err(std::io::Error::other)?;
//!     let body = response.into_body().collect().await.map_err(std::io::Error::other)?.to_bytes();
//!     assert_eq!(body, "Hello, World!");
//!
//!     // futures-io: futures' utilities on a weft stream.
//!     use futures_util::{AsyncReadExt, AsyncWriteExt};
//!     let (mut a, mut b) = net::UnixStream::pair()?;
//!     a.write_all(b"ping").await?;
//!     let mut buf = [0u8; 4];
//!     b.read_exact(&mut buf).await?;
//!     assert_eq!(&buf, b"ping");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # }
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod addr;
mod compat;
mod datagram;
mod pooled;
mod socket;
pub mod split;
mod sys;
pub mod tcp;
mod udp;
pub mod unix;

pub use addr::{lookup_host, Resolve, ToSocketAddrs};
pub use pooled::ReadPooled;
pub use tcp::{
    Accept, Incoming, OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpListener, TcpSocket, TcpStream,
    WriteHalf,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
