//! spawn_blocking and name lookup: results, panics, concurrency, an event
//! loop that keeps running while jobs block, and resolving `localhost`.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use net::{lookup_host, TcpListener, TcpStream, UdpSocket};
use tests::net_util::run;
use tests::panic_message;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn returns_the_result_from_another_thread() -> io::Result<()> {
    run(LIMIT, async {
        let here = std::thread::current().id();
        let (value, there) = runtime::spawn_blocking(|| (6 * 7, std::thread::current().id())).await?;
        assert_eq!(value, 42);
        assert_ne!(there, here, "the job ran on the event loop's thread");
        let owned = runtime::spawn_blocking(|| vec![1u8; 1 << 20]).await?;
        assert_eq!(owned.len(), 1 << 20);
        Ok(())
    })
}

#[test]
fn a_panic_becomes_a_join_error_and_the_runtime_goes_on() -> io::Result<()> {
    run(LIMIT, async {
        let err = runtime::spawn_blocking(|| -> u32 { panic!("job exploded") }).await.unwrap_err();
        assert!(err.is_panic(), "{err}");
        let payload = err.into_panic();
        assert_eq!(panic_message(&*payload), "job exploded");
        // The pool and the loop still work.
        assert_eq!(runtime::spawn_blocking(|| 1).await?, 1);
        Ok(())
    })
}

#[test]
fn jobs_run_concurrently() -> io::Result<()> {
    run(LIMIT, async {
        // Four jobs that each wait for all the others: they only finish if
        // they run at the same time.
        const JOBS: usize = 4;
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(JOBS));
        let (done_tx, done_rx) = std_mpsc::channel();
        let handles: Vec<_> = (0..JOBS)
            .map(|i| {
                let barrier = barrier.clone();
                let done_tx = done_tx.clone();
                runtime::spawn_blocking(move || {
                    barrier.wait();
                    let _ = done_tx.send(i);
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        assert_eq!(sum, (0..JOBS).sum::<usize>());
        assert_eq!(done_rx.try_iter().count(), JOBS);
        Ok(())
    })
}

#[test]
fn the_event_loop_runs_while_a_job_blocks() -> io::Result<()> {
    run(LIMIT, async {
        // The job blocks until the loop has done real I/O and tells it to go on.
        let (go_tx, go_rx) = std_mpsc::channel::<()>();
        let job = runtime::spawn_blocking(move || go_rx.recv_timeout(LIMIT).is_ok());

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accept = runtime::spawn(async move { listener.accept().await.map(drop) });
        let _client = TcpStream::connect(addr).await?;
        accept.await??;
        let udp = UdpSocket::bind("127.0.0.1:0").await?;
        udp.send_to(b"loop alive", udp.local_addr()?).await?;
        let mut buf = [0u8; 16];
        let (n, _) = udp.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"loop alive");

        go_tx.send(()).map_err(|_| io::Error::other("job gone"))?;
        assert!(job.await?, "the job timed out waiting for the loop");
        Ok(())
    })
}

#[test]
fn aborting_stops_the_wait_not_the_job() -> io::Result<()> {
    run(LIMIT, async {
        let (ran_tx, ran_rx) = std_mpsc::channel();
        let (go_tx, go_rx) = std_mpsc::channel::<()>();
        let handle = runtime::spawn_blocking(move || {
            let _ = go_rx.recv_timeout(LIMIT);
            let _ = ran_tx.send(());
        });
        handle.abort();
        let err = handle.await.unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        go_tx.send(()).map_err(|_| io::Error::other("job gone"))?;
        // The job itself still runs to the end, on its thread.
        let finished = runtime::spawn_blocking(move || ran_rx.recv_timeout(LIMIT).is_ok()).await?;
        assert!(finished);
        Ok(())
    })
}

#[test]
fn lookup_localhost_gives_loopback_addresses() -> io::Result<()> {
    run(LIMIT, async {
        let addrs = lookup_host("localhost:8080").await?;
        assert!(!addrs.is_empty(), "localhost resolved to nothing");
        for a in &addrs {
            assert!(a.ip().is_loopback(), "localhost resolved to {a}");
            assert_eq!(a.port(), 8080);
        }
        let addrs = lookup_host(("localhost", 9)).await?;
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 9));

        // Literals resolve without a lookup.
        assert_eq!(lookup_host("127.0.0.1:5").await?, ["127.0.0.1:5".parse::<SocketAddr>().unwrap()]);
        assert_eq!(lookup_host("[::1]:6").await?, ["[::1]:6".parse::<SocketAddr>().unwrap()]);

        // A name without a port is an error, not a query.
        let err = lookup_host("localhost").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("localhost"), "{err}");
        Ok(())
    })
}

#[test]
fn bind_and_connect_resolve_localhost() -> io::Result<()> {
    run(LIMIT, async {
        let udp = UdpSocket::bind("localhost:0").await?;
        assert!(udp.local_addr()?.ip().is_loopback());
        let listener = TcpListener::bind("localhost:0").await?;
        let port = listener.local_addr()?.port();
        let accept = runtime::spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
        // `localhost` may resolve to ::1 first; connect tries each address in turn.
        let stream = TcpStream::connect(("localhost", port)).await?;
        assert_eq!(accept.await??, stream.local_addr()?);
        Ok(())
    })
}
