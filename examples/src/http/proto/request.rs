//! The server side of a request: [`parse_request`] reads one head from
//! the start of a buffer, [`BodySkip`] discards the body that may follow.
//!
//! Both work on bytes already read, so a server can answer every complete
//! request of a pipelined batch from one buffer without copying it.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;

use super::chunked::ChunkedDecoder;

/// Largest request head (request line and headers) a server accepts; a
/// longer one is answered `431`.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Most header fields in a request head; more is answered `431` too.
const MAX_HEADERS: usize = 64;

/// The request method, as far as the example servers care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: answered like `GET`, without the body.
    Head,
    /// Any other method.
    Other,
}

/// How a request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    /// No body.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: ..., chunked`.
    Chunked,
}

/// What a server needs from one request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// HTTP minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// True if the connection stays open after the response: HTTP/1.1
    /// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// How the body that follows the head ends.
    pub body: BodyLength,
}

/// Why a request cannot be answered normally; the connection closes after
/// the error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Not valid HTTP/1.x: answered `400 Bad Request`.
    Malformed(String),
    /// Head over [`MAX_REQUEST_HEAD`] bytes or with too many fields: `431`.
    TooLarge,
}

impl RequestError {
    /// The status line's code and reason for the error response.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            RequestError::Malformed(_) => (400, "Bad Request"),
            RequestError::TooLarge => (431, "Request Header Fields Too Large"),
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            RequestError::TooLarge => write!(f, "request head over {MAX_REQUEST_HEAD} bytes or {MAX_HEADERS} fields"),
        }
    }
}

impl std::error::Error for RequestError {}

fn malformed(why: impl Into<String>) -> RequestError {
    RequestError::Malformed(why.into())
}

/// Parses the request head at the start of `buf`.
///
/// `Ok(Some((head, len)))` if a complete head of `len` bytes is there,
/// `Ok(None)` if more bytes are needed; an error as soon as the bytes
/// cannot become a valid head (garbage is rejected without waiting for
/// the rest) or the head outgrows [`MAX_REQUEST_HEAD`].
///
/// ```
/// use examples::http::proto::{parse_request, BodyLength, Method};
/// let (head, len) = parse_request(b"GET / HTTP/1.0\r\n\r\nnext")?.expect("complete");
/// assert_eq!((head.method, head.version, head.keep_alive, len), (Method::Get, 0, false, 18));
/// assert_eq!(head.body, BodyLength::Empty);
/// assert!(parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n")?.is_none());
/// assert!(parse_request(b"hello\r\n\r\n").is_err());
/// # Ok::<(), examples::http::proto::RequestError>(())
/// ```
pub fn parse_request(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, RequestError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if let Some(parsed) = parse_simple_get(buf) {
        return Ok(Some(parsed));
    }
    parse_request_full(buf)
}

/// The fast path for the common request: `GET` or `HEAD`, HTTP/1.x, CRLF
/// line ends, and no header that changes framing or persistence
/// (`Connection`, `Content-Length`, `Transfer-Encoding`). It accepts only
/// heads that [`parse_request_full`] accepts with the same result (a test
/// and the fuzz target check this); for anything else, including an
/// incomplete head, it returns `None` and the full parser decides.
///
/// One pass over the bytes with table lookups: benchmark clients send
/// thousands of such heads per read, and httparse's generality (it
/// records every header) costs several times more.
pub fn parse_simple_get(buf: &[u8]) -> Option<(RequestHead, usize)> {
    let (method, target) = if buf.starts_with(b"GET ") {
        (Method::Get, 4)
    } else if buf.starts_with(b"HEAD ") {
        (Method::Head, 5)
    } else {
        return None;
    };
    let mut i = skip_visible(buf, target, b'!');
    if i == target || buf.get(i) != Some(&b' ') {
        return None;
    }
    let version = match (buf.get(i + 1..i + 9)?, buf.get(i + 9..i + 11)?) {
        (v, b"\r\n") if v == b"HTTP/1.1" => 1,
        (v, b"\r\n") if v == b"HTTP/1.0" => 0,
        _ => return None,
    };
    i += 11;
    for _ in 0..MAX_HEADERS {
        if buf.get(i..i + 2)? == b"\r\n" {
            let len = i + 2;
            return (len <= MAX_REQUEST_HEAD)
                .then_some((RequestHead { method, version, keep_alive: version == 1, body: BodyLength::Empty }, len));
        }
        let name = i;
        i = skip(buf, i, TOKEN);
        if i == name || buf.get(i) != Some(&b':') {
            return None;
        }
        if matches!(i - name, 10 | 14 | 17) && affects_framing(&buf[name..i]) {
            return None;
        }
        i = skip_visible(buf, i + 1, b' ');
        if buf.get(i) == Some(&b'\t') {
            i = skip(buf, i, VALUE);
        }
        if buf.get(i..i + 2)? != b"\r\n" {
            return None;
        }
        i += 2;
    }
    None
}

/// `Connection`, `Content-Length` or `Transfer-Encoding`, in any case.
fn affects_framing(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"connection")
        || name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"transfer-encoding")
}

/// Byte classes for the fast path, as bits of [`CLASSES`].
/// A `tchar` (RFC 9110 §5.6.2): a header-name byte.
const TOKEN: u8 = 2;
/// A header-value byte: visible ASCII, SP or HTAB (obs-text goes to the
/// full parser, as for the target).
const VALUE: u8 = 4;

/// The class bits of every byte value.
static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c >= b'!' && c <= b'~' {
            class |= VALUE;
        }
        if c == b' ' || c == b'\t' {
            class |= VALUE;
        }
        let tchar_punct = matches!(
            c,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        );
        if c.is_ascii_alphanumeric() || tchar_punct {
            class |= TOKEN;
        }
        table[b] = class;
        b += 1;
    }
    table
};

/// The index of the first byte from `from` on outside `lowest..=b'~'`
/// (`lowest` is `!` for a request target, `SP` for a header value: only
/// visible ASCII, as httparse's SIMD and scalar paths disagree on bytes
/// over 0x7f and those go to the full parser). Eight bytes at a time: a
/// word has a byte below `lowest` if `(x - lowest·1) & !x` has a high bit
/// set, and one above `~` (0x7e) if `(x + 1·1) | x` does.
#[inline]
fn skip_visible(buf: &[u8], from: usize, lowest: u8) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut i = from;
    while let Some(word) = buf.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let below = x.wrapping_sub(ONES * u64::from(lowest)) & !x;
        let above = x.wrapping_add(ONES) | x;
        if (below | above) & HIGHS != 0 {
            break;
        }
        i += 8;
    }
    while i < buf.len() && (lowest..=b'~').contains(&buf[i]) {
        i += 1;
    }
    i
}

/// The index of the first byte from `from` on that is not in `class`.
#[inline]
fn skip(buf: &[u8], from: usize, class: u8) -> usize {
    let rest = buf.get(from..).unwrap_or_default();
    from + rest.iter().position(|&b| CLASSES[b as usize] & class == 0).unwrap_or(rest.len())
}

/// The general parser (httparse), for every head [`parse_simple_get`] leaves.
pub fn parse_request_full(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, RequestError> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) if len > MAX_REQUEST_HEAD => return Err(RequestError::TooLarge),
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST_HEAD => return Err(RequestError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooLarge),
        Err(e) => return Err(malformed(e.to_string())),
    };
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => Method::Other,
    };
    let version = req.version.unwrap_or(1);
    let mut close = false;
    let mut keep = false;
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value.trim_ascii())
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| malformed("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(malformed("conflicting Content-Length values"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().map(<[u8]>::trim_ascii).unwrap_or_default();
            chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
        }
    }
    let body = match (chunked, length) {
        (Some(_), Some(_)) => return Err(malformed("both Transfer-Encoding and Content-Length")),
        // A request body must end in chunked to be delimited at all (RFC 9112 §6.3).
        (Some(false), None) => return Err(malformed("Transfer-Encoding does not end in chunked")),
        (Some(true), None) => BodyLength::Chunked,
        (None, Some(0) | None) => BodyLength::Empty,
        (None, Some(n)) => BodyLength::Length(n),
    };
    let keep_alive = if version == 0 { keep && !close } else { !close };
    Ok(Some((RequestHead { method, version, keep_alive, body }, len)))
}

/// Discards a request body as its bytes arrive.
#[derive(Clone, Debug, Default)]
pub enum BodySkip {
    /// Nothing (more) to skip.
    #[default]
    Done,
    /// This many bytes of a `Content-Length` body still to come.
    Length(u64),
    /// A chunked body, decoded only to find its end.
    Chunked(ChunkedDecoder),
}

impl BodySkip {
    /// Starts skipping a body framed as `body`.
    pub fn new(body: BodyLength) -> BodySkip {
        match body {
            BodyLength::Empty => BodySkip::Done,
            BodyLength::Length(n) => BodySkip::Length(n),
            BodyLength::Chunked => BodySkip::Chunked(ChunkedDecoder::new()),
        }
    }

    /// True once the whole body has gone by.
    pub fn is_done(&self) -> bool {
        matches!(self, BodySkip::Done)
    }

    /// Skips what of `data` belongs to the body; returns how many bytes.
    /// Bad chunked framing is `ErrorKind::InvalidData`.
    pub fn skip(&mut self, data: &[u8]) -> io::Result<usize> {
        let used = match self {
            BodySkip::Done => 0,
            BodySkip::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                *left -= n as u64;
                if *left == 0 {
                    *self = BodySkip::Done;
                }
                n
            }
            BodySkip::Chunked(dec) => {
                let n = dec.decode(data, None)?;
                if dec.is_done() {
                    *self = BodySkip::Done;
                }
                n
            }
        };
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> RequestHead {
        parse_request(s.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn keep_alive_rules() {
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert_eq!(head("HEAD / HTTP/1.1\r\n\r\n").method, Method::Head);
        assert_eq!(head("POST / HTTP/1.1\r\n\r\n").method, Method::Other);
    }

    #[test]
    fn body_framing() {
        assert_eq!(head("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").body, BodyLength::Length(5));
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n").body,
            BodyLength::Length(5)
        );
        assert_eq!(head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").body, BodyLength::Empty);
        assert_eq!(head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").body, BodyLength::Chunked);
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        ] {
            assert!(matches!(parse_request(bad.as_bytes()), Err(RequestError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn partial_garbage_and_limits() {
        assert_eq!(parse_request(b"GE").unwrap(), None);
        assert!(matches!(parse_request(b"GET / HTTP/9.9\r\n"), Err(RequestError::Malformed(_))));
        assert!(matches!(parse_request(b"\x16\x03\x01\x02\x00"), Err(RequestError::Malformed(_))));
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_HEAD));
        assert_eq!(parse_request(long.as_bytes()), Err(RequestError::TooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(parse_request(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()), Err(RequestError::TooLarge));
        let exact = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_REQUEST_HEAD - 23));
        assert_eq!(exact.len(), MAX_REQUEST_HEAD);
        assert!(parse_request(exact.as_bytes()).unwrap().is_some());
    }

    #[test]
    fn skips_bodies() {
        let mut s = BodySkip::new(BodyLength::Length(5));
        assert_eq!(s.skip(b"abc").unwrap(), 3);
        assert_eq!(s.skip(b"deGET").unwrap(), 2);
        assert!(s.is_done());
        let mut s = BodySkip::new(BodyLength::Chunked);
        assert_eq!(s.skip(b"1\r\na\r\n0\r\n\r\nGET").unwrap(), 11);
        assert!(s.is_done());
    }
}
