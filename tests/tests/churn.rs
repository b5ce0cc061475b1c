//! Connection churn: 100,000 connect–echo–close cycles against an
//! in-process echo server leave nothing behind: the process's open fds and
//! the runtime's live tasks, registered fds and pending timers all return
//! to what they were before.
//!
//! Which side closes first matters at this scale: the side that sends the
//! first FIN keeps the connection in TIME_WAIT for 60 s. If the clients
//! closed first, every connection would leave a TIME_WAIT entry on one of
//! the clients' ephemeral ports (28,232 with the default
//! `ip_local_port_range` of 32768–60999), and `connect` would depend on the
//! kernel letting it reuse them: Linux's default `tcp_tw_reuse = 2` does so for loopback after 1 s,
//! but with `0` `connect` fails with `EADDRNOTAVAIL` once the ports run out.
//! So the server closes first: it echoes one fixed-size message and drops
//! the connection; the client reads the echo, then the server's EOF, then
//! closes (a passive close, which leaves no state behind). The TIME_WAIT
//! entries then sit on the server's side, keyed by the client's port, and a
//! SYN from a reused client port is accepted over them (its timestamp is
//! newer; RFC 6191), whatever `tcp_tw_reuse` says. (`SO_LINGER 0` on the
//! client would avoid TIME_WAIT too, but by resetting every connection.)
//! No fds are involved in TIME_WAIT either way.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::{TcpListener, TcpStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use runtime::Metrics;
use tests::net_util::{open_fds, run};
use tests::{yield_until, YieldOnce};

/// Connect–echo–close cycles in all.
const CYCLES: usize = 100_000;
/// Client tasks, each running its share of the cycles one after another.
const CLIENTS: usize = 64;
/// What each cycle sends and expects back.
const MESSAGE: &[u8; 32] = b"churn: connect, echo, close. 32B";
/// Time limit for the whole test (it takes about 10 s in a debug build on 2 cores).
const LIMIT: Duration = Duration::from_secs(120);

/// What the server saw.
#[derive(Debug, Default)]
struct Served {
    /// Connections echoed and closed by the server.
    ok: AtomicUsize,
    /// Connections that ended in an error; the first error is printed.
    failed: AtomicUsize,
}

/// Accepts exactly `n` connections; each gets a task that echoes one
/// message and closes first.
async fn serve(listener: TcpListener, n: usize, served: Arc<Served>) -> io::Result<()> {
    for _ in 0..n {
        let (stream, _) = listener.accept().await?;
        let served = served.clone();
        runtime::spawn(async move {
            match echo_once(stream).await {
                Ok(()) => served.ok.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    if served.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("server connection failed: {e}");
                    }
                    0
                }
            };
        });
    }
    Ok(())
}

/// Reads one [`MESSAGE`]-sized message, writes it back, and closes.
async fn echo_once(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; MESSAGE.len()];
    stream.read_exact(&mut buf).await?;
    stream.write_all(&buf).await
}

/// Runs `cycles` connect–echo–close cycles one after another.
async fn client(addr: SocketAddr, cycles: usize) -> io::Result<()> {
    for _ in 0..cycles {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(MESSAGE).await?;
        let mut back = [0u8; MESSAGE.len()];
        stream.read_exact(&mut back).await?;
        if &back != MESSAGE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("echo {back:?}")));
        }
        // The server closes first; we close after its EOF.
        let mut extra = [0u8; 1];
        if stream.read(&mut extra).await? != 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "data after the echo"));
        }
    }
    Ok(())
}

fn metrics() -> io::Result<Metrics> {
    runtime::metrics().ok_or_else(|| io::Error::other("not inside a weft runtime"))
}

#[test]
fn connect_echo_close_cycles_leave_nothing_behind() -> io::Result<()> {
    run(LIMIT, async {
        // `run`'s time limit registers its timer at the first `Pending`:
        // yield once so that the baseline includes it.
        YieldOnce::default().await;
        let fds_before = open_fds()?;
        let before = metrics()?;

        let started = Instant::now();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let served = Arc::new(Served::default());
        let server = runtime::spawn(serve(listener, CYCLES, served.clone()));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                // Spread the remainder over the first clients.
                let cycles = CYCLES / CLIENTS + usize::from(i < CYCLES % CLIENTS);
                runtime::spawn(client(addr, cycles))
            })
            .collect();
        for c in clients {
            c.await.map_err(io::Error::other)??;
        }
        server.await.map_err(io::Error::other)??;
        let elapsed = started.elapsed();
        eprintln!(
            "{CYCLES} cycles with {CLIENTS} clients in {elapsed:?} ({:.0}/s)",
            CYCLES as f64 / elapsed.as_secs_f64()
        );

        // The server's last tasks may still be finishing their close.
        yield_until("the connection tasks to finish", || {
            runtime::metrics().is_some_and(|m| m.live_tasks == before.live_tasks)
        })
        .await?;
        assert_eq!(served.failed.load(Ordering::Relaxed), 0, "server connections failed");
        assert_eq!(served.ok.load(Ordering::Relaxed), CYCLES);
        let after = metrics()?;
        assert_eq!(after.live_tasks, before.live_tasks, "live tasks");
        assert_eq!(after.registered_fds, before.registered_fds, "registered fds");
        assert_eq!(after.pending_timers, before.pending_timers, "pending timers");
        assert_eq!(open_fds()?, fds_before, "open fds");
        Ok(())
    })
}
