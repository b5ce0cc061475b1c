//! [`ReadPooled`]: the future of a stream's `read_pooled`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use runtime::io::{Async, PooledBuf};

use crate::socket::Socket;

/// Future of `read_pooled` on [`TcpStream`](crate::TcpStream),
/// [`UnixStream`](crate::UnixStream) and their read halves: waits until
/// the stream is readable, then reads into a buffer lent by the thread's
/// pool ([`PooledBuf`]), so a connection that is waiting holds no buffer.
#[must_use = "futures do nothing unless awaited"]
pub struct ReadPooled<'a> {
    io: &'a Async<Socket>,
}

impl<'a> ReadPooled<'a> {
    pub(crate) fn new(io: &'a Async<Socket>) -> ReadPooled<'a> {
        ReadPooled { io }
    }
}

impl Future for ReadPooled<'_> {
    type Output = io::Result<PooledBuf>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuf>> {
        self.io.poll_read_pooled(cx)
    }
}

impl fmt::Debug for ReadPooled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadPooled").finish_non_exhaustive()
    }
}
