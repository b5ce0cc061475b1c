//! Unix domain sockets: stream round trips through a listener and a pair,
//! split halves, datagram round trips and truncation, addresses, and the
//! socket-file rules (never remove what we did not create).

use std::io;
use std::net::Shutdown;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use net::unix::SocketAddr;
use net::{UnixDatagram, UnixListener, UnixStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use tests::net_util::{check_bytes, join, odd_chunks, payload, run};
use tests::support::TempDir;

const LIMIT: Duration = Duration::from_secs(10);

/// Accepts one connection and echoes it until EOF.
async fn echo_once(listener: UnixListener) -> io::Result<u64> {
    let (mut conn, peer) = listener.accept().await?;
    assert!(peer.is_unnamed(), "an unbound client has no name, got {peer:?}");
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        conn.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

#[test]
fn stream_round_trip_through_a_listener() -> io::Result<()> {
    let dir = TempDir::new("unix")?;
    let path = dir.join("echo.sock");
    run(LIMIT, async {
        let listener = UnixListener::bind(&path)?;
        assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
        let server = runtime::spawn(echo_once(listener));

        let client = UnixStream::connect(&path).await?;
        assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
        assert!(client.local_addr()?.is_unnamed());

        // 1 MiB in odd-sized writes, read back concurrently.
        let data = payload(1, 1 << 20);
        let (mut rd, mut wr) = client.into_split();
        let write = async {
            for chunk in odd_chunks(&data) {
                wr.write_all(chunk).await?;
            }
            wr.shutdown().await
        };
        let read = async {
            let mut back = Vec::new();
            rd.read_to_end(&mut back).await?;
            Ok::<_, io::Error>(back)
        };
        let (written, back) = join(write, read).await;
        written?;
        let back = back?;
        assert_eq!(back.len(), data.len());
        check_bytes("echo", &data, 0, &back)?;
        assert_eq!(server.await??, data.len() as u64);
        Ok(())
    })
}

#[test]
fn pair_round_trip_and_half_close() -> io::Result<()> {
    run(LIMIT, async {
        let (mut a, mut b) = UnixStream::pair()?;
        assert!(a.local_addr()?.is_unnamed() && a.peer_addr()?.is_unnamed());
        a.write_all(b"hello").await?;
        let mut buf = [0u8; 5];
        assert_eq!(b.peek(&mut buf).await?, 5);
        b.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"hello");

        a.shutdown(Shutdown::Write)?;
        assert_eq!(b.read(&mut buf).await?, 0, "EOF after the peer's shutdown");
        // The other direction still works.
        b.write_all(b"still").await?;
        a.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"still");

        // Writing to a closed peer is BrokenPipe, never SIGPIPE.
        drop(a);
        let mut err = None;
        for _ in 0..2 {
            // The flush reports a send that io_uring made (and saw fail)
            // after the write had returned.
            let res = match b.write_all(&[0u8; 4096]).await {
                Ok(()) => b.flush().await,
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::BrokenPipe));
        Ok(())
    })
}

#[test]
fn try_read_and_try_write_do_not_wait() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = UnixStream::pair()?;
        let mut buf = [0u8; 8];
        assert_eq!(b.try_read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert_eq!(a.try_write(b"now")?, 3);
        b.readable().await?;
        assert_eq!(b.try_read(&mut buf)?, 3);
        assert_eq!(&buf[..3], b"now");
        Ok(())
    })
}

#[test]
fn borrowed_split_and_owned_halves_reunite() -> io::Result<()> {
    run(LIMIT, async {
        let (mut a, b) = UnixStream::pair()?;
        {
            let (mut rd, mut wr) = a.split();
            let b = &b;
            let echo = async move {
                let mut buf = [0u8; 3];
                let mut r = b;
                r.read_exact(&mut buf).await?;
                let mut w = b;
                w.write_all(&buf).await?;
                Ok::<_, io::Error>(())
            };
            let exchange = async {
                wr.write_all(b"abc").await?;
                let mut buf = [0u8; 3];
                rd.read_exact(&mut buf).await?;
                Ok::<_, io::Error>(buf)
            };
            let (echoed, got) = join(echo, exchange).await;
            echoed?;
            assert_eq!(&got?, b"abc");
        }

        let (rd, wr) = a.into_split();
        let (other_a, _other_b) = UnixStream::pair()?;
        let (other_rd, other_wr) = other_a.into_split();
        let mismatched = rd.reunite(other_wr).unwrap_err();
        let (rd, _) = (mismatched.0, mismatched.1);
        drop(other_rd);
        let mut a = rd.reunite(wr).map_err(|e| io::Error::other(e.to_string()))?;
        // Reuniting did not shut the write side down.
        a.write_all(b"after").await?;
        let mut buf = [0u8; 5];
        let mut b = b;
        b.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"after");
        Ok(())
    })
}

#[test]
fn owned_halves_in_separate_tasks() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = UnixStream::pair()?;
        let (mut a_rd, mut a_wr) = a.into_split();
        let data = Arc::new(payload(2, 300_000));
        let writer = runtime::spawn({
            let data = data.clone();
            async move {
                for chunk in odd_chunks(&data) {
                    a_wr.write_all(chunk).await?;
                }
                Ok::<_, io::Error>(()) // dropping the half shuts down the write side
            }
        });
        // `b` echoes everything back.
        let echo = runtime::spawn(async move {
            let mut b = b;
            let mut buf = vec![0u8; 8192];
            loop {
                let n = b.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(());
                }
                b.write_all(&buf[..n]).await?;
            }
        });
        let mut back = Vec::new();
        a_rd.read_to_end(&mut back).await?;
        writer.await??;
        echo.await??;
        check_bytes("owned halves", &data, 0, &back)?;
        assert_eq!(back.len(), data.len());
        Ok(())
    })
}

#[test]
fn connect_errors_name_the_path() -> io::Result<()> {
    let dir = TempDir::new("unix")?;
    run(LIMIT, async {
        let missing = dir.join("missing.sock");
        let err = UnixStream::connect(&missing).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains(&*missing.to_string_lossy()), "{err}");

        // A stale socket file (std leaves it behind) with nobody listening.
        let stale = dir.join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale)?);
        let err = UnixStream::connect(&stale).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(err.to_string().contains(&*stale.to_string_lossy()), "{err}");

        let too_long = dir.path().join("x".repeat(200));
        let err = UnixStream::connect(&too_long).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("at most"), "{err}");
        Ok(())
    })
}

#[test]
fn listener_refuses_an_existing_path_and_leaves_it() -> io::Result<()> {
    let dir = TempDir::new("unix")?;
    let path = dir.join("taken");
    std::fs::write(&path, b"not a socket")?;
    run(LIMIT, async {
        let err = UnixListener::bind(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
        assert_eq!(std::fs::read(&path)?, b"not a socket", "the existing file was touched");

        // A live listener's path is refused too, and stays usable.
        let live = dir.join("live.sock");
        let first = UnixListener::bind(&live)?;
        let err = UnixListener::bind(&live).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let err = UnixDatagram::bind(&live).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let accept = runtime::spawn(async move { first.accept().await.map(drop) });
        let _client = UnixStream::connect(&live).await?;
        accept.await??;
        Ok(())
    })
}

#[test]
fn listener_removes_only_its_own_file() -> io::Result<()> {
    let dir = TempDir::new("unix")?;
    run(LIMIT, async {
        // Its own file goes when it is dropped.
        let path = dir.join("own.sock");
        let listener = UnixListener::bind(&path)?;
        assert!(is_socket(&path));
        drop(listener);
        assert!(!path.exists(), "the listener left its socket file");
        // So the path can be bound again at once.
        drop(UnixListener::bind(&path)?);

        // A file that replaced ours is left alone.
        let path = dir.join("replaced.sock");
        let listener = UnixListener::bind(&path)?;
        std::fs::remove_file(&path)?;
        let usurper = UnixListener::bind(&path)?.into_std()?; // into_std: it no longer cleans up
        drop(listener);
        assert!(is_socket(&path), "the first listener removed a file it did not create");
        drop(usurper);
        assert!(path.exists(), "a std listener removes nothing");
        std::fs::remove_file(&path)?;

        // A listener taken from std did not create its file.
        let path = dir.join("from_std.sock");
        let listener = UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path)?)?;
        drop(listener);
        assert!(path.exists(), "from_std listener removed a file it did not create");
        Ok(())
    })
}

#[test]
fn path_too_long_is_invalid_input() -> io::Result<()> {
    let dir = TempDir::new("unix")?;
    let path = dir.path().join("y".repeat(150));
    run(LIMIT, async {
        for err in [
            UnixListener::bind(&path).unwrap_err(),
            UnixDatagram::bind(&path).unwrap_err(),
            UnixDatagram::unbound()?.connect(&path).unwrap_err(),
        ] {
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
        assert!(!path.exists());
        Ok(())
    })
}

#[test]
fn datagram_round_trip_between_paths() -> io::Result<()> {
    let dir = TempDir::new("unix")?;
    let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
    run(LIMIT, async {
        let a = UnixDatagram::bind(&a_path)?;
        let b = UnixDatagram::bind(&b_path)?;
        assert_eq!(a.local_addr()?.as_pathname(), Some(a_path.as_path()));
        a.send_to(b"first", &b_path).await?;
        a.send_to(b"", &b_path).await?;
        a.send_to(&payload(3, 50_000), &b_path).await?;
        let mut buf = vec![0u8; 65536];
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from.as_pathname()), (&b"first"[..], Some(a_path.as_path())));
        let (n, _, truncated) = b.recv_from_truncated(&mut buf).await?;
        assert_eq!((n, truncated), (0, false));
        let (n, _, truncated) = b.recv_from_truncated(&mut buf).await?;
        assert_eq!((n, truncated), (50_000, false));
        assert_eq!(buf[..n], payload(3, 50_000));

        // The reply goes to the sender's path.
        b.send_to(b"reply", from.as_pathname().unwrap_or(Path::new("/nonexistent"))).await?;
        let (n, from) = a.peek_from(&mut buf).await?;
        assert_eq!((&buf[..n], from.as_pathname()), (&b"reply"[..], Some(b_path.as_path())));
        let n = a.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"reply");

        drop((a, b));
        assert!(!a_path.exists() && !b_path.exists(), "bound datagram sockets leave their files");
        Ok(())
    })
}

#[test]
fn datagram_truncation_is_reported() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = UnixDatagram::pair()?;
        let big = payload(4, 10_000);
        a.send(&big).await?;
        a.send(&big).await?;
        a.send(b"whole").await?;
        let mut small = [0u8; 100];
        // Silently, as the OS does.
        assert_eq!(b.recv(&mut small).await?, 100);
        assert_eq!(small[..], big[..100]);
        // And reported.
        let (n, from, truncated) = b.recv_from_truncated(&mut small).await?;
        assert_eq!((n, truncated), (100, true));
        assert!(from.is_unnamed());
        let (n, truncated) = b.recv_truncated(&mut small).await?;
        assert_eq!((&small[..n], truncated), (&b"whole"[..], false));
        Ok(())
    })
}

#[test]
fn unbound_sender_and_connected_datagrams() -> io::Result<()> {
    let dir = TempDir::new("unix")?;
    let path = dir.join("server.sock");
    run(LIMIT, async {
        let server = UnixDatagram::bind(&path)?;
        let client = UnixDatagram::unbound()?;
        assert!(client.local_addr()?.is_unnamed());
        assert_eq!(client.peer_addr().unwrap_err().kind(), io::ErrorKind::NotConnected);
        client.send_to(b"anonymous", &path).await?;
        let mut buf = [0u8; 32];
        let (n, from) = server.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"anonymous");
        assert!(from.is_unnamed(), "an unbound sender has no address, got {from:?}");

        client.connect(&path)?;
        assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
        client.send(b"connected").await?;
        let n = server.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"connected");
        assert_eq!(server.try_recv(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);

        // A pair is connected both ways; shutting down reading ends a
        // pending receive and makes later ones return 0 at once.
        let (x, y) = UnixDatagram::pair()?;
        y.send(b"to x").await?;
        let n = x.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"to x");
        let x = Arc::new(x);
        let pending = runtime::spawn({
            let x = x.clone();
            async move { x.recv_from(&mut [0u8; 8]).await }
        });
        runtime::yield_now().await;
        x.shutdown(Shutdown::Read)?;
        let (n, from) = pending.await??;
        assert!(n == 0 && from.is_unnamed(), "{n} bytes from {from:?}");
        assert_eq!(x.recv(&mut buf).await?, 0);
        Ok(())
    })
}

#[test]
fn datagram_boundaries_over_many_rounds() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = UnixDatagram::pair()?;
        for round in 0..200u32 {
            let receive = async {
                let mut buf = [0u8; 64];
                for i in 0..10u32 {
                    let n = b.recv(&mut buf).await?;
                    assert_eq!(&buf[..n], format!("{round}/{i}").as_bytes());
                }
                Ok::<_, io::Error>(())
            };
            let send = async {
                for i in 0..10u32 {
                    a.send(format!("{round}/{i}").as_bytes()).await?;
                }
                Ok::<_, io::Error>(())
            };
            let (received, sent) = join(receive, send).await;
            sent?;
            received?;
        }
        Ok(())
    })
}

#[test]
fn std_conversions() -> io::Result<()> {
    let dir = TempDir::new("unix")?;
    let path = dir.join("conv.sock");
    run(LIMIT, async {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        let a = UnixStream::from_std(a)?;
        let mut b = UnixStream::from_std(b)?;
        let mut aw = &a;
        aw.write_all(b"x").await?;
        let mut one = [0u8; 1];
        b.read_exact(&mut one).await?;
        let a = a.into_std()?;
        a.set_nonblocking(false)?;
        b.write_all(b"y").await?;
        // Out of the runtime's hands before the thread blocks (io_uring
        // sends buffered writes at the next tick).
        b.flush().await?;
        io::Read::read_exact(&mut &a, &mut one)?;
        assert_eq!(&one, b"y");

        let d = UnixDatagram::bind(&path)?;
        let d = d.into_std()?;
        drop(d);
        assert!(path.exists(), "into_std hands the file over with the socket");
        std::fs::remove_file(&path)?;
        let (x, y) = std::os::unix::net::UnixDatagram::pair()?;
        let x = UnixDatagram::from_std(x)?;
        y.send(b"dg")?;
        let mut buf = [0u8; 4];
        let n = x.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"dg");
        Ok(())
    })
}

#[test]
fn abstract_names_on_linux() -> io::Result<()> {
    let name = format!("weft-test-{}", std::process::id());
    let addr = match SocketAddr::from_abstract_name(&name) {
        Ok(a) => a,
        Err(e) if e.kind() == io::ErrorKind::Unsupported && !cfg!(any(target_os = "linux", target_os = "android")) => {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    run(LIMIT, async {
        let listener = UnixListener::bind_addr(&addr)?;
        assert_eq!(listener.local_addr()?.as_abstract_name(), Some(name.as_bytes()));
        let accept = runtime::spawn(async move {
            let (mut conn, _) = listener.accept().await?;
            conn.write_all(b"abstract").await?;
            Ok::<_, io::Error>(())
        });
        let mut client = UnixStream::connect_addr(&addr).await?;
        assert_eq!(client.peer_addr()?, addr);
        let mut buf = Vec::new();
        client.read_to_end(&mut buf).await?;
        assert_eq!(buf, b"abstract");
        accept.await??;
        assert_eq!(format!("{addr}"), format!("@{name}"));
        Ok(())
    })
}

#[test]
fn types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<UnixListener>();
    check::<UnixStream>();
    check::<UnixDatagram>();
    check::<net::unix::OwnedReadHalf>();
    check::<net::unix::OwnedWriteHalf>();
    check::<SocketAddr>();
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}
