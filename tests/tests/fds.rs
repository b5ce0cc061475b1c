//! File descriptors: every socket is deregistered and closed exactly once,
//! whichever way it goes (drop, split halves, abort, runtime drop), and
//! `into_std` / `from_std` hand sockets over intact.
//!
//! Every test holds `fd_lock`: the harness runs tests on several threads
//! and this process's fd count is shared by all of them.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use net::{TcpListener, TcpStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use runtime::Runtime;
use tests::fd_lock;
use tests::net_util::{echo_connection, open_fds, ping, registered_fds, run};

const LIMIT: Duration = Duration::from_secs(20);
const CYCLES: usize = 200;

/// An open `/dev/null`, remembered by inode: if a stray close hits its fd
/// number, `check` sees the fd gone or reused by another file.
struct Canary {
    file: File,
    dev: u64,
    ino: u64,
}

impl Canary {
    fn open() -> io::Result<Canary> {
        let file = File::open("/dev/null")?;
        let meta = file.metadata()?;
        Ok(Canary { file, dev: meta.dev(), ino: meta.ino() })
    }

    fn check(&self) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        let meta = self.file.metadata().map_err(|e| io::Error::new(e.kind(), format!("canary fd {fd}: {e}")))?;
        assert_eq!((meta.dev(), meta.ino()), (self.dev, self.ino), "canary fd {fd} now names another file");
        Ok(())
    }
}

#[test]
fn connect_accept_drop_cycles_release_every_fd() -> io::Result<()> {
    let _fds = fd_lock();
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // A socket registers with the loop when first polled: the listener
        // at its first accept.
        let base_registered = registered_fds()? + 1;
        let base_open = open_fds()?;
        let mut canaries = Vec::new();

        for i in 0..CYCLES {
            let mut client = TcpStream::connect(addr).await?;
            let (mut conn, _) = listener.accept().await?;
            assert_eq!(open_fds()?, base_open + canaries.len() + 2, "cycle {i}: open while connected");

            let byte = [i as u8];
            client.write_all(&byte).await?;
            let mut got = [0u8];
            conn.read_exact(&mut got).await?;
            assert_eq!(got, byte);
            assert_eq!(registered_fds()?, base_registered + 2, "cycle {i}: registered while connected");

            // Every way a stream can go away.
            match i % 4 {
                0 => {
                    drop(client);
                    drop(conn);
                }
                1 => {
                    drop(conn);
                    drop(client);
                }
                2 => {
                    let (read, write) = client.into_split();
                    drop(read);
                    assert_eq!(registered_fds()?, base_registered + 2, "cycle {i}: one half still holds the fd");
                    drop(write);
                    drop(conn);
                }
                _ => {
                    let (read, write) = client.into_split();
                    drop(write);
                    drop(conn);
                    drop(read);
                }
            }
            assert_eq!(registered_fds()?, base_registered, "cycle {i}: registered after drop");
            assert_eq!(open_fds()?, base_open + canaries.len(), "cycle {i}: open after drop");
            if i % 20 == 0 {
                // Likely takes a number just freed: a late second close would hit it.
                canaries.push(Canary::open()?);
            }
        }
        canaries.iter().try_for_each(Canary::check)?;
        drop(canaries);
        drop(listener);
        assert_eq!(registered_fds()?, base_registered - 1, "listener still registered");
        assert_eq!(open_fds()?, base_open - 1, "listener still open");
        Ok(())
    })
}

#[test]
fn aborting_a_task_closes_the_stream_it_owns() -> io::Result<()> {
    let _fds = fd_lock();
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        // The listener registers with the loop at its first accept.
        let base_registered = registered_fds()? + 1;
        let base_open = open_fds()?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut conn, _) = listener.accept().await?;

        // The task echoes one byte, then parks reading a byte that never comes.
        let task = runtime::spawn(async move {
            let mut client = client;
            let mut byte = [0u8];
            client.read_exact(&mut byte).await?;
            client.write_all(&byte).await?;
            client.read(&mut byte).await
        });
        conn.write_all(b"?").await?;
        let mut ack = [0u8];
        conn.read_exact(&mut ack).await?;
        // The write and the next (pending) read happened in one poll: the task is parked.
        assert!(!task.is_finished());
        assert_eq!(registered_fds()?, base_registered + 2);

        task.abort();
        match task.await {
            Err(e) if e.is_cancelled() => {}
            other => panic!("aborted task finished with {other:?}"),
        }
        assert_eq!(registered_fds()?, base_registered + 1, "aborted task's stream still registered");
        assert_eq!(open_fds()?, base_open + 1, "aborted task's stream still open");
        // The peer sees the close.
        assert_eq!(conn.read(&mut ack).await?, 0);
        drop(conn);
        assert_eq!((registered_fds()?, open_fds()?), (base_registered, base_open));
        Ok(())
    })
}

#[test]
fn dropping_the_runtime_closes_sockets_of_pending_tasks() -> io::Result<()> {
    const CLIENTS: usize = 10;
    let _fds = fd_lock();
    let before = open_fds()?;
    let rt = Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // A detached accept loop that outlives `block_on`, parked in its
        // eleventh accept when the runtime drops.
        runtime::spawn(async move {
            for _ in 0..=CLIENTS {
                let (conn, _) = listener.accept().await?;
                runtime::spawn(echo_connection(conn));
            }
            Ok::<_, io::Error>(())
        });
        for i in 0..CLIENTS {
            let mut client = TcpStream::connect(addr).await?;
            ping(&mut client, &[i as u8]).await?;
            // Parked on a read that only the runtime's shutdown ends.
            runtime::spawn(async move {
                let mut buf = [0u8];
                client.read(&mut buf).await
            });
        }
        Ok::<_, io::Error>(())
    })?;
    // The listener, the clients and their server sides.
    assert_eq!(rt.metrics().registered_fds, 1 + 2 * CLIENTS);
    assert!(open_fds()? > before + 2 * CLIENTS, "sockets already closed before the runtime was dropped");
    drop(rt);
    assert_eq!(open_fds()?, before, "fds left open after dropping the runtime");
    Ok(())
}

#[test]
fn stream_into_std_hands_back_an_open_working_socket() -> io::Result<()> {
    let _fds = fd_lock();
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut conn, peer) = listener.accept().await?;
        let base_registered = registered_fds()?;
        let base_open = open_fds()?;

        let mut std_client = client.into_std()?;
        assert_eq!(registered_fds()?, base_registered - 1, "into_std left the fd registered");
        assert_eq!(open_fds()?, base_open, "into_std closed the fd");
        assert_eq!(std_client.local_addr()?, peer);

        std_client.set_nonblocking(false)?;
        std_client.set_read_timeout(Some(Duration::from_secs(5)))?;
        // The peer writes (and flushes: io_uring sends buffered writes at the
        // next tick) before the blocking read, so the read never stalls the loop.
        conn.write_all(b"to std").await?;
        conn.flush().await?;
        let mut buf = [0u8; 6];
        std_client.read_exact(&mut buf)?;
        assert_eq!(&buf, b"to std");
        std_client.write_all(b"from std")?;
        let mut back = [0u8; 8];
        conn.read_exact(&mut back).await?;
        assert_eq!(&back, b"from std");

        drop(std_client);
        assert_eq!(conn.read(&mut back).await?, 0);
        assert_eq!(open_fds()?, base_open - 1);
        Ok(())
    })
}

fn is_nonblocking(fd: &impl AsRawFd) -> io::Result<bool> {
    // SAFETY: F_GETFL on a live fd takes no pointer.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags & libc::O_NONBLOCK != 0)
}

#[test]
fn listener_and_stream_round_trip_through_std() -> io::Result<()> {
    let _fds = fd_lock();
    run(LIMIT, async {
        let base_registered = registered_fds()?;
        let base_open = open_fds()?;

        // weft listener -> std: still listening, now accepting blocking.
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let std_listener = listener.into_std()?;
        assert_eq!(registered_fds()?, base_registered);
        assert_eq!(std_listener.local_addr()?, addr);
        std_listener.set_nonblocking(false)?;
        // Connecting to a listening socket completes in the kernel's backlog.
        let std_client = std::net::TcpStream::connect(addr)?;
        let (std_conn, peer) = std_listener.accept()?;
        assert_eq!(peer, std_client.local_addr()?);

        // std -> weft, for both: switched to non-blocking, registered
        // with the loop once polled.
        let listener = TcpListener::from_std(std_listener)?;
        let mut conn = TcpStream::from_std(std_conn)?;
        let mut client = TcpStream::from_std(std_client)?;
        assert_eq!(open_fds()?, base_open + 3);
        for fd in [listener.as_raw_fd(), conn.as_raw_fd(), client.as_raw_fd()] {
            assert!(is_nonblocking(&fd)?, "fd {fd} still blocking after from_std");
        }

        client.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        conn.write_all(b"pong").await?;
        client.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"pong");
        assert_eq!(registered_fds()?, base_registered + 2);

        // The converted listener accepts weft connections.
        let _second = TcpStream::connect(addr).await?;
        let (_accepted, _) = listener.accept().await?;
        drop((listener, conn, client, _second, _accepted));
        assert_eq!((registered_fds()?, open_fds()?), (base_registered, base_open));
        Ok(())
    })
}
