//! [`Datagram`]: the datagram API, written once for
//! [`UdpSocket`](crate::UdpSocket) and [`UnixDatagram`](crate::UnixDatagram),
//! which add only their address types.
//!
//! Datagram sockets clear readiness on `WouldBlock` alone, never on a short
//! transfer as streams do: a datagram shorter than the buffer says nothing
//! about whether more are queued.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use runtime::io::{Async, Interest};

use crate::socket::Socket;
use crate::sys::{RawAddr, Received};

/// A registered datagram socket, addresses raw.
#[derive(Debug)]
pub(crate) struct Datagram {
    io: Async<Socket>,
    /// `shutdown(Read)` (or `Both`) was called. Linux then answers every
    /// receive on a Unix datagram socket with `EAGAIN` forever (a blocking
    /// `recv` would hang), so receives return 0 instead: a receiving task
    /// notices the shutdown, as it would notice EOF on a stream.
    read_shut: AtomicBool,
}

impl Datagram {
    pub(crate) fn new(sock: Socket) -> Datagram {
        Datagram { io: Async::from_nonblocking(sock, Interest::both()), read_shut: AtomicBool::new(false) }
    }

    pub(crate) fn socket(&self) -> &Socket {
        self.io.get_ref()
    }

    pub(crate) fn io(&self) -> &Async<Socket> {
        &self.io
    }

    /// Deregisters the socket and returns it.
    pub(crate) fn into_socket(self) -> io::Result<Socket> {
        self.io.into_inner()
    }

    /// Sets the default destination and the only accepted source. A
    /// datagram connect completes at once: it only records the peer.
    pub(crate) fn connect(&self, addr: &RawAddr) -> io::Result<()> {
        self.socket().connect(addr).map(drop)
    }

    pub(crate) async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|s| s.send(buf)).await
    }

    pub(crate) fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| s.send(buf))
    }

    pub(crate) fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Interest::WRITABLE, |s| s.send(buf))
    }

    pub(crate) async fn send_to(&self, buf: &[u8], to: &RawAddr) -> io::Result<usize> {
        self.io.write_with(|s| s.send_to(buf, to)).await
    }

    pub(crate) fn poll_send_to(&self, cx: &mut Context<'_>, buf: &[u8], to: &RawAddr) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| s.send_to(buf, to))
    }

    pub(crate) fn try_send_to(&self, buf: &[u8], to: &RawAddr) -> io::Result<usize> {
        self.io.try_io(Interest::WRITABLE, |s| s.send_to(buf, to))
    }

    /// Receives one datagram (`flags`: 0, or `MSG_PEEK` to leave it queued).
    pub(crate) async fn recv(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
        self.io.read_with(|s| self.recv_op(s, buf, flags)).await
    }

    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<Received>> {
        self.io.poll_read_with(cx, |s| self.recv_op(s, buf, 0))
    }

    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.io.try_io(Interest::READABLE, |s| self.recv_op(s, buf, 0))
    }

    /// One `recvmsg`, with the read-side shutdown rule of `read_shut`.
    fn recv_op(&self, sock: &Socket, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
        match sock.recv_msg(buf, flags) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.read_shut.load(Ordering::Acquire) => {
                Ok(Received::nothing())
            }
            res => res,
        }
    }

    /// Shuts down a side; see `read_shut` for what a shut read side does.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket().shutdown(how)?;
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.read_shut.store(true, Ordering::Release);
        }
        Ok(())
    }
}
