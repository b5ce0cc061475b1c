//! UdpSocket against localhost: round trips, datagram boundaries,
//! truncation, connected sockets, peeking, options, and readiness that
//! keeps working over many datagrams.

use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use net::UdpSocket;
use tests::net_util::{join, payload, run, within};

const LIMIT: Duration = Duration::from_secs(10);

async fn pair() -> io::Result<(UdpSocket, UdpSocket)> {
    Ok((UdpSocket::bind("127.0.0.1:0").await?, UdpSocket::bind("127.0.0.1:0").await?))
}

#[test]
fn send_to_and_recv_from_round_trip() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = pair().await?;
        let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
        assert!(a_addr.ip().is_loopback() && a_addr.port() != 0);
        assert_eq!(a.send_to(b"ping", b_addr).await?, 4);
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr));
        assert_eq!(b.send_to(b"pong!", from).await?, 5);
        let (n, from) = a.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"pong!"[..], b_addr));
        Ok(())
    })
}

#[test]
fn datagram_boundaries_are_preserved() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = pair().await?;
        let sizes = [1usize, 0, 100, 1472, 9000, 3];
        for (i, &size) in sizes.iter().enumerate() {
            a.send_to(&payload(i as u64, size), b.local_addr()?).await?;
        }
        let mut buf = vec![0u8; 65536];
        for (i, &size) in sizes.iter().enumerate() {
            let (n, _, truncated) = b.recv_from_truncated(&mut buf).await?;
            assert_eq!(n, size, "datagram {i}");
            assert!(!truncated, "datagram {i} reported truncated");
            assert_eq!(buf[..n], payload(i as u64, size), "datagram {i}");
        }
        // Nothing more is queued.
        assert_eq!(b.try_recv_from(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        Ok(())
    })
}

#[test]
fn a_long_datagram_is_truncated_and_reported() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = pair().await?;
        let to = b.local_addr()?;
        let big = payload(7, 60_000);
        a.send_to(&big, to).await?;
        a.send_to(&big, to).await?;
        a.send_to(b"next", to).await?;

        // The std-like call truncates silently, as the OS does.
        let mut small = [0u8; 1000];
        let (n, from) = b.recv_from(&mut small).await?;
        assert_eq!((n, from), (1000, a.local_addr()?));
        assert_eq!(small[..], big[..1000]);

        // The reporting call says so.
        let (n, _, truncated) = b.recv_from_truncated(&mut small[..10]).await?;
        assert_eq!(n, 10);
        assert!(truncated, "a 60000-byte datagram in 10 bytes was not reported truncated");
        assert_eq!(small[..10], big[..10]);

        // The rest of a truncated datagram is gone; the next one is whole.
        let (n, _, truncated) = b.recv_from_truncated(&mut small).await?;
        assert_eq!((&small[..n], truncated), (&b"next"[..], false));

        // An exact fit is not truncation; a zero-length buffer takes a datagram.
        a.send_to(b"four", to).await?;
        a.send_to(b"gone", to).await?;
        let (n, _, truncated) = b.recv_from_truncated(&mut small[..4]).await?;
        assert_eq!((n, truncated), (4, false));
        let (n, _, truncated) = b.recv_from_truncated(&mut []).await?;
        assert_eq!((n, truncated), (0, true));
        Ok(())
    })
}

#[test]
fn empty_datagrams_arrive() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = pair().await?;
        a.send_to(b"", b.local_addr()?).await?;
        let mut buf = [1u8; 8];
        let (n, _, truncated) = b.recv_from_truncated(&mut buf).await?;
        assert_eq!((n, truncated), (0, false));
        Ok(())
    })
}

#[test]
fn connected_sockets_send_recv_and_filter() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = pair().await?;
        let stranger = UdpSocket::bind("127.0.0.1:0").await?;
        assert_eq!(a.peer_addr().unwrap_err().kind(), io::ErrorKind::NotConnected);
        a.connect(b.local_addr()?).await?;
        b.connect(a.local_addr()?).await?;
        assert_eq!(a.peer_addr()?, b.local_addr()?);

        // The kernel drops datagrams from anyone but the connected peer.
        stranger.send_to(b"not for you", a.local_addr()?).await?;
        b.send(b"from b").await?;
        let mut buf = [0u8; 32];
        let n = a.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"from b");

        a.send(b"0123456789").await?;
        let (n, truncated) = b.recv_truncated(&mut buf[..4]).await?;
        assert_eq!((&buf[..n], truncated), (&b"0123"[..], true));
        assert_eq!(a.try_recv(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        Ok(())
    })
}

#[test]
fn connected_socket_reports_nobody_listening() -> io::Result<()> {
    run(LIMIT, async {
        // Bind and drop a socket to get a port where (almost surely) nothing listens.
        let gone = UdpSocket::bind("127.0.0.1:0").await?.local_addr()?;
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        a.connect(gone).await?;
        a.send(b"anyone?").await?;
        let mut buf = [0u8; 8];
        // Linux reports the ICMP "port unreachable" on the next receive.
        let err = within(LIMIT, "recv after ICMP error", a.recv(&mut buf)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        Ok(())
    })
}

#[test]
fn peek_from_leaves_the_datagram_queued() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = pair().await?;
        a.send_to(b"peekaboo", b.local_addr()?).await?;
        let mut buf = [0u8; 4];
        let (n, from) = b.peek_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"peek"[..], a.local_addr()?));
        let mut whole = [0u8; 16];
        let (n, _) = b.peek_from(&mut whole).await?;
        assert_eq!(&whole[..n], b"peekaboo");
        let (n, _) = b.recv_from(&mut whole).await?;
        assert_eq!(&whole[..n], b"peekaboo");
        assert_eq!(b.try_recv_from(&mut whole).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        Ok(())
    })
}

#[test]
fn options_round_trip() -> io::Result<()> {
    run(LIMIT, async {
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        assert!(!a.broadcast()?);
        a.set_broadcast(true)?;
        assert!(a.broadcast()?);
        a.set_broadcast(false)?;
        assert!(!a.broadcast()?);
        a.set_ttl(17)?;
        assert_eq!(a.ttl()?, 17);
        assert_eq!(a.take_error()?.map(|e| e.to_string()), None);
        assert!(format!("{a:?}").contains("UdpSocket"));
        Ok(())
    })
}

#[test]
fn ipv6_loopback_round_trip() -> io::Result<()> {
    run(LIMIT, async {
        let a = match UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).await {
            Ok(s) => s,
            // No IPv6 on this machine: nothing to test.
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => return Ok(()),
            Err(e) => return Err(e),
        };
        let b = UdpSocket::bind("[::1]:0").await?;
        a.send_to(b"six", b.local_addr()?).await?;
        let mut buf = [0u8; 8];
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"six"[..], a.local_addr()?));
        assert!(matches!(from, SocketAddr::V6(_)));
        Ok(())
    })
}

/// Many rounds of bursts: every round the receiver is parked before the
/// burst arrives, drains the socket and parks again, so a readiness bug
/// shows up as a hang (caught by the time limit) rather than passing by luck.
#[test]
fn readiness_survives_many_bursts() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = pair().await?;
        let to = b.local_addr()?;
        const ROUNDS: usize = 200;
        const BURST: usize = 20;
        for round in 0..ROUNDS {
            // `join` polls the receiver first: it parks, then the burst goes out.
            let receive = async {
                let mut buf = [0u8; 64];
                for i in 0..BURST {
                    let n = b.recv(&mut buf).await?;
                    assert_eq!(&buf[..n], format!("{round}:{i}").as_bytes());
                }
                Ok::<_, io::Error>(())
            };
            let send = async {
                for i in 0..BURST {
                    a.send_to(format!("{round}:{i}").as_bytes(), to).await?;
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

/// A receiving task and a sending task share one socket: each direction
/// parks its own waker.
#[test]
fn reader_and_writer_tasks_share_a_socket() -> io::Result<()> {
    run(LIMIT, async {
        let (a, b) = pair().await?;
        let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
        b.connect(a.local_addr()?).await?;
        a.connect(b.local_addr()?).await?;
        const N: u32 = 500;
        // `b` echoes each datagram back; `a` sends from one task and checks
        // from another, keeping at most a small window in flight.
        let echo = runtime::spawn({
            let b = b.clone();
            async move {
                let mut buf = [0u8; 8];
                for _ in 0..N {
                    let n = b.recv(&mut buf).await?;
                    b.send(&buf[..n]).await?;
                }
                Ok::<_, io::Error>(())
            }
        });
        let (window_tx, mut window_rx) = runtime::sync::mpsc::channel::<()>(8);
        let sender = runtime::spawn({
            let a = a.clone();
            async move {
                for i in 0..N {
                    // Waits while 8 datagrams are unanswered, so none is dropped.
                    window_tx.send(()).await.map_err(|_| io::Error::other("checker gone"))?;
                    a.send(&i.to_be_bytes()).await?;
                }
                Ok::<_, io::Error>(())
            }
        });
        let mut buf = [0u8; 8];
        for i in 0..N {
            let n = a.recv(&mut buf).await?;
            assert_eq!(&buf[..n], i.to_be_bytes());
            window_rx.recv().await.ok_or_else(|| io::Error::other("sender gone"))?;
        }
        sender.await??;
        echo.await??;
        Ok(())
    })
}

#[test]
fn std_conversions_keep_the_socket() -> io::Result<()> {
    run(LIMIT, async {
        let std_sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let addr = std_sock.local_addr()?;
        let a = UdpSocket::from_std(std_sock)?;
        assert_eq!(a.local_addr()?, addr);
        let b = UdpSocket::bind("127.0.0.1:0").await?;
        b.send_to(b"to std", addr).await?;
        let mut buf = [0u8; 8];
        let (n, _) = a.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"to std");

        let back = a.into_std()?;
        back.set_nonblocking(false)?;
        back.set_read_timeout(Some(LIMIT))?;
        b.send_to(b"again", addr).await?;
        let (n, _) = back.recv_from(&mut buf)?;
        assert_eq!(&buf[..n], b"again");
        Ok(())
    })
}

#[test]
fn bind_errors_name_the_address() -> io::Result<()> {
    run(LIMIT, async {
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        let taken = a.local_addr()?;
        let err = UdpSocket::bind(taken).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&taken.to_string()), "{err}");
        Ok(())
    })
}

#[test]
fn udp_socket_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<UdpSocket>();
}
