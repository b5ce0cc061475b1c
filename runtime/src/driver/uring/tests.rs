//! The completion driver through the runtime: byte streams over Unix
//! socket pairs, readiness waits, and what dropping leaves behind.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::io::Async;
use crate::{Backend, Builder, Runtime};

fn uring() -> Runtime {
    Builder::new().backend(Backend::IoUring).build().expect("io_uring runtime")
}

#[test]
fn stream_round_trip() -> io::Result<()> {
    let rt = uring();
    rt.block_on(async {
        let (a, b) = UnixStream::pair()?;
        let (a, b) = (Async::new(a)?, Async::new(b)?);
        let n = poll_fn(|cx| a.poll_write(cx, b"hello")).await?;
        assert_eq!(n, 5);
        let mut buf = [0u8; 16];
        let n = crate::time::timeout(Duration::from_secs(5), poll_fn(|cx| b.poll_read(cx, &mut buf)))
            .await
            .map_err(|_| io::Error::other("read timed out"))??;
        assert_eq!(&buf[..n], b"hello");
        Ok(())
    })
}

#[test]
fn plain_peer_sees_writes_and_eof() -> io::Result<()> {
    let rt = uring();
    let (a, mut peer) = UnixStream::pair()?;
    rt.block_on(async {
        let a = Async::new(a)?;
        poll_fn(|cx| a.poll_write(cx, b"bytes")).await?;
        poll_fn(|cx| a.poll_flush(cx)).await?;
        drop(a);
        Ok::<(), io::Error>(())
    })?;
    let mut got = Vec::new();
    peer.read_to_end(&mut got)?;
    assert_eq!(got, b"bytes");
    peer.write_all(b"x").ok();
    Ok(())
}

#[test]
fn accept_through_poll() -> io::Result<()> {
    let rt = uring();
    rt.block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let listener = Async::new(listener)?;
        let client = std::thread::spawn(move || -> io::Result<()> {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.write_all(b"ping")?;
            let mut back = [0u8; 4];
            s.read_exact(&mut back)?;
            assert_eq!(&back, b"ping");
            Ok(())
        });
        let (stream, _) = crate::time::timeout(Duration::from_secs(5), listener.read_with(|l| l.accept()))
            .await
            .map_err(|_| io::Error::other("accept timed out"))??;
        let stream = Async::new(stream)?;
        let mut buf = [0u8; 4];
        let n = crate::time::timeout(Duration::from_secs(5), poll_fn(|cx| stream.poll_read(cx, &mut buf)))
            .await
            .map_err(|_| io::Error::other("read timed out"))??;
        poll_fn(|cx| stream.poll_write(cx, &buf[..n])).await?;
        poll_fn(|cx| stream.poll_flush(cx)).await?;
        client.join().map_err(|_| io::Error::other("client panicked"))??;
        Ok(())
    })
}
