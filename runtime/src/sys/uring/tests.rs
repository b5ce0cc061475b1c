//! Tests of the io_uring ring layer against the running kernel.
//!
//! Each test makes its own ring (rings are bound to their creating thread).
//! They hold `FD_LOCK` shared; the leak test holds it exclusively, so no
//! other uring test opens or closes a ring while it counts.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use super::abi::*;
use super::*;

static FD_LOCK: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    FD_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    FD_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

/// How long any single wait may take before the test fails.
const LONG: Duration = Duration::from_secs(5);

fn ring(entries: u32) -> Ring {
    Ring::new(entries, &Config::default()).expect("io_uring setup")
}

fn push(ring: &mut Ring, sqe: Sqe) {
    ring.push(sqe).expect("SQ has room");
}

/// Submits and reaps until at least `n` completions arrived; fails after `LONG`.
fn wait_for(ring: &mut Ring, n: usize) -> Vec<Cqe> {
    let deadline = Instant::now() + LONG;
    let mut out = Vec::new();
    loop {
        out.extend(ring.completions());
        if out.len() >= n {
            return out;
        }
        let left = deadline.checked_duration_since(Instant::now()).expect("timed out waiting for completions");
        ring.submit_and_wait(1, Some(left)).expect("submit_and_wait");
    }
}

/// The completion with `user_data` among `cqes`.
fn find(cqes: &[Cqe], user_data: u64) -> Cqe {
    *cqes.iter().find(|c| c.user_data() == user_data).unwrap_or_else(|| panic!("no CQE {user_data} in {cqes:?}"))
}

fn fd_flags(fd: &impl AsRawFd) -> (i32, i32) {
    // SAFETY: fcntl on a live fd with integer commands only.
    unsafe { (libc::fcntl(fd.as_raw_fd(), libc::F_GETFL), libc::fcntl(fd.as_raw_fd(), libc::F_GETFD)) }
}

#[test]
fn setup_and_nop_round_trip() {
    let _g = shared();
    let mut ring = ring(8);
    println!("{ring:?}");
    assert_eq!(ring.sq_entries(), 8);
    assert_eq!(ring.cq_entries(), 16);
    // 6.18 takes the first flag set.
    let want = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    assert_eq!(ring.setup_flags() & want, want, "flags {:#x}", ring.setup_flags());
    assert_eq!(ring.sq_space(), 8);

    push(&mut ring, Sqe::nop().user_data(42));
    assert_eq!(ring.sq_space(), 7);
    assert_eq!(ring.submit_and_wait(1, Some(LONG)).unwrap(), 1);
    assert_eq!(ring.sq_space(), 8);
    let cqe = ring.pop_cqe().expect("a completion");
    assert_eq!((cqe.user_data(), cqe.res(), cqe.flags()), (42, 0, 0));
    assert!(!cqe.more());
    assert_eq!(cqe.buffer_id(), None);
    assert!(ring.pop_cqe().is_none());
    // Nothing to do: returns at once, without a syscall.
    assert_eq!(ring.submit_and_wait(0, Some(Duration::ZERO)).unwrap(), 0);
}

#[test]
fn probe_supports_network_ops() {
    let _g = shared();
    let probe = ring(2).probe().unwrap();
    println!("last_op {}", probe.last_op());
    for op in [IORING_OP_NOP, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_MSG_RING] {
        assert!(probe.supports(op), "opcode {op} unsupported");
    }
    assert!(probe.last_op() >= IORING_OP_MSG_RING);
    assert!(!probe.supports(255));
}

#[test]
fn multishot_recv_into_buffer_ring() {
    let _g = shared();
    let mut ring = ring(8);
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut bufs = BufRing::new(&ring, 3, 4, 64).unwrap();
    // SAFETY: `bufs` outlives the op: the final CQE (EOF) is reaped below.
    push(&mut ring, unsafe { Sqe::recv_multishot(a.as_raw_fd(), bufs.group()) }.user_data(7));

    let mut ids = Vec::new();
    // More messages than buffers: only recycling keeps the recv going.
    for i in 0..10 {
        let msg = format!("message {i}");
        b.write_all(msg.as_bytes()).unwrap();
        let cqes = wait_for(&mut ring, 1);
        assert_eq!(cqes.len(), 1, "{cqes:?}");
        let cqe = cqes[0];
        assert_eq!(cqe.user_data(), 7);
        assert!(cqe.more(), "multishot ended early: {cqe:?}");
        // SAFETY: the CQE is from this ring's recv on group 3, taken once.
        let id = unsafe { bufs.take(&cqe) }.expect("a buffer");
        assert_eq!(cqe.buffer_id(), Some(id));
        assert_eq!(bufs.buf(id), msg.as_bytes());
        ids.push(id);
        bufs.recycle(id);
    }
    println!("buffer ids in order: {ids:?}");
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), (0..4).collect());

    // EOF ends the multishot: res 0, no MORE, no buffer.
    drop(b);
    let last = wait_for(&mut ring, 1)[0];
    assert_eq!((last.user_data(), last.res(), last.more(), last.buffer_id()), (7, 0, false, None));
}

#[test]
fn multishot_recv_stops_with_enobufs_when_buffers_run_out() {
    let _g = shared();
    let mut ring = ring(8);
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut bufs = BufRing::new(&ring, 1, 2, 16).unwrap();
    // SAFETY: `bufs` outlives the op; its final CQE is reaped below.
    push(&mut ring, unsafe { Sqe::recv_multishot(a.as_raw_fd(), 1) }.user_data(1));
    let mut held = Vec::new();
    for msg in [b"one", b"two"] {
        b.write_all(msg).unwrap();
        let cqe = wait_for(&mut ring, 1)[0];
        // SAFETY: from this ring's recv on group 1, taken once.
        held.push(unsafe { bufs.take(&cqe) }.unwrap());
    }
    b.write_all(b"three").unwrap();
    let cqe = wait_for(&mut ring, 1)[0];
    assert_eq!(cqe.res(), -libc::ENOBUFS, "{cqe:?}");
    assert!(!cqe.more());
    assert_eq!(bufs.buf(held[0]), b"one");
    assert_eq!(bufs.buf(held[1]), b"two");
    for id in held {
        bufs.recycle(id);
    }
    // The data is still queued: a new recv picks it up.
    // SAFETY: as above.
    push(&mut ring, unsafe { Sqe::recv_select(a.as_raw_fd(), 1, 0) }.user_data(2));
    let cqe = wait_for(&mut ring, 1)[0];
    // SAFETY: as above.
    let id = unsafe { bufs.take(&cqe) }.unwrap();
    assert_eq!(bufs.buf(id), b"three");
}

#[test]
fn send_reaches_peer_and_never_raises_sigpipe() {
    let _g = shared();
    let mut ring = ring(4);
    let (a, mut b) = UnixStream::pair().unwrap();
    let data = *b"ping";
    // SAFETY: `data` lives until the completion is reaped below.
    push(&mut ring, unsafe { Sqe::send(a.as_raw_fd(), data.as_ptr(), 4, 0) }.user_data(1));
    assert_eq!(wait_for(&mut ring, 1)[0].res(), 4);
    let mut got = [0; 4];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");

    drop(b);
    // SAFETY: as above.
    push(&mut ring, unsafe { Sqe::send(a.as_raw_fd(), data.as_ptr(), 4, 0) }.user_data(2));
    assert_eq!(wait_for(&mut ring, 1)[0].res(), -libc::EPIPE);
}

#[test]
fn sendmsg_and_recvmsg_round_trip() {
    let _g = shared();
    let mut ring = ring(4);
    let (a, b) = UnixStream::pair().unwrap();
    let (head, tail) = (*b"hello ", *b"world");
    let out_iov = [
        libc::iovec { iov_base: head.as_ptr() as *mut _, iov_len: head.len() },
        libc::iovec { iov_base: tail.as_ptr() as *mut _, iov_len: tail.len() },
    ];
    // SAFETY: msghdr is plain data; zeroed is "no name, no control".
    let mut out_msg: libc::msghdr = unsafe { std::mem::zeroed() };
    out_msg.msg_iov = out_iov.as_ptr() as *mut _;
    out_msg.msg_iovlen = 2;
    let mut buf = [0u8; 32];
    let mut in_iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: as above.
    let mut in_msg: libc::msghdr = unsafe { std::mem::zeroed() };
    in_msg.msg_iov = &mut in_iov;
    in_msg.msg_iovlen = 1;

    // SAFETY: both msghdrs, their iovecs and buffers live until both completions are reaped.
    unsafe {
        push(&mut ring, Sqe::recvmsg(b.as_raw_fd(), &mut in_msg, 0).user_data(1));
        push(&mut ring, Sqe::sendmsg(a.as_raw_fd(), &out_msg, 0).user_data(2));
    }
    let cqes = wait_for(&mut ring, 2);
    assert_eq!(find(&cqes, 2).res(), 11);
    assert_eq!(find(&cqes, 1).res(), 11);
    assert_eq!(&buf[..11], b"hello world");
}

#[test]
fn multishot_accept_three_connections() {
    let _g = shared();
    let mut ring = ring(8);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    push(&mut ring, Sqe::accept_multishot(listener.as_raw_fd()).user_data(9));
    ring.submit_and_wait(0, Some(Duration::ZERO)).unwrap();

    let clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(listener.local_addr().unwrap()).unwrap()).collect();
    let cqes = wait_for(&mut ring, 3);
    assert_eq!(cqes.len(), 3, "{cqes:?}");
    let mut accepted = Vec::new();
    for cqe in cqes {
        assert_eq!(cqe.user_data(), 9);
        assert!(cqe.more(), "{cqe:?}");
        // SAFETY: a completion of this ring's accept, taken once.
        let fd = unsafe { cqe.into_fd() }.expect("accepted fd");
        let (fl, fd_fl) = fd_flags(&fd);
        assert_ne!(fl & libc::O_NONBLOCK, 0, "accepted fd is blocking");
        assert_ne!(fd_fl & libc::FD_CLOEXEC, 0, "accepted fd lacks CLOEXEC");
        accepted.push(TcpStream::from(fd));
    }
    // Each accepted fd is one of our clients' peers.
    let mut peers: Vec<SocketAddr> = accepted.iter().map(|s| s.peer_addr().unwrap()).collect();
    let mut locals: Vec<SocketAddr> = clients.iter().map(|s| s.local_addr().unwrap()).collect();
    peers.sort();
    locals.sort();
    assert_eq!(peers, locals);

    push(&mut ring, Sqe::async_cancel(9).user_data(10));
    let cqes = wait_for(&mut ring, 2);
    assert_eq!(find(&cqes, 10).res(), 0);
    let last = find(&cqes, 9);
    assert_eq!(last.res(), -libc::ECANCELED);
    assert!(!last.more());
    drop(accepted); // closes the three fds
}

/// `addr` as a `sockaddr_in`.
fn sockaddr_v4(addr: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = addr else { panic!("not IPv4: {addr}") };
    // SAFETY: sockaddr_in is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = v4.port().to_be();
    sa.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
    sa
}

#[test]
fn connect_to_listener() {
    let _g = shared();
    let mut ring = ring(4);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // SAFETY: socket takes no pointers; a non-negative result is a new fd we own.
    let raw = crate::sys::cvt(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
    })
    .unwrap();
    // SAFETY: fresh fd, owned here only.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let sa = sockaddr_v4(addr);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sa` lives until the completion is reaped below.
    push(&mut ring, unsafe { Sqe::connect(sock.as_raw_fd(), (&sa as *const libc::sockaddr_in).cast(), len) });
    assert_eq!(wait_for(&mut ring, 1)[0].res(), 0);
    let (peer, _) = listener.accept().unwrap();
    assert_eq!(peer.peer_addr().unwrap(), TcpStream::from(sock).local_addr().unwrap());
}

#[test]
fn cancel_in_flight_recv() {
    let _g = shared();
    let mut ring = ring(4);
    let (a, _b) = UnixStream::pair().unwrap();
    let mut buf = [0u8; 16];
    // SAFETY: `buf` lives, untouched, until the recv's completion is reaped.
    push(&mut ring, unsafe { Sqe::recv(a.as_raw_fd(), buf.as_mut_ptr(), 16, 0) }.user_data(1));
    ring.submit_and_wait(0, Some(Duration::ZERO)).unwrap();
    push(&mut ring, Sqe::async_cancel(1).user_data(2));
    let cqes = wait_for(&mut ring, 2);
    assert_eq!(find(&cqes, 1).res(), -libc::ECANCELED);
    assert_eq!(find(&cqes, 2).res(), 0);

    // Nothing left to cancel by that key.
    push(&mut ring, Sqe::async_cancel(1).user_data(3));
    assert_eq!(wait_for(&mut ring, 1)[0].res(), -libc::ENOENT);

    // By fd: every op on the fd, res = how many.
    // SAFETY: as above.
    push(&mut ring, unsafe { Sqe::recv(a.as_raw_fd(), buf.as_mut_ptr(), 8, 0) }.user_data(4));
    // SAFETY: as above, on the other half of the buffer.
    push(&mut ring, unsafe { Sqe::recv(a.as_raw_fd(), buf[8..].as_mut_ptr(), 8, 0) }.user_data(5));
    ring.submit_and_wait(0, Some(Duration::ZERO)).unwrap();
    push(&mut ring, Sqe::cancel_fd(a.as_raw_fd()).user_data(6));
    let cqes = wait_for(&mut ring, 3);
    assert_eq!(find(&cqes, 6).res(), 2);
    assert_eq!(find(&cqes, 4).res(), -libc::ECANCELED);
    assert_eq!(find(&cqes, 5).res(), -libc::ECANCELED);
}

#[test]
fn enter_timeout_of_200us() {
    let _g = shared();
    let mut ring = ring(2);
    let mut figures = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        assert_eq!(ring.submit_and_wait(1, Some(Duration::from_micros(200))).unwrap(), 0);
        let took = start.elapsed();
        assert!(took >= Duration::from_micros(200), "returned after {took:?}");
        figures.push(took);
    }
    println!("200 µs enter timeouts took {figures:?}");
    assert!(ring.pop_cqe().is_none());
}

#[test]
fn more_entries_than_sq_slots() {
    let _g = shared();
    let mut ring = ring(4);
    const TOTAL: u64 = 50;
    let (mut next, mut fulls, mut seen) = (0, 0, Vec::new());
    while (seen.len() as u64) < TOTAL {
        while next < TOTAL {
            match ring.push(Sqe::nop().user_data(next)) {
                Ok(()) => next += 1,
                Err(full) => {
                    assert_eq!(full.into_inner().opcode(), IORING_OP_NOP);
                    fulls += 1;
                    break;
                }
            }
        }
        ring.submit_and_wait(1, Some(LONG)).unwrap();
        seen.extend(ring.completions().map(|c| c.user_data()));
    }
    assert!(fulls > 0, "the SQ never filled");
    assert_eq!(seen, (0..TOTAL).collect::<Vec<_>>());
}

#[test]
fn cq_overflow_loses_nothing() {
    let _g = shared();
    let mut ring = Ring::new(4, &Config { cq_entries: Some(4), ..Config::default() }).unwrap();
    assert_eq!(ring.cq_entries(), 4);
    const TOTAL: u64 = 40;
    // Submit ten batches of four NOPs without reaping: 36 overflow.
    for batch in 0..TOTAL / 4 {
        for i in 0..4 {
            push(&mut ring, Sqe::nop().user_data(batch * 4 + i));
        }
        assert_eq!(ring.submit_and_wait(0, Some(Duration::ZERO)).unwrap(), 4);
    }
    assert!(ring.cq_overflowed(), "the CQ should have overflowed");
    assert_eq!(ring.cq_len(), 4);

    let mut seen = Vec::new();
    let mut flushes = 0;
    while (seen.len() as u64) < TOTAL {
        let before = seen.len();
        seen.extend(ring.completions().map(|c| c.user_data()));
        if flushes % 2 == 0 {
            ring.flush_overflow().unwrap();
        } else {
            ring.submit_and_wait(0, Some(Duration::ZERO)).unwrap();
        }
        flushes += 1;
        assert!(seen.len() > before || flushes < 3 * TOTAL, "no progress");
    }
    println!("{TOTAL} completions through a 4-slot CQ in {flushes} flushes");
    assert_eq!(seen, (0..TOTAL).collect::<Vec<_>>(), "completions lost or reordered");
    assert!(!ring.cq_overflowed());
}

/// Whether the tests run under valgrind (its preload library is in `LD_PRELOAD`).
fn under_valgrind() -> bool {
    std::env::var_os("LD_PRELOAD").is_some_and(|v| v.to_string_lossy().contains("vgpreload"))
}

#[test]
fn waker_wakes_a_blocked_wait_from_another_thread() {
    let _g = shared();
    const WAKE: u64 = u64::MAX;
    let mut ring = ring(4);
    let waker = Waker::new().unwrap();
    push(&mut ring, waker.poll_sqe().user_data(WAKE));
    ring.submit_and_wait(0, Some(Duration::ZERO)).unwrap();

    for round in 0..2 {
        let remote = waker.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            remote.notify().unwrap();
        });
        if under_valgrind() {
            // Valgrind runs one thread at a time and keeps that lock inside
            // io_uring_enter, so a blocked wait would starve the notifier until
            // it times out: poll, sleeping (which lets go of the lock) in between.
            while ring.cq_len() == 0 && start.elapsed() < LONG {
                ring.submit_and_wait(1, Some(Duration::from_millis(1))).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        } else {
            ring.submit_and_wait(1, Some(LONG)).unwrap();
        }
        let took = start.elapsed();
        t.join().unwrap();
        println!("round {round}: woken after {took:?}");
        assert!(took >= Duration::from_millis(40) && took < LONG, "woken after {took:?}");
        let cqe = ring.pop_cqe().expect("the waker's completion");
        assert_eq!(cqe.user_data(), WAKE);
        assert!(cqe.more(), "multishot poll ended: {cqe:?}");
        assert_ne!(cqe.res() & libc::POLLIN as i32, 0);
        assert!(waker.drain().unwrap());
        assert!(!waker.drain().unwrap());
    }
}

#[test]
fn injected_setup_failure_is_unsupported() {
    let _g = shared();
    for errno in [libc::ENOSYS, libc::EPERM, libc::EACCES, libc::EINVAL] {
        let err = Ring::new(8, &Config { fail_setup: Some(errno), ..Config::default() }).unwrap_err();
        println!("errno {errno}: {err}");
        assert!(unsupported(&err), "errno {errno} should mean unsupported: {err}");
        assert_eq!(os_error(&err), Some(errno));
        assert_eq!(err.kind(), io::Error::from_raw_os_error(errno).kind());
    }
    for errno in [libc::ENOMEM, libc::EMFILE] {
        let err = Ring::new(8, &Config { fail_setup: Some(errno), ..Config::default() }).unwrap_err();
        assert!(!unsupported(&err), "errno {errno} is a resource error: {err}");
    }
    // Refusing every flag set is an old kernel: unsupported.
    let err = Ring::new(8, &Config { refuse_flags: u32::MAX, ..Config::default() }).unwrap_err();
    assert!(unsupported(&err), "{err}");
    // Bad arguments are the caller's bug, not a missing feature.
    let err = Ring::new(0, &Config::default()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(!unsupported(&err));
    for cq in [0, 4, MAX_CQ_ENTRIES + 1] {
        let err = Ring::new(8, &Config { cq_entries: Some(cq), ..Config::default() }).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "cq_entries {cq}");
        assert!(!unsupported(&err));
    }
    assert!(Ring::new(MAX_ENTRIES + 1, &Config::default()).is_err());
    assert!(unsupported(&io::Error::from_raw_os_error(libc::ENOSYS)));
    assert!(!unsupported(&io::Error::other("unrelated")));
}

#[test]
fn refused_flags_fall_back() {
    let _g = shared();
    const ALL: u32 = IORING_SETUP_SUBMIT_ALL;
    let cases = [
        (IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | ALL),
        (IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_COOP_TASKRUN | ALL),
        (IORING_SETUP_TASKRUN_FLAG, ALL),
        (ALL, 0),
    ];
    for (refused, expected) in cases {
        let mut ring = Ring::new(4, &Config { refuse_flags: refused, ..Config::default() }).unwrap();
        let flags = ring.setup_flags() & !IORING_SETUP_CQSIZE;
        assert_eq!(flags & !IORING_SETUP_TASKRUN_FLAG, expected, "refusing {refused:#x} gave {flags:#x}");
        // Every fallback still round-trips, including the ones without TASKRUN_FLAG.
        push(&mut ring, Sqe::nop().user_data(1));
        assert_eq!(wait_for(&mut ring, 1)[0].user_data(), 1);
    }
}

/// Open fds and mappings that belong to io_uring instances.
fn io_uring_objects() -> (usize, usize, usize) {
    let mut fds = 0;
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        total += 1;
        if let Ok(target) = std::fs::read_link(entry.unwrap().path()) {
            fds += usize::from(target.to_string_lossy().contains("io_uring"));
        }
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap().lines().filter(|l| l.contains("io_uring")).count();
    (fds, maps, total)
}

#[test]
fn drop_closes_and_unmaps_everything() {
    let _g = exclusive();
    let (fds, maps, total) = io_uring_objects();
    for i in 0..100u16 {
        let mut ring = ring(8);
        if i % 10 == 0 {
            // A buffer ring keeps the fd open; dropping it after the ring must still close it.
            let bufs = BufRing::new(&ring, i, 8, 128).unwrap();
            push(&mut ring, Sqe::nop());
            wait_for(&mut ring, 1);
            drop(ring);
            drop(bufs);
        } else {
            let (now_fds, now_maps, _) = io_uring_objects();
            assert_eq!((now_fds, now_maps), (fds + 1, maps + 2), "one fd and two mappings per ring");
        }
    }
    let after = io_uring_objects();
    println!("io_uring fds/maps/all fds before {:?}, after {after:?}", (fds, maps, total));
    // Only io_uring objects are compared: tests of other modules may open and
    // close fds meanwhile, and a ring's only fd is its io_uring fd.
    assert_eq!((after.0, after.1), (fds, maps), "io_uring fds or mappings leaked");
}

#[test]
fn msg_ring_posts_into_another_ring() {
    let _g = shared();
    let mut a = ring(2);
    let mut b = ring(2);
    push(&mut a, Sqe::msg_ring(b.as_raw_fd(), 77, 0xabc).user_data(1));
    assert_eq!(wait_for(&mut a, 1)[0].res(), 0);
    let cqe = wait_for(&mut b, 1)[0];
    assert_eq!((cqe.user_data(), cqe.res()), (0xabc, 77));
}

#[test]
fn timeout_op_expires() {
    let _g = shared();
    let mut ring = ring(2);
    let ts = __kernel_timespec::from(Duration::from_millis(2));
    let start = Instant::now();
    // SAFETY: `ts` lives until the completion is reaped below.
    push(&mut ring, unsafe { Sqe::timeout(&ts, 0, 0) }.user_data(5));
    let cqe = wait_for(&mut ring, 1)[0];
    assert_eq!((cqe.user_data(), cqe.res()), (5, -libc::ETIME));
    assert!(start.elapsed() >= Duration::from_millis(2));
}

#[test]
fn read_op_reads_an_eventfd() {
    let _g = shared();
    let mut ring = ring(2);
    let waker = Waker::new().unwrap();
    for _ in 0..3 {
        waker.notify().unwrap();
    }
    let mut count = 0u64;
    // SAFETY: `count` lives, untouched, until the completion is reaped below.
    push(&mut ring, unsafe { Sqe::read(waker.as_raw_fd(), (&mut count as *mut u64).cast(), 8) });
    assert_eq!(wait_for(&mut ring, 1)[0].res(), 8);
    assert_eq!(count, 3);
}

#[test]
fn poll_add_reports_readiness() {
    let _g = shared();
    let mut ring = ring(2);
    let (a, mut b) = UnixStream::pair().unwrap();
    push(&mut ring, Sqe::poll_add(a.as_raw_fd(), libc::POLLIN as u32).user_data(3));
    ring.submit_and_wait(0, Some(Duration::ZERO)).unwrap();
    assert!(ring.pop_cqe().is_none(), "not readable yet");
    b.write_all(b"x").unwrap();
    let cqe = wait_for(&mut ring, 1)[0];
    assert_eq!(cqe.user_data(), 3);
    assert_ne!(cqe.res() & libc::POLLIN as i32, 0);
    assert!(!cqe.more());
}

#[test]
fn close_op_and_unpushed_close_both_close_the_fd() {
    let _g = shared();
    let mut ring = ring(2);
    // Each fd is one end of a socket pair: the peer reading EOF proves the
    // close, without trusting an fd number another test may reuse.
    let (a, mut a_peer) = UnixStream::pair().unwrap();
    push(&mut ring, Sqe::close(a.into()).user_data(8));
    assert_eq!(wait_for(&mut ring, 1)[0].res(), 0);
    assert_eq!(a_peer.read(&mut [0; 1]).unwrap(), 0);

    let (b, mut b_peer) = UnixStream::pair().unwrap();
    drop(Sqe::close(b.into()));
    assert_eq!(b_peer.read(&mut [0; 1]).unwrap(), 0);
}

#[test]
fn sqpoll_ring_submits_and_wakes_its_thread() {
    let _g = shared();
    let config = Config { sqpoll_idle: Some(Duration::from_millis(1)), ..Config::default() };
    let mut ring = match Ring::new(4, &config) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            println!("SQPOLL not permitted here, skipped: {e}");
            return;
        }
        Err(e) => panic!("SQPOLL setup: {e}"),
    };
    assert!(ring.is_sqpoll());
    println!("SQPOLL flags {:#x}", ring.setup_flags());
    for i in 0..3 {
        push(&mut ring, Sqe::nop().user_data(i));
        assert_eq!(wait_for(&mut ring, 1)[0].user_data(), i);
        // Let the poll thread go idle so the next push must wake it.
        std::thread::sleep(Duration::from_millis(20));
        println!("need_wakeup after idling: {}", ring.sq_flags() & IORING_SQ_NEED_WAKEUP != 0);
    }
}

#[test]
fn buf_ring_rejects_bad_arguments_and_taken_groups() {
    let _g = shared();
    let ring = ring(2);
    for (count, size) in [(3, 64), (0, 64), (4, 0)] {
        let err = BufRing::new(&ring, 0, count, size).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{count} x {size}");
    }
    let _first = BufRing::new(&ring, 5, 2, 8).unwrap();
    let err = BufRing::new(&ring, 5, 2, 8).unwrap_err();
    println!("{err}");
    assert_eq!(os_error(&err), Some(libc::EEXIST));
    assert!(!unsupported(&err));
}

#[test]
fn waker_crosses_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Waker>();
}
