//! The accept loop [`TcpListener`](crate::TcpListener) and
//! [`UnixListener`](crate::UnixListener) share.

use std::io;
use std::task::{Context, Poll};

use runtime::io::Registration;

use crate::socket::Socket;

/// Polls `accept` on the listening socket `io` until it yields a
/// connection or an error. A connection the peer reset before we accepted
/// it (`ECONNABORTED`) is skipped: it is gone, but others may be queued
/// behind it.
pub(crate) fn poll_accept<A>(
    io: &Registration<Socket>,
    cx: &mut Context<'_>,
    mut accept: impl FnMut(&Socket) -> io::Result<(Socket, A)>,
) -> Poll<io::Result<(Socket, A)>> {
    loop {
        match io.poll_read_with(cx, &mut accept) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            res => return res,
        }
    }
}
