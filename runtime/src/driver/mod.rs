//! The driver: what a loop waits on, and the handle that I/O objects
//! register with.
//!
//! Two kinds, chosen per runtime ([`Backend`], `Builder::backend`,
//! `WEFT_BACKEND`):
//!
//! - the readiness driver (`poll.rs`): the OS poller (`sys`: epoll or
//!   kqueue) plus the wakers registry (`reactor`). The kernel says an fd is
//!   ready; the task makes the system call.
//! - the completion driver (`uring/`, Linux): an io_uring ring. Stream
//!   reads and writes are operations the kernel completes into buffers the
//!   driver owns; everything else waits for readiness through one-shot
//!   polls on the same ring, feeding the same registry. One
//!   `io_uring_enter` per tick submits and reaps everything.
//!
//! A [`Driver`] belongs to one loop, which calls [`Driver::park`] once per
//! tick; its [`Handle`] is shared (`Send + Sync`) by everything registered
//! with it. Both are enums over the two kinds: the readiness path pays one
//! predictable branch. While a loop runs on a thread, its handle is that
//! thread's *current* driver ([`enter`]), and an I/O object registers with
//! the current driver the first time it is polled, so a socket belongs to
//! the loop that polls it.

mod poll;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod uring;

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::reactor::{Interest, Ready, ScheduledIo};

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use self::no_completion::Completion;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use uring::Source as Completion;

/// Which driver a runtime waits on.
///
/// The default is [`Backend::Epoll`], unless the environment variable
/// `WEFT_BACKEND` says otherwise (`epoll`, `io_uring` or `auto`), so every
/// binary, test and benchmark can run on either without a rebuild;
/// `Builder::backend` overrides both.
///
/// ```
/// use runtime::{Backend, Builder};
/// let rt = Builder::new().backend(Backend::Auto).build()?;
/// // Auto resolves to what the machine supports.
/// assert_ne!(rt.backend(), Backend::Auto);
/// assert_eq!("io_uring".parse::<Backend>(), Ok(Backend::IoUring));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The readiness driver: epoll on Linux, kqueue on macOS and the BSDs.
    Epoll,
    /// The completion driver: io_uring (Linux only). Building a runtime
    /// fails, with the reason, where io_uring cannot be set up.
    IoUring,
    /// io_uring where it can be set up and the kernel supports every
    /// operation the driver uses; else the readiness driver. A runtime
    /// reports the backend it resolved to, never `Auto`.
    Auto,
}

impl Backend {
    /// The name `WEFT_BACKEND` uses: `epoll`, `io_uring` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::IoUring => "io_uring",
            Backend::Auto => "auto",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    /// Parses `epoll`, `io_uring` or `auto` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Backend, String> {
        match s.to_ascii_lowercase().as_str() {
            "epoll" => Ok(Backend::Epoll),
            "io_uring" => Ok(Backend::IoUring),
            "auto" => Ok(Backend::Auto),
            _ => Err(format!("unknown backend {s:?} (accepted: epoll, io_uring, auto)")),
        }
    }
}

/// How to set up a driver (from the runtime's `Builder`).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Which driver; `Auto` is resolved by [`Driver::new`].
    pub(crate) backend: Backend,
    /// Capacity of the readiness driver's event buffer.
    pub(crate) max_events: usize,
    /// The completion driver's ring (ignored by the readiness driver).
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate) uring: UringConfig,
}

/// The completion driver's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UringConfig {
    /// SQ entries (0: the default).
    pub(crate) sq_entries: u32,
    /// CQ entries (0: the default).
    pub(crate) cq_entries: u32,
    /// `Some(idle)`: a kernel thread polls the SQ (`IORING_SETUP_SQPOLL`).
    pub(crate) sqpoll_idle: Option<Duration>,
    /// `Some((n, window))`: an idle wait lasts until `n` completions have
    /// arrived or `window` has passed.
    pub(crate) coalesce: Option<(u32, Duration)>,
    /// Test hook: ring setup fails with this errno without calling the kernel.
    pub(crate) fail_setup: Option<i32>,
}

/// The shared half of a driver: registration, deregistration and wake-ups
/// work from any thread.
#[derive(Debug)]
pub(crate) enum Handle {
    /// The readiness driver's (the driver keeps a second reference).
    Poll(Arc<poll::Handle>),
    /// The completion driver's.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Uring(uring::Handle),
}

impl Handle {
    /// Registers `fd` for `interest`, starting with `initial` readiness.
    /// The completion driver also returns the fd's operation state.
    #[inline]
    pub(crate) fn register(
        &self,
        fd: RawFd,
        interest: Interest,
        initial: Ready,
    ) -> io::Result<(Arc<ScheduledIo>, Option<Arc<Completion>>)> {
        match self {
            Handle::Poll(h) => h.register(fd, interest, initial).map(|io| (io, None)),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Handle::Uring(h) => h.register(fd, initial).map(|(io, src)| (io, Some(src))),
        }
    }

    /// Forgets `fd`'s entry; call it before the fd closes. The completion
    /// driver cancels the fd's operations (and keeps what they use alive
    /// until the kernel is done with it).
    #[inline]
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(unused_variables))]
    pub(crate) fn deregister(
        &self,
        fd: RawFd,
        io: &ScheduledIo,
        completion: Option<&Arc<Completion>>,
    ) -> io::Result<()> {
        match self {
            Handle::Poll(h) => h.deregister(fd, io),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Handle::Uring(h) => {
                if let Some(src) = completion {
                    src.deregister();
                }
                h.remove(io);
                Ok(())
            }
        }
    }

    /// Makes the loop's current or next wait return at once.
    pub(crate) fn unpark(&self) {
        match self {
            Handle::Poll(h) => h.unpark(),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Handle::Uring(h) => h.unpark(),
        }
    }

    /// Registered fds.
    pub(crate) fn registered(&self) -> usize {
        match self {
            Handle::Poll(h) => h.registry.len(),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Handle::Uring(h) => h.registered(),
        }
    }

    /// The backend this driver is (never `Auto`).
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Handle::Poll(_) => Backend::Epoll,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Handle::Uring(_) => Backend::IoUring,
        }
    }

    /// Operations in the kernel's hands (0 for the readiness driver).
    pub(crate) fn in_flight_ops(&self) -> usize {
        match self {
            Handle::Poll(_) => 0,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Handle::Uring(h) => h.in_flight_ops(),
        }
    }

    /// Times the completion queue overflowed (0 for the readiness driver).
    pub(crate) fn cq_overflows(&self) -> usize {
        match self {
            Handle::Poll(_) => 0,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Handle::Uring(h) => h.cq_overflows(),
        }
    }

    /// Provided buffers filled by the kernel and not yet read (0 for the
    /// readiness driver).
    pub(crate) fn held_buffers(&self) -> usize {
        match self {
            Handle::Poll(_) => 0,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Handle::Uring(h) => h.held_buffers(),
        }
    }
}

/// What one wait brought.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Parked {
    /// Events or completions the kernel returned (not counting a wake-up
    /// from another thread).
    pub(crate) events: usize,
    /// Wakers those events woke.
    pub(crate) woken: usize,
}

/// The loop-owned half: what the loop waits on.
#[derive(Debug)]
pub(crate) enum Driver {
    /// epoll or kqueue.
    Poll(poll::Driver),
    /// io_uring.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Uring(uring::Driver),
}

impl Driver {
    /// Sets up the driver `config` asks for. `Auto` takes io_uring where it
    /// works and quietly falls back to the readiness driver where the
    /// environment forbids or lacks it; `IoUring` reports why it cannot.
    pub(crate) fn new(config: &Config) -> io::Result<Driver> {
        match config.backend {
            Backend::Epoll => Ok(Driver::Poll(poll::Driver::new(config.max_events)?)),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Backend::IoUring => Ok(Driver::Uring(uring::Driver::new(&config.uring)?)),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Backend::Auto => match uring::Driver::new(&config.uring) {
                Ok(d) => Ok(Driver::Uring(d)),
                Err(e) if uring::unsupported(&e) => Ok(Driver::Poll(poll::Driver::new(config.max_events)?)),
                Err(e) => Err(e),
            },
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            Backend::IoUring => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the io_uring backend exists only on Linux (WEFT_BACKEND=io_uring or Builder::backend)",
            )),
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            Backend::Auto => Ok(Driver::Poll(poll::Driver::new(config.max_events)?)),
        }
    }

    pub(crate) fn handle(&self) -> &Arc<Handle> {
        match self {
            Driver::Poll(d) => d.handle(),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Driver::Uring(d) => d.handle(),
        }
    }

    /// Waits for events or completions (at most `timeout`; `None`: until
    /// one arrives or [`Handle::unpark`]) and wakes the tasks waiting on
    /// them. Returns how many arrived and how many wakers they woke.
    #[inline]
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<Parked> {
        match self {
            Driver::Poll(d) => d.park(timeout),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Driver::Uring(d) => d.park(timeout),
        }
    }

    /// The loop ends: every registered object fails its next poll, and
    /// the tasks waiting on one are woken to see it.
    pub(crate) fn shutdown(&mut self) {
        match self {
            Driver::Poll(d) => d.shutdown(),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Driver::Uring(d) => d.shutdown(),
        }
    }
}

/// Where there is no completion driver, no registration has completion
/// state: this uninhabited type stands in for it, so `io` compiles the
/// same calls everywhere.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod no_completion {
    use std::io::{self, IoSlice};
    use std::net::Shutdown;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use crate::reactor::Direction;

    /// No value exists.
    #[derive(Debug)]
    pub(crate) enum Completion {}

    #[allow(clippy::needless_pass_by_ref_mut)]
    impl Completion {
        pub(crate) fn poll_read(self: &Arc<Self>, _: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
            match **self {}
        }
        pub(crate) fn try_read(self: &Arc<Self>, _: &mut [u8]) -> io::Result<usize> {
            match **self {}
        }
        pub(crate) fn poll_peek(self: &Arc<Self>, _: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
            match **self {}
        }
        pub(crate) fn poll_write(self: &Arc<Self>, _: &mut Context<'_>, _: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
            match **self {}
        }
        pub(crate) fn try_write(self: &Arc<Self>, _: &[IoSlice<'_>]) -> io::Result<usize> {
            match **self {}
        }
        pub(crate) fn poll_flush(self: &Arc<Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            match **self {}
        }
        pub(crate) fn shutdown(self: &Arc<Self>, _: Shutdown) -> io::Result<()> {
            match **self {}
        }
        pub(crate) fn on_pending(self: &Arc<Self>, _: Direction) {
            match **self {}
        }
    }
}

thread_local! {
    /// The handle of the driver whose loop runs on this thread.
    static CURRENT: RefCell<Option<Arc<Handle>>> = const { RefCell::new(None) };
}

/// The driver of the loop running on this thread, if any.
pub(crate) fn current() -> Option<Arc<Handle>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Restores the previous current driver when dropped (also on unwind).
#[derive(Debug)]
pub(crate) struct EnterGuard {
    prev: Option<Arc<Handle>>,
}

/// Makes `handle` this thread's current driver for the guard's life.
pub(crate) fn enter(handle: &Arc<Handle>) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(Some(handle.clone())));
    EnterGuard { prev }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::Direction;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use crate::util::wake_all;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// An event still in flight for a closed fd, whose number and slab slot
    /// now belong to a new socket, must not wake the new socket's task.
    #[test]
    fn a_stale_token_wakes_no_one() -> io::Result<()> {
        let driver = poll::Driver::new(8)?;
        let handle = driver.inner();
        let both = Ready::READABLE | Ready::WRITABLE;
        let (a, _a_peer) = UnixStream::pair()?;
        let old = handle.register(a.as_raw_fd(), Interest::READABLE, both)?;
        let stale = old.token;
        handle.deregister(a.as_raw_fd(), &old)?;

        // A new socket takes over the same fd number: dup2 closes the old
        // one and installs the new one atomically, so no other thread can
        // grab the number in between.
        let (b, _b_peer) = UnixStream::pair()?;
        crate::sys::dup2(b.as_raw_fd(), a.as_raw_fd())?;
        let new = handle.register(a.as_raw_fd(), Interest::READABLE, both)?;
        assert_eq!(new.token.index(), stale.index(), "same slot");
        assert_ne!(new.token, stale, "new generation");

        // The new owner parks (after a WouldBlock) ...
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(Ok(ev)) = new.poll_ready(&mut cx, Direction::Read) else { panic!("starts ready") };
        new.clear_readiness(ev);
        assert!(new.poll_ready(&mut cx, Direction::Read).is_pending());

        // ... and the old socket's event arrives: nobody is woken.
        let mut wakers = Vec::new();
        handle.registry.dispatch([(stale, Ready::READABLE)].into_iter(), &mut wakers);
        assert!(wakers.is_empty());
        // Looked at without parking again: under Miri, a second parking of
        // the same waker is not recognised by `will_wake` (Miri gives a
        // vtable a new address per use) and would be listed twice.
        assert!(new.readiness(Direction::Read)?.is_none(), "still not readable");

        // Its own event does wake it.
        handle.registry.dispatch([(new.token, Ready::READABLE)].into_iter(), &mut wakers);
        wake_all(&mut wakers);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        Ok(())
    }
}
