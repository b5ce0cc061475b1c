//! Unix domain sockets: [`UnixListener`], [`UnixStream`] (with split
//! halves), [`UnixDatagram`], and their [`SocketAddr`].
//!
//! They work like their TCP and UDP counterparts, between processes on one
//! machine, addressed by a path (or, on Linux, an abstract name). A socket
//! bound to a path creates a socket file there; weft removes such a file
//! when the socket that created it is dropped, and never removes a file it
//! did not create.

mod addr;
mod datagram;
mod listener;
mod path;
mod stream;

pub use addr::SocketAddr;
pub use datagram::UnixDatagram;
pub use listener::{Accept, UnixListener};
pub use stream::UnixStream;

/// The reading half of [`UnixStream::split`].
pub type ReadHalf<'a> = crate::split::ReadHalf<'a, UnixStream>;
/// The writing half of [`UnixStream::split`].
pub type WriteHalf<'a> = crate::split::WriteHalf<'a, UnixStream>;
/// The reading half of [`UnixStream::into_split`].
pub type OwnedReadHalf = crate::split::OwnedReadHalf<UnixStream>;
/// The writing half of [`UnixStream::into_split`].
pub type OwnedWriteHalf = crate::split::OwnedWriteHalf<UnixStream>;
/// Halves of two different [`UnixStream`]s passed to `reunite`.
pub type ReuniteError = crate::split::ReuniteError<UnixStream>;
