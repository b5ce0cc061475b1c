//! The syscall helper the learner examples that call the OS directly
//! share: `-1` becomes `io::Error::last_os_error()`.

use std::io;

/// Turns a syscall's `-1` into `io::Error::last_os_error()`.
pub fn cvt<T: Copy + PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`], but calls `f` again while it fails with `EINTR`.
pub fn cvt_r<T: Copy + PartialEq + From<i8>>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
