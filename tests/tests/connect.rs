//! `TcpStream::connect` waits for the end of the handshake: a peer whose
//! accept queue is full drops the SYN, the connect stays in progress, and
//! it must complete (not fail, not return early) once the peer catches up.

use std::io;
use std::net::TcpListener as StdListener;
use std::time::{Duration, Instant};

use net::TcpStream;
use runtime::time::timeout;
use runtime::Runtime;

/// A listener with an accept queue of one connection (`listen(fd, 0)`).
fn tiny_listener() -> io::Result<StdListener> {
    let listener = StdListener::bind("127.0.0.1:0")?;
    // SAFETY: re-listening on our own listening socket only changes its backlog.
    let rc = unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

#[test]
fn connect_waits_for_a_delayed_handshake() -> io::Result<()> {
    let listener = tiny_listener()?;
    let addr = listener.local_addr()?;
    // Fill the accept queue (backlog 0 holds one connection).
    let _queued = std::net::TcpStream::connect(addr)?;
    let rt = Runtime::new()?;
    rt.block_on(async {
        let pending = runtime::spawn(TcpStream::connect(addr));
        // The SYN is dropped while the queue is full: the connect must still be in progress.
        let early = timeout(Duration::from_millis(200), async {
            loop {
                if pending.is_finished() {
                    return;
                }
                runtime::yield_now().await;
                runtime::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(early.is_err(), "connect returned before the handshake finished");
        // Free the queue: the retransmitted SYN (after ~1 s) completes the handshake.
        let started = Instant::now();
        let (_first, _) = listener.accept()?;
        let stream =
            timeout(Duration::from_secs(10), pending).await.map_err(io::Error::from)?.map_err(io::Error::from)??;
        assert_eq!(stream.peer_addr()?, addr);
        let (_second, _) = listener.accept()?;
        assert!(started.elapsed() < Duration::from_secs(10));
        Ok(())
    })
}

#[test]
fn a_refused_connect_fails_fast_with_connection_refused() -> io::Result<()> {
    let addr = StdListener::bind("127.0.0.1:0")?.local_addr()?;
    let rt = Runtime::new()?;
    let err = rt.block_on(timeout(Duration::from_secs(5), TcpStream::connect(addr))).map_err(io::Error::from)?;
    assert_eq!(err.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    Ok(())
}
