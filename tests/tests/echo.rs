//! Echo round trips through an in-process server: single messages from one
//! byte to 8 MiB written in odd-sized chunks, and a thousand concurrent clients.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use net::TcpStream;
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use tests::net_util::{check_bytes, odd_chunks, payload, run, within, EchoServer};

/// Sends `data` in odd-sized chunks while another task reads the echo
/// concurrently (so full socket buffers cannot deadlock), then shuts down
/// the write side; the echo must be exactly `data`, followed by EOF.
async fn round_trip(server: &EchoServer, data: Vec<u8>) -> io::Result<()> {
    let stream = TcpStream::connect(server.addr()).await?;
    stream.set_nodelay(true)?;
    let local = stream.local_addr()?;
    let data = Arc::new(data);
    let (mut reader, mut writer) = stream.into_split();

    let expected = data.clone();
    let read_task = runtime::spawn(async move {
        // An odd buffer size, so reads end in the middle of the writes' chunks.
        let mut buf = vec![0u8; 24_571];
        let mut received = 0;
        // Each read takes at least one byte or is the EOF that ends the loop.
        for _ in 0..=expected.len() {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            check_bytes("echo", &expected, received, &buf[..n])?;
            received += n;
        }
        if received != expected.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("EOF after {received} of {} echoed bytes", expected.len()),
            ));
        }
        Ok(())
    });

    for chunk in odd_chunks(&data) {
        writer.write_all(chunk).await?;
    }
    writer.shutdown().await?;
    read_task.await??;

    // The server saw every byte and then a clean EOF.
    let conn = server.connection(local).ok_or_else(|| io::Error::other(format!("server never accepted {local}")))?;
    assert_eq!(conn.await??, data.len() as u64, "bytes echoed by the server");
    Ok(())
}

fn echo_of_len(len: usize, seed: u64) -> io::Result<()> {
    run(Duration::from_secs(30), async {
        let server = EchoServer::start().await?;
        round_trip(&server, payload(seed, len)).await
    })
}

#[test]
fn one_byte() -> io::Result<()> {
    echo_of_len(1, 1)
}

#[test]
fn sixty_four_kib() -> io::Result<()> {
    echo_of_len(64 * 1024, 2)
}

#[test]
fn eight_mib() -> io::Result<()> {
    echo_of_len(8 * 1024 * 1024, 3)
}

#[test]
fn sequential_messages_on_one_server() -> io::Result<()> {
    run(Duration::from_secs(30), async {
        let server = EchoServer::start().await?;
        for (i, len) in [0, 1, 2, 4093, 4096, 65535, 65536, 65537].into_iter().enumerate() {
            round_trip(&server, payload(100 + i as u64, len)).await?;
        }
        assert!(server.is_accepting());
        Ok(())
    })
}

const CLIENTS: usize = 1_000;
const MESSAGES: usize = 100;
const MESSAGE_LEN: usize = 64;

/// Message `m` of client `c`: both ids in the first 16 bytes (so crossed
/// wires show), pseudo-random bytes after.
fn message(c: usize, m: usize) -> Vec<u8> {
    let mut msg = payload(((c as u64) << 32) | m as u64, MESSAGE_LEN);
    msg[..8].copy_from_slice(&(c as u64).to_le_bytes());
    msg[8..16].copy_from_slice(&(m as u64).to_le_bytes());
    msg
}

/// One client: each message written, then its echo read and checked, then EOF.
async fn ping_pong_client(addr: SocketAddr, c: usize) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut back = [0u8; MESSAGE_LEN];
    for m in 0..MESSAGES {
        let msg = message(c, m);
        stream.write_all(&msg).await?;
        stream.read_exact(&mut back).await?;
        check_bytes(&format!("client {c} message {m}"), &msg, 0, &back)?;
    }
    AsyncWriteExt::shutdown(&mut stream).await?;
    let n = stream.read(&mut back).await?;
    assert_eq!(n, 0, "client {c}: data after the last echo");
    Ok(())
}

#[test]
fn thousand_concurrent_clients() -> io::Result<()> {
    runtime::block_on(within(Duration::from_secs(60), "1,000 clients x 100 messages", async {
        let server = EchoServer::start().await?;
        let clients: Vec<_> = (0..CLIENTS).map(|c| runtime::spawn(ping_pong_client(server.addr(), c))).collect();
        for (c, client) in clients.into_iter().enumerate() {
            client.await?.map_err(|e| io::Error::new(e.kind(), format!("client {c}: {e}")))?;
        }
        let conns = server.take_connections();
        assert_eq!(conns.len(), CLIENTS, "connections accepted");
        for (peer, conn) in conns {
            let echoed = conn.await?.map_err(|e| io::Error::new(e.kind(), format!("server side of {peer}: {e}")))?;
            assert_eq!(echoed, (MESSAGES * MESSAGE_LEN) as u64, "bytes echoed to {peer}");
        }
        Ok(())
    }))
}
