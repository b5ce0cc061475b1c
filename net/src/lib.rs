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
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod addr;
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
    Accept, Incoming, OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpListener, TcpStream, WriteHalf,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
