//! Model checks of the sync primitives' wake-up protocols with `loom`:
//! every interleaving of the real code's lock and atomic operations (the
//! primitives' locks and atomics are `crate::loom`'s, loom's in this build).
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p runtime --release --lib loom_models
//! ```
//!
//! Each model races a notifier on a loom thread against a waiter polled by
//! hand with a counting waker, and checks that the waiter is either ready
//! at once or woken (no lost wake-up) and that nothing is granted twice or
//! lost when a waiter is cancelled mid-race.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use super::{broadcast, watch, Mutex, Notify, RwLock, Semaphore};

/// Counts wakes.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (StdArc<Count>, Waker) {
    let count = StdArc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    (count, waker)
}

fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// Polls `f` once; if pending, the race must have woken it by the time
/// `join` returns, and then it must be ready.
fn ready_or_woken<F: Future + Unpin>(f: &mut F, join: impl FnOnce()) -> F::Output {
    let (count, waker) = counting_waker();
    let first = poll(f, &waker);
    join();
    match first {
        Poll::Ready(v) => v,
        Poll::Pending => {
            assert!(count.0.load(SeqCst) >= 1, "lost wake-up");
            match poll(f, &waker) {
                Poll::Ready(v) => v,
                Poll::Pending => panic!("woken but not ready"),
            }
        }
    }
}

/// `notify_one` racing a first poll of `notified()`: the notification
/// becomes either the wake-up or the stored permit, never nothing.
#[test]
fn notify_one_vs_notified_no_lost_wakeup() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let th = {
            let notify = notify.clone();
            thread::spawn(move || notify.notify_one())
        };
        let mut notified = notify.notified();
        ready_or_woken(&mut notified, || th.join().unwrap());
        drop(notified);
        // Exactly one notification: nothing left over.
        assert!(poll(&mut notify.notified(), Waker::noop()).is_pending());
    });
}

/// `notify_waiters` racing the first poll of a `Notified` created before
/// it: it completes either way, and no permit is stored.
#[test]
fn notify_waiters_reaches_a_notified_created_before_it() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let mut notified = notify.notified();
        let th = {
            let notify = notify.clone();
            thread::spawn(move || notify.notify_waiters())
        };
        ready_or_woken(&mut notified, || th.join().unwrap());
        assert!(poll(&mut notify.notified(), Waker::noop()).is_pending());
    });
}

/// A queued `Notified` dropped while `notify_one` picks a waiter: the
/// notification reaches the other waiter, exactly once.
#[test]
fn dropped_notified_passes_the_notification_on() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let mut a = notify.notified();
        let mut b = notify.notified();
        assert!(poll(&mut a, Waker::noop()).is_pending());
        let (count, waker) = counting_waker();
        assert!(poll(&mut b, &waker).is_pending());
        let th = {
            let notify = notify.clone();
            thread::spawn(move || notify.notify_one())
        };
        drop(a);
        th.join().unwrap();
        assert_eq!(count.0.load(SeqCst), 1, "b woken exactly once");
        assert!(poll(&mut b, &waker).is_ready());
        assert!(poll(&mut notify.notified(), Waker::noop()).is_pending(), "no extra permit");
    });
}

/// A permit released on another thread racing a first acquire.
#[test]
fn semaphore_release_vs_acquire() {
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(1)); // std's: `*_owned` take one
        let held = sem.clone().try_acquire_owned().unwrap();
        let th = thread::spawn(move || drop(held));
        let mut acquire = sem.acquire();
        let permit = ready_or_woken(&mut acquire, || th.join().unwrap()).unwrap();
        assert_eq!(sem.available_permits(), 0);
        drop(permit);
        drop(acquire);
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A queued acquire cancelled while a release assigns it the permit: the
/// permit goes to the next waiter, never lost and never given twice.
#[test]
fn semaphore_cancel_vs_release_hands_the_permit_on() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut a = sem.acquire();
        let mut b = sem.acquire();
        assert!(poll(&mut a, Waker::noop()).is_pending());
        let (count, waker) = counting_waker();
        assert!(poll(&mut b, &waker).is_pending());
        let th = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        drop(a);
        th.join().unwrap();
        assert_eq!(count.0.load(SeqCst), 1, "b woken");
        let Poll::Ready(Ok(permit)) = poll(&mut b, &waker) else { panic!("b not granted") };
        assert_eq!(sem.available_permits(), 0);
        drop(permit);
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A mutex guard dropped on another thread racing a lock: the value is
/// back in its slot before the next holder takes it.
#[test]
fn mutex_unlock_vs_lock() {
    loom::model(|| {
        let m = StdArc::new(Mutex::new(0));
        let mut guard = m.clone().try_lock_owned().unwrap();
        let th = thread::spawn(move || {
            *guard += 1;
            drop(guard);
        });
        let mut lock = m.lock();
        let mut g = ready_or_woken(&mut lock, || th.join().unwrap());
        *g += 1;
        drop(g);
        drop(lock);
        assert_eq!(*m.try_lock().unwrap(), 2);
    });
}

/// A read guard dropped on another thread racing a writer: the writer is
/// admitted only once the reader's share of the value is gone.
#[test]
fn rwlock_reader_leaves_vs_writer() {
    loom::model(|| {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.clone().try_read_owned().unwrap();
        let th = thread::spawn(move || assert_eq!(*reader, 0));
        let mut write = lock.write();
        let mut w = ready_or_woken(&mut write, || th.join().unwrap());
        *w = 1; // `Arc::get_mut` finds the value unshared
        drop(w);
        drop(write);
        assert_eq!(*lock.try_read().unwrap(), 1);
    });
}

/// A broadcast send racing a waiting receive.
#[test]
fn broadcast_send_vs_recv() {
    loom::model(|| {
        let (tx, mut rx) = broadcast::channel(1);
        let th = thread::spawn(move || assert_eq!(tx.send(7), Ok(1)));
        let mut recv = rx.recv();
        assert_eq!(ready_or_woken(&mut recv, || th.join().unwrap()), Ok(7));
    });
}

/// A watch send racing `changed()`.
#[test]
fn watch_send_vs_changed() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0);
        let th = thread::spawn(move || {
            tx.send(1).unwrap();
            tx // keep the sender: `changed` must report the value, not the close
        });
        let mut changed = rx.changed();
        let mut tx = None;
        assert_eq!(ready_or_woken(&mut changed, || tx = Some(th.join().unwrap())), Ok(()));
        drop(changed);
        assert_eq!(*rx.borrow(), 1);
        drop(tx);
    });
}
