//! Model checks of the lock-free protocols with `loom`: every interleaving
//! (and every weak-memory outcome loom models) of the real code.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" cargo test -p runtime --release --lib loom_tests
//! ```

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use crate::reactor::{Direction, Ready, ScheduledIo};
use crate::task::raw::JoinWaker;
use crate::task::state::State;
use crate::util::handoff::Handoff;
use crate::util::slab::Token;

/// An entry as a fresh registration makes it: readable and writable.
fn new_io() -> ScheduledIo {
    ScheduledIo::new(Token::from_raw(1), Ready::READABLE | Ready::WRITABLE)
}

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

/// A task parking on an fd while the reactor delivers an event: it either
/// sees the readiness or is woken (no lost wake-up).
#[test]
fn readiness_event_is_never_lost() {
    loom::model(|| {
        let io = Arc::new(new_io());
        // Start "not readable", as after a WouldBlock.
        let waker = Waker::noop();
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut Context::from_waker(waker), Direction::Read) else {
            panic!("starts readable")
        };
        io.clear_readiness(ev);

        let reactor = {
            let io = io.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                io.set_readiness(Ready::READABLE, &mut out);
                out.into_iter().for_each(Waker::wake);
            })
        };
        let (count, waker) = counting_waker();
        let saw = io.poll_ready(&mut Context::from_waker(&waker), Direction::Read).is_ready();
        reactor.join().unwrap();
        assert!(saw || count.0.load(SeqCst) == 1, "the event was lost");
    });
}

/// A task clearing readiness after `WouldBlock` while a new event arrives:
/// the tick guard keeps the new event.
#[test]
fn clear_never_erases_a_newer_event() {
    loom::model(|| {
        let io = Arc::new(new_io());
        let waker = Waker::noop();
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut Context::from_waker(waker), Direction::Read) else {
            panic!("starts readable")
        };
        let reactor = {
            let io = io.clone();
            thread::spawn(move || io.set_readiness(Ready::READABLE, &mut Vec::new()))
        };
        io.clear_readiness(ev);
        reactor.join().unwrap();
        assert!(io.poll_ready(&mut Context::from_waker(waker), Direction::Read).is_ready());
    });
}

/// A remote wake pushing into the injector while the loop drains it: the
/// loop either takes the task or has a poller wake-up pending.
#[test]
fn injected_task_is_taken_or_notified() {
    loom::model(|| {
        let inj = Arc::new(Handoff::<u8>::new());
        let notifications = Arc::new(AtomicUsize::new(0));
        // A wake-up from an earlier push, already seen by the poller.
        assert!(inj.request_notify());

        let remote = {
            let (inj, notifications) = (inj.clone(), notifications.clone());
            thread::spawn(move || {
                if inj.push(7) == Ok(true) {
                    notifications.fetch_add(1, SeqCst);
                }
            })
        };
        // One tick of the loop: clear, then drain.
        inj.clear_notified();
        let taken = inj.take();
        remote.join().unwrap();
        assert!(taken == [7] || notifications.load(SeqCst) == 1, "the loop would park with a queued task");
    });
}

/// A `JoinHandle` registering its waker while the task completes: it
/// either reads the output now or is woken.
#[test]
fn join_waker_is_woken_or_output_seen() {
    loom::model(|| {
        let state = Arc::new(State::new());
        let slot = Arc::new(JoinWaker::new());
        state.start_run();
        let runtime = {
            let (state, slot) = (state.clone(), slot.clone());
            thread::spawn(move || {
                let prev = state.complete();
                slot.wake(prev);
            })
        };
        let (count, waker) = counting_waker();
        let ready = slot.register(&state, &waker);
        runtime.join().unwrap();
        assert!(ready || count.0.load(SeqCst) == 1, "the JoinHandle would never be woken");
        // Cleanup as the handle would: the slot is ours once complete.
        assert!(slot.release(&state));
    });
}

/// A `JoinHandle` dropped while the task completes: exactly one side ends
/// up owning the output.
#[test]
fn output_has_exactly_one_owner() {
    loom::model(|| {
        let state = Arc::new(State::new());
        let slot = Arc::new(JoinWaker::new());
        state.start_run();
        let (_count, waker) = counting_waker();
        assert!(!slot.register(&state, &waker));
        let runtime = {
            let (state, slot) = (state.clone(), slot.clone());
            thread::spawn(move || {
                let prev = state.complete();
                slot.wake(prev);
                prev.has_join_interest()
            })
        };
        let handle_drops_output = slot.release(&state);
        let runtime_leaves_output = runtime.join().unwrap();
        assert_eq!(handle_drops_output, runtime_leaves_output);
    });
}

/// Two threads waking one task: it is queued exactly once.
#[test]
fn concurrent_wakes_queue_once() {
    loom::model(|| {
        let state = Arc::new(State::new());
        state.start_run();
        let other = {
            let state = state.clone();
            thread::spawn(move || state.wake_by_ref())
        };
        let mine = state.wake_by_ref();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "queued {} times", mine as u8 + theirs as u8);
    });
}

/// A reader that clears readiness after `WouldBlock` and parks again while
/// an event arrives (the event may find the direction still marked ready
/// and skip taking the waker): the reader still sees the event or is woken.
#[test]
fn reparking_reader_is_never_stranded() {
    loom::model(|| {
        let io = Arc::new(new_io());
        let reactor = {
            let io = io.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                io.set_readiness(Ready::READABLE, &mut out);
                out.into_iter().for_each(Waker::wake);
            })
        };
        let (count, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, Direction::Read) else { panic!("starts readable") };
        // The syscall said WouldBlock.
        io.clear_readiness(ev);
        let saw = io.poll_ready(&mut cx, Direction::Read).is_ready();
        reactor.join().unwrap();
        assert!(saw || count.0.load(SeqCst) == 1, "the reader was stranded");
    });
}

/// Two tasks wait to read one fd (one inline, one in the waiter list) while
/// the reactor delivers an event: each of them sees the readiness or is woken.
#[test]
fn every_waiter_of_a_direction_is_woken() {
    loom::model(|| {
        let io = Arc::new(new_io());
        // Start "not readable", as after a WouldBlock.
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut Context::from_waker(Waker::noop()), Direction::Read) else {
            panic!("starts readable")
        };
        io.clear_readiness(ev);
        // The first task waits inline.
        let (first, first_waker) = counting_waker();
        assert!(io.poll_ready(&mut Context::from_waker(&first_waker), Direction::Read).is_pending());

        let reactor = {
            let io = io.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                io.set_readiness(Ready::READABLE, &mut out);
                out.into_iter().for_each(Waker::wake);
            })
        };
        // The second task goes to the list, racing the event.
        let (second, second_waker) = counting_waker();
        let saw = io.poll_ready(&mut Context::from_waker(&second_waker), Direction::Read).is_ready();
        reactor.join().unwrap();
        assert_eq!(first.0.load(SeqCst), 1, "the inline waiter was not woken");
        assert!(saw || second.0.load(SeqCst) == 1, "the listed waiter was stranded");
    });
}

/// A task spawned onto a worker from another thread while that worker shuts
/// down: the worker's close takes it, or the push is refused and the
/// spawner gets it back to cancel. Never both, never neither (a leak).
#[test]
fn a_remote_spawn_racing_shutdown_has_exactly_one_owner() {
    loom::model(|| {
        let queue = Arc::new(Handoff::<u8>::new());
        let spawner = {
            let queue = queue.clone();
            thread::spawn(move || queue.push(7).err())
        };
        let closed = queue.close();
        let refused = spawner.join().unwrap();
        let owners = usize::from(closed == [7]) + usize::from(refused == Some(7));
        assert_eq!(owners, 1, "closed {closed:?}, refused {refused:?}");
        assert!(queue.take().is_empty(), "nothing is queued after close");
    });
}
