//! The readiness driver: the OS poller (`sys`: epoll or kqueue) plus the
//! wakers registry (`reactor`). The kernel reports that an fd is ready; the
//! task then makes the system call itself.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use super::Parked;
use crate::reactor::{Interest, Ready, Registry, ScheduledIo};
use crate::sys::{Events, Poller};
use crate::util::slab::Token;
use crate::util::wake_all;

/// The shared half: registration, deregistration and wake-ups work from
/// any thread.
#[derive(Debug)]
pub(crate) struct Handle {
    /// The OS poller: `add`, `delete` and `notify` are thread-safe.
    poller: Poller,
    /// Per-fd readiness and waiters, by token.
    pub(super) registry: Registry,
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
}

/// The loop-owned half: the event buffer and the wait.
#[derive(Debug)]
pub(crate) struct Driver {
    /// `super::Handle::Poll` around `inner`.
    handle: Arc<super::Handle>,
    inner: Arc<Handle>,
    /// The buffer `epoll_wait`/`kevent` fill.
    events: Events,
    /// Wakers collected while dispatching, woken once the registry is
    /// unlocked; kept to reuse its allocation.
    wakers: Vec<Waker>,
}

impl Driver {
    /// A new poller (and its wake-up fd) with room for `max_events` per wait.
    pub(crate) fn new(max_events: usize) -> io::Result<Driver> {
        let inner = Arc::new(Handle { poller: Poller::new()?, registry: Registry::default() });
        Ok(Driver {
            handle: Arc::new(super::Handle::Poll(inner.clone())),
            inner,
            events: Events::with_capacity(max_events),
            wakers: Vec::new(),
        })
    }

    pub(crate) fn handle(&self) -> &Arc<super::Handle> {
        &self.handle
    }

    #[cfg(test)]
    pub(super) fn inner(&self) -> &Handle {
        &self.inner
    }

    /// Waits for events (at most `timeout`; `None`: until one arrives or
    /// [`Handle::unpark`]) and wakes the tasks waiting on them. Returns the
    /// number of events and of wakers woken.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<Parked> {
        let handle = &*self.inner;
        handle.poller.wait(&mut self.events, timeout)?;
        let mut events = 0;
        let ready = self.events.iter().map(|ev| (Token::from_raw(ev.token), Ready::from_event(&ev)));
        handle.registry.dispatch(ready.inspect(|_| events += 1), &mut self.wakers);
        let woken = self.wakers.len();
        wake_all(&mut self.wakers);
        Ok(Parked { events, woken })
    }

    /// The loop ends: every registered object fails its next poll, and
    /// the tasks waiting on one are woken to see it.
    pub(crate) fn shutdown(&mut self) {
        let mut wakers = std::mem::take(&mut self.wakers);
        self.inner.registry.shutdown(&mut wakers);
        wake_all(&mut wakers);
        self.wakers = wakers;
    }
}
