//! [`Socket`]: an owned, non-blocking, close-on-exec socket fd and the
//! calls weft makes on it (each a thin wrapper over `sys`).

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use crate::sys::{self, RawAddr, Received};

/// Listen backlog: the kernel clamps it to `net.core.somaxconn` (4096 on
/// current Linux), so thousands of simultaneous connects queue instead of
/// being refused.
pub(crate) const BACKLOG: libc::c_int = 65535;

/// An owned socket fd. Always non-blocking and close-on-exec.
///
/// `pub` only so the sealed stream trait may name it; the module is private.
#[derive(Debug)]
pub struct Socket(OwnedFd);

impl Socket {
    /// A new socket of `ty` for `addr`'s family.
    pub(crate) fn new(addr: &SocketAddr, ty: libc::c_int) -> io::Result<Socket> {
        let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        Socket::new_raw(family, ty)
    }

    /// A new socket of any family.
    pub(crate) fn new_raw(family: libc::c_int, ty: libc::c_int) -> io::Result<Socket> {
        sys::socket(family, ty).map(Socket)
    }

    /// A connected pair (`socketpair`).
    pub(crate) fn pair(family: libc::c_int, ty: libc::c_int) -> io::Result<(Socket, Socket)> {
        let (a, b) = sys::socketpair(family, ty)?;
        Ok((Socket(a), Socket(b)))
    }

    /// Adopts a socket from `std`, switching it to non-blocking mode.
    pub(crate) fn from_std(fd: OwnedFd) -> io::Result<Socket> {
        sys::set_nonblocking(fd.as_raw_fd(), true)?;
        Ok(Socket(fd))
    }

    pub(crate) fn into_owned(self) -> OwnedFd {
        self.0
    }

    fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub(crate) fn setsockopt(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        sys::setsockopt(self.raw(), level, name, value)
    }

    pub(crate) fn getsockopt(&self, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
        sys::getsockopt(self.raw(), level, name)
    }

    /// Sets a boolean option (`SO_KEEPALIVE`, `TCP_NODELAY`, ...).
    pub(crate) fn set_flag(&self, level: libc::c_int, name: libc::c_int, on: bool) -> io::Result<()> {
        self.setsockopt(level, name, on.into())
    }

    /// Reads a boolean option.
    pub(crate) fn flag(&self, level: libc::c_int, name: libc::c_int) -> io::Result<bool> {
        Ok(self.getsockopt(level, name)? != 0)
    }

    /// Sets a `SOL_SOCKET` size option (`SO_RCVBUF`, `SO_SNDBUF`); sizes past
    /// `c_int::MAX` ask for the most (the kernel caps them anyway).
    pub(crate) fn set_size(&self, name: libc::c_int, size: u32) -> io::Result<()> {
        self.setsockopt(libc::SOL_SOCKET, name, libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX))
    }

    /// Reads a `SOL_SOCKET` size option.
    pub(crate) fn size(&self, name: libc::c_int) -> io::Result<u32> {
        Ok(u32::try_from(self.getsockopt(libc::SOL_SOCKET, name)?).unwrap_or(0))
    }

    /// Sets the IPv4 time-to-live (`IP_TTL`); the kernel takes 1 to 255.
    pub(crate) fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl =
            libc::c_int::try_from(ttl).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "TTL too large"))?;
        self.setsockopt(libc::IPPROTO_IP, libc::IP_TTL, ttl)
    }

    /// Reads `IP_TTL`.
    pub(crate) fn ttl(&self) -> io::Result<u32> {
        Ok(u32::try_from(self.getsockopt(libc::IPPROTO_IP, libc::IP_TTL)?).unwrap_or(0))
    }

    /// Sets `SO_LINGER` (see `sys::set_linger`).
    pub(crate) fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        sys::set_linger(self.raw(), linger)
    }

    /// Reads `SO_LINGER`.
    pub(crate) fn linger(&self) -> io::Result<Option<std::time::Duration>> {
        sys::linger(self.raw())
    }

    /// Binds to an address of any family (IP or Unix).
    pub(crate) fn bind(&self, addr: &RawAddr) -> io::Result<()> {
        sys::bind(self.raw(), addr)
    }

    pub(crate) fn listen(&self, backlog: libc::c_int) -> io::Result<()> {
        sys::listen(self.raw(), backlog)
    }

    /// Starts a connect. `Ok(true)`: connected at once; `Ok(false)`: in
    /// progress, wait for writability and check [`Socket::take_error`].
    pub(crate) fn connect(&self, addr: &RawAddr) -> io::Result<bool> {
        sys::connect(self.raw(), addr)
    }

    /// Accepts a connection of any family; the peer's address stays raw.
    pub(crate) fn accept(&self) -> io::Result<(Socket, RawAddr)> {
        let mut peer = RawAddr::empty();
        let fd = sys::accept(self.raw(), &mut peer)?;
        Ok((Socket(fd), peer))
    }

    /// Receives one message (see `sys::recv_msg`).
    pub(crate) fn recv_msg(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
        sys::recv_msg(self.raw(), buf, flags)
    }

    /// Receives into hyper's read buffer, uninitialised memory and all.
    #[cfg(feature = "hyper")]
    pub(crate) fn recv_into_cursor(&self, cursor: &mut hyper::rt::ReadBufCursor<'_>) -> io::Result<usize> {
        sys::recv_into_cursor(self.raw(), cursor)
    }

    /// Sends one datagram to the connected peer.
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.raw(), buf)
    }

    /// Sends one datagram to `to`.
    pub(crate) fn send_to(&self, buf: &[u8], to: &RawAddr) -> io::Result<usize> {
        sys::send_to(self.raw(), buf, to)
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self.raw(), how)
    }

    /// The bound address, of any family.
    pub(crate) fn local_raw(&self) -> io::Result<RawAddr> {
        sys::local_addr(self.raw())
    }

    /// The connected peer's address, of any family.
    pub(crate) fn peer_raw(&self) -> io::Result<RawAddr> {
        sys::peer_addr(self.raw())
    }

    /// Takes the pending socket error (`SO_ERROR`), e.g. a failed connect.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        let err = self.getsockopt(libc::SOL_SOCKET, libc::SO_ERROR)?;
        Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl IntoRawFd for Socket {
    fn into_raw_fd(self) -> RawFd {
        self.0.into_raw_fd()
    }
}

/// `Debug` for a socket type: `name { field: addr, ..., fd: N }`, each
/// address shown only when the OS could tell it.
pub(crate) fn debug<A: std::fmt::Debug>(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    addrs: &[(&str, io::Result<A>)],
    fd: RawFd,
) -> std::fmt::Result {
    let mut d = f.debug_struct(name);
    for (field, addr) in addrs {
        if let Ok(addr) = addr {
            d.field(field, addr);
        }
    }
    d.field("fd", &fd).finish()
}

/// Polls `accept` on the listening socket `io` until it yields a
/// connection or an error. A connection the peer reset before we accepted
/// it (`ECONNABORTED`) is skipped: it is gone, but others may be queued
/// behind it.
pub(crate) fn poll_accept(
    io: &runtime::io::Async<Socket>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<io::Result<(Socket, RawAddr)>> {
    loop {
        match io.poll_accept_with(cx, Socket::accept) {
            std::task::Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            res => return res,
        }
    }
}
