//! Half-close: after one side shuts down its write side (FIN), the other
//! direction keeps working until its own FIN, and EOF stays EOF.

use std::io;
use std::net::Shutdown;
use std::time::Duration;

use net::{TcpListener, TcpStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use tests::net_util::{check_bytes, join, odd_chunks, payload, run, EchoServer};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn client_shuts_write_then_receives_everything_and_eof() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // The server answers only after it has read the client's EOF, so
        // every byte it sends travels after the client's FIN.
        let server = runtime::spawn(async move {
            let (mut conn, _) = listener.accept().await?;
            let mut request = Vec::new();
            conn.read_to_end(&mut request).await?;
            conn.write_all(&request).await?;
            conn.write_all(b"end").await?;
            Ok::<_, io::Error>(request.len())
        });

        let data = payload(11, 256 * 1024);
        let mut client = TcpStream::connect(addr).await?;
        for chunk in odd_chunks(&data) {
            client.write_all(chunk).await?;
        }
        client.shutdown(Shutdown::Write)?;

        // Writing after our own FIN is refused, not silently dropped.
        let err = client.write_all(b"late").await.expect_err("write after shutdown(Write) succeeded");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");

        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await?;
        assert_eq!(server.await??, data.len(), "bytes the server read before EOF");
        assert_eq!(reply.len(), data.len() + 3, "reply length");
        check_bytes("reply", &data, 0, &reply[..data.len()])?;
        assert_eq!(&reply[data.len()..], b"end");

        // EOF is sticky.
        let mut buf = [0u8; 16];
        assert_eq!(client.read(&mut buf).await?, 0);
        assert_eq!(client.read(&mut buf).await?, 0);
        Ok(())
    })
}

#[test]
fn async_shutdown_while_reading_the_echo() -> io::Result<()> {
    run(LIMIT, async {
        let server = EchoServer::start().await?;
        let stream = TcpStream::connect(server.addr()).await?;
        let local = stream.local_addr()?;
        let data = payload(12, 1024 * 1024);

        // `&TcpStream` reads and writes, so one task drives both directions.
        let (mut reader, mut writer) = (&stream, &stream);
        let writing = async {
            for chunk in odd_chunks(&data) {
                writer.write_all(chunk).await?;
            }
            writer.flush().await?;
            AsyncWriteExt::shutdown(&mut writer).await
        };
        let reading = async {
            let mut echoed = Vec::new();
            reader.read_to_end(&mut echoed).await.map(|_| echoed)
        };
        let (wrote, echoed) = join(writing, reading).await;
        wrote?;
        let echoed = echoed?;
        assert_eq!(echoed.len(), data.len(), "echoed length");
        check_bytes("echo", &data, 0, &echoed)?;

        let mut buf = [0u8; 1];
        assert_eq!((&stream).read(&mut buf).await?, 0, "read after EOF");
        let conn = server.connection(local).ok_or_else(|| io::Error::other("connection not recorded"))?;
        assert_eq!(conn.await??, data.len() as u64);
        Ok(())
    })
}

#[test]
fn server_shuts_write_and_still_receives() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut conn, peer) = listener.accept().await?;
        assert_eq!(peer, client.local_addr()?);

        conn.write_all(b"greeting").await?;
        AsyncWriteExt::shutdown(&mut conn).await?;

        let mut got = Vec::new();
        client.read_to_end(&mut got).await?;
        assert_eq!(got, b"greeting");

        // The client's direction is still open.
        let data = payload(13, 1024 * 1024);
        let sending = async {
            client.write_all(&data).await?;
            client.shutdown(Shutdown::Write)
        };
        let mut received = Vec::new();
        let (sent, read) = join(sending, conn.read_to_end(&mut received)).await;
        sent?;
        assert_eq!(read?, data.len());
        check_bytes("client data", &data, 0, &received)?;
        Ok(())
    })
}
