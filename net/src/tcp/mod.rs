//! TCP: [`TcpListener`], [`TcpStream`], the stream's split halves, and
//! [`TcpSocket`] for options that must be set before bind or connect.
//!
//! The halves' names here are short for the generic ones in
//! [`split`](crate::split) (`tcp::OwnedReadHalf` is
//! `split::OwnedReadHalf<TcpStream>`), as tokio spells them:
//!
//! ```
//! use net::tcp::{OwnedReadHalf, OwnedWriteHalf};
//! use net::{TcpListener, TcpStream};
//! use runtime::io::{AsyncReadExt, AsyncWriteExt};
//!
//! /// Copies one half to the other until EOF: an echo, from two halves.
//! async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf) -> std::io::Result<u64> {
//!     runtime::io::copy(&mut from, &mut to).await
//! }
//!
//! runtime::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let mut client = TcpStream::connect(listener.local_addr()?).await?;
//!     let (server, _) = listener.accept().await?;
//!     let (from, to) = server.into_split();
//!     let echo = runtime::spawn(pump(from, to));
//!
//!     client.write_all(b"ping").await?;
//!     client.shutdown(std::net::Shutdown::Write)?; // EOF: the pump ends
//!     let mut back = Vec::new();
//!     client.read_to_end(&mut back).await?;
//!     assert_eq!(back, b"ping");
//!     assert_eq!(echo.await??, 4);
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod listener;
mod socket;
mod stream;

pub use listener::{Accept, Incoming, TcpListener};
pub use socket::TcpSocket;
pub use stream::TcpStream;

/// The reading half of [`TcpStream::split`].
pub type ReadHalf<'a> = crate::split::ReadHalf<'a, TcpStream>;
/// The writing half of [`TcpStream::split`].
pub type WriteHalf<'a> = crate::split::WriteHalf<'a, TcpStream>;
/// The reading half of [`TcpStream::into_split`].
pub type OwnedReadHalf = crate::split::OwnedReadHalf<TcpStream>;
/// The writing half of [`TcpStream::into_split`].
pub type OwnedWriteHalf = crate::split::OwnedWriteHalf<TcpStream>;
/// Halves of two different [`TcpStream`]s passed to `reunite`.
pub type ReuniteError = crate::split::ReuniteError<TcpStream>;
