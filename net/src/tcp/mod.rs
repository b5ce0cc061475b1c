//! TCP: [`TcpListener`], [`TcpStream`] and the stream's split halves.

mod listener;
mod split;
mod stream;

pub use listener::{Accept, Incoming, TcpListener};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;
