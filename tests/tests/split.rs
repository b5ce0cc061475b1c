//! Split streams: borrowed halves driven together in one task, owned halves
//! in two tasks, reuniting, and the FIN sent by dropping the write half.

use std::io;
use std::time::Duration;

use net::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpListener, TcpStream, WriteHalf};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use tests::net_util::{check_bytes, join, odd_chunks, payload, ping, run, within, EchoServer};

const LIMIT: Duration = Duration::from_secs(20);

#[allow(dead_code)]
fn halves_cross_tasks() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<TcpStream>();
    sync::<TcpStream>();
    send::<OwnedReadHalf>();
    send::<OwnedWriteHalf>();
    send::<ReadHalf<'static>>();
    send::<WriteHalf<'static>>();
}

#[test]
fn borrowed_halves_in_one_task() -> io::Result<()> {
    run(LIMIT, async {
        let server = EchoServer::start().await?;
        let mut stream = TcpStream::connect(server.addr()).await?;
        // More than the socket buffers hold: neither side can finish alone.
        let data = payload(21, 4 * 1024 * 1024);
        let (mut reader, mut writer) = stream.split();
        let writing = async {
            for chunk in odd_chunks(&data) {
                writer.write_all(chunk).await?;
            }
            writer.shutdown().await
        };
        let mut echoed = Vec::new();
        let (wrote, read) = join(writing, reader.read_to_end(&mut echoed)).await;
        wrote?;
        assert_eq!(read?, data.len());
        check_bytes("echo", &data, 0, &echoed)?;
        Ok(())
    })
}

#[test]
fn owned_halves_in_two_tasks_then_reunite() -> io::Result<()> {
    run(LIMIT, async {
        let server = EchoServer::start().await?;
        let stream = TcpStream::connect(server.addr()).await?;
        let local = stream.local_addr()?;
        let data = payload(22, 2 * 1024 * 1024);
        let len = data.len();
        let (mut reader, mut writer) = stream.into_split();
        assert_eq!(reader.local_addr()?, local);
        assert_eq!(writer.peer_addr()?, server.addr());

        let write_task = runtime::spawn(async move {
            for chunk in odd_chunks(&data) {
                writer.write_all(chunk).await?;
            }
            Ok::<_, io::Error>((writer, data))
        });
        let read_task = runtime::spawn(async move {
            let mut echoed = vec![0u8; len];
            reader.read_exact(&mut echoed).await?;
            Ok::<_, io::Error>((reader, echoed))
        });
        let (writer, data) = write_task.await??;
        let (reader, echoed) = read_task.await??;
        check_bytes("echo", &data, 0, &echoed)?;

        // Reuniting neither closes nor shuts down the stream.
        let mut stream = reader.reunite(writer).map_err(io::Error::other)?;
        assert_eq!(stream.local_addr()?, local);
        ping(&mut stream, b"still connected").await?;
        AsyncWriteExt::shutdown(&mut stream).await?;
        let mut buf = [0u8; 1];
        assert_eq!(stream.read(&mut buf).await?, 0);
        Ok(())
    })
}

#[test]
fn reunite_rejects_halves_of_different_streams() -> io::Result<()> {
    run(LIMIT, async {
        let server = EchoServer::start().await?;
        let (read_a, write_a) = TcpStream::connect(server.addr()).await?.into_split();
        let (read_b, write_b) = TcpStream::connect(server.addr()).await?.into_split();
        let err = read_a.reunite(write_b).expect_err("halves of two streams reunited");
        assert!(err.to_string().contains("not from the same stream"), "{err}");
        // The error hands both halves back intact.
        let net::split::ReuniteError(read_a, write_b) = err;
        let mut a = read_a.reunite(write_a).map_err(io::Error::other)?;
        let mut b = write_b.reunite(read_b).map_err(io::Error::other)?;
        ping(&mut a, b"a").await?;
        ping(&mut b, b"b").await?;
        Ok(())
    })
}

#[test]
fn dropping_owned_write_half_sends_fin() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut conn, _) = listener.accept().await?;
        let (mut reader, mut writer) = client.into_split();

        writer.write_all(b"last words").await?;
        drop(writer);
        let mut got = Vec::new();
        within(Duration::from_secs(5), "EOF after dropping the write half", conn.read_to_end(&mut got)).await?;
        assert_eq!(got, b"last words");

        // Only the write side is shut: the socket is open and still reads.
        conn.write_all(b"reply").await?;
        let mut reply = [0u8; 5];
        reader.read_exact(&mut reply).await?;
        assert_eq!(&reply, b"reply");
        drop(conn);
        assert_eq!(reader.read(&mut reply).await?, 0);
        Ok(())
    })
}

#[test]
fn borrowed_write_half_shutdown_sends_fin() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut conn, _) = listener.accept().await?;
        {
            let (_reader, mut writer) = client.split();
            writer.write_all(b"done").await?;
            writer.shutdown().await?;
        }
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await?;
        assert_eq!(got, b"done");
        // The stream itself stays usable for reading.
        conn.write_all(b"ok").await?;
        let mut buf = [0u8; 2];
        client.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ok");
        Ok(())
    })
}
