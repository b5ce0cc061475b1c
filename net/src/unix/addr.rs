//! [`SocketAddr`]: the address of a Unix domain socket, and its conversion
//! to and from `sockaddr_un`.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::mem;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::{self, RawAddr};

/// The address of a Unix domain socket: a path in the file system, an
/// abstract name (Linux and Android only: a name in a namespace of its own,
/// with no file), or unnamed (a socket that was never bound, such as one
/// end of a [`pair`](crate::UnixStream::pair) or a connecting client).
///
/// ```
/// use net::unix::SocketAddr;
///
/// let addr = SocketAddr::from_pathname("/tmp/app.sock")?;
/// assert_eq!(addr.as_pathname(), Some(std::path::Path::new("/tmp/app.sock")));
/// assert!(!addr.is_unnamed());
///
/// // A path must fit in `sockaddr_un` (about 100 bytes).
/// let long = "/tmp/".to_owned() + &"x".repeat(200);
/// assert_eq!(SocketAddr::from_pathname(long).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SocketAddr(Kind);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Kind {
    /// Not bound to any name.
    Unnamed,
    /// A file-system path (non-empty, without NUL bytes, short enough).
    Pathname(PathBuf),
    /// An abstract name: the bytes after the leading NUL in `sun_path`.
    Abstract(Vec<u8>),
}

/// Where `sun_path` starts in `sockaddr_un`.
fn path_offset() -> usize {
    mem::offset_of!(libc::sockaddr_un, sun_path)
}

/// Capacity of `sun_path`.
fn path_capacity() -> usize {
    RawAddr::empty().unix().sun_path.len()
}

impl SocketAddr {
    /// The address of the socket file at `path`.
    ///
    /// Fails with `ErrorKind::InvalidInput` if the path is empty, contains a
    /// NUL byte, or is too long for `sockaddr_un` (107 bytes on Linux, 103
    /// on macOS; a longer path can be reached through a shorter relative one).
    pub fn from_pathname<P: AsRef<Path>>(path: P) -> io::Result<SocketAddr> {
        let path = path.as_ref();
        let bytes = path.as_os_str().as_bytes();
        let max = path_capacity() - 1;
        if bytes.is_empty() {
            return Err(invalid("a Unix socket path cannot be empty".to_owned()));
        }
        if bytes.contains(&0) {
            return Err(invalid(format!("Unix socket path {} contains a NUL byte", path.display())));
        }
        if bytes.len() > max {
            return Err(invalid(format!(
                "Unix socket path {} is {} bytes long; at most {max} fit in sockaddr_un",
                path.display(),
                bytes.len()
            )));
        }
        Ok(SocketAddr(Kind::Pathname(path.to_owned())))
    }

    /// The abstract name `name` (Linux and Android): no file is created,
    /// and the name disappears with the last socket bound to it. The name
    /// is the raw bytes, without the leading NUL.
    ///
    /// Fails with `ErrorKind::Unsupported` on other systems, and with
    /// `ErrorKind::InvalidInput` if the name is too long.
    pub fn from_abstract_name<N: AsRef<[u8]>>(name: N) -> io::Result<SocketAddr> {
        let name = name.as_ref();
        if !sys::ABSTRACT_NAMES {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract Unix socket names exist only on Linux and Android",
            ));
        }
        let max = path_capacity() - 1;
        if name.len() > max {
            return Err(invalid(format!("abstract Unix socket name is {} bytes long; at most {max} fit", name.len())));
        }
        Ok(SocketAddr(Kind::Abstract(name.to_vec())))
    }

    /// True if the socket is not bound to a name.
    pub fn is_unnamed(&self) -> bool {
        matches!(self.0, Kind::Unnamed)
    }

    /// The file-system path, if the address is one.
    pub fn as_pathname(&self) -> Option<&Path> {
        match &self.0 {
            Kind::Pathname(p) => Some(p),
            _ => None,
        }
    }

    /// The abstract name (without the leading NUL), if the address is one.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match &self.0 {
            Kind::Abstract(name) => Some(name),
            _ => None,
        }
    }

    /// The `sockaddr_un` for `bind`, `connect` and `sendto`.
    pub(crate) fn to_raw(&self) -> io::Result<RawAddr> {
        let mut raw = RawAddr::empty();
        let un = raw.unix_mut();
        un.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let (bytes, start, nul) = match &self.0 {
            Kind::Unnamed => return Err(invalid("cannot bind or connect to an unnamed Unix address".to_owned())),
            // A NUL ends the path (it was checked to have none inside).
            Kind::Pathname(p) => (p.as_os_str().as_bytes(), 0, 1),
            // The leading NUL marks the name as abstract; the length says where it ends.
            Kind::Abstract(name) => (name.as_slice(), 1, 0),
        };
        // The constructors checked the length; `from_raw` addresses fit by construction.
        let dst = un.sun_path.get_mut(start..start + bytes.len()).ok_or_else(|| invalid("address too long".into()))?;
        for (d, s) in dst.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        raw.len = (path_offset() + start + bytes.len() + nul) as libc::socklen_t;
        Ok(raw)
    }

    /// Reads an address the kernel wrote (`getsockname`, `accept`, `recvfrom`).
    pub(crate) fn from_raw(raw: &RawAddr) -> io::Result<SocketAddr> {
        let len = raw.len as usize;
        // Only the family, or nothing at all: an unnamed socket (unix(7)).
        if len <= path_offset() {
            return Ok(SocketAddr(Kind::Unnamed));
        }
        if raw.family() != libc::AF_UNIX {
            return Err(invalid(format!("expected a Unix socket address, got family {}", raw.family())));
        }
        let sun_path = &raw.unix().sun_path;
        let bytes: Vec<u8> = sun_path[..(len - path_offset()).min(sun_path.len())].iter().map(|&c| c as u8).collect();
        if sys::ABSTRACT_NAMES && bytes.first() == Some(&0) {
            return Ok(SocketAddr(Kind::Abstract(bytes[1..].to_vec())));
        }
        // The length may or may not count the terminating NUL.
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        if end == 0 {
            return Ok(SocketAddr(Kind::Unnamed));
        }
        Ok(SocketAddr(Kind::Pathname(PathBuf::from(OsStr::from_bytes(&bytes[..end])))))
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `"path" (pathname)`, `"name" (abstract)` or `(unnamed)`, like std's.
impl fmt::Debug for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Unnamed => f.write_str("(unnamed)"),
            Kind::Pathname(p) => write!(f, "{p:?} (pathname)"),
            Kind::Abstract(name) => write!(f, "\"{}\" (abstract)", name.escape_ascii()),
        }
    }
}

/// The path, `@name` for an abstract name (bytes escaped), or `(unnamed)`.
impl fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Unnamed => f.write_str("(unnamed)"),
            Kind::Pathname(p) => write!(f, "{}", p.display()),
            Kind::Abstract(name) => write!(f, "@{}", name.escape_ascii()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathnames_round_trip() {
        for p in ["/tmp/a.sock", "rel.sock", "x"] {
            let addr = SocketAddr::from_pathname(p).unwrap();
            assert_eq!(SocketAddr::from_raw(&addr.to_raw().unwrap()).unwrap(), addr);
        }
    }

    #[test]
    fn longest_path_fits_and_one_more_does_not() {
        let max = path_capacity() - 1;
        let ok = "p".repeat(max);
        let addr = SocketAddr::from_pathname(&ok).unwrap();
        assert_eq!(SocketAddr::from_raw(&addr.to_raw().unwrap()).unwrap(), addr);
        let err = SocketAddr::from_pathname("p".repeat(max + 1)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("at most"), "{err}");
    }

    #[test]
    fn rejects_empty_and_nul() {
        assert_eq!(SocketAddr::from_pathname("").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(SocketAddr::from_pathname("a\0b").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert!(SocketAddr(Kind::Unnamed).to_raw().is_err());
    }

    #[test]
    fn short_or_empty_addresses_are_unnamed() {
        let mut raw = RawAddr::empty();
        raw.len = 0;
        assert!(SocketAddr::from_raw(&raw).unwrap().is_unnamed());
        raw.unix_mut().sun_family = libc::AF_UNIX as libc::sa_family_t;
        raw.len = path_offset() as libc::socklen_t;
        assert!(SocketAddr::from_raw(&raw).unwrap().is_unnamed());
    }

    #[test]
    fn abstract_names_where_supported() {
        let res = SocketAddr::from_abstract_name(b"weft\0test");
        assert_eq!(res.is_ok(), sys::ABSTRACT_NAMES, "{res:?}");
        match res {
            Ok(addr) => {
                let back = SocketAddr::from_raw(&addr.to_raw().unwrap()).unwrap();
                assert_eq!(back.as_abstract_name(), Some(&b"weft\0test"[..]));
                assert_eq!(back.to_string(), "@weft\\x00test");
            }
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::Unsupported),
        }
    }

    #[test]
    fn debug_and_display() {
        let addr = SocketAddr::from_pathname("/tmp/x.sock").unwrap();
        assert_eq!(format!("{addr:?}"), "\"/tmp/x.sock\" (pathname)");
        assert_eq!(addr.to_string(), "/tmp/x.sock");
        assert_eq!(SocketAddr(Kind::Unnamed).to_string(), "(unnamed)");
    }
}
