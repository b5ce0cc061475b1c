//! The socket calls that differ between OSes, selected once here.
//!
//! Linux, Android, FreeBSD and DragonFly create and accept sockets with
//! `SOCK_NONBLOCK | SOCK_CLOEXEC` in one step and suppress SIGPIPE per call
//! with `MSG_NOSIGNAL`. macOS and iOS have none of those: the flags are set
//! right after creation and SIGPIPE is disabled per socket (`SO_NOSIGPIPE`).
//!
//! Only Linux and Android have abstract Unix socket names (a `sun_path`
//! starting with a NUL byte, see unix(7)); elsewhere that byte ends an
//! empty path.

pub(crate) use imp::*;

/// Whether Unix socket addresses may be abstract names (unix(7)).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const ABSTRACT_NAMES: bool = true;
/// Whether Unix socket addresses may be abstract names (unix(7)).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const ABSTRACT_NAMES: bool = false;

#[cfg(not(any(target_os = "macos", target_os = "ios")))]
mod imp {
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    use runtime::sys::{cvt, cvt_r};

    use crate::addr::RawAddr;
    use crate::socket::Socket;

    /// `send` flags: a closed peer is `EPIPE`, never SIGPIPE.
    pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;

    pub(crate) fn socket(family: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
        // SAFETY: socket takes no pointers; a non-negative result is a new fd we own.
        let fd = cvt(unsafe { libc::socket(family, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: as above.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub(crate) fn socketpair(family: libc::c_int, ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds: [libc::c_int; 2] = [-1, -1];
        // SAFETY: socketpair writes two fds into the two-element array on success.
        cvt(unsafe { libc::socketpair(family, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })?;
        // SAFETY: socketpair succeeded: both are new fds we own.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    pub(crate) fn accept(listener: RawFd, raw: &mut RawAddr) -> io::Result<OwnedFd> {
        // SAFETY: the kernel writes at most `raw.len` bytes of address into the storage.
        let fd = cvt_r(|| unsafe {
            libc::accept4(listener, raw.as_mut_ptr(), &mut raw.len, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        })?;
        // SAFETY: accept4 returned a new fd we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Nothing to do: the flags were set atomically.
    pub(crate) fn after_create(_sock: &Socket) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
mod imp {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    use runtime::sys::{cvt, cvt_r};

    use crate::addr::RawAddr;
    use crate::socket::Socket;

    /// No per-call flag: SIGPIPE is off per socket (`after_create`).
    pub(crate) const SEND_FLAGS: libc::c_int = 0;

    pub(crate) fn socket(family: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
        // SAFETY: socket takes no pointers; a non-negative result is a new fd we own.
        let fd = cvt(unsafe { libc::socket(family, ty, 0) })?;
        // SAFETY: as above.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub(crate) fn socketpair(family: libc::c_int, ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds: [libc::c_int; 2] = [-1, -1];
        // SAFETY: socketpair writes two fds into the two-element array on success.
        cvt(unsafe { libc::socketpair(family, ty, 0, fds.as_mut_ptr()) })?;
        // SAFETY: socketpair succeeded: both are new fds we own.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    pub(crate) fn accept(listener: RawFd, raw: &mut RawAddr) -> io::Result<OwnedFd> {
        // SAFETY: the kernel writes at most `raw.len` bytes of address into the storage.
        let fd = cvt_r(|| unsafe { libc::accept(listener, raw.as_mut_ptr(), &mut raw.len) })?;
        // SAFETY: accept returned a new fd we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Sets close-on-exec, non-blocking and SO_NOSIGPIPE (a small window
    /// exists where a concurrent fork+exec inherits the fd).
    pub(crate) fn after_create(sock: &Socket) -> io::Result<()> {
        // SAFETY: fcntl on our own fd with integer arguments.
        cvt(unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        sock.set_nonblocking(true)?;
        sock.setsockopt(libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1)
    }
}
