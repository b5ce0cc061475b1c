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
mod split;
mod stream;

pub use addr::SocketAddr;
pub use datagram::UnixDatagram;
pub use listener::{Accept, UnixListener};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::UnixStream;
