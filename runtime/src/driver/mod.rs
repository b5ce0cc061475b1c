//! The driver: what a loop waits on, and the handle that I/O objects
//! register with.
//!
//! Today there is one kind, the readiness driver: the OS poller (`sys`)
//! plus the wakers registry (`reactor`). A [`Driver`] belongs to one loop,
//! which calls [`Driver::park`] once per tick; its [`Handle`] is shared
//! (`Send + Sync`) by everything registered with it. While a loop runs on
//! a thread, its handle is that thread's *current* driver ([`enter`]), and
//! an I/O object registers with the current driver the first time it is
//! polled, so a socket belongs to the loop that polls it.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use crate::reactor::{Interest, Ready, Registry, ScheduledIo};
use crate::sys::{Events, Poller};
use crate::util::slab::Token;
use crate::util::wake_all;

/// The shared half of a driver: registration, deregistration and wake-ups
/// work from any thread.
#[derive(Debug)]
pub(crate) struct Handle {
    /// The OS poller: `add`, `delete` and `notify` are thread-safe.
    poller: Poller,
    /// Per-fd readiness and waiters, by token.
    registry: Registry,
}

impl Handle {
    /// Registers `fd` for `interest`, edge-triggered, once; the entry
    /// starts with `initial` readiness.
    pub(crate) fn register(&self, fd: RawFd, interest: Interest, initial: Ready) -> io::Result<Arc<ScheduledIo>> {
        let io = self.registry.insert(initial)?;
        if let Err(e) = self.poller.add(fd, io.token.to_raw(), interest) {
            self.registry.remove(io.token);
            return Err(e);
        }
        Ok(io)
    }

    /// Removes `fd` from the poller and forgets its entry. Call it before
    /// the fd closes: after close the number may be reused, and a late
    /// removal would hit the new owner.
    pub(crate) fn deregister(&self, fd: RawFd, io: &ScheduledIo) -> io::Result<()> {
        let res = self.poller.delete(fd);
        self.registry.remove(io.token);
        res
    }

    /// Makes the loop's current or next wait return at once.
    pub(crate) fn unpark(&self) {
        // A failed notify means the wake-up fd is gone: the driver is being
        // torn down and nothing waits.
        let _ = self.poller.notify();
    }

    /// Registered fds.
    pub(crate) fn registered(&self) -> usize {
        self.registry.len()
    }
}

/// What one wait brought.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Parked {
    /// Events the kernel returned (not counting a wake-up from another thread).
    pub(crate) events: usize,
    /// Wakers those events woke.
    pub(crate) woken: usize,
}

/// The loop-owned half: the event buffer and the wait.
#[derive(Debug)]
pub(crate) struct Driver {
    handle: Arc<Handle>,
    /// The buffer `epoll_wait`/`kevent` fill.
    events: Events,
    /// Wakers collected while dispatching, woken once the registry is
    /// unlocked; kept to reuse its allocation.
    wakers: Vec<Waker>,
}

impl Driver {
    /// A new poller (and its wake-up fd) with room for `max_events` per wait.
    pub(crate) fn new(max_events: usize) -> io::Result<Driver> {
        let handle = Arc::new(Handle { poller: Poller::new()?, registry: Registry::default() });
        Ok(Driver { handle, events: Events::with_capacity(max_events), wakers: Vec::new() })
    }

    pub(crate) fn handle(&self) -> &Arc<Handle> {
        &self.handle
    }

    /// Waits for events (at most `timeout`; `None`: until one arrives or
    /// [`Handle::unpark`]) and wakes the tasks waiting on them. Returns the
    /// number of events and of wakers woken.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<Parked> {
        self.handle.poller.wait(&mut self.events, timeout)?;
        let mut events = 0;
        let ready = self.events.iter().map(|ev| (Token::from_raw(ev.token), Ready::from_event(&ev)));
        self.handle.registry.dispatch(ready.inspect(|_| events += 1), &mut self.wakers);
        let woken = self.wakers.len();
        wake_all(&mut self.wakers);
        Ok(Parked { events, woken })
    }

    /// The loop ends: every registered object fails its next poll, and
    /// the tasks waiting on one are woken to see it.
    pub(crate) fn shutdown(&mut self) {
        self.handle.registry.shutdown(&mut self.wakers);
        wake_all(&mut self.wakers);
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
    use std::task::{Context, Poll, Wake};

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
        let driver = Driver::new(8)?;
        let handle = driver.handle().clone();
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
        assert!(new.poll_ready(&mut cx, Direction::Read).is_pending());

        // Its own event does wake it.
        handle.registry.dispatch([(new.token, Ready::READABLE)].into_iter(), &mut wakers);
        wake_all(&mut wakers);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        Ok(())
    }
}
