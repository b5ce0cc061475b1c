//! Socket options on TCP, UDP and Unix sockets, and `TcpSocket` for the
//! ones that count before bind or connect: each set then read back, and
//! what they change seen from outside (two listeners on one port, a burst
//! of datagrams that fits in a big receive buffer, a reset on close).

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use net::{TcpListener, TcpSocket, TcpStream, UdpSocket, UnixDatagram, UnixStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use tests::net_util::run;

const LIMIT: Duration = Duration::from_secs(10);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[test]
fn tcp_socket_options_round_trip() -> io::Result<()> {
    for socket in [TcpSocket::new_v4()?, TcpSocket::new_v6()?] {
        for on in [true, false] {
            socket.set_reuseaddr(on)?;
            assert_eq!(socket.reuseaddr()?, on);
            socket.set_reuseport(on)?;
            assert_eq!(socket.reuseport()?, on);
            socket.set_keepalive(on)?;
            assert_eq!(socket.keepalive()?, on);
            socket.set_nodelay(on)?;
            assert_eq!(socket.nodelay()?, on);
        }
        for linger in [Some(Duration::from_secs(5)), Some(Duration::ZERO), None] {
            socket.set_linger(linger)?;
            assert_eq!(socket.linger()?, linger);
        }
        // Linux doubles what it is asked for; every OS keeps at least that.
        socket.set_recv_buffer_size(96 * 1024)?;
        assert!(socket.recv_buffer_size()? >= 96 * 1024, "{}", socket.recv_buffer_size()?);
        socket.set_send_buffer_size(48 * 1024)?;
        assert!(socket.send_buffer_size()? >= 48 * 1024, "{}", socket.send_buffer_size()?);
    }
    Ok(())
}

#[test]
fn stream_listener_and_datagram_options_round_trip() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind(loopback()).await?;
        listener.set_ttl(42)?;
        assert_eq!(listener.ttl()?, 42);
        let stream = TcpStream::connect(listener.local_addr()?).await?;
        stream.set_ttl(17)?;
        assert_eq!(stream.ttl()?, 17);
        assert_eq!(stream.set_ttl(1 << 31).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        stream.set_keepalive(true)?;
        assert!(stream.keepalive()?);
        stream.set_linger(Some(Duration::from_secs(3)))?;
        assert_eq!(stream.linger()?, Some(Duration::from_secs(3)));
        stream.set_linger(None)?;
        assert_eq!(stream.linger()?, None);
        stream.set_recv_buffer_size(64 * 1024)?;
        assert!(stream.recv_buffer_size()? >= 64 * 1024);
        stream.set_send_buffer_size(64 * 1024)?;
        assert!(stream.send_buffer_size()? >= 64 * 1024);

        let udp = UdpSocket::bind(loopback()).await?;
        udp.set_recv_buffer_size(256 * 1024)?;
        assert!(udp.recv_buffer_size()? >= 256 * 1024);
        udp.set_send_buffer_size(128 * 1024)?;
        assert!(udp.send_buffer_size()? >= 128 * 1024);
        udp.set_ttl(9)?;
        assert_eq!(udp.ttl()?, 9);

        let (unix, _peer) = UnixStream::pair()?;
        unix.set_recv_buffer_size(100 * 1024)?;
        assert!(unix.recv_buffer_size()? >= 100 * 1024);
        unix.set_send_buffer_size(100 * 1024)?;
        assert!(unix.send_buffer_size()? >= 100 * 1024);
        let (dgram, _peer) = UnixDatagram::pair()?;
        dgram.set_recv_buffer_size(100 * 1024)?;
        assert!(dgram.recv_buffer_size()? >= 100 * 1024);
        dgram.set_send_buffer_size(100 * 1024)?;
        assert!(dgram.send_buffer_size()? >= 100 * 1024);
        Ok(())
    })
}

/// Two listeners bind one port with `SO_REUSEPORT`; without it the second
/// bind fails. Both accept connections made to that port.
#[test]
fn reuseport_lets_two_listeners_bind_one_port() -> io::Result<()> {
    run(LIMIT, async {
        let first = TcpSocket::new_v4()?;
        first.set_reuseport(true)?;
        first.bind(loopback())?;
        let addr = first.local_addr()?;
        let first = first.listen(128)?;

        let plain = TcpSocket::new_v4()?;
        assert_eq!(plain.bind(addr).unwrap_err().kind(), io::ErrorKind::AddrInUse);

        let second = TcpSocket::new_v4()?;
        second.set_reuseport(true)?;
        second.bind(addr)?;
        let second = second.listen(128)?;
        assert_eq!(second.local_addr()?, addr);

        // Linux spreads connections over both by a hash of the client's
        // address; a few dozen clients reach each of them (bounded loop).
        let mut clients = Vec::new();
        let (mut to_first, mut to_second) = (0, 0);
        for _ in 0..64 {
            clients.push(TcpStream::connect(addr).await?);
            while let Ok(Ok(_)) = runtime::time::timeout(Duration::from_millis(5), first.accept()).await {
                to_first += 1;
            }
            while let Ok(Ok(_)) = runtime::time::timeout(Duration::from_millis(5), second.accept()).await {
                to_second += 1;
            }
            if cfg!(not(target_os = "linux")) || (to_first > 0 && to_second > 0) {
                break;
            }
        }
        println!("connections accepted: first listener {to_first}, second {to_second}");
        assert!(to_first + to_second >= 1);
        if cfg!(target_os = "linux") {
            assert!(to_first > 0 && to_second > 0, "first {to_first}, second {to_second}");
        }
        Ok(())
    })
}

/// The datagrams of a burst of `count` that a receiver which reads only
/// after the burst still finds queued, with `SO_RCVBUF` at `rcvbuf` (or
/// the default).
async fn survivors(count: usize, rcvbuf: Option<u32>) -> io::Result<(usize, u32)> {
    let receiver = UdpSocket::bind(loopback()).await?;
    if let Some(size) = rcvbuf {
        receiver.set_recv_buffer_size(size)?;
    }
    let granted = receiver.recv_buffer_size()?;
    let sender = std::net::UdpSocket::bind(loopback())?;
    let to = receiver.local_addr()?;
    let datagram = [7u8; 512];
    // Loopback delivers each datagram into the receiver's queue inside
    // sendto, or drops it there if the queue is full.
    for _ in 0..count {
        sender.send_to(&datagram, to)?;
    }
    let mut buf = [0u8; 1024];
    let mut got = 0;
    // Bounded: at most `count` datagrams are queued.
    for _ in 0..=count {
        match receiver.try_recv_from(&mut buf) {
            Ok((n, _)) => {
                assert_eq!(n, datagram.len());
                got += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok((got, granted))
}

/// The burst: 1,000 datagrams arrive before the reader runs. The
/// default buffer drops part of them in the kernel; 4 MiB keeps them all.
#[test]
fn big_receive_buffer_keeps_a_udp_burst() -> io::Result<()> {
    const BURST: usize = 1000;
    const BIG: u32 = 4 << 20;
    run(LIMIT, async {
        let (default_got, default_size) = survivors(BURST, None).await?;
        let (big_got, big_size) = survivors(BURST, Some(BIG)).await?;
        println!("burst of {BURST} datagrams of 512 B, read after the burst:");
        println!("  default SO_RCVBUF ({default_size} B): {default_got} received, {} lost", BURST - default_got);
        println!("  SO_RCVBUF 4 MiB   ({big_size} B): {big_got} received, {} lost", BURST - big_got);
        assert!(big_got >= default_got);
        // The kernel caps the request at net.core.rmem_max (4 MiB on our
        // machines); a smaller cap elsewhere cannot hold the burst.
        if big_size >= BIG {
            assert_eq!(big_got, BURST, "a {big_size} B buffer lost datagrams");
        } else {
            println!("  (rmem_max caps SO_RCVBUF at {big_size} B here: the no-loss check is skipped)");
        }
        Ok(())
    })
}

/// `set_linger(Some(ZERO))` makes close reset the connection: the peer
/// reads `ConnectionReset` instead of end of stream.
#[test]
fn linger_zero_resets_on_close() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind(loopback()).await?;
        let addr = listener.local_addr()?;
        for reset in [false, true] {
            let mut client = TcpStream::connect(addr).await?;
            let (mut conn, _) = listener.accept().await?;
            conn.write_all(b"bye").await?;
            let mut buf = [0u8; 3];
            client.read_exact(&mut buf).await?;
            if reset {
                conn.set_linger(Some(Duration::ZERO))?;
            }
            drop(conn);
            let mut rest = [0u8; 16];
            match client.read(&mut rest).await {
                Ok(0) => assert!(!reset, "end of stream after a linger(0) close"),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => assert!(reset, "reset after a plain close"),
                other => panic!("unexpected read result {other:?}"),
            }
        }
        Ok(())
    })
}

/// `TcpSocket::connect` and `from_std_stream`: a configured client socket
/// connects and carries data, its options kept.
#[test]
fn tcp_socket_connects_with_its_options() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind(loopback()).await?;
        let addr = listener.local_addr()?;
        let socket = TcpSocket::new_v4()?;
        socket.set_keepalive(true)?;
        socket.set_nodelay(true)?;
        socket.bind(loopback())?;
        let local = socket.local_addr()?;
        let mut stream = socket.connect(addr).await?;
        assert_eq!(stream.local_addr()?, local);
        assert!(stream.keepalive()? && stream.nodelay()?);
        let (mut conn, peer) = listener.accept().await?;
        assert_eq!(peer, local);
        stream.write_all(b"hello").await?;
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"hello");

        // A refused connect reports it.
        drop(listener);
        let refused = TcpSocket::new_v4()?.connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        Ok(())
    })
}

#[test]
fn tcp_socket_adopts_an_unconnected_std_socket() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind(loopback()).await?;
        // std cannot make an unconnected TcpStream; a library that
        // configures sockets hands one over like this.
        let unconnected = std::net::TcpStream::from(OwnedFd::from(TcpSocket::new_v4()?));
        let socket = TcpSocket::from_std_stream(unconnected)?;
        socket.set_nodelay(true)?;
        let stream = socket.connect(listener.local_addr()?).await?;
        assert!(stream.nodelay()?);
        Ok(())
    })
}
