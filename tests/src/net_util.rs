//! Helpers for the `net` tests: an in-process echo server, deterministic
//! payloads, a two-future join, time limits and an open-fd counter.
//!
//! Unlike the rest of this crate these helpers use `net` and `runtime`: the
//! echo server is part of what the tests exercise, not a neutral harness.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use net::{TcpListener, TcpStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use runtime::JoinHandle;

use crate::lock;

/// Write sizes the clients cycle through: odd and prime, so writes straddle
/// every buffer boundary on the way (1 byte, a few bytes, just under a page,
/// just under 64 KiB).
pub const ODD_CHUNKS: [usize; 6] = [1, 7, 4093, 65521, 13, 1021];

/// Most connections one [`EchoServer`] accepts; the accept loop ends after.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Size of the echo server's per-connection read buffer.
const ECHO_BUFFER: usize = 64 * 1024;

/// `len` pseudo-random bytes from `seed` (splitmix64): the same seed gives
/// the same bytes, so a receiver can check what it got without a copy.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut state = seed;
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `data` cut into pieces of the [`ODD_CHUNKS`] sizes, cycling.
pub fn odd_chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    ODD_CHUNKS.iter().cycle().map_while(move |&size| {
        if rest.is_empty() {
            return None;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        Some(chunk)
    })
}

/// Checks that `got` equals `expected[offset..offset + got.len()]`; the
/// error names the first differing byte instead of dumping megabytes.
pub fn check_bytes(what: &str, expected: &[u8], offset: usize, got: &[u8]) -> io::Result<()> {
    let end = offset + got.len();
    if end > expected.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what}: {end} bytes received, only {} expected", expected.len()),
        ));
    }
    match expected[offset..end].iter().zip(got).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what}: byte {} is {:#04x}, expected {:#04x}", offset + i, got[i], expected[offset + i]),
        )),
    }
}

/// Runs `future` with a time limit; past it, a `TimedOut` error naming `what`.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    match runtime::time::timeout(limit, future).await {
        Ok(res) => res,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what}: no result within {limit:?}"))),
    }
}

/// Runs a test body on a fresh runtime with a time limit, so a lost wake-up
/// fails the test instead of hanging it.
pub fn run<T>(limit: Duration, body: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    runtime::block_on(within(limit, "test body", body))
}

/// Polls both futures until both complete, on the current task: a reader
/// and a writer borrowing one stream progress together.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut out_a, mut out_b) = (None, None);
    poll_fn(|cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        match (out_a.take(), out_b.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (out_a, out_b) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

/// Writes `msg` and reads the same number of bytes back, which must match.
pub async fn ping(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    stream.write_all(msg).await?;
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).await?;
    check_bytes("echo", msg, 0, &back)
}

/// Open file descriptors of this process (entries of `/proc/self/fd`,
/// counting the one `read_dir` itself holds, so counts compare equal).
pub fn open_fds() -> io::Result<usize> {
    let dir = if cfg!(target_os = "linux") { "/proc/self/fd" } else { "/dev/fd" };
    std::fs::read_dir(dir)?.try_fold(0, |n, entry| entry.map(|_| n + 1))
}

/// The fds registered with the current runtime's reactor.
pub fn registered_fds() -> io::Result<usize> {
    runtime::metrics()
        .map(|m| m.registered_fds)
        .ok_or_else(|| io::Error::other("registered_fds called outside a weft runtime"))
}

/// Connections accepted so far: peer address and the echoing task, which
/// returns how many bytes it echoed before the peer's EOF.
type Connections = Arc<Mutex<Vec<(SocketAddr, JoinHandle<io::Result<u64>>)>>>;

/// An echo server on the current runtime: an accept loop task spawning one
/// echo task per connection (`read`, then `write_all`, until EOF).
///
/// Dropping it aborts the accept loop; connection tasks run until their
/// peer closes or the runtime shuts down.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    accept: JoinHandle<io::Result<()>>,
    connections: Connections,
}

impl EchoServer {
    /// Starts a server on `127.0.0.1:0`.
    pub async fn start() -> io::Result<EchoServer> {
        EchoServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a server on `addr`.
    pub async fn start_on(addr: SocketAddr) -> io::Result<EchoServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let connections = Connections::default();
        let accept = runtime::spawn(accept_loop(listener, connections.clone()));
        Ok(EchoServer { addr, accept, connections })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True while the accept loop runs.
    pub fn is_accepting(&self) -> bool {
        !self.accept.is_finished()
    }

    /// Takes the echo task of the connection from `peer`, if accepted yet.
    pub fn connection(&self, peer: SocketAddr) -> Option<JoinHandle<io::Result<u64>>> {
        let mut conns = lock(&self.connections);
        let i = conns.iter().position(|(p, _)| *p == peer)?;
        Some(conns.swap_remove(i).1)
    }

    /// Takes every connection accepted so far.
    pub fn take_connections(&self) -> Vec<(SocketAddr, JoinHandle<io::Result<u64>>)> {
        std::mem::take(&mut *lock(&self.connections))
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, connections: Connections) -> io::Result<()> {
    for _ in 0..MAX_CONNECTIONS {
        let (stream, peer) = listener.accept().await?;
        let task = runtime::spawn(echo_connection(stream));
        lock(&connections).push((peer, task));
    }
    Ok(())
}

/// Echoes until the peer's EOF; returns the bytes echoed. Every read
/// returns at least one byte or ends the loop, so the peer's data bounds it.
pub async fn echo_connection(mut stream: TcpStream) -> io::Result<u64> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; ECHO_BUFFER];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_deterministic_and_varied() {
        assert_eq!(payload(1, 1000), payload(1, 1000));
        assert_ne!(payload(1, 64), payload(2, 64));
        assert_eq!(payload(3, 13).len(), 13);
        assert!(payload(4, 4096).windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn odd_chunks_cover_the_data_in_cycle_sizes() {
        let data = payload(5, 200_000);
        let chunks: Vec<&[u8]> = odd_chunks(&data).collect();
        assert_eq!(chunks.concat(), data);
        let sizes: Vec<usize> = chunks.iter().take(ODD_CHUNKS.len()).map(|c| c.len()).collect();
        assert_eq!(sizes, ODD_CHUNKS);
        assert_eq!(odd_chunks(&[]).count(), 0);
    }

    #[test]
    fn check_bytes_names_the_first_difference() {
        let data = payload(6, 100);
        assert!(check_bytes("x", &data, 10, &data[10..20]).is_ok());
        let mut bad = data[10..20].to_vec();
        bad[3] ^= 1;
        let err = check_bytes("x", &data, 10, &bad).unwrap_err();
        assert!(err.to_string().contains("byte 13"), "{err}");
        assert!(check_bytes("x", &data, 95, &data[..10]).is_err());
    }
}
