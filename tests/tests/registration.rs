//! `Async`: readiness wakes exactly the waiting task, WouldBlock
//! clears cached readiness, and deregistration on drop, `into_inner`, misuse
//! outside a runtime, and use after the runtime is gone.
//!
//! Every test holds [`tests::fd_lock`]: some check that an fd number is
//! closed, which another test opening files in parallel could invalidate.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use runtime::io::{Async, Interest};
use runtime::time::timeout;
use runtime::Runtime;
use tests::{fd_lock, yield_until, CountPolls};

/// A connected pair of non-blocking Unix stream sockets.
fn pair() -> io::Result<(UnixStream, UnixStream)> {
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    Ok((a, b))
}

/// True if `fd` is an open descriptor of this process.
fn fd_is_open(fd: RawFd) -> io::Result<bool> {
    // SAFETY: F_GETFD only reads the descriptor's flags; an invalid fd is reported as EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
        return Ok(true);
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::EBADF) => Ok(false),
        e => Err(e),
    }
}

fn registered_fds() -> usize {
    runtime::metrics().expect("inside a runtime").registered_fds
}

/// Reads once from `s`, counting the attempts.
fn counted_read(mut s: &UnixStream, attempts: &Cell<usize>, buf: &mut [u8]) -> io::Result<usize> {
    attempts.set(attempts.get() + 1);
    s.read(buf)
}

#[test]
fn readiness_wakes_exactly_the_waiting_task() -> io::Result<()> {
    let _fds = fd_lock();
    let rt = Runtime::new()?;
    rt.block_on(async {
        let (a, a_peer) = pair()?;
        let (b, b_peer) = pair()?;
        let (a, b) = (Async::new(a)?, Async::new(b)?);
        let (a_tries, b_tries) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let done = Rc::new(Cell::new(0));
        let reader = |reg: Async<UnixStream>, tries: Rc<Cell<usize>>| {
            let done = done.clone();
            runtime::spawn_local(async move {
                let mut buf = [0u8; 16];
                let n = poll_fn(|cx| {
                    reg.poll_read_with(cx, |s| {
                        tries.set(tries.get() + 1);
                        (&*s).read(&mut buf)
                    })
                })
                .await?;
                done.set(done.get() + 1);
                Ok::<_, io::Error>(buf[..n].to_vec())
            })
        };
        let task_a = reader(a, a_tries.clone());
        let task_b = reader(b, b_tries.clone());
        yield_until("both readers to try a read", || a_tries.get() == 1 && b_tries.get() == 1).await?;

        (&a_peer).write_all(b"for a")?;
        assert_eq!(task_a.await??, b"for a");
        assert_eq!(a_tries.get(), 2, "woken once, read once");
        // Give the other reader every chance to be (wrongly) polled.
        for _ in 0..10 {
            runtime::yield_now().await;
        }
        assert_eq!(done.get(), 1);
        assert_eq!(b_tries.get(), 1, "the other reader was not woken");
        assert!(!task_b.is_finished());

        (&b_peer).write_all(b"for b")?;
        assert_eq!(task_b.await??, b"for b");
        assert_eq!(b_tries.get(), 2);
        assert_eq!(registered_fds(), 0, "the finished tasks dropped their registrations");
        Ok(())
    })
}

#[test]
fn readable_and_writable() -> io::Result<()> {
    let _fds = fd_lock();
    let rt = Runtime::new()?;
    rt.block_on(async {
        let (a, peer) = pair()?;
        let a = Rc::new(Async::new(a)?);
        // A new registration is optimistic: both directions start ready.
        a.writable().await?;
        a.readable().await?;

        // A WouldBlock clears the cached readiness; readable() then waits.
        let err = a.try_io(Interest::READABLE, |s| (&*s).read(&mut [0u8; 8])).expect_err("no data yet");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let polls = Arc::new(AtomicUsize::new(0));
        let waiting = runtime::spawn_local(CountPolls::new(
            {
                let a = a.clone();
                async move { a.readable().await }
            },
            &polls,
        ));
        yield_until("the reader to park", || polls.load(SeqCst) == 1).await?;
        for _ in 0..10 {
            runtime::yield_now().await;
        }
        assert!(!waiting.is_finished(), "readable() completed with no data");
        (&peer).write_all(b"x")?;
        waiting.await??;
        assert_eq!(polls.load(SeqCst), 2);
        let mut byte = [0u8; 1];
        assert_eq!(a.read_with(|s| (&*s).read(&mut byte)).await?, 1);

        // Fill the send buffer until WouldBlock: writable() then waits for the peer to drain it.
        let chunk = [7u8; 4096];
        let mut sent = 0usize;
        let full = loop {
            match a.try_io(Interest::WRITABLE, |s| (&*s).write(&chunk)) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                Err(e) => return Err(e),
            }
            if sent > 64 << 20 {
                break false;
            }
        };
        assert!(full, "the socket buffer never filled ({sent} bytes)");
        let polls = Arc::new(AtomicUsize::new(0));
        let waiting = runtime::spawn_local(CountPolls::new(
            {
                let a = a.clone();
                async move { a.writable().await }
            },
            &polls,
        ));
        yield_until("the writer to park", || polls.load(SeqCst) == 1).await?;
        for _ in 0..10 {
            runtime::yield_now().await;
        }
        assert!(!waiting.is_finished(), "writable() completed on a full buffer");
        let mut drained = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        while drained < sent {
            match (&peer).read(&mut buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => drained += n,
                Err(e) => return Err(e),
            }
        }
        waiting.await??;
        assert_eq!(polls.load(SeqCst), 2);
        Ok(())
    })
}

#[test]
fn would_block_clears_readiness_so_reads_wait_instead_of_spinning() -> io::Result<()> {
    let _fds = fd_lock();
    let rt = Runtime::new()?;
    rt.block_on(async {
        let (a, peer) = pair()?;
        let a = Rc::new(Async::new(a)?);
        let attempts = Rc::new(Cell::new(0));

        for round in 1..=3 {
            let polls = Arc::new(AtomicUsize::new(0));
            let task = runtime::spawn_local(CountPolls::new(
                {
                    let (a, attempts) = (a.clone(), attempts.clone());
                    async move {
                        let mut buf = [0u8; 16];
                        let n = a.read_with(|s| counted_read(s, &attempts, &mut buf)).await?;
                        Ok::<_, io::Error>(buf[..n].to_vec())
                    }
                },
                &polls,
            ));
            let before = attempts.get();
            yield_until("the read to park", || polls.load(SeqCst) == 1).await?;
            for _ in 0..20 {
                runtime::yield_now().await;
            }
            assert_eq!(polls.load(SeqCst), 1, "round {round}: a parked read is not polled again");
            assert_eq!(attempts.get(), before + 1, "round {round}: one syscall, then it waits");

            (&peer).write_all(&[round; 3])?;
            assert_eq!(task.await??, [round; 3]);
            assert_eq!(polls.load(SeqCst), 2, "round {round}: woken once by the event");
            assert_eq!(attempts.get(), before + 2);
        }
        Ok(())
    })
}

#[test]
fn dropping_a_pending_task_deregisters_and_closes_its_fd() -> io::Result<()> {
    let _fds = fd_lock();
    let rt = Runtime::new()?;
    rt.block_on(async {
        let (a, _peer) = pair()?;
        let fd = a.as_raw_fd();
        let attempts = Rc::new(Cell::new(0));
        let task = runtime::spawn_local({
            let attempts = attempts.clone();
            async move {
                let a = Async::new(a)?;
                a.read_with(|s| {
                    attempts.set(attempts.get() + 1);
                    (&*s).read(&mut [0u8; 8])
                })
                .await
            }
        });
        yield_until("the task to register and park", || attempts.get() == 1).await?;
        assert_eq!(registered_fds(), 1);
        assert!(fd_is_open(fd)?);

        task.abort();
        assert!(task.await.expect_err("aborted").is_cancelled());
        assert_eq!(registered_fds(), 0, "the aborted task's fd was deregistered");
        assert!(!fd_is_open(fd)?, "the aborted task's fd was closed");

        // The same with a detached task dropped by runtime shutdown is in
        // tasks.rs; here: a registration dropped directly.
        let (b, _peer_b) = pair()?;
        let fd = b.as_raw_fd();
        let b = Async::new(b)?;
        assert_eq!(registered_fds(), 0, "registered at the first poll, not before");
        b.writable().await?;
        assert_eq!(registered_fds(), 1);
        drop(b);
        assert_eq!(registered_fds(), 0);
        assert!(!fd_is_open(fd)?);
        Ok(())
    })
}

#[test]
fn shutdown_closes_the_fds_of_pending_tasks() -> io::Result<()> {
    let _fds = fd_lock();
    let rt = Runtime::new()?;
    let (a, _peer) = pair()?;
    let fd = a.as_raw_fd();
    let parked = Rc::new(Cell::new(false));
    rt.block_on(async {
        let parked = parked.clone();
        drop(runtime::spawn_local(async move {
            let a = Async::new(a)?;
            a.read_with(|s| {
                parked.set(true);
                (&*s).read(&mut [0u8; 8])
            })
            .await
        }));
    });
    rt.block_on(yield_until("the task to park", || parked.get()))?;
    assert_eq!(rt.metrics().registered_fds, 1);
    drop(rt);
    assert!(!fd_is_open(fd)?, "runtime shutdown dropped the task and closed its fd");
    Ok(())
}

#[test]
fn into_inner_hands_back_an_open_deregistered_fd() -> io::Result<()> {
    let _fds = fd_lock();
    let rt = Runtime::new()?;
    rt.block_on(async {
        let (a, peer) = pair()?;
        let fd = a.as_raw_fd();
        let reg = Async::new(a)?;
        reg.writable().await?;
        assert_eq!(registered_fds(), 1);
        let a = reg.into_inner()?;
        assert_eq!(registered_fds(), 0);
        assert_eq!(a.as_raw_fd(), fd);
        assert!(fd_is_open(fd)?);

        // Still a working socket.
        (&peer).write_all(b"hi")?;
        let mut buf = [0u8; 2];
        (&a).read_exact(&mut buf)?;
        assert_eq!(&buf, b"hi");

        // Really gone from the poller: registering again would fail with
        // EEXIST otherwise, and the new registration gets events.
        let reg = Async::new(a)?;
        let mut buf = [0u8; 8];
        let task = runtime::spawn_local(async move {
            let n = reg.read_with(|s| (&*s).read(&mut buf)).await?;
            Ok::<_, io::Error>(buf[..n].to_vec())
        });
        (&peer).write_all(b"again")?;
        assert_eq!(task.await??, b"again");
        assert!(!fd_is_open(fd)?);
        Ok(())
    })
}

#[test]
fn polling_outside_a_runtime_is_an_error() -> io::Result<()> {
    let _fds = fd_lock();
    let (a, _peer) = pair()?;
    let fd = a.as_raw_fd();
    let a = Async::new(a)?;
    let err = a.try_io(Interest::READABLE, |s| (&*s).read(&mut [0u8; 8])).expect_err("no runtime to register with");
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert!(err.to_string().contains("inside a weft runtime"), "{err}");
    drop(a);
    assert!(!fd_is_open(fd)?, "dropping the object closed its fd");
    Ok(())
}

#[test]
fn a_registration_that_outlives_its_runtime_fails_instead_of_hanging() -> io::Result<()> {
    let _fds = fd_lock();
    let rt = Runtime::new()?;
    let (a, _peer) = pair()?;
    let fd = a.as_raw_fd();
    let reg = rt.block_on(async {
        let reg = Async::new(a)?;
        // Drain the optimistic readiness so a later read has to wait.
        let err = reg.try_io(Interest::READABLE, |s| (&*s).read(&mut [0u8; 8])).expect_err("no data");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        Ok::<_, io::Error>(reg)
    })?;
    drop(rt);

    // Polled directly, with no runtime at all.
    let mut cx = Context::from_waker(Waker::noop());
    match reg.poll_ready(&mut cx, Interest::READABLE) {
        Poll::Ready(Err(e)) => assert!(e.to_string().contains("shut down"), "{e}"),
        other => panic!("expected an error after shutdown, got {other:?}"),
    }
    assert!(matches!(reg.poll_ready(&mut cx, Interest::WRITABLE), Poll::Ready(Err(_))));

    // Awaited on another runtime: an error, not a hang.
    let other = Runtime::new()?;
    let res = other.block_on(async {
        let mut read = Box::pin(reg.read_with(|s| (&*s).read(&mut [0u8; 8])));
        poll_fn(|cx| match read.as_mut().poll(cx) {
            Poll::Ready(r) => Poll::Ready(Some(r)),
            // Pending would mean waiting on a reactor nobody runs.
            Poll::Pending => Poll::Ready(None),
        })
        .await
    });
    let err = res.expect("the read completed at once").expect_err("the runtime is gone");
    assert!(err.to_string().contains("shut down"), "{err}");

    assert!(fd_is_open(fd)?);
    drop(reg);
    assert!(!fd_is_open(fd)?, "dropping it still closes the fd");
    assert_eq!(other.metrics().registered_fds, 0);
    Ok(())
}

#[test]
fn a_registration_polled_from_a_pinned_future_after_the_peer_closes() -> io::Result<()> {
    let _fds = fd_lock();
    let rt = Runtime::new()?;
    rt.block_on(async {
        let (a, peer) = pair()?;
        let a = Async::new(a)?;
        let attempts = Cell::new(0);
        let mut buf = [0u8; 8];
        let mut read = Box::pin(a.read_with(|s| {
            attempts.set(attempts.get() + 1);
            (&*s).read(&mut buf)
        }));
        assert!(poll_fn(|cx| Poll::Ready(Pin::new(&mut read).poll(cx).is_pending())).await);
        // Closing the peer is a readiness event too (EOF).
        drop(peer);
        assert_eq!(read.await?, 0, "end of stream");
        assert_eq!(attempts.get(), 2);
        Ok(())
    })
}

#[test]
fn would_block_on_a_read_shut_down_datagram_socket_parks_instead_of_spinning() -> io::Result<()> {
    // Linux reports the read side closed (EPOLLRDHUP) yet answers EAGAIN:
    // the registration must believe the EAGAIN and park, or the loop spins
    // and not even a timeout can fire. A watchdog thread turns a spin into
    // a failure instead of a hung test.
    let _fds = fd_lock();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let res = (|| -> io::Result<bool> {
            let rt = Runtime::new()?;
            rt.block_on(async {
                let (a, _b) = std::os::unix::net::UnixDatagram::pair()?;
                a.set_nonblocking(true)?;
                a.shutdown(std::net::Shutdown::Read)?;
                let reg = Async::new(a)?;
                let mut buf = [0u8; 8];
                let res = timeout(Duration::from_millis(50), reg.read_with(|s| s.recv(&mut buf))).await;
                Ok(res.is_err())
            })
        })();
        let _ = done_tx.send(res);
    });
    let timed_out = done_rx.recv_timeout(Duration::from_secs(10)).expect("the runtime thread spins")?;
    assert!(timed_out, "the receive waits and the timeout fires");
    Ok(())
}
