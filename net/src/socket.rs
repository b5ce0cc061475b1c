//! [`Socket`]: an owned, non-blocking, close-on-exec socket fd and the
//! syscalls weft makes on it. Every call goes through `runtime::sys::cvt`.

use std::io::{self, IoSlice};
use std::mem;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use runtime::sys::cvt;

use crate::addr::RawAddr;
use crate::os;

/// Listen backlog: the kernel clamps it to `net.core.somaxconn` (4096 on
/// current Linux), so thousands of simultaneous connects queue instead of
/// being refused.
pub(crate) const BACKLOG: libc::c_int = 65535;

/// An owned socket fd. Always non-blocking and close-on-exec.
#[derive(Debug)]
pub(crate) struct Socket(OwnedFd);

impl Socket {
    /// A new non-blocking, close-on-exec socket of `ty` for `addr`'s family.
    pub(crate) fn new(addr: &SocketAddr, ty: libc::c_int) -> io::Result<Socket> {
        let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        Socket::new_raw(family, ty)
    }

    /// A non-blocking, close-on-exec socket that never raises SIGPIPE.
    pub(crate) fn new_raw(family: libc::c_int, ty: libc::c_int) -> io::Result<Socket> {
        let sock = Socket(os::socket(family, ty)?);
        os::after_create(&sock)?;
        Ok(sock)
    }

    pub(crate) fn from_owned(fd: OwnedFd) -> Socket {
        Socket(fd)
    }

    pub(crate) fn into_owned(self) -> OwnedFd {
        self.0
    }

    fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub(crate) fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        let mut flag: libc::c_int = on.into();
        // SAFETY: FIONBIO reads one c_int from the pointer.
        cvt(unsafe { libc::ioctl(self.raw(), libc::FIONBIO, &mut flag) })?;
        Ok(())
    }

    pub(crate) fn setsockopt(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        // SAFETY: passes a pointer to a c_int and its exact size.
        cvt(unsafe {
            libc::setsockopt(
                self.raw(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    pub(crate) fn getsockopt(&self, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
        let mut value: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes into `value`.
        cvt(unsafe { libc::getsockopt(self.raw(), level, name, (&mut value as *mut libc::c_int).cast(), &mut len) })?;
        Ok(value)
    }

    pub(crate) fn bind(&self, addr: &SocketAddr) -> io::Result<()> {
        let raw = RawAddr::from_std(addr);
        // SAFETY: `raw` holds a valid sockaddr of length `raw.len`.
        cvt(unsafe { libc::bind(self.raw(), raw.as_ptr(), raw.len) })?;
        Ok(())
    }

    pub(crate) fn listen(&self, backlog: libc::c_int) -> io::Result<()> {
        // SAFETY: integer arguments only.
        cvt(unsafe { libc::listen(self.raw(), backlog) })?;
        Ok(())
    }

    /// Starts a connect. `Ok(true)`: connected at once; `Ok(false)`: in
    /// progress (`EINPROGRESS`), wait for writability and check `take_error`.
    pub(crate) fn connect(&self, addr: &SocketAddr) -> io::Result<bool> {
        let raw = RawAddr::from_std(addr);
        // SAFETY: `raw` holds a valid sockaddr of length `raw.len`.
        match cvt(unsafe { libc::connect(self.raw(), raw.as_ptr(), raw.len) }) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
            // Interrupted by a signal: the connect continues in the background (connect(2)).
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Accepts a connection as a new non-blocking, close-on-exec socket.
    pub(crate) fn accept(&self) -> io::Result<(Socket, SocketAddr)> {
        let mut raw = RawAddr::empty();
        let fd = self.accept_raw(&mut raw)?;
        let addr = raw.to_std()?;
        Ok((fd, addr))
    }

    fn accept_raw(&self, raw: &mut RawAddr) -> io::Result<Socket> {
        let sock = Socket(os::accept(self.raw(), raw)?);
        os::after_create(&sock)?;
        Ok(sock)
    }

    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_flags(buf, 0)
    }

    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_flags(buf, libc::MSG_PEEK)
    }

    fn recv_flags(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = cvt(unsafe { libc::recv(self.raw(), buf.as_mut_ptr().cast(), buf.len(), flags) })?;
        Ok(n as usize)
    }

    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
        let n = cvt(unsafe { libc::send(self.raw(), buf.as_ptr().cast(), buf.len(), os::SEND_FLAGS) })?;
        Ok(n as usize)
    }

    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: msghdr is plain data; zeroes are valid for the fields we do not set.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        // IoSlice is ABI-compatible with iovec (std guarantees this on Unix).
        msg.msg_iov = bufs.as_ptr().cast_mut().cast();
        msg.msg_iovlen = bufs.len().min(1024) as _;
        // SAFETY: msg points to `msg_iovlen` valid iovecs that the kernel only reads.
        let n = cvt(unsafe { libc::sendmsg(self.raw(), &msg, os::SEND_FLAGS) })?;
        Ok(n as usize)
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: integer arguments only.
        cvt(unsafe { libc::shutdown(self.raw(), how) })?;
        Ok(())
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        let mut raw = RawAddr::empty();
        // SAFETY: the kernel writes at most `raw.len` bytes into the storage.
        cvt(unsafe { libc::getsockname(self.raw(), raw.as_mut_ptr(), &mut raw.len) })?;
        raw.to_std()
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        let mut raw = RawAddr::empty();
        // SAFETY: as for `local_addr`.
        cvt(unsafe { libc::getpeername(self.raw(), raw.as_mut_ptr(), &mut raw.len) })?;
        raw.to_std()
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
