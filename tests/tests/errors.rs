//! Error paths: refused connects, resets, writes to a closed peer (no
//! SIGPIPE), addresses in use, and IPv6 loopback.

use std::io;
use std::mem;
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use net::{TcpListener, TcpStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use tests::net_util::{ping, run, within, EchoServer};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn connect_to_closed_port_is_refused_quickly() -> io::Result<()> {
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    run(LIMIT, async move {
        let start = Instant::now();
        let res = within(Duration::from_secs(5), "refused connect", async {
            Ok(TcpStream::connect(("127.0.0.1", port)).await)
        })
        .await?;
        let err = res.expect_err("connected to a port with no listener");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(start.elapsed() < Duration::from_secs(2), "refusal took {:?}", start.elapsed());
        Ok(())
    })
}

/// Makes `close` send RST instead of FIN (`SO_LINGER` on, timeout 0; see socket(7)).
fn set_linger_zero(fd: &impl AsRawFd) -> io::Result<()> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: passes a pointer to a live `linger` and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[test]
fn reset_mid_stream_fails_only_that_connection() -> io::Result<()> {
    run(LIMIT, async {
        let server = EchoServer::start().await?;
        let mut healthy = TcpStream::connect(server.addr()).await?;
        ping(&mut healthy, b"before").await?;

        // The victim exchanges data (so its server task is mid-stream,
        // parked in a read), then resets.
        let mut victim = TcpStream::connect(server.addr()).await?;
        let victim_addr = victim.local_addr()?;
        ping(&mut victim, b"about to reset").await?;
        let victim_task = server.connection(victim_addr).ok_or_else(|| io::Error::other("victim not accepted"))?;
        set_linger_zero(&victim)?;
        drop(victim);

        let outcome =
            within(Duration::from_secs(5), "the reset reaching the server", async { Ok(victim_task.await?) }).await?;
        let err = outcome.expect_err("the server read past a reset without an error");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");

        // The error stayed in that task: the old connection and new ones work.
        assert!(server.is_accepting(), "accept loop ended");
        ping(&mut healthy, b"after").await?;
        let mut fresh = TcpStream::connect(server.addr()).await?;
        ping(&mut fresh, b"new connection").await?;

        let healthy_addr = healthy.local_addr()?;
        AsyncWriteExt::shutdown(&mut healthy).await?;
        let mut buf = [0u8; 8];
        assert_eq!(healthy.read(&mut buf).await?, 0);
        let conn = server.connection(healthy_addr).ok_or_else(|| io::Error::other("healthy not recorded"))?;
        assert_eq!(conn.await??, 11, "bytes echoed on the healthy connection");
        Ok(())
    })
}

/// Blocks SIGPIPE on this thread (where `block_on` runs every task) for
/// the guard's life, so a SIGPIPE raised by a send stays pending where
/// `sigpending` sees it. Rust ignores SIGPIPE by default, so surviving
/// proves nothing on its own; a pending signal is the evidence. On Linux a
/// blocked signal stays pending even while its action is "ignore".
struct SigpipeBlocked {
    old: libc::sigset_t,
}

impl SigpipeBlocked {
    fn new() -> io::Result<SigpipeBlocked> {
        let set = sigpipe_set();
        // SAFETY: zeroed sigset_t is a valid out-parameter; sigprocmask fills it.
        let mut old: libc::sigset_t = unsafe { mem::zeroed() };
        // SAFETY: both pointers are to live sigset_t values.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(SigpipeBlocked { old })
    }

    /// True if a SIGPIPE is pending for this thread or process.
    fn pending(&self) -> io::Result<bool> {
        // SAFETY: zeroed sigset_t is a valid out-parameter.
        let mut set: libc::sigset_t = unsafe { mem::zeroed() };
        // SAFETY: `set` is a live sigset_t.
        if unsafe { libc::sigpending(&mut set) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `set` was filled by sigpending.
        Ok(unsafe { libc::sigismember(&set, libc::SIGPIPE) } == 1)
    }

    /// Takes a pending SIGPIPE, if any, so unblocking cannot deliver it.
    fn discard(&self) -> io::Result<()> {
        if self.pending()? {
            let set = sigpipe_set();
            let mut sig = 0;
            // SAFETY: SIGPIPE is pending and blocked, so sigwait returns at once.
            let rc = unsafe { libc::sigwait(&set, &mut sig) };
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
        }
        Ok(())
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        let _ = self.discard();
        // SAFETY: restores the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: zeroed sigset_t is valid storage; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a live sigset_t and SIGPIPE a valid signal.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

/// Writes to `stream`, whose peer has closed, until the kernel refuses;
/// bounded, since the first write after the peer's close may still be accepted.
async fn write_until_refused(stream: &mut TcpStream) -> io::Result<io::Error> {
    let chunk = [0x5a_u8; 1024];
    for _ in 0..1000 {
        if let Err(e) = stream.write(&chunk).await {
            return Ok(e);
        }
    }
    Err(io::Error::other("1000 writes to a closed peer all succeeded"))
}

#[test]
fn write_to_closed_peer_is_an_error_without_sigpipe() -> io::Result<()> {
    let blocked = SigpipeBlocked::new()?;
    blocked.discard()?;
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (conn, _) = listener.accept().await?;
        drop(conn);

        // The peer's FIN has arrived; its RST answers our next segment.
        let mut buf = [0u8; 8];
        assert_eq!(client.read(&mut buf).await?, 0, "expected EOF from the closed peer");
        let err = write_until_refused(&mut client).await?;
        assert!(
            matches!(err.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset),
            "unexpected error writing to a closed peer: {err:?}"
        );
        // Once refused, always refused.
        let again = client.write_all(b"again").await.expect_err("write succeeded after the peer reset");
        assert!(matches!(again.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset), "{again:?}");
        // `AsyncWriteExt` through the owned write half takes the same path.
        let (_read, mut write) = client.into_split();
        let err = write.write_all(b"half").await.expect_err("write half wrote to a reset connection");
        assert!(matches!(err.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset), "{err:?}");
        Ok(())
    })?;
    assert!(!blocked.pending()?, "a weft write raised SIGPIPE");

    // Control: a plain write(2) to a reset socket does raise SIGPIPE, so the
    // check above can fail.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (conn, _) = listener.accept()?;
    set_linger_zero(&conn)?;
    drop(conn);
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 1];
    let reset = io::Read::read(&mut &client, &mut buf).expect_err("read from a reset socket succeeded");
    assert_eq!(reset.kind(), io::ErrorKind::ConnectionReset, "{reset}");
    // SAFETY: writes one byte from a live buffer to our own fd.
    let rc = unsafe { libc::write(client.as_raw_fd(), b"x".as_ptr().cast(), 1) };
    assert_eq!(rc, -1, "write to a reset socket succeeded");
    assert!(blocked.pending()?, "write(2) to a reset socket raised no SIGPIPE: the check cannot work here");
    blocked.discard()?;
    assert!(!blocked.pending()?);
    Ok(())
}

#[test]
fn bind_address_in_use_names_the_address() -> io::Result<()> {
    run(LIMIT, async {
        let first = TcpListener::bind("127.0.0.1:0").await?;
        let addr = first.local_addr()?;
        let err = TcpListener::bind(addr).await.expect_err("two listeners bound one address");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains(&addr.to_string()), "error does not name {addr}: {err}");

        // The first listener is unharmed.
        let _client = TcpStream::connect(addr).await?;
        let (_conn, _) = first.accept().await?;
        Ok(())
    })
}

#[test]
fn ipv6_loopback_bind_and_connect() -> io::Result<()> {
    run(LIMIT, async {
        let server = match EchoServer::start_on(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).await {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable || e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                eprintln!("skipping: no IPv6 loopback on this host ({e})");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let addr = server.addr();
        assert!(addr.is_ipv6() && addr.ip().is_loopback() && addr.port() != 0, "{addr}");

        let mut client = TcpStream::connect(addr).await?;
        assert_eq!(client.peer_addr()?, addr);
        let local = client.local_addr()?;
        assert_eq!(local.ip(), Ipv6Addr::LOCALHOST);
        ping(&mut client, b"over ipv6").await?;

        // The string form resolves to the same socket address.
        let mut by_name = TcpStream::connect(format!("[::1]:{}", addr.port())).await?;
        ping(&mut by_name, b"by string").await?;

        drop(client);
        let conn = server.connection(local).ok_or_else(|| io::Error::other("IPv6 peer not recorded as accepted"))?;
        assert_eq!(conn.await??, 9);
        Ok(())
    })
}
