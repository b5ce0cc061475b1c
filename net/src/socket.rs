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

/// What [`Socket::recv_msg`] received.
pub(crate) struct Received {
    /// Bytes copied into the buffer.
    pub(crate) len: usize,
    /// The sender's address, as the kernel wrote it.
    pub(crate) from: RawAddr,
    /// The datagram was longer than the buffer; the excess is lost.
    pub(crate) truncated: bool,
}

impl Received {
    /// An empty receive from no one: what a socket whose read side is shut down yields.
    pub(crate) fn nothing() -> Received {
        let mut from = RawAddr::empty();
        from.len = 0;
        Received { len: 0, from, truncated: false }
    }
}

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

    /// A connected pair of non-blocking, close-on-exec sockets (`socketpair`).
    pub(crate) fn pair(family: libc::c_int, ty: libc::c_int) -> io::Result<(Socket, Socket)> {
        let (a, b) = os::socketpair(family, ty)?;
        let (a, b) = (Socket(a), Socket(b));
        os::after_create(&a)?;
        os::after_create(&b)?;
        Ok((a, b))
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
        self.bind_raw(&RawAddr::from_std(addr))
    }

    /// Binds to an address of any family (IP or Unix).
    pub(crate) fn bind_raw(&self, raw: &RawAddr) -> io::Result<()> {
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
        self.connect_raw(&RawAddr::from_std(addr))
    }

    /// [`Socket::connect`] for an address of any family (IP or Unix).
    pub(crate) fn connect_raw(&self, raw: &RawAddr) -> io::Result<bool> {
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
        let (sock, raw) = self.accept_raw()?;
        let addr = raw.to_std()?;
        Ok((sock, addr))
    }

    /// Accepts a connection of any family; the peer's address stays raw.
    pub(crate) fn accept_raw(&self) -> io::Result<(Socket, RawAddr)> {
        let mut raw = RawAddr::empty();
        let sock = Socket(os::accept(self.raw(), &mut raw)?);
        os::after_create(&sock)?;
        Ok((sock, raw))
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

    /// Receives one message with `recvmsg`, so the kernel can say whether a
    /// datagram was longer than `buf` (`MSG_TRUNC` in the returned flags,
    /// POSIX; the rest of the datagram is discarded unless `flags` has
    /// `MSG_PEEK`). The sender's address comes back raw: it may be empty
    /// (`len == 0`) for a connected or unnamed peer.
    pub(crate) fn recv_msg(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
        let mut from = RawAddr::empty();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: msghdr is plain data; zeroes are valid for the fields we do not set.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = from.as_mut_ptr().cast();
        msg.msg_namelen = from.len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: the kernel writes at most `iov_len` bytes into `buf` and at
        // most `msg_namelen` bytes into `from`'s storage; both outlive the call.
        let n = cvt(unsafe { libc::recvmsg(self.raw(), &mut msg, flags) })?;
        from.len = msg.msg_namelen;
        Ok(Received { len: n as usize, from, truncated: msg.msg_flags & libc::MSG_TRUNC != 0 })
    }

    /// Sends one datagram to `to` (`sendto`).
    pub(crate) fn send_to_raw(&self, buf: &[u8], to: &RawAddr) -> io::Result<usize> {
        // SAFETY: the kernel reads at most `buf.len()` bytes from `buf` and a
        // sockaddr of length `to.len` from `to`.
        let n = cvt(unsafe {
            libc::sendto(self.raw(), buf.as_ptr().cast(), buf.len(), os::SEND_FLAGS, to.as_ptr(), to.len)
        })?;
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
        self.local_raw()?.to_std()
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peer_raw()?.to_std()
    }

    /// The bound address, of any family (`getsockname`).
    pub(crate) fn local_raw(&self) -> io::Result<RawAddr> {
        let mut raw = RawAddr::empty();
        // SAFETY: the kernel writes at most `raw.len` bytes into the storage.
        cvt(unsafe { libc::getsockname(self.raw(), raw.as_mut_ptr(), &mut raw.len) })?;
        Ok(raw)
    }

    /// The connected peer's address, of any family (`getpeername`).
    pub(crate) fn peer_raw(&self) -> io::Result<RawAddr> {
        let mut raw = RawAddr::empty();
        // SAFETY: as for `local_raw`.
        cvt(unsafe { libc::getpeername(self.raw(), raw.as_mut_ptr(), &mut raw.len) })?;
        Ok(raw)
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

/// `AsRawFd`, `AsFd` and `Debug` for the socket type `$ty`, which holds its
/// socket as `io: Registration<Socket>`. `Debug` shows each listed address
/// method's answer (when it has one) under its field name, then the fd.
macro_rules! socket_traits {
    ($ty:ident { $($field:literal: $addr:ident),* }) => {
        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&self.io)
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(self.io.get_ref())
            }
        }

        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut d = f.debug_struct(stringify!($ty));
                $(
                    if let Ok(addr) = self.$addr() {
                        d.field($field, &addr);
                    }
                )*
                d.field("fd", &::std::os::fd::AsRawFd::as_raw_fd(self)).finish()
            }
        }
    };
}

pub(crate) use socket_traits;
