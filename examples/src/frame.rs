//! Length-prefixed framing: each message is a 4-byte big-endian length,
//! then that many bytes of payload.
//!
//! TCP carries a byte stream, not messages: two writes may arrive in one
//! read ("sticky packets", 粘包) and one write may arrive over several. The
//! length prefix puts the boundaries back. A [`Decoder`] buffers bytes as
//! they come and hands out whole frames; a declared length over the
//! configured maximum is an error before any memory is set aside for it.
//!
//! ```
//! use examples::frame::{encode, Decoder};
//!
//! let mut wire = Vec::new();
//! encode(b"hello", &mut wire)?;
//! encode(b"world!", &mut wire)?;
//! // The two messages stuck together, then arrive split at an odd place.
//! let mut decoder = Decoder::new(1024);
//! decoder.extend(&wire[..7]);
//! assert_eq!(decoder.next_frame()?, None);
//! decoder.extend(&wire[7..]);
//! assert_eq!(decoder.next_frame()?, Some(&b"hello"[..]));
//! assert_eq!(decoder.next_frame()?, Some(&b"world!"[..]));
//! assert_eq!(decoder.next_frame()?, None);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;

use runtime::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// The default largest payload accepted: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// How much one read asks for.
const READ_CHUNK: usize = 64 * 1024;

/// Appends one frame carrying `payload` to `out`.
///
/// Fails with `ErrorKind::InvalidInput` if the payload does not fit a
/// 32-bit length.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("a {}-byte payload does not fit a frame", payload.len()))
    })?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Splits a byte stream back into frames.
#[derive(Debug)]
pub struct Decoder {
    /// Received bytes; `buf[start..]` is not yet handed out.
    buf: Vec<u8>,
    /// Where the next frame's header starts.
    start: usize,
    /// Largest payload accepted.
    max_frame: usize,
}

impl Decoder {
    /// A decoder that rejects payloads longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Decoder {
        Decoder { buf: Vec::new(), start: 0, max_frame }
    }

    /// Adds bytes received from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        // Drop the frames already handed out. Only a partial frame is left
        // to move, and a partial frame stays at the front until complete,
        // so every byte moves at most once.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's payload, or `None` until more bytes arrive.
    ///
    /// Fails with `ErrorKind::InvalidData` when a header declares more than
    /// the maximum; the stream cannot be resynchronised after that.
    pub fn next_frame(&mut self) -> io::Result<Option<&[u8]>> {
        let rest = &self.buf[self.start..];
        let Some(header) = rest.first_chunk::<HEADER_LEN>() else { return Ok(None) };
        let len = u32::from_be_bytes(*header) as usize;
        if len > self.max_frame {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame of {len} bytes exceeds the maximum of {} bytes", self.max_frame),
            ));
        }
        if rest.len() < HEADER_LEN + len {
            // The length is acceptable: make room for the whole frame once,
            // instead of growing step by step as its pieces arrive.
            let missing = HEADER_LEN + len - rest.len();
            self.buf.reserve(missing);
            return Ok(None);
        }
        let begin = self.start + HEADER_LEN;
        self.start = begin + len;
        Ok(Some(&self.buf[begin..begin + len]))
    }

    /// Bytes received but not yet handed out as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// Reads whole frames from a byte stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    reader: R,
    decoder: Decoder,
    /// Where each read lands before the decoder takes it.
    scratch: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames of at most `max_frame` bytes from `reader`.
    pub fn new(reader: R, max_frame: usize) -> FrameReader<R> {
        FrameReader { reader, decoder: Decoder::new(max_frame), scratch: vec![0; READ_CHUNK] }
    }

    /// The next message; `None` when the stream ends cleanly between
    /// frames. An end in the middle of a frame is `ErrorKind::UnexpectedEof`.
    pub async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(Some(frame.to_vec()));
            }
            let n = self.reader.read(&mut self.scratch).await?;
            if n == 0 {
                return match self.decoder.buffered() {
                    0 => Ok(None),
                    left => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the stream ended inside a frame ({left} bytes pending)"),
                    )),
                };
            }
            self.decoder.extend(&self.scratch[..n]);
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

/// Writes one frame carrying `payload`.
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(writer: &mut W, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::new();
    encode(payload, &mut frame)?;
    writer.write_all(&frame).await
}

/// Answers every frame on `stream` with a frame carrying the same payload,
/// until the peer closes its side; returns the number of frames answered.
///
/// The replies to everything one read brought in go out in one write, so
/// ten thousand small messages that arrive together cost a handful of
/// syscalls, not ten thousand.
pub async fn echo_frames<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, max_frame: usize) -> io::Result<u64> {
    let mut decoder = Decoder::new(max_frame);
    let mut scratch = vec![0u8; READ_CHUNK];
    let mut out = Vec::new();
    let mut answered = 0u64;
    loop {
        let n = stream.read(&mut scratch).await?;
        if n == 0 {
            return match decoder.buffered() {
                0 => Ok(answered),
                left => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the peer closed inside a frame ({left} bytes pending)"),
                )),
            };
        }
        decoder.extend(&scratch[..n]);
        while let Some(frame) = decoder.next_frame()? {
            encode(frame, &mut out)?;
            answered += 1;
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::new();
        for p in payloads {
            encode(p, &mut wire).unwrap();
        }
        wire
    }

    fn drain(decoder: &mut Decoder) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = decoder.next_frame().unwrap() {
            out.push(f.to_vec());
        }
        out
    }

    #[test]
    fn header_is_big_endian_length() {
        assert_eq!(frames(&[b"abc"]), [0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(frames(&[b""]), [0, 0, 0, 0]);
    }

    #[test]
    fn stuck_together_frames_come_apart() {
        let payloads: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let mut d = Decoder::new(64);
        d.extend(&frames(&refs));
        assert_eq!(drain(&mut d), payloads);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn every_split_point_gives_the_same_frames() {
        let wire = frames(&[b"", b"one", b"", b"three", &[7u8; 300]]);
        for cut in 0..=wire.len() {
            let mut d = Decoder::new(1024);
            d.extend(&wire[..cut]);
            let mut got = drain(&mut d);
            d.extend(&wire[cut..]);
            got.extend(drain(&mut d));
            assert_eq!(got.len(), 5, "cut at {cut}");
            assert_eq!(got[3], b"three");
            assert_eq!(got[4], [7u8; 300]);
        }
    }

    #[test]
    fn byte_by_byte_big_frame() {
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let wire = frames(&[&big, b"tail"]);
        let mut d = Decoder::new(big.len());
        let mut got = Vec::new();
        for chunk in wire.chunks(7) {
            d.extend(chunk);
            got.extend(drain(&mut d));
        }
        assert_eq!(got, [big, b"tail".to_vec()]);
    }

    #[test]
    fn oversized_length_is_an_error_without_allocating() {
        let mut d = Decoder::new(1024);
        d.extend(&u32::MAX.to_be_bytes());
        let err = d.next_frame().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("exceeds the maximum of 1024"), "{err}");
        assert!(d.buf.capacity() < 1024, "reserved {} bytes for a rejected frame", d.buf.capacity());
        // The largest allowed length is fine.
        let mut d = Decoder::new(3);
        d.extend(&frames(&[b"abc"]));
        assert_eq!(d.next_frame().unwrap(), Some(&b"abc"[..]));
    }

    #[test]
    fn echo_frames_answers_each_frame() {
        let wire = frames(&[b"a", b"", b"ccc"]);
        let (client, server) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut client_w = client.try_clone().unwrap();
        std::io::Write::write_all(&mut client_w, &wire).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let answered = runtime::block_on(async {
            server.set_nonblocking(true)?;
            echo_frames(net::UnixStream::from_std(server)?, 16).await
        })
        .unwrap();
        assert_eq!(answered, 3);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut &client, &mut back).unwrap();
        assert_eq!(back, wire);
    }
}
