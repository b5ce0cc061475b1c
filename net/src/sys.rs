//! Every system call `net` makes, and the C socket-address structures: the
//! only file of the crate with `unsafe`. Each call goes through [`cvt`].
//!
//! The calls that differ between OSes are chosen here, once. Linux,
//! Android, FreeBSD and DragonFly create and accept sockets with
//! `SOCK_NONBLOCK | SOCK_CLOEXEC` in one step and suppress SIGPIPE per call
//! with `MSG_NOSIGNAL`; macOS and iOS have none of those, so the flags are
//! set right after creation and SIGPIPE is disabled per socket
//! (`SO_NOSIGPIPE`). Only Linux and Android have abstract Unix socket names
//! (a `sun_path` starting with a NUL byte, see unix(7)).

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Turns a syscall's `-1` into `io::Error::last_os_error()`, read right
/// after the call that set it.
fn cvt<T: Copy + PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`], but calls `f` again while it fails with `EINTR`.
fn cvt_r<T: Copy + PartialEq + From<i8>>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Whether Unix socket addresses may be abstract names (unix(7)).
pub(crate) const ABSTRACT_NAMES: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Flags that make a socket non-blocking and close-on-exec at creation,
/// where the OS has them.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const CREATE_FLAGS: libc::c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
#[cfg(any(target_os = "macos", target_os = "ios"))]
const CREATE_FLAGS: libc::c_int = 0;

/// `send` flags: a closed peer is `EPIPE`, never SIGPIPE.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(any(target_os = "macos", target_os = "ios"))]
const SEND_FLAGS: libc::c_int = 0;

/// A new non-blocking, close-on-exec socket that never raises SIGPIPE.
pub(crate) fn socket(family: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; a non-negative result is a new fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::socket(family, ty | CREATE_FLAGS, 0))?) };
    after_create(&fd)?;
    Ok(fd)
}

/// A connected pair of non-blocking, close-on-exec sockets.
pub(crate) fn socketpair(family: libc::c_int, ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    // SAFETY: socketpair writes two fds into the two-element array on success.
    cvt(unsafe { libc::socketpair(family, ty | CREATE_FLAGS, 0, fds.as_mut_ptr()) })?;
    // SAFETY: socketpair succeeded: both are new fds we own.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    after_create(&a)?;
    after_create(&b)?;
    Ok((a, b))
}

/// Accepts a connection as a new non-blocking, close-on-exec socket; the
/// peer's address goes to `peer`.
pub(crate) fn accept(listener: RawFd, peer: &mut RawAddr) -> io::Result<OwnedFd> {
    #[cfg(not(any(target_os = "macos", target_os = "ios")))]
    // SAFETY: the kernel writes at most `peer.len` bytes of address into the storage.
    let fd = cvt_r(|| unsafe { libc::accept4(listener, peer.as_mut_ptr(), &mut peer.len, CREATE_FLAGS) })?;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    // SAFETY: as above.
    let fd = cvt_r(|| unsafe { libc::accept(listener, peer.as_mut_ptr(), &mut peer.len) })?;
    // SAFETY: accept returned a new fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    after_create(&fd)?;
    Ok(fd)
}

/// Nothing to do where the flags were set atomically.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
fn after_create(_fd: &OwnedFd) -> io::Result<()> {
    Ok(())
}

/// Sets close-on-exec, non-blocking and `SO_NOSIGPIPE` (a small window
/// exists where a concurrent fork+exec inherits the fd).
#[cfg(any(target_os = "macos", target_os = "ios"))]
fn after_create(fd: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on our own fd with integer arguments.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    set_nonblocking(fd.as_raw_fd(), true)?;
    setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1)
}

/// Switches `fd` between blocking and non-blocking mode (`FIONBIO`).
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    let mut flag: libc::c_int = on.into();
    // SAFETY: FIONBIO reads one c_int from the pointer.
    cvt(unsafe { libc::ioctl(fd, libc::FIONBIO, &mut flag) })?;
    Ok(())
}

/// Sets an integer socket option.
pub(crate) fn setsockopt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: passes a pointer to a c_int and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Reads an integer socket option.
pub(crate) fn getsockopt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`.
    cvt(unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut libc::c_int).cast(), &mut len) })?;
    Ok(value)
}

/// `SO_LINGER` counts in seconds everywhere but macOS and iOS, where it
/// counts clock ticks; their `SO_LINGER_SEC` counts seconds (as std does).
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const SO_LINGER: libc::c_int = libc::SO_LINGER;
#[cfg(any(target_os = "macos", target_os = "ios"))]
const SO_LINGER: libc::c_int = libc::SO_LINGER_SEC;

/// Sets `SO_LINGER`: `None` turns it off (close returns at once, the kernel
/// sends what is queued in the background); `Some(d)` makes close wait up
/// to `d` (whole seconds) for queued data to go out, and `Some(ZERO)`
/// discards it and resets the connection (socket(7)).
pub(crate) fn set_linger(fd: RawFd, linger: Option<Duration>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: linger.is_some().into(),
        l_linger: linger.map_or(0, |d| libc::c_int::try_from(d.as_secs()).unwrap_or(libc::c_int::MAX)),
    };
    // SAFETY: passes a pointer to a linger struct and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_LINGER,
            (&value as *const libc::linger).cast(),
            mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Reads `SO_LINGER` (see [`set_linger`]).
pub(crate) fn linger(fd: RawFd) -> io::Result<Option<Duration>> {
    let mut value = libc::linger { l_onoff: 0, l_linger: 0 };
    let mut len = mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`.
    cvt(unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, SO_LINGER, (&mut value as *mut libc::linger).cast(), &mut len)
    })?;
    Ok((value.l_onoff != 0).then(|| Duration::from_secs(value.l_linger.max(0) as u64)))
}

/// Binds to an address of any family (IP or Unix).
pub(crate) fn bind(fd: RawFd, addr: &RawAddr) -> io::Result<()> {
    // SAFETY: `addr` holds a valid sockaddr of length `addr.len`.
    cvt(unsafe { libc::bind(fd, addr.as_ptr(), addr.len) })?;
    Ok(())
}

pub(crate) fn listen(fd: RawFd, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::listen(fd, backlog) })?;
    Ok(())
}

/// Starts a connect. `Ok(true)`: connected at once; `Ok(false)`: in
/// progress (`EINPROGRESS`), wait for writability and check `SO_ERROR`.
pub(crate) fn connect(fd: RawFd, addr: &RawAddr) -> io::Result<bool> {
    // SAFETY: `addr` holds a valid sockaddr of length `addr.len`.
    match cvt(unsafe { libc::connect(fd, addr.as_ptr(), addr.len) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        // Interrupted by a signal: the connect continues in the background (connect(2)).
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// What [`recv_msg`] received.
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

/// Receives one message with `recvmsg`, so the kernel can say whether a
/// datagram was longer than `buf` (`MSG_TRUNC` in the returned flags,
/// POSIX; the rest of the datagram is discarded unless `flags` has
/// `MSG_PEEK`). The sender's address comes back raw: it may be empty
/// (`len == 0`) for a connected or unnamed peer.
pub(crate) fn recv_msg(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
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
    let n = cvt_r(|| unsafe { libc::recvmsg(fd, &mut msg, flags) })?;
    from.len = msg.msg_namelen;
    Ok(Received { len: n as usize, from, truncated: msg.msg_flags & libc::MSG_TRUNC != 0 })
}

/// `recv(2)` into memory that may be uninitialised: the kernel writes at
/// most `buf.len()` bytes and never reads them, so on `Ok(n)` the first
/// `n` elements of `buf` are initialised.
#[cfg(feature = "hyper")]
pub(crate) fn recv_uninit(fd: RawFd, buf: &mut [mem::MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`;
    // writing bytes into MaybeUninit memory is always allowed.
    let n = cvt_r(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })?;
    Ok(n as usize)
}

/// Receives straight into the unfilled part of hyper's read buffer,
/// without zeroing it first, and advances the buffer past what arrived.
#[cfg(feature = "hyper")]
pub(crate) fn recv_into_cursor(fd: RawFd, cursor: &mut hyper::rt::ReadBufCursor<'_>) -> io::Result<usize> {
    // SAFETY: `recv_uninit` only writes bytes into the slice; it never
    // de-initialises what was initialised before.
    let n = recv_uninit(fd, unsafe { cursor.as_mut() })?;
    // SAFETY: `recv_uninit` returned `n`: the kernel initialised the first
    // `n` bytes of the unfilled part.
    unsafe { cursor.advance(n) };
    Ok(n)
}

/// Sends one datagram to the connected peer (`send`).
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    let n = cvt_r(|| unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), SEND_FLAGS) })?;
    Ok(n as usize)
}

/// Sends one datagram to `to` (`sendto`).
pub(crate) fn send_to(fd: RawFd, buf: &[u8], to: &RawAddr) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf` and a
    // sockaddr of length `to.len` from `to`.
    let n = cvt_r(|| unsafe { libc::sendto(fd, buf.as_ptr().cast(), buf.len(), SEND_FLAGS, to.as_ptr(), to.len) })?;
    Ok(n as usize)
}

pub(crate) fn shutdown(fd: RawFd, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::shutdown(fd, how) })?;
    Ok(())
}

/// The bound address, of any family (`getsockname`).
pub(crate) fn local_addr(fd: RawFd) -> io::Result<RawAddr> {
    let mut raw = RawAddr::empty();
    // SAFETY: the kernel writes at most `raw.len` bytes into the storage.
    cvt(unsafe { libc::getsockname(fd, raw.as_mut_ptr(), &mut raw.len) })?;
    Ok(raw)
}

/// The connected peer's address, of any family (`getpeername`).
pub(crate) fn peer_addr(fd: RawFd) -> io::Result<RawAddr> {
    let mut raw = RawAddr::empty();
    // SAFETY: as for `local_addr`.
    cvt(unsafe { libc::getpeername(fd, raw.as_mut_ptr(), &mut raw.len) })?;
    Ok(raw)
}

/// A `sockaddr_storage` and the length of the address in it.
pub(crate) struct RawAddr {
    storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

const _: () = assert!(
    mem::size_of::<libc::sockaddr_un>() <= mem::size_of::<libc::sockaddr_storage>()
        && mem::align_of::<libc::sockaddr_un>() <= mem::align_of::<libc::sockaddr_storage>()
        && mem::size_of::<libc::sockaddr_in6>() <= mem::size_of::<libc::sockaddr_storage>()
        && mem::align_of::<libc::sockaddr_in6>() <= mem::align_of::<libc::sockaddr_storage>()
);

impl RawAddr {
    /// Zeroed storage for the kernel to fill (accept, getsockname).
    pub(crate) fn empty() -> RawAddr {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        RawAddr { storage: unsafe { mem::zeroed() }, len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t }
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    /// The address family the storage holds (`AF_UNSPEC` while empty).
    pub(crate) fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// The storage viewed as a Unix socket address; meaningful when
    /// [`RawAddr::family`] is `AF_UNIX`, but any bytes are a valid value.
    pub(crate) fn unix(&self) -> &libc::sockaddr_un {
        // SAFETY: sockaddr_storage is at least as large and as aligned as
        // sockaddr_un (checked above at compile time), and both are plain data.
        unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_un>() }
    }

    /// The storage viewed as a Unix socket address, for filling in.
    pub(crate) fn unix_mut(&mut self) -> &mut libc::sockaddr_un {
        // SAFETY: as for `unix`; the exclusive borrow of `self` makes this the only view.
        unsafe { &mut *(&mut self.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_un>() }
    }

    pub(crate) fn from_std(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr type.
                let sin =
                    unsafe { &mut *(&mut raw.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
                raw.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above.
                let sin6 =
                    unsafe { &mut *(&mut raw.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
                sin6.sin6_scope_id = a.scope_id();
                raw.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        // The BSDs' `sa_len` byte stays zero: their kernels set it from the length argument.
        raw
    }

    pub(crate) fn to_std(&self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET if self.len as usize >= mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in, and it is long enough.
                let sin = unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if self.len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported address family {family} (length {})", self.len),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for s in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%3]:9"] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(RawAddr::from_std(&a).to_std().unwrap(), a);
        }
    }

    #[test]
    fn rejects_unknown_family() {
        let raw = RawAddr::empty();
        assert_eq!(raw.to_std().unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn cvt_maps_minus_one_to_errno() {
        // SAFETY: close on an invalid fd only sets errno.
        let err = cvt(unsafe { libc::close(-1) }).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(cvt(3i32).unwrap(), 3);
    }
}
