//! The reactor: the wakers registry of a readiness driver.
//!
//! Every registered fd has a [`ScheduledIo`]: its cached readiness and the
//! tasks waiting on it, one slot per direction. The registry keeps them in
//! the runtime's one [`Slab`], under the token the fd is registered with in
//! the kernel; when an event comes back, the token finds the entry, the
//! entry records the readiness and hands out the wakers of the directions
//! that just became ready. A token whose generation is stale (its fd was
//! deregistered, and the number perhaps reused) finds nothing and wakes no
//! one.
//!
//! Nothing in here knows the OS (that is `sys`) or the loop that waits
//! (that is `driver`).

mod ready;
mod scheduled_io;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

pub(crate) use crate::sys::Interest;
pub(crate) use ready::Ready;
pub(crate) use scheduled_io::{Direction, ReadyEvent, ScheduledIo};

use crate::util::slab::{Slab, Token};

/// The registered fds of one driver, by token.
///
/// A `Mutex`: registrations come and go on any thread (a socket dropped
/// where it was moved to), and each costs a syscall anyway; the loop takes
/// the lock once per wait, not once per event.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    slab: Mutex<Slab<Arc<ScheduledIo>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Slab<Arc<ScheduledIo>>> {
        self.slab.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new entry with `initial` readiness under a fresh token.
    pub(crate) fn insert(&self, initial: Ready) -> io::Result<Arc<ScheduledIo>> {
        let mut slab = self.lock();
        let token = slab
            .insert_with(|token| Arc::new(ScheduledIo::new(token, initial)))
            .ok_or_else(|| io::Error::other("too many registered fds"))?;
        Ok(slab.get(token).expect("just inserted").clone())
    }

    /// Forgets the entry; later events for its token wake no one.
    pub(crate) fn remove(&self, token: Token) {
        let entry = self.lock().remove(token);
        // Dropped outside the lock: it may hold wakers.
        drop(entry);
    }

    /// Registered fds.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Records each event's readiness in its entry and collects the wakers
    /// of the tasks waiting for it in `wakers`, to be woken by the caller
    /// once the lock is released.
    pub(crate) fn dispatch(&self, events: impl Iterator<Item = (Token, Ready)>, wakers: &mut Vec<Waker>) {
        let slab = self.lock();
        for (token, ready) in events {
            if let Some(io) = slab.get(token) {
                io.set_readiness(ready, wakers);
            }
        }
    }

    /// The driver shuts down: every entry fails its next poll, and the
    /// waiting tasks' wakers go to `wakers`.
    pub(crate) fn shutdown(&self, wakers: &mut Vec<Waker>) {
        let entries = self.lock().drain();
        for io in entries {
            io.shutdown(wakers);
        }
    }
}
