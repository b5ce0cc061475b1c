//! `net`'s `futures-io` feature: futures' io utilities take weft streams
//! and their halves as they are (no adapter): `BufReader` + `lines()`,
//! `copy`, `AsyncReadExt::split`, and the halves of `into_split`.

use std::io;
use std::time::Duration;

use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use futures::StreamExt;
use net::{TcpListener, TcpStream, UnixStream};
use tests::net_util::run;

const LIMIT: Duration = Duration::from_secs(10);

async fn connected() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

#[test]
fn buf_reader_lines_over_a_tcp_stream() -> io::Result<()> {
    run(LIMIT, async {
        let (mut client, server) = connected().await?;
        let writer = runtime::spawn(async move {
            for i in 0..100 {
                client.write_all(format!("line {i}\n").as_bytes()).await?;
            }
            client.write_all(b"last, without newline").await?;
            client.close().await // shuts down the write side: EOF
        });
        let mut lines = BufReader::new(server).lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next().await {
            got.push(line?);
        }
        writer.await.map_err(io::Error::other)??;
        assert_eq!(got.len(), 101);
        assert_eq!(got[0], "line 0");
        assert_eq!(got[99], "line 99");
        assert_eq!(got[100], "last, without newline");
        Ok(())
    })
}

#[test]
fn copy_between_weft_streams() -> io::Result<()> {
    run(LIMIT, async {
        let data: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
        let (mut client, server) = connected().await?;
        // A one-way relay: whatever the server side reads goes to a Unix pair.
        let (unix_in, mut unix_out) = UnixStream::pair()?;
        let relay = runtime::spawn(async move {
            let (mut from, mut to) = (server, unix_in);
            let n = futures::io::copy(&mut from, &mut to).await?;
            to.close().await?;
            Ok::<_, io::Error>(n)
        });
        let sent = data.clone();
        let writer = runtime::spawn(async move {
            client.write_all(&sent).await?;
            client.close().await
        });
        let mut got = Vec::new();
        unix_out.read_to_end(&mut got).await?;
        writer.await.map_err(io::Error::other)??;
        assert_eq!(relay.await.map_err(io::Error::other)??, data.len() as u64);
        assert!(got == data, "copied bytes differ");
        Ok(())
    })
}

#[test]
fn futures_split_and_weft_halves() -> io::Result<()> {
    run(LIMIT, async {
        // futures' own split (a BiLock around the stream) ...
        let (client, server) = connected().await?;
        let (mut reader, mut writer) = AsyncReadExt::split(server);
        let echo = runtime::spawn(async move { futures::io::copy(&mut reader, &mut writer).await });
        let (mut c_read, mut c_write) = client.into_split();
        c_write.write_all(b"through futures' split").await?;
        let mut buf = [0u8; 22];
        c_read.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"through futures' split");
        // ... and weft's owned halves, closed with futures' close().
        c_write.close().await?;
        assert_eq!(echo.await.map_err(io::Error::other)??, 22);
        assert_eq!(c_read.read(&mut buf).await?, 0);

        // Borrowed halves and &TcpStream. With futures' AsyncReadExt in
        // scope, `a.split()` would pick its by-value `split`: name weft's.
        let (mut a, b) = connected().await?;
        let (mut ar, mut aw) = TcpStream::split(&mut a);
        aw.write_all(b"x").await?;
        let mut one = [0u8; 1];
        (&b).read_exact(&mut one).await?;
        (&b).write_all(b"y").await?;
        ar.read_exact(&mut one).await?;
        assert_eq!(&one, b"y");
        Ok(())
    })
}
