//! [`BoundPath`]: the socket file a bind created, removed again on drop,
//! but only if it is still that file.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::SocketAddr;
use crate::socket::Socket;

/// The socket file created by binding a socket to a path.
///
/// Dropping it removes the file if, and only if, the path still names the
/// very file the bind created (same device and inode, still a socket): a
/// file someone else put there since (a new server bound after removing
/// ours) is left alone.
#[derive(Debug)]
pub(crate) struct BoundPath {
    /// The path, made absolute at bind time so a later `chdir` cannot
    /// redirect the removal.
    path: PathBuf,
    /// Device and inode of the file the bind created; `None` once disarmed
    /// (the socket was handed to `std`) or if they could not be read.
    id: Option<(u64, u64)>,
}

impl BoundPath {
    /// Binds `sock` to `addr`. For a path, returns the guard for the new
    /// file; an existing file is never replaced, but reported as
    /// `ErrorKind::AddrInUse` naming the path.
    pub(crate) fn bind(sock: &Socket, addr: &SocketAddr) -> io::Result<Option<BoundPath>> {
        if let Err(e) = sock.bind(&addr.to_raw()?) {
            return Err(match e.raw_os_error() {
                Some(libc::EADDRINUSE) if addr.as_pathname().is_some() => io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "binding {addr}: the path already exists (a stale socket file is not removed \
                         automatically; delete it if no process uses it)"
                    ),
                ),
                _ => io::Error::new(e.kind(), format!("binding {addr}: {e}")),
            });
        }
        let Some(path) = addr.as_pathname() else { return Ok(None) };
        Ok(Some(BoundPath::record(path)))
    }

    /// Remembers which file now sits at `path`.
    fn record(path: &Path) -> BoundPath {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let id = fs::symlink_metadata(&path).ok().filter(|m| m.file_type().is_socket()).map(|m| (m.dev(), m.ino()));
        BoundPath { path, id }
    }

    /// Keeps the file when this guard is dropped.
    pub(crate) fn disarm(&mut self) {
        self.id = None;
    }
}

impl Drop for BoundPath {
    fn drop(&mut self) {
        let Some((dev, ino)) = self.id else { return };
        let same = fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && m.dev() == dev && m.ino() == ino);
        if same {
            // Nothing to do on failure: the file was ours, and we tried.
            let _ = fs::remove_file(&self.path);
        }
    }
}
