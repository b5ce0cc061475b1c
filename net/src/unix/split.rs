//! Split halves of a [`UnixStream`]: borrowed ([`ReadHalf`], [`WriteHalf`])
//! and owned ([`OwnedReadHalf`], [`OwnedWriteHalf`]), defined by
//! [`split_halves!`](crate::split::split_halves).

use super::{SocketAddr, UnixStream};

crate::split::split_halves!(UnixStream, SocketAddr);
