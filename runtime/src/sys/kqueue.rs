//! kqueue backend (macOS, iOS, FreeBSD, DragonFly): one kqueue fd, EVFILT_USER for cross-thread wake-ups.
//!
//! Verification: written against the `libc` crate's definitions for these
//! targets (`struct kevent`, `EV_CLEAR`, `EV_RECEIPT`, `EVFILT_USER`,
//! `NOTE_TRIGGER`) and the kqueue(2) man pages of macOS and FreeBSD. It has
//! NOT been compiled or run here: the project's machines are Linux-only and
//! cannot fetch other targets' standard libraries. The logic mirrors
//! `epoll.rs` item for item; a port should first run `cargo test -p runtime`
//! on macOS.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::Interest;
use super::{cvt, Event};

/// The `ident` of the EVFILT_USER event that `notify` triggers.
const NOTIFY_IDENT: usize = 0;

/// A kqueue instance.
#[derive(Debug)]
pub(crate) struct Poller {
    /// The kqueue fd; closed on drop.
    kq: OwnedFd,
}

/// Builds one change record. `kevent` differs between the BSDs (FreeBSD 12+
/// has an `ext` array), so start from zeroes and set the common fields.
fn change(ident: usize, filter: i16, flags: u16, fflags: u32, token: u64) -> libc::kevent {
    // SAFETY: `kevent` is a plain C struct for which all-zero bytes are valid.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as _;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev.fflags = fflags as _;
    ev.udata = token as usize as _;
    ev
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: kqueue takes no arguments; a non-negative result is a new fd we own.
        let kq = unsafe { OwnedFd::from_raw_fd(cvt(libc::kqueue())?) };
        // SAFETY: sets FD_CLOEXEC on the fd we just opened.
        cvt(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        let poller = Poller { kq };
        poller.apply(&mut [change(
            NOTIFY_IDENT,
            libc::EVFILT_USER,
            libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT,
            0,
            0,
        )])?;
        Ok(poller)
    }

    /// Submits changes with `EV_RECEIPT`, so each comes back with its own
    /// status in `data`; `ENOENT` (deleting what is not there) is ignored.
    fn apply(&self, changes: &mut [libc::kevent]) -> io::Result<()> {
        let n = changes.len() as libc::c_int;
        // SAFETY: `changes` is both the change list and the receipt buffer, `n` entries long.
        cvt(unsafe {
            libc::kevent(self.kq.as_raw_fd(), changes.as_ptr(), n, changes.as_mut_ptr(), n, std::ptr::null())
        })?;
        for ev in changes.iter() {
            let err = ev.data as i32;
            if ev.flags & libc::EV_ERROR != 0 && err != 0 && err != libc::ENOENT && err != libc::EPIPE {
                return Err(io::Error::from_raw_os_error(err));
            }
        }
        Ok(())
    }

    /// Registers `fd` once, edge-triggered (`EV_CLEAR`), one filter per direction.
    pub(crate) fn add(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        let flags = libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT;
        let read = change(fd as usize, libc::EVFILT_READ, flags, 0, token);
        let write = change(fd as usize, libc::EVFILT_WRITE, flags, 0, token);
        match (interest.is_readable(), interest.is_writable()) {
            (true, true) => self.apply(&mut [read, write]),
            (true, false) => self.apply(&mut [read]),
            _ => self.apply(&mut [write]),
        }
    }

    /// Removes both filters of `fd`; a filter that was never added is ignored.
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let flags = libc::EV_DELETE | libc::EV_RECEIPT;
        self.apply(&mut [
            change(fd as usize, libc::EVFILT_READ, flags, 0, 0),
            change(fd as usize, libc::EVFILT_WRITE, flags, 0, 0),
        ])
    }

    /// Waits for events until `timeout` (`None`: forever); `EINTR` returns no events.
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.len = 0;
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as _,
        });
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the buffer has room for `capacity()` events and kevent writes at most that many.
        let n = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                std::ptr::null(),
                0,
                events.buf.as_mut_ptr(),
                events.buf.capacity() as libc::c_int,
                ts_ptr,
            )
        };
        match cvt(n) {
            Ok(n) => events.len = n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Triggers the EVFILT_USER event; `EV_CLEAR` resets it once reported. Thread-safe.
    pub(crate) fn notify(&self) -> io::Result<()> {
        self.apply(&mut [change(NOTIFY_IDENT, libc::EVFILT_USER, libc::EV_RECEIPT, libc::NOTE_TRIGGER, 0)])
    }
}

/// A reusable buffer of kqueue events.
pub(crate) struct Events {
    /// Storage with `capacity` slots; the first `len` are initialised by the kernel.
    buf: Vec<libc::kevent>,
    /// How many events the last `wait` returned.
    len: usize,
}

impl Events {
    pub(crate) fn with_capacity(capacity: usize) -> Events {
        Events { buf: Vec::with_capacity(capacity.clamp(1, i32::MAX as usize)), len: 0 }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        // SAFETY: kevent initialised the first `len` elements, and `len <= capacity`.
        let raw = unsafe { std::slice::from_raw_parts(self.buf.as_ptr(), self.len) };
        raw.iter().filter(|ev| ev.filter != libc::EVFILT_USER).map(|ev| {
            let eof = ev.flags & libc::EV_EOF != 0;
            let read = ev.filter == libc::EVFILT_READ;
            let write = ev.filter == libc::EVFILT_WRITE;
            Event {
                token: ev.udata as usize as u64,
                readable: read,
                writable: write,
                read_closed: read && eof,
                write_closed: write && eof,
                // EV_EOF with a non-zero fflags carries the socket error.
                error: ev.flags & libc::EV_ERROR != 0 || (eof && ev.fflags != 0),
            }
        })
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("len", &self.len).field("capacity", &self.buf.capacity()).finish()
    }
}
