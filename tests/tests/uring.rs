//! The io_uring backend's own guarantees, whatever `WEFT_BACKEND` says:
//! dropping futures and sockets with operations in flight cancels them and
//! releases everything; churned connections leave no fds, registrations,
//! ops or provided buffers behind; more sockets than SQ entries and a CQ
//! that overflows lose nothing; buffered writes are flushed, shut down and
//! delivered as written; a setup failure falls back to epoll under `Auto`.
//!
//! Every test builds its runtime with `Backend::IoUring` explicitly, and
//! holds the fd lock: they open many sockets, and several count fds. Where
//! io_uring cannot be set up at all (a container that forbids it), each
//! test prints why and passes; it works on the development machines and in
//! CI.

use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::{Duration, Instant};

use net::{TcpListener, TcpStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use runtime::time::timeout;
use runtime::{Backend, Builder, Metrics, Runtime};
use tests::net_util::{check_bytes, open_fds, payload, within};
use tests::{fd_lock, yield_until, YieldOnce};

/// How long any one test may take.
const LIMIT: Duration = Duration::from_secs(120);

/// Whether this machine can run the io_uring driver at all.
fn io_uring_possible() -> bool {
    Builder::new().backend(Backend::Auto).build().is_ok_and(|rt| rt.backend() == Backend::IoUring)
}

/// A runtime on io_uring built from `builder`, or `None` (the reason
/// printed) where io_uring cannot be set up on this machine.
fn uring(builder: Builder) -> io::Result<Option<Runtime>> {
    match builder.backend(Backend::IoUring).build() {
        Ok(rt) => {
            assert_eq!(rt.backend(), Backend::IoUring);
            Ok(Some(rt))
        }
        Err(e) if !io_uring_possible() => {
            eprintln!("skipped: io_uring cannot be set up on this machine: {e}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Runs `body` on an io_uring runtime from `builder`, with [`LIMIT`].
///
/// Holds [`fd_lock`]: these tests open many sockets, and several compare
/// fd counts.
fn run_on<T>(builder: Builder, body: impl Future<Output = io::Result<T>>) -> io::Result<Option<T>> {
    let _fds = fd_lock();
    match uring(builder)? {
        Some(rt) => rt.block_on(within(LIMIT, "test body", body)).map(Some),
        None => Ok(None),
    }
}

fn metrics() -> io::Result<Metrics> {
    runtime::metrics().ok_or_else(|| io::Error::other("not inside a weft runtime"))
}

/// Waits (by yielding, bounded) until the runtime's io_uring counters are
/// back to `base`: no extra ops in flight, no provided buffer held.
async fn settled(base: &Metrics) -> io::Result<()> {
    yield_until("io_uring ops and buffers to return to the baseline", || {
        runtime::metrics().is_some_and(|m| m.in_flight_ops == base.in_flight_ops && m.held_buffers == 0)
    })
    .await
}

/// A connected pair: a weft stream and the blocking std peer it talks to.
async fn connected_pair() -> io::Result<(TcpStream, std::net::TcpStream)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let stream = TcpStream::connect(listener.local_addr()?).await?;
    let (peer, _) = listener.accept()?;
    peer.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok((stream, peer))
}

#[test]
fn the_runtime_reports_its_backend() -> io::Result<()> {
    let _fds = fd_lock();
    let Some(rt) = uring(Builder::new())? else { return Ok(()) };
    assert_eq!(rt.backend(), Backend::IoUring);
    assert_eq!(rt.block_on(async { runtime::backend() }), Some(Backend::IoUring));
    assert_eq!(runtime::backend(), None, "no runtime runs on this thread now");
    let epoll = Builder::new().backend(Backend::Epoll).build()?;
    assert_eq!(epoll.block_on(async { runtime::backend() }), Some(Backend::Epoll));
    Ok(())
}

#[test]
fn a_setup_failure_falls_back_to_epoll_under_auto_and_fails_under_io_uring() -> io::Result<()> {
    let _fds = fd_lock();
    for errno in [libc::EPERM, libc::ENOSYS, libc::EACCES] {
        // As in a container whose seccomp profile or sysctl forbids io_uring.
        let rt = Builder::new().backend(Backend::Auto).io_uring_fail_setup_for_tests(errno).build()?;
        assert_eq!(rt.backend(), Backend::Epoll, "errno {errno}");
        // And the fallback works.
        rt.block_on(async {
            let (mut stream, mut peer) = connected_pair().await?;
            stream.write_all(b"fallback").await?;
            let mut buf = [0u8; 8];
            peer.read_exact(&mut buf)?;
            assert_eq!(&buf, b"fallback");
            Ok::<(), io::Error>(())
        })?;

        let err = Builder::new().backend(Backend::IoUring).io_uring_fail_setup_for_tests(errno).build().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("io_uring"), "errno {errno}: {msg}");
        eprintln!("errno {errno} under Backend::IoUring: {msg}");
    }
    // A resource error is not "no io_uring here": Auto reports it too.
    let err = Builder::new().backend(Backend::Auto).io_uring_fail_setup_for_tests(libc::EMFILE).build().unwrap_err();
    assert_eq!(err.raw_os_error(), None, "wrapped with context: {err:?}");
    assert!(err.to_string().contains("io_uring_setup"), "{err}");
    Ok(())
}

#[test]
fn an_invalid_weft_backend_is_a_clear_error() -> io::Result<()> {
    let _fds = fd_lock();
    let bin = tests::support::example_binary("async_echo")?;
    let out = std::process::Command::new(bin)
        .args(["--addr", "127.0.0.1:0", "--quiet"])
        .env("WEFT_BACKEND", "kqueue")
        .stdin(std::process::Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with WEFT_BACKEND=kqueue; stderr: {stderr}");
    assert!(
        stderr.contains("WEFT_BACKEND") && stderr.contains("epoll, io_uring, auto"),
        "the error should name the variable and the accepted values: {stderr}"
    );
    // An explicit backend overrides the variable: parsing is the builder's, not the process's.
    assert_eq!("IO_URING".parse::<Backend>(), Ok(Backend::IoUring));
    assert!("uring".parse::<Backend>().unwrap_err().contains("epoll, io_uring, auto"));
    Ok(())
}

#[test]
fn dropping_a_pending_read_loses_no_data_and_dropping_the_stream_closes_it() -> io::Result<()> {
    run_on(Builder::new(), async {
        YieldOnce::default().await;
        let base = metrics()?;
        let (mut stream, mut peer) = connected_pair().await?;
        let mut buf = [0u8; 64];
        // The read is in flight (a multishot recv armed) when its future goes.
        let res = timeout(Duration::from_millis(20), stream.read(&mut buf)).await;
        assert!(res.is_err(), "no data yet: the read must wait");
        assert!(metrics()?.in_flight_ops > base.in_flight_ops, "the recv is armed");

        // Data that arrives now is kept for the next read.
        peer.write_all(b"kept")?;
        let n = stream.read(&mut buf).await?;
        assert_eq!(&buf[..n], b"kept");

        // Dropping the stream cancels the recv at once: the peer sees the
        // close before anything else happens on this thread.
        drop(stream);
        assert_eq!(peer.read(&mut buf)?, 0, "the peer reads EOF");
        settled(&base).await?;
        Ok(())
    })?;
    Ok(())
}

#[test]
fn dropping_a_stream_with_unread_data_resets_the_connection() -> io::Result<()> {
    run_on(Builder::new(), async {
        let base = metrics()?;
        let (mut stream, mut peer) = connected_pair().await?;
        peer.write_all(b"never read")?;
        // A 1-byte read arms the recv; the rest of the bytes stay queued.
        let mut one = [0u8; 1];
        stream.read_exact(&mut one).await?;
        assert!(metrics()?.held_buffers > 0, "the rest sits in a provided buffer");
        drop(stream);
        // Like close(2) with unread data: a reset, not a FIN.
        let err = peer.read(&mut [0u8; 8]).expect_err("the connection is reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        settled(&base).await?;
        Ok(())
    })?;
    Ok(())
}

#[test]
fn dropping_a_pending_accept_and_the_listener_refuses_new_connections() -> io::Result<()> {
    run_on(Builder::new(), async {
        YieldOnce::default().await;
        let base = metrics()?;
        let fds = open_fds()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // The accept waits on a poll in the kernel when its future goes.
        assert!(timeout(Duration::from_millis(20), listener.accept()).await.is_err());
        assert!(metrics()?.in_flight_ops > base.in_flight_ops, "the poll is armed");
        drop(listener);
        // Closed at once: no tick of the loop in between.
        let err = std::net::TcpStream::connect(addr).expect_err("the listener is closed");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        settled(&base).await?;
        assert_eq!(open_fds()?, fds);
        Ok(())
    })?;
    Ok(())
}

#[test]
fn dropping_a_pending_connect_cancels_it() -> io::Result<()> {
    run_on(Builder::new(), async {
        YieldOnce::default().await;
        let base = metrics()?;
        let fds = open_fds()?;
        // A listener that never accepts, its queue (backlog 0: one slot)
        // full: the kernel drops further SYNs, so a connect stays in progress.
        let full = listener_with_backlog_0()?;
        let addr = full.local_addr()?;
        let mut queued = Vec::new();
        let mut pending = false;
        for _ in 0..16 {
            let mut connect = pin!(TcpStream::connect(addr));
            let first = poll_fn(|cx| Poll::Ready(connect.as_mut().poll(cx))).await;
            match first {
                Poll::Ready(stream) => queued.push(stream?),
                Poll::Pending => {
                    // Its poll for writability is armed; dropping the future cancels it.
                    match timeout(Duration::from_millis(50), connect.as_mut()).await {
                        Ok(stream) => queued.push(stream?),
                        Err(_) => {
                            assert!(metrics()?.in_flight_ops > base.in_flight_ops, "the connect's poll is armed");
                            pending = true;
                            break;
                        }
                    }
                }
            }
        }
        assert!(pending, "no connect stayed pending");
        drop(queued);
        drop(full);
        settled(&base).await?;
        assert_eq!(open_fds()?, fds);
        Ok(())
    })?;
    Ok(())
}

/// A TCP listener on 127.0.0.1 with a backlog of 0 (std always asks for 128).
fn listener_with_backlog_0() -> io::Result<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain integer arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new socket nobody else owns.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_in of `len` bytes.
    if unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain integer arguments on our socket.
    if unsafe { libc::listen(fd, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// Waits, without blocking the loop, for a thread to finish.
async fn join_thread<T>(thread: std::thread::JoinHandle<T>) -> io::Result<T> {
    // Bounded by the test's time limit.
    while !thread.is_finished() {
        runtime::time::sleep(Duration::from_millis(1)).await;
    }
    thread.join().map_err(|_| io::Error::other("the thread panicked"))
}

/// Connect–echo–close cycles in [`churn_leaves_nothing_behind`].
const CYCLES: usize = 100_000;
const CLIENTS: usize = 64;
const MESSAGE: &[u8; 32] = b"churn: connect, echo, close. 32B";

async fn echo_once(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; MESSAGE.len()];
    stream.read_exact(&mut buf).await?;
    stream.write_all(&buf).await
}

async fn churn_client(addr: SocketAddr, cycles: usize) -> io::Result<()> {
    for _ in 0..cycles {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(MESSAGE).await?;
        let mut back = [0u8; MESSAGE.len()];
        stream.read_exact(&mut back).await?;
        check_bytes("echo", MESSAGE, 0, &back)?;
        // The server closes first (see tests/churn.rs for why).
        if stream.read(&mut [0u8; 1]).await? != 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "data after the echo"));
        }
    }
    Ok(())
}

#[test]
fn churn_leaves_no_fds_registrations_ops_or_buffers_behind() -> io::Result<()> {
    run_on(Builder::new(), async {
        YieldOnce::default().await;
        let fds = open_fds()?;
        let base = metrics()?;
        let started = Instant::now();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let failed = Arc::new(AtomicUsize::new(0));
        let server = {
            let failed = failed.clone();
            runtime::spawn(async move {
                for _ in 0..CYCLES {
                    let (stream, _) = listener.accept().await?;
                    let failed = failed.clone();
                    runtime::spawn(async move {
                        if let Err(e) = echo_once(stream).await {
                            if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("server connection failed: {e}");
                            }
                        }
                    });
                }
                Ok::<(), io::Error>(())
            })
        };
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| runtime::spawn(churn_client(addr, CYCLES / CLIENTS + usize::from(i < CYCLES % CLIENTS))))
            .collect();
        for c in clients {
            c.await.map_err(io::Error::other)??;
        }
        server.await.map_err(io::Error::other)??;
        let elapsed = started.elapsed();
        eprintln!("{CYCLES} io_uring cycles in {elapsed:?} ({:.0}/s)", CYCLES as f64 / elapsed.as_secs_f64());
        yield_until("the connection tasks to finish", || {
            runtime::metrics().is_some_and(|m| m.live_tasks == base.live_tasks)
        })
        .await?;
        settled(&base).await?;
        assert_eq!(failed.load(Ordering::Relaxed), 0, "server connections failed");
        let after = metrics()?;
        assert_eq!(after.registered_fds, base.registered_fds, "registered fds");
        assert_eq!(after.in_flight_ops, base.in_flight_ops, "ops in flight");
        assert_eq!(after.held_buffers, 0, "provided buffers held");
        assert_eq!(open_fds()?, fds, "open fds");
        Ok(())
    })?;
    Ok(())
}

/// `conns` clients each echo `rounds` messages of `size` bytes, `depth` in
/// flight at a time, through an echo server on the same runtime; every
/// byte is checked.
async fn echo_load(conns: usize, rounds: usize, size: usize, depth: usize) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = runtime::spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (mut stream, _) = listener.accept().await?;
            tasks.push(runtime::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 {
                        return Ok::<(), io::Error>(());
                    }
                    stream.write_all(&buf[..n]).await?;
                }
            }));
        }
        for t in tasks {
            t.await.map_err(io::Error::other)??;
        }
        Ok::<(), io::Error>(())
    });
    let clients: Vec<_> = (0..conns)
        .map(|i| {
            runtime::spawn(async move {
                let stream = TcpStream::connect(addr).await?;
                let data = payload(i as u64, size * rounds);
                let (mut reader, mut writer) = stream.into_split();
                let expected = data.clone();
                let read = runtime::spawn(async move {
                    let mut got = 0;
                    let mut buf = vec![0u8; 8192];
                    while got < expected.len() {
                        let n = reader.read(&mut buf).await?;
                        if n == 0 {
                            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "echo cut short"));
                        }
                        check_bytes("echo", &expected, got, &buf[..n])?;
                        got += n;
                    }
                    Ok::<(), io::Error>(())
                });
                for chunk in data.chunks(size * depth) {
                    writer.write_all(chunk).await?;
                }
                read.await.map_err(io::Error::other)??;
                writer.shutdown().await
            })
        })
        .collect();
    for c in clients {
        c.await.map_err(io::Error::other)??;
    }
    server.await.map_err(io::Error::other)?
}

#[test]
fn a_thousand_sockets_on_an_eight_entry_ring() -> io::Result<()> {
    run_on(Builder::new().io_uring_entries(8, 16), async {
        let base = metrics()?;
        // Each connection keeps a recv armed and sends in flight: far more
        // ops than the SQ holds, submitted in batches.
        echo_load(1000, 4, 256, 1).await?;
        settled(&base).await?;
        Ok(())
    })?;
    Ok(())
}

#[test]
fn a_tiny_completion_queue_overflows_and_loses_nothing() -> io::Result<()> {
    run_on(Builder::new().io_uring_entries(8, 8), async {
        let base = metrics()?;
        // Pipelined echoes on 200 connections post far more completions
        // per tick than 8 slots.
        echo_load(200, 32, 1024, 8).await?;
        let m = metrics()?;
        eprintln!("CQ overflowed {} times", m.cq_overflows);
        assert!(m.cq_overflows > 0, "the CQ never overflowed; the test proves nothing");
        settled(&base).await?;
        Ok(())
    })?;
    Ok(())
}

#[test]
fn flush_waits_for_the_send_and_shutdown_follows_buffered_bytes() -> io::Result<()> {
    run_on(Builder::new(), async {
        let (mut stream, mut peer) = connected_pair().await?;
        let data = payload(7, 1 << 20);
        // The peer drains slowly on its own thread.
        let reader = std::thread::spawn(move || -> io::Result<Vec<u8>> {
            let mut got = Vec::new();
            peer.read_to_end(&mut got)?;
            Ok(got)
        });
        stream.write_all(&data).await?;
        // Bytes are still buffered: the write side shuts down after them.
        stream.shutdown(Shutdown::Write)?;
        let err = stream.write_all(b"late").await.expect_err("writes after shutdown fail");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        stream.flush().await?;
        let got = join_thread(reader).await??;
        assert_eq!(got.len(), data.len());
        check_bytes("stream", &data, 0, &got)?;
        Ok(())
    })?;
    Ok(())
}

#[test]
fn a_failed_send_is_reported_by_the_next_flush_or_write() -> io::Result<()> {
    run_on(Builder::new(), async {
        let (mut stream, peer) = connected_pair().await?;
        drop(peer);
        let mut err = None;
        // The first send may still reach the peer's closed socket; its RST
        // makes a later one fail. Bounded: a few rounds.
        for _ in 0..10 {
            let res = match stream.write_all(&[1u8; 1000]).await {
                Ok(()) => stream.flush().await,
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                err = Some(e);
                break;
            }
        }
        let err = err.ok_or_else(|| io::Error::other("writing to a closed peer never failed"))?;
        assert!(matches!(err.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset), "{err}");
        // And the stream stays failed.
        assert!(stream.write_all(b"x").await.is_err());
        Ok(())
    })?;
    Ok(())
}

#[test]
fn dropping_a_stream_with_buffered_bytes_still_delivers_them() -> io::Result<()> {
    run_on(Builder::new(), async {
        YieldOnce::default().await;
        let base = metrics()?;
        let fds = open_fds()?;
        let (mut stream, mut peer) = connected_pair().await?;
        let data = payload(3, 300_000);
        let (tx, rx) = mpsc::channel();
        // The peer starts reading only after the stream is gone.
        let reader = std::thread::spawn(move || -> io::Result<Vec<u8>> {
            let _ = rx.recv();
            let mut got = Vec::new();
            peer.read_to_end(&mut got)?;
            Ok(got)
        });
        stream.write_all(&data).await?;
        drop(stream);
        let _ = tx.send(());
        // The loop keeps running: it sends the rest from its duplicate fd.
        let got = join_thread(reader).await??;
        check_bytes("delivered after drop", &data, 0, &got)?;
        assert_eq!(got.len(), data.len());
        settled(&base).await?;
        // The duplicate that sent the rest is closed too.
        yield_until("the lingering fd to close", || open_fds().is_ok_and(|n| n == fds)).await?;
        Ok(())
    })?;
    Ok(())
}

#[test]
fn a_stream_read_on_another_thread_gets_its_data() -> io::Result<()> {
    let _fds = fd_lock();
    let Some(rt) = uring(Builder::new())? else { return Ok(()) };
    let (stream_tx, stream_rx) = mpsc::channel::<TcpStream>();
    let (done_tx, done_rx) = mpsc::channel::<io::Result<Vec<u8>>>();
    let mut peer_slot = None;
    rt.block_on(within(LIMIT, "cross-thread read", async {
        let (stream, mut peer) = connected_pair().await?;
        // The first read registers the stream with this loop and arms its recv.
        let mut one = [0u8; 1];
        assert_eq!(stream.try_read(&mut one).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        stream_tx.send(stream).map_err(io::Error::other)?;
        let other = std::thread::spawn(move || {
            let res = (|| {
                let mut stream = stream_rx.recv().map_err(io::Error::other)?;
                let rt2 = Builder::new().backend(Backend::Epoll).build()?;
                rt2.block_on(async move {
                    let mut got = vec![0u8; 11];
                    stream.read_exact(&mut got).await?;
                    Ok(got)
                })
            })();
            let _ = done_tx.send(res);
        });
        peer.write_all(b"cross-loop!")?;
        peer_slot = Some(peer);
        // This loop keeps running (its ring completes the recv) while the
        // other thread reads.
        let got = loop {
            if let Ok(res) = done_rx.try_recv() {
                break res?;
            }
            runtime::time::sleep(Duration::from_millis(1)).await;
        };
        other.join().map_err(|_| io::Error::other("reader thread panicked"))?;
        assert_eq!(got, b"cross-loop!");
        Ok::<(), io::Error>(())
    }))?;
    drop(peer_slot);
    Ok(())
}

#[test]
fn a_slow_reader_holds_a_bounded_share_of_the_buffers() -> io::Result<()> {
    run_on(Builder::new(), async {
        let (mut slow, mut slow_peer) = connected_pair().await?;
        // Arm the slow stream's recv, then never read while its peer floods it.
        assert!(timeout(Duration::from_millis(5), slow.read(&mut [0u8; 1])).await.is_err());
        let flood = std::thread::spawn(move || -> io::Result<()> {
            let chunk = [7u8; 64 * 1024];
            slow_peer.set_write_timeout(Some(Duration::from_millis(500)))?;
            // Until the kernel's buffers are full: the write times out.
            for _ in 0..1000 {
                if slow_peer.write_all(&chunk).is_err() {
                    break;
                }
            }
            Ok(())
        });
        join_thread(flood).await??;
        let held = metrics()?.held_buffers;
        eprintln!("the slow reader holds {held} provided buffers");
        // The recv is cancelled at 16 held buffers; the kernel may fill a
        // batch more before the cancel lands. Either way a small share of 1,024.
        assert!(held <= 64, "one reader took {held} buffers");
        // Others are still served.
        echo_load(20, 8, 512, 2).await?;
        // And the slow reader gets its bytes in order once it reads.
        let mut buf = vec![0u8; 256 * 1024];
        let n = slow.read(&mut buf).await?;
        assert!(n > 0 && buf[..n].iter().all(|&b| b == 7));
        Ok(())
    })?;
    Ok(())
}

#[test]
fn dropping_the_runtime_with_ops_in_flight_releases_everything() -> io::Result<()> {
    let _fds = fd_lock();
    let fds = open_fds()?;
    let Some(rt) = uring(Builder::new())? else { return Ok(()) };
    let peers = rt.block_on(async {
        let mut peers = Vec::new();
        for i in 0..16 {
            let (mut stream, peer) = connected_pair().await?;
            // Half wait in a read, half have bytes buffered for a peer that never reads.
            if i % 2 == 0 {
                runtime::spawn(async move {
                    let _ = stream.read(&mut [0u8; 16]).await;
                });
            } else {
                let _ = timeout(Duration::from_millis(20), stream.write_all(&vec![0u8; 8 << 20])).await;
                runtime::spawn(async move {
                    let _ = stream.write_all(b"more").await;
                });
            }
            peers.push(peer);
        }
        for _ in 0..4 {
            YieldOnce::default().await;
        }
        let m = metrics()?;
        assert!(m.in_flight_ops >= 16, "ops are in flight: {m:?}");
        Ok::<_, io::Error>(peers)
    })?;
    let started = Instant::now();
    drop(rt);
    eprintln!("dropping the runtime took {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(peers);
    assert_eq!(open_fds()?, fds, "the runtime's sockets, ring and eventfd are closed");
    Ok(())
}

#[test]
fn sqpoll_serves_echoes_and_closes_sockets() -> io::Result<()> {
    let _fds = fd_lock();
    let builder = Builder::new().io_uring_sqpoll(Duration::from_millis(20));
    let rt = match uring(builder) {
        Ok(Some(rt)) => rt,
        Ok(None) => return Ok(()),
        // SQPOLL may need privileges the machine does not grant.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            eprintln!("skipped: SQPOLL is not permitted here: {e}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    rt.block_on(within(LIMIT, "sqpoll echo", async {
        let base = metrics()?;
        echo_load(50, 16, 256, 2).await?;
        // A dropped listener is closed once the poll thread has the cancel.
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        assert!(timeout(Duration::from_millis(10), listener.accept()).await.is_err());
        drop(listener);
        yield_until("the listener to close", || std::net::TcpStream::connect(addr).is_err()).await?;
        settled(&base).await?;
        Ok(())
    }))
}

#[test]
fn coalescing_waits_serve_echoes_and_keep_timers_on_time() -> io::Result<()> {
    // A window far longer than anything below: were it not capped by the
    // timers, the sleeps would take it.
    let window = Duration::from_millis(100);
    run_on(Builder::new().io_uring_coalesce(64, window), async {
        let base = metrics()?;
        for _ in 0..5 {
            let start = Instant::now();
            runtime::time::sleep(Duration::from_millis(2)).await;
            assert!(start.elapsed() < window, "a 2 ms sleep took {:?}", start.elapsed());
        }
        // Fewer completions than asked for: each wait ends with the window.
        echo_load(4, 4, 64, 1).await?;
        settled(&base).await?;
        Ok(())
    })?;
    Ok(())
}
