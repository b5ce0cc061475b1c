//! [`ChunkedDecoder`]: `Transfer-Encoding: chunked` bodies, fed in pieces.
//!
//! The decoder is a byte-level state machine (RFC 9112 §7.1), so it works
//! however the body is split across reads: a chunk-size line, the CRLF
//! after a chunk, or the trailer may end in the middle of one read and go
//! on in the next. Bare LF line ends are accepted, as most clients do.

use std::io;

/// Longest chunk-size line (size and extensions) we accept.
const MAX_SIZE_LINE: usize = 4096;
/// Most trailer bytes we skip.
const MAX_TRAILER: usize = 64 * 1024;

/// Where the decoder is in the chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In the hex chunk size; `digits` counts the digits seen.
    Size { digits: u8 },
    /// In a chunk extension (`;name=value`), skipped up to the line end.
    Extension,
    /// After the CR that ends the size line.
    SizeLf,
    /// Inside chunk data, with this many bytes to go.
    Data(u64),
    /// After chunk data: expecting its CR (or a bare LF).
    DataCr,
    /// After chunk data and its CR: expecting LF.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line, skipped up to its LF.
    TrailerLine,
    /// After the final empty line's CR: expecting LF.
    EndLf,
    /// The whole body has been read.
    Done,
}

/// Decodes a chunked body incrementally.
///
/// ```
/// use examples::http::proto::ChunkedDecoder;
/// let mut dec = ChunkedDecoder::new();
/// let mut body = Vec::new();
/// let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
/// let (first, rest) = wire.split_at(11); // split anywhere
/// assert_eq!(dec.decode(first, Some(&mut body))?, first.len());
/// let used = dec.decode(rest, Some(&mut body))?;
/// assert!(dec.is_done());
/// assert_eq!(body, b"hello world");
/// assert_eq!(&rest[used..], b"NEXT"); // bytes after the body are left alone
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// The size of the chunk being announced, accumulated digit by digit.
    size: u64,
    /// Bytes of the current size line, or of the trailer so far (limits).
    line: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> ChunkedDecoder {
        ChunkedDecoder::new()
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed chunked body: {why}"))
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder { state: State::Size { digits: 0 }, size: 0, line: 0 }
    }

    /// True once the last chunk and the trailer have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending chunk data to `out` (or discarding it
    /// if `out` is `None`). Returns how many bytes of `input` belong to the
    /// body: all of them until the end, then none past it.
    ///
    /// Malformed framing is `ErrorKind::InvalidData`.
    pub fn decode(&mut self, input: &[u8], mut out: Option<&mut Vec<u8>>) -> io::Result<usize> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data(left) = self.state {
                // The bulk of the body: copy a run instead of going byte by byte.
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len() - i);
                if let Some(out) = out.as_deref_mut() {
                    out.extend_from_slice(&input[i..i + n]);
                }
                i += n;
                let left = left - n as u64;
                self.state = if left == 0 { State::DataCr } else { State::Data(left) };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    /// Advances over one framing byte (anything but chunk data).
    fn step(&mut self, b: u8) -> io::Result<()> {
        self.state = match self.state {
            State::Size { digits } => {
                self.line += 1;
                if self.line > MAX_SIZE_LINE {
                    return Err(invalid("chunk-size line too long"));
                }
                match (b as char).to_digit(16) {
                    Some(d) => {
                        if digits >= 16 {
                            return Err(invalid("chunk size too large"));
                        }
                        self.size = self.size << 4 | u64::from(d);
                        State::Size { digits: digits + 1 }
                    }
                    None if digits == 0 => return Err(invalid("expected a hex chunk size")),
                    None => match b {
                        b';' | b' ' | b'\t' => State::Extension,
                        b'\r' => State::SizeLf,
                        b'\n' => self.after_size_line(),
                        _ => return Err(invalid("bad character after the chunk size")),
                    },
                }
            }
            State::Extension => {
                self.line += 1;
                if self.line > MAX_SIZE_LINE {
                    return Err(invalid("chunk-size line too long"));
                }
                match b {
                    b'\r' => State::SizeLf,
                    b'\n' => self.after_size_line(),
                    _ => State::Extension,
                }
            }
            State::SizeLf if b == b'\n' => self.after_size_line(),
            State::SizeLf => return Err(invalid("expected LF after the chunk size")),
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataCr if b == b'\n' => self.next_size(),
            State::DataCr => return Err(invalid("chunk data longer than its size")),
            State::DataLf if b == b'\n' => self.next_size(),
            State::DataLf => return Err(invalid("expected LF after chunk data")),
            State::TrailerStart | State::TrailerLine => {
                self.line += 1;
                if self.line > MAX_TRAILER {
                    return Err(invalid("trailer too long"));
                }
                match (self.state, b) {
                    (State::TrailerStart, b'\r') => State::EndLf,
                    (_, b'\n') if self.state == State::TrailerStart => State::Done,
                    (_, b'\n') => State::TrailerStart,
                    _ => State::TrailerLine,
                }
            }
            State::EndLf if b == b'\n' => State::Done,
            State::EndLf => return Err(invalid("expected LF at the end of the body")),
            State::Data(_) | State::Done => unreachable!("handled by decode"),
        };
        Ok(())
    }

    /// The size line ended: data follows, or the trailer after the last chunk.
    fn after_size_line(&mut self) -> State {
        self.line = 0;
        match self.size {
            0 => State::TrailerStart,
            n => State::Data(n),
        }
    }

    /// A chunk ended: the next size line starts.
    fn next_size(&mut self) -> State {
        self.size = 0;
        self.line = 0;
        State::Size { digits: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes; returns the body and bytes used.
    fn decode_in_steps(wire: &[u8], step: usize) -> io::Result<(Vec<u8>, usize)> {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut used = 0;
        for piece in wire.chunks(step) {
            let n = dec.decode(piece, Some(&mut body))?;
            used += n;
            if dec.is_done() {
                break;
            }
            assert_eq!(n, piece.len());
        }
        assert!(dec.is_done(), "not done after {used} bytes");
        Ok((body, used))
    }

    #[test]
    fn decodes_split_at_every_point() {
        let wire = b"4\r\nWiki\r\n5;a=b\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nrest";
        for step in 1..wire.len() {
            let (body, used) = decode_in_steps(wire, step).unwrap();
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            assert_eq!(used, wire.len() - 4, "step {step}");
        }
    }

    #[test]
    fn accepts_bare_lf_and_uppercase_hex() {
        let (body, _) = decode_in_steps(b"A\nabcdefghij\n0\n\n", 3).unwrap();
        assert_eq!(body, b"abcdefghij");
    }

    #[test]
    fn discards_when_no_output() {
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(b"3\r\nabc\r\n0\r\n\r\n", None).unwrap(), 13);
        assert!(dec.is_done());
    }

    #[test]
    fn rejects_bad_framing() {
        for wire in [&b"x\r\n"[..], b"3\r\nabcd\r\n", b"3\rX", b"3\r\nabc\rX", b"11111111111111111\r\n", b"0\r\n\rX"] {
            let err = ChunkedDecoder::new().decode(wire, None).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{:?}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn limits_size_line_and_trailer() {
        let mut dec = ChunkedDecoder::new();
        let long_ext = [b"1;".as_slice(), &[b'a'; MAX_SIZE_LINE]].concat();
        assert!(dec.decode(&long_ext, None).is_err());
        let mut dec = ChunkedDecoder::new();
        let long_trailer = [b"0\r\n".as_slice(), &[b'a'; MAX_TRAILER + 1]].concat();
        assert!(dec.decode(&long_trailer, None).is_err());
    }
}
