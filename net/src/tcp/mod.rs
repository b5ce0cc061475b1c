//! TCP: [`TcpListener`], [`TcpStream`], the stream's split halves, and
//! [`TcpSocket`] for options that must be set before bind or connect.

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
