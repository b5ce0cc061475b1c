//! Split halves of a [`TcpStream`]: borrowed ([`ReadHalf`], [`WriteHalf`])
//! and owned ([`OwnedReadHalf`], [`OwnedWriteHalf`]), defined by
//! [`split_halves!`](crate::split::split_halves).

use std::net::SocketAddr;

use super::TcpStream;

crate::split::split_halves!(TcpStream, SocketAddr);
