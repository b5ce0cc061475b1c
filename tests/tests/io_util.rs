//! Buffered I/O over real sockets and the in-memory duplex pipe:
//! `BufReader` + `lines()`, `BufWriter`, `copy_bidirectional` as a proxy,
//! `copy_buf`, `read_line` / `split` semantics.

use std::future::poll_fn;
use std::io;
use std::time::Duration;

use futures_core::Stream;
use net::{TcpListener, TcpStream};
use runtime::io::{
    copy_bidirectional, copy_buf, duplex, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter,
};
use tests::net_util::{check_bytes, join, odd_chunks, payload, run, EchoServer};

const LIMIT: Duration = Duration::from_secs(20);

/// A connected pair over loopback: (client side, server side).
async fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

#[test]
fn buf_reader_lines_over_tcp() -> io::Result<()> {
    run(LIMIT, async {
        let (client, mut server) = tcp_pair().await?;
        // Lines of every shape: \n and \r\n endings, an empty line, a line
        // far longer than the buffer, multi-byte UTF-8, no final newline.
        // The first 60 bytes go out 3 at a time, so line ends straddle reads.
        let long = "x".repeat(100_000);
        let text = format!("alpha\r\nbeta\n\n{long}\r\nÜnïcødé line\nlast without newline");
        let bytes = text.clone().into_bytes();
        let writer = runtime::spawn(async move {
            for chunk in bytes.chunks(3).take(20) {
                server.write_all(chunk).await?;
                server.flush().await?;
            }
            for chunk in odd_chunks(&bytes[60..]) {
                server.write_all(chunk).await?;
            }
            Ok::<_, io::Error>(())
        });
        let mut lines = BufReader::with_capacity(1024, client).lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await? {
            got.push(line);
        }
        writer.await??;
        assert_eq!(got, ["alpha", "beta", "", &long[..], "Ünïcødé line", "last without newline"]);
        Ok(())
    })
}

#[test]
fn lines_is_a_stream_over_tcp() -> io::Result<()> {
    run(LIMIT, async {
        let (client, mut server) = tcp_pair().await?;
        let writer = runtime::spawn(async move {
            for i in 0..500 {
                server.write_all(format!("line {i}\n").as_bytes()).await?;
            }
            Ok::<_, io::Error>(())
        });
        let mut lines = Box::pin(BufReader::new(client).lines());
        let mut n = 0;
        while let Some(line) = poll_fn(|cx| lines.as_mut().poll_next(cx)).await {
            assert_eq!(line?, format!("line {n}"));
            n += 1;
        }
        writer.await??;
        assert_eq!(n, 500);
        Ok(())
    })
}

#[test]
fn buf_writer_coalesces_and_flushes_on_shutdown_over_tcp() -> io::Result<()> {
    run(LIMIT, async {
        let (client, mut server) = tcp_pair().await?;
        let data = payload(21, 300_000);
        let expected = data.clone();
        let writer = runtime::spawn(async move {
            let mut w = BufWriter::with_capacity(4096, client);
            for chunk in odd_chunks(&data) {
                w.write_all(chunk).await?;
            }
            // Everything reaches the peer, then its FIN.
            w.shutdown().await?;
            assert!(w.buffer().is_empty());
            Ok::<_, io::Error>(w.into_inner())
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await?;
        let _client = writer.await??;
        assert_eq!(got.len(), expected.len());
        check_bytes("received", &expected, 0, &got)
    })
}

#[test]
fn copy_bidirectional_as_a_tcp_proxy() -> io::Result<()> {
    run(LIMIT, async {
        let echo = EchoServer::start().await?;
        let proxy_listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy_addr = proxy_listener.local_addr()?;
        let backend = echo.addr();
        let proxy = runtime::spawn(async move {
            let (mut inbound, _) = proxy_listener.accept().await?;
            let mut outbound = TcpStream::connect(backend).await?;
            copy_bidirectional(&mut inbound, &mut outbound).await
        });

        let data = payload(22, 1024 * 1024);
        let client = TcpStream::connect(proxy_addr).await?;
        // `&TcpStream` reads and writes: send everything while reading the echo.
        let (mut reader, mut writer) = (&client, &client);
        let sending = async {
            for chunk in odd_chunks(&data) {
                writer.write_all(chunk).await?;
            }
            AsyncWriteExt::shutdown(&mut writer).await
        };
        let receiving = async {
            let mut echoed = Vec::new();
            reader.read_to_end(&mut echoed).await.map(|_| echoed)
        };
        let (sent, echoed) = join(sending, receiving).await;
        sent?;
        let echoed = echoed?;
        // The echo server saw our FIN through the proxy, returned, and
        // closed; the proxy forwarded that FIN back and finished.
        assert_eq!(proxy.await??, (data.len() as u64, data.len() as u64));
        assert_eq!(echoed.len(), data.len());
        check_bytes("echo through the proxy", &data, 0, &echoed)
    })
}

#[test]
fn copy_buf_from_a_tcp_reader_into_a_duplex() -> io::Result<()> {
    run(LIMIT, async {
        let (client, mut server) = tcp_pair().await?;
        let data = payload(23, 200_000);
        let expected = data.clone();
        let writer = runtime::spawn(async move {
            server.write_all(&data).await?;
            AsyncWriteExt::shutdown(&mut server).await
        });
        let (mut pipe_in, mut pipe_out) = duplex(1000);
        let reader = runtime::spawn(async move {
            let mut got = Vec::new();
            pipe_out.read_to_end(&mut got).await?;
            Ok::<_, io::Error>(got)
        });
        let mut src = BufReader::new(client);
        let n = copy_buf(&mut src, &mut pipe_in).await?;
        drop(pipe_in);
        writer.await??;
        let got = reader.await??;
        assert_eq!(n, expected.len() as u64);
        check_bytes("copied", &expected, 0, &got)
    })
}

#[test]
fn read_line_utf8_and_read_until_over_duplex() -> io::Result<()> {
    run(LIMIT, async {
        let (mut tx, rx) = duplex(4);
        let writer = runtime::spawn(async move {
            tx.write_all(b"good\n\xf0\x28\x8c\x28\nkey=value;rest").await?;
            AsyncWriteExt::shutdown(&mut tx).await
        });
        let mut r = BufReader::with_capacity(3, rx);
        let mut line = String::from("> ");
        assert_eq!(r.read_line(&mut line).await?, 5);
        let err = r.read_line(&mut line).await.expect_err("invalid UTF-8 accepted");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(line, "> good\n", "nothing appended from the bad line");
        let mut field = Vec::new();
        assert_eq!(r.read_until(b'=', &mut field).await?, 4);
        assert_eq!(field, b"key=");
        let mut segments = r.split(b';');
        assert_eq!(segments.next_segment().await?.as_deref(), Some(&b"value"[..]));
        assert_eq!(segments.next_segment().await?.as_deref(), Some(&b"rest"[..]));
        assert_eq!(segments.next_segment().await?, None);
        writer.await??;
        Ok(())
    })
}

#[test]
fn fill_buf_peeks_and_consume_skips() -> io::Result<()> {
    run(LIMIT, async {
        let (client, mut server) = tcp_pair().await?;
        server.write_all(b"HELLO world").await?;
        drop(server);
        let mut r = BufReader::new(client);
        // Waits for the first bytes, then shows them without consuming.
        let peeked = r.fill_buf().await?.to_vec();
        assert!(!peeked.is_empty() && b"HELLO world".starts_with(&peeked), "{peeked:?}");
        let mut all = String::new();
        r.read_to_string(&mut all).await?;
        assert_eq!(all, "HELLO world", "peeking lost nothing");
        // Consuming skips.
        let mut r = BufReader::new(&b"HELLO world"[..]);
        assert_eq!(r.fill_buf().await?, b"HELLO world");
        r.consume(6);
        let mut rest = String::new();
        r.read_to_string(&mut rest).await?;
        assert_eq!(rest, "world");
        Ok(())
    })
}
