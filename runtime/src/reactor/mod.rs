//! The reactor: the OS poller plus the wakers registry.
//!
//! The registry is a slab of [`ScheduledIo`] entries indexed by a token
//! that also carries the slot's generation: `token = generation << 32 | index`.
//! When a slot is freed its generation is bumped, so an event still in
//! flight for a closed fd (whose number may already belong to a new socket)
//! finds a stale generation and wakes no one.
//!
//! The reactor is split in two: [`Driver`] (the poller and a queue of
//! deregistrations made on other threads; `Send + Sync`, shared through
//! the runtime's `Arc`) and [`Reactor`] (the slab and the event buffer;
//! runtime thread only).

mod atomic_waker;
mod ready;
mod scheduled_io;

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;
use std::time::Duration;

pub use ready::Ready;
pub use scheduled_io::ReadyEvent;
pub(crate) use scheduled_io::{Direction, ScheduledIo};

use crate::interest::Interest;
use crate::sys::{Events, Poller};

/// The thread-safe half of the reactor.
#[derive(Debug)]
pub(crate) struct Driver {
    /// The OS poller: `delete` and `notify` may be called from any thread.
    pub(crate) poller: Poller,
    /// Tokens whose registration was dropped on another thread; the
    /// reactor frees their slots at its next turn.
    released: Mutex<Vec<u64>>,
    /// Fast check for a non-empty `released`.
    has_released: AtomicBool,
}

impl Driver {
    pub(crate) fn new() -> io::Result<Driver> {
        Ok(Driver { poller: Poller::new()?, released: Mutex::new(Vec::new()), has_released: AtomicBool::new(false) })
    }

    /// Queues a slot to be freed by the runtime thread.
    pub(crate) fn release_later(&self, token: u64) {
        self.released.lock().unwrap_or_else(PoisonError::into_inner).push(token);
        self.has_released.store(true, Ordering::Release);
    }
}

/// One slot of the registry.
#[derive(Debug)]
struct Slot {
    /// Bumped each time the slot is freed; part of the token.
    generation: u32,
    /// The entry, shared with the `Registration` that owns the fd.
    io: Option<Arc<ScheduledIo>>,
}

/// The slab of registered fds.
#[derive(Debug, Default)]
struct Slab {
    slots: Vec<Slot>,
    /// Free slot indices, reused first.
    free: Vec<u32>,
    /// Occupied slots.
    len: usize,
}

fn split(token: u64) -> (usize, u32) {
    ((token & 0xffff_ffff) as usize, (token >> 32) as u32)
}

impl Slab {
    fn insert(&mut self) -> io::Result<Arc<ScheduledIo>> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                // Index u32::MAX is never handed out, so no token equals the
                // pollers' reserved notification token (u64::MAX).
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i < u32::MAX)
                    .ok_or_else(|| io::Error::other("too many registered fds"))?;
                self.slots.push(Slot { generation: 0, io: None });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        let io = Arc::new(ScheduledIo::new((u64::from(slot.generation) << 32) | u64::from(index)));
        slot.io = Some(io.clone());
        self.len += 1;
        Ok(io)
    }

    fn get(&self, token: u64) -> Option<&Arc<ScheduledIo>> {
        let (index, generation) = split(token);
        let slot = self.slots.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.io.as_ref()
    }

    fn remove(&mut self, token: u64) {
        let (index, generation) = split(token);
        if let Some(slot) = self.slots.get_mut(index) {
            if slot.generation == generation && slot.io.take().is_some() {
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(index as u32);
                self.len -= 1;
            }
        }
    }
}

/// The runtime-thread half of the reactor.
#[derive(Debug)]
pub(crate) struct Reactor {
    slab: RefCell<Slab>,
    /// The buffer `epoll_wait`/`kevent` fill.
    events: RefCell<Events>,
    /// Wakers collected while dispatching, called once the slab is released.
    wakers: RefCell<Vec<Waker>>,
}

impl Reactor {
    pub(crate) fn new(max_events: usize) -> Reactor {
        Reactor {
            slab: RefCell::new(Slab::default()),
            events: RefCell::new(Events::with_capacity(max_events)),
            wakers: RefCell::new(Vec::new()),
        }
    }

    /// Registers `fd` edge-triggered under a fresh token.
    pub(crate) fn register(&self, driver: &Driver, fd: RawFd, interest: Interest) -> io::Result<Arc<ScheduledIo>> {
        let io = self.slab.borrow_mut().insert()?;
        if let Err(e) = driver.poller.add(fd, io.token, interest) {
            self.slab.borrow_mut().remove(io.token);
            return Err(e);
        }
        Ok(io)
    }

    /// Frees the slot of a registration dropped on this thread. Returns
    /// false if the slab is busy, and the caller should `release_later`.
    pub(crate) fn release(&self, token: u64) -> bool {
        match self.slab.try_borrow_mut() {
            Ok(mut slab) => {
                slab.remove(token);
                true
            }
            Err(_) => false,
        }
    }

    /// Registered fds.
    pub(crate) fn len(&self) -> usize {
        self.slab.borrow().len
    }

    /// Waits for events (at most `timeout`) and wakes the tasks waiting on them.
    pub(crate) fn turn(&self, driver: &Driver, timeout: Option<Duration>) -> io::Result<()> {
        if driver.has_released.swap(false, Ordering::Acquire) {
            let released = std::mem::take(&mut *driver.released.lock().unwrap_or_else(PoisonError::into_inner));
            let mut slab = self.slab.borrow_mut();
            released.into_iter().for_each(|t| slab.remove(t));
        }
        let mut events = self.events.borrow_mut();
        driver.poller.wait(&mut events, timeout)?;
        self.dispatch(events.iter());
        Ok(())
    }

    /// Records each event's readiness in its entry and wakes the waiting
    /// tasks. An event whose token's generation is stale (its fd was
    /// deregistered, and the number perhaps reused) is ignored.
    fn dispatch(&self, events: impl Iterator<Item = crate::sys::Event>) {
        let mut wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        {
            let slab = self.slab.borrow();
            for ev in events {
                if let Some(io) = slab.get(ev.token) {
                    io.set_readiness(Ready::from_event(&ev), &mut wakers);
                }
            }
        }
        wake_all(&mut wakers);
        *self.wakers.borrow_mut() = wakers;
    }

    /// Runtime shutdown: every entry fails its next poll, waiters are woken.
    pub(crate) fn shutdown(&self) {
        let mut wakers = Vec::new();
        {
            let mut slab = self.slab.borrow_mut();
            for slot in &mut slab.slots {
                if let Some(io) = slot.io.take() {
                    io.shutdown(&mut wakers);
                }
            }
            *slab = Slab::default();
        }
        wake_all(&mut wakers);
    }
}

/// Wakes each waker, in order. A panicking (foreign) waker does not unwind
/// through the reactor, and the wakers after it are still woken.
pub(crate) fn wake_all(wakers: &mut Vec<Waker>) {
    wakers.reverse();
    while !wakers.is_empty() {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            while let Some(w) = wakers.pop() {
                w.wake();
            }
        }));
    }
}

/// A waker that counts its wakes, for the unit tests of the reactor's modules.
#[cfg(test)]
struct Count(std::sync::atomic::AtomicUsize);

#[cfg(test)]
impl std::task::Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll};

    fn event(token: u64) -> crate::sys::Event {
        crate::sys::Event {
            token,
            readable: true,
            writable: false,
            read_closed: false,
            write_closed: false,
            error: false,
        }
    }

    /// An event still in flight for a closed fd, whose number and slab slot
    /// now belong to a new socket, must not wake the new socket's task.
    #[test]
    fn a_stale_token_wakes_no_one() -> io::Result<()> {
        let driver = Driver::new()?;
        let reactor = Reactor::new(8);
        let (a, _a_peer) = UnixStream::pair()?;
        let old = reactor.register(&driver, a.as_raw_fd(), Interest::READABLE)?;
        let stale = old.token;
        driver.poller.delete(a.as_raw_fd())?;
        assert!(reactor.release(stale));

        // A new socket takes over the same fd number: dup2 closes the old
        // one and installs the new one atomically, so no other thread can
        // grab the number in between.
        let (b, _b_peer) = UnixStream::pair()?;
        // SAFETY: both fds are open and owned here; `a` now owns a duplicate of `b`.
        crate::sys::cvt(unsafe { libc::dup2(b.as_raw_fd(), a.as_raw_fd()) })?;
        let new = reactor.register(&driver, a.as_raw_fd(), Interest::READABLE)?;
        assert_eq!(new.token & 0xffff_ffff, stale & 0xffff_ffff, "same slot");
        assert_ne!(new.token, stale, "new generation");

        // The new owner parks (after a WouldBlock) ...
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(Ok(ev)) = new.poll_ready(&mut cx, Direction::Read) else { panic!("starts ready") };
        new.clear_readiness(ev);
        assert!(new.poll_ready(&mut cx, Direction::Read).is_pending());

        // ... and the old socket's event arrives: nobody is woken.
        reactor.dispatch([event(stale)].into_iter());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert!(new.poll_ready(&mut cx, Direction::Read).is_pending());

        // Its own event does wake it.
        reactor.dispatch([event(new.token)].into_iter());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        Ok(())
    }
}
