//! epoll backend (Linux, Android): one epoll fd plus an eventfd for cross-thread wake-ups.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use super::Interest;
use super::{cvt, timeout_ms, Event};

/// Whether `epoll_pwait2` may exist (cleared at its first `ENOSYS`; Miri
/// models only `epoll_wait`).
static PWAIT2: AtomicBool = AtomicBool::new(!cfg!(miri));

/// `d` as a `timespec`, saturating.
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// The token of the eventfd; user tokens never reach it (their generation
/// would have to wrap through `u32::MAX` at slab index `u32::MAX`).
const NOTIFY_TOKEN: u64 = u64::MAX;

/// An epoll instance and the eventfd that [`Poller::notify`] writes.
#[derive(Debug)]
pub(crate) struct Poller {
    /// The epoll fd; closed on drop.
    epfd: OwnedFd,
    /// An eventfd registered edge-triggered under `NOTIFY_TOKEN`.
    notify_fd: OwnedFd,
}

/// Maps an [`Interest`] to epoll flags: always edge-triggered, always with
/// `EPOLLRDHUP` so a half-close is seen without a read.
fn epoll_flags(interest: Interest) -> u32 {
    let mut flags = libc::EPOLLET | libc::EPOLLRDHUP;
    if interest.is_readable() {
        flags |= libc::EPOLLIN;
    }
    if interest.is_writable() {
        flags |= libc::EPOLLOUT;
    }
    flags as u32
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd we own.
        let epfd = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        // SAFETY: as above for eventfd.
        let notify_fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?) };
        let poller = Poller { epfd, notify_fd };
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            poller.notify_fd.as_raw_fd(),
            (libc::EPOLLIN | libc::EPOLLET) as u32,
            NOTIFY_TOKEN,
        )?;
        Ok(poller)
    }

    fn ctl(&self, op: i32, fd: RawFd, flags: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: flags, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the call's duration; the kernel copies it.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Registers `fd` once, edge-triggered, for the directions in `interest`.
    pub(crate) fn add(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, epoll_flags(interest), token)
    }

    /// Removes `fd` from the interest list.
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits for events until `timeout` (`None`: forever). A signal
    /// interrupting the wait (`EINTR`) returns with no events; the caller
    /// loops anyway and recomputes its timeout.
    ///
    /// The timeout has nanosecond precision through `epoll_pwait2` (Linux
    /// 5.11); where the kernel lacks it (`ENOSYS`, remembered for the rest
    /// of the process), `epoll_wait` rounds it up to whole milliseconds.
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.len = 0;
        let cap = events.buf.capacity() as i32;
        let buf = events.buf.as_mut_ptr();
        let n = match timeout {
            // Zero and forever need no precision: the plain call is cheapest.
            Some(d) if !d.is_zero() && PWAIT2.load(Relaxed) => {
                let ts = timespec(d);
                // SAFETY: the buffer has room for `cap` events and the kernel
                // writes at most that many; `ts` outlives the call; a null
                // signal mask means the mask is left alone.
                let ret = unsafe {
                    libc::syscall(
                        libc::SYS_epoll_pwait2,
                        self.epfd.as_raw_fd(),
                        buf,
                        cap,
                        &ts as *const libc::timespec,
                        std::ptr::null::<libc::sigset_t>(),
                        0usize,
                    )
                };
                match cvt(ret) {
                    Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                        PWAIT2.store(false, Relaxed);
                        return self.wait(events, timeout);
                    }
                    res => res.map(|n| n as i32),
                }
            }
            // SAFETY: as above, for epoll_wait.
            _ => cvt(unsafe { libc::epoll_wait(self.epfd.as_raw_fd(), buf, cap, timeout_ms(timeout)) }),
        };
        let n = match n {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        events.len = n;
        if events.raw()[..n].iter().any(|ev| ev.u64 == NOTIFY_TOKEN) {
            self.drain_notify();
        }
        Ok(())
    }

    /// Resets the eventfd counter so it can never saturate; a failed read
    /// (already zero) is harmless.
    fn drain_notify(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer.
        let _ = cvt(unsafe { libc::read(self.notify_fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) });
    }

    /// Makes a concurrent (or the next) [`Poller::wait`] return. Thread-safe.
    pub(crate) fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes exactly the 8 bytes of `one`.
        let res = cvt(unsafe { libc::write(self.notify_fd.as_raw_fd(), (&one as *const u64).cast(), 8) });
        match res {
            // EAGAIN: the counter is saturated, so the poller is already woken.
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

/// A reusable buffer of epoll events.
pub(crate) struct Events {
    /// Storage with `capacity` slots; the first `len` are initialised by the kernel.
    buf: Vec<libc::epoll_event>,
    /// How many events the last `wait` returned.
    len: usize,
}

impl Events {
    pub(crate) fn with_capacity(capacity: usize) -> Events {
        Events { buf: Vec::with_capacity(capacity.clamp(1, i32::MAX as usize)), len: 0 }
    }

    fn raw(&self) -> &[libc::epoll_event] {
        // SAFETY: epoll_wait initialised the first `len` elements, and `len <= capacity`.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr(), self.len) }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.raw().iter().filter(|ev| ev.u64 != NOTIFY_TOKEN).map(|ev| {
            let flags = ev.events as i32;
            Event {
                token: ev.u64,
                readable: flags & (libc::EPOLLIN | libc::EPOLLPRI) != 0,
                writable: flags & libc::EPOLLOUT != 0,
                read_closed: flags & (libc::EPOLLRDHUP | libc::EPOLLHUP) != 0,
                write_closed: flags & libc::EPOLLHUP != 0,
                error: flags & libc::EPOLLERR != 0,
            }
        })
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("len", &self.len).field("capacity", &self.buf.capacity()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reports_readable_and_notify() -> io::Result<()> {
        let poller = Poller::new()?;
        let (a, b) = UnixStream::pair()?;
        poller.add(a.as_raw_fd(), 7, Interest::READABLE)?;
        let mut events = Events::with_capacity(8);
        poller.wait(&mut events, Some(Duration::ZERO))?;
        assert_eq!(events.iter().count(), 0);

        std::io::Write::write_all(&mut &b, b"x")?;
        poller.wait(&mut events, Some(Duration::from_secs(5)))?;
        let evs: Vec<Event> = events.iter().collect();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].token, 7);
        assert!(evs[0].readable);

        // Edge-triggered: no new data, no new event.
        poller.wait(&mut events, Some(Duration::ZERO))?;
        assert_eq!(events.iter().count(), 0);

        poller.notify()?;
        poller.wait(&mut events, Some(Duration::from_secs(5)))?;
        assert_eq!(events.iter().count(), 0, "the notification is consumed internally");

        poller.delete(a.as_raw_fd())?;
        std::io::Write::write_all(&mut &b, b"y")?;
        poller.wait(&mut events, Some(Duration::ZERO))?;
        assert_eq!(events.iter().count(), 0);
        Ok(())
    }
}
