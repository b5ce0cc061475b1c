//! Length-prefixed framing over TCP, where messages stick together and
//! split apart on the way: the codec in-process (`examples::frame` over
//! `net`), then the `framed` binary, server and client.

use std::io::{self, Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::thread;
use std::time::{Duration, Instant};

use examples::frame::{echo_frames, encode, Decoder, FrameReader};
use net::{TcpListener, TcpStream};
use runtime::io::AsyncWriteExt;
use tests::net_util::{join, payload, run};
use tests::support::{Running, PATIENCE};

const LIMIT: Duration = Duration::from_secs(10);

/// Small messages sent back to back.
const SMALL: usize = 10_000;
/// The big message's size.
const BIG: usize = 1 << 20;

fn small_message(i: usize) -> Vec<u8> {
    format!("message {i}").into_bytes()
}

/// All `SMALL` messages, encoded into one buffer.
fn small_wire() -> io::Result<Vec<u8>> {
    let mut wire = Vec::new();
    for i in 0..SMALL {
        encode(&small_message(i), &mut wire)?;
    }
    Ok(wire)
}

/// `data` in pieces of 1, 2, ... 7, 1, 2, ... bytes.
fn tiny_pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    (1..=7).cycle().map_while(move |size: usize| {
        if rest.is_empty() {
            return None;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        Some(piece)
    })
}

#[test]
fn sticky_and_split_messages_arrive_whole_in_process() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = runtime::spawn(async move {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            echo_frames(stream, BIG).await
        });
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (rd, mut wr) = stream.into_split();
        let big = payload(11, BIG);

        let send = async {
            // Ten thousand messages in one write: they stick together.
            wr.write_all(&small_wire()?).await?;
            // One message in pieces of 1 to 7 bytes: it splits apart.
            let mut wire = Vec::new();
            encode(&big, &mut wire)?;
            for piece in tiny_pieces(&wire) {
                wr.write_all(piece).await?;
            }
            wr.shutdown().await
        };
        let receive = async {
            let mut answers = FrameReader::new(rd, BIG);
            for i in 0..SMALL {
                let got = answers.next().await?.ok_or_else(|| io::Error::other(format!("EOF before answer {i}")))?;
                assert_eq!(got, small_message(i), "answer {i}");
            }
            let got = answers.next().await?.ok_or_else(|| io::Error::other("EOF before the big answer"))?;
            assert!(got == big, "the big answer differs ({} bytes)", got.len());
            assert_eq!(answers.next().await?, None, "more answers than messages");
            Ok::<_, io::Error>(())
        };
        let (sent, received) = join(send, receive).await;
        sent?;
        received?;
        assert_eq!(server.await??, SMALL as u64 + 1);
        Ok(())
    })
}

#[test]
fn oversized_length_fails_without_waiting_for_the_payload() -> io::Result<()> {
    run(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = runtime::spawn(async move {
            let (stream, _) = listener.accept().await?;
            echo_frames(stream, 1024).await
        });
        let mut client = TcpStream::connect(addr).await?;
        // A header claiming 4 GiB: rejected at once, nothing allocated for it.
        client.write_all(&u32::MAX.to_be_bytes()).await?;
        let err = server.await?.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("exceeds the maximum of 1024"), "{err}");

        let mut d = Decoder::new(1024);
        d.extend(&1025u32.to_be_bytes());
        assert!(d.next_frame().is_err());
        Ok(())
    })
}

#[test]
fn truncated_stream_is_unexpected_eof() -> io::Result<()> {
    run(LIMIT, async {
        let (mut a, b) = net::UnixStream::pair()?;
        a.write_all(&[0, 0, 0, 10, b'x']).await?;
        drop(a);
        let mut reader = FrameReader::new(b, 64);
        let err = reader.next().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        Ok(())
    })
}

/// Reads `n` frames from a blocking stream.
fn read_frames(stream: &mut StdTcpStream, n: usize, max: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut decoder = Decoder::new(max);
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; 64 * 1024];
    // Each read returns at least one byte or ends the loop with an error.
    while out.len() < n {
        while let Some(frame) = decoder.next_frame()? {
            out.push(frame.to_vec());
        }
        if out.len() == n {
            break;
        }
        let got = stream.read(&mut buf)?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("EOF after {} frames", out.len())));
        }
        decoder.extend(&buf[..got]);
    }
    Ok(out)
}

#[test]
fn framed_server_binary_answers_every_message() -> io::Result<()> {
    let (server, addr) = Running::server("framed", &["server", "--addr", "127.0.0.1:0", "--max-frame", "2000000"])?;
    let mut stream = StdTcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    let big = payload(12, BIG);

    // A writer thread sends while this thread reads the answers.
    let writer = {
        let mut stream = stream.try_clone()?;
        let big = big.clone();
        thread::spawn(move || -> io::Result<()> {
            stream.write_all(&small_wire()?)?;
            let mut wire = Vec::new();
            encode(&big, &mut wire)?;
            for piece in tiny_pieces(&wire) {
                stream.write_all(piece)?;
            }
            stream.shutdown(std::net::Shutdown::Write)
        })
    };
    let answers = read_frames(&mut stream, SMALL, BIG)?;
    for (i, got) in answers.iter().enumerate() {
        assert_eq!(*got, small_message(i), "answer {i}");
    }
    let last = read_frames(&mut stream, 1, BIG)?;
    assert!(last[0] == big, "the big answer differs ({} bytes)", last[0].len());
    writer.join().map_err(|_| io::Error::other("writer panicked"))??;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?;
    assert!(rest.is_empty(), "{} bytes after the last answer", rest.len());

    // An oversized length closes that connection, with a message on stderr.
    let mut bad = StdTcpStream::connect(addr)?;
    bad.set_read_timeout(Some(PATIENCE))?;
    bad.write_all(&3_000_000u32.to_be_bytes())?;
    let mut buf = [0u8; 16];
    match bad.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
    let line = server.stderr.next()?;
    assert!(line.contains("exceeds the maximum of 2000000"), "stderr: {line}");
    Ok(())
}

#[test]
fn framed_client_binary_sends_lines_and_prints_answers() -> io::Result<()> {
    let (_server, addr) = Running::server("framed", &["server", "--addr", "127.0.0.1:0"])?;
    let mut client = Running::start("framed", &["client", &addr.to_string()])?;
    let stdin = client.stdin.as_mut().ok_or_else(|| io::Error::other("no stdin"))?;
    stdin.write_all("first line\n\nthird: 粘包\n".as_bytes())?;
    assert_eq!(client.stdout.next()?, "first line");
    assert_eq!(client.stdout.next()?, "");
    assert_eq!(client.stdout.next()?, "third: 粘包");
    // End of input: the client finishes and exits cleanly.
    client.close_stdin();
    let (status, rest) = client.wait(Instant::now() + PATIENCE)?;
    assert!(status.success(), "client exited with {status}");
    assert!(rest.is_empty(), "unexpected output: {rest:?}");
    Ok(())
}

#[test]
fn framed_usage_errors() -> io::Result<()> {
    for args in [&["bogus"][..], &["client"], &["server", "--max-frame", "lots"]] {
        let running = Running::start("framed", args)?;
        let (status, out) = running.wait(Instant::now() + PATIENCE)?;
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert!(out.is_empty(), "{args:?} printed on stdout: {out}");
    }
    let running = Running::start("framed", &["--help"])?;
    let (status, out) = running.wait(Instant::now() + PATIENCE)?;
    assert!(status.success() && out.starts_with("usage: framed"), "{out}");
    Ok(())
}
