//! An HTTP/1.x response, both ways: [`ResponseParser`] reads one from bytes
//! as they arrive, whatever the framing of its body (the clients' side);
//! [`write_response`] and [`write_error`] build one (the servers' side).
//!
//! It does no I/O: the caller reads from its socket (blocking or async)
//! and feeds the bytes in, so the blocking and the async client share it;
//! a server writes the bytes built here itself.

use std::io;

use super::chunked::ChunkedDecoder;
use super::request::{RequestError, RequestHead};

/// Largest response head (status line and headers) we accept.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Most header fields in a response head.
const MAX_HEADERS: usize = 64;

/// A complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Status code, e.g. 200.
    pub status: u16,
    /// Reason phrase, e.g. `OK` (may be empty).
    pub reason: String,
    /// Header fields in order, values decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from its framing (chunks joined).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// How the end of the body is found (RFC 9112 §6.3).
#[derive(Debug)]
enum Body {
    /// No body: a HEAD response, 1xx, 204 or 304.
    Empty,
    /// `Content-Length`: this many bytes in all.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkedDecoder),
    /// No length given: the body ends when the server closes.
    ToClose,
}

/// What the parser waits for.
#[derive(Debug)]
enum State {
    /// Collecting the head in `buf`.
    Head,
    /// Reading the body.
    Body(Body),
    /// The response is complete.
    Done,
}

/// Parses one response incrementally: [`feed`](Self::feed) it what the
/// socket gives, [`finish`](Self::finish) it at end of stream.
///
/// ```
/// use examples::http::proto::ResponseParser;
/// let mut p = ResponseParser::new(false);
/// assert!(!p.feed(b"HTTP/1.1 200 OK\r\nContent-Le")?);
/// assert!(p.feed(b"ngth: 2\r\n\r\nOK")?);
/// let r = p.into_response()?;
/// assert_eq!((r.status, r.body.as_slice()), (200, &b"OK"[..]));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ResponseParser {
    /// True if the request was `HEAD`: the response has no body whatever it says.
    head_request: bool,
    state: State,
    /// The head collected so far (until it is complete).
    buf: Vec<u8>,
    /// The response being built; its body fills as bytes arrive.
    response: Response,
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed response: {}", why.into()))
}

impl ResponseParser {
    /// A parser for the response to a request; `head_request` if it was `HEAD`.
    pub fn new(head_request: bool) -> ResponseParser {
        ResponseParser {
            head_request,
            state: State::Head,
            buf: Vec::new(),
            response: Response { version: 1, status: 0, reason: String::new(), headers: Vec::new(), body: Vec::new() },
        }
    }

    /// True once the whole response has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Takes the next bytes of the stream. `Ok(true)` once the response is
    /// complete (bytes after it are ignored); malformed input is
    /// `ErrorKind::InvalidData`.
    pub fn feed(&mut self, data: &[u8]) -> io::Result<bool> {
        match self.state {
            State::Done => Ok(true),
            State::Body(_) => self.feed_body(data),
            State::Head => {
                self.buf.extend_from_slice(data);
                // Each pass consumes a whole head, so this ends; more than
                // one pass only after 1xx interim responses.
                while let Some(len) = self.parse_head()? {
                    self.buf.drain(..len);
                    if !matches!(self.state, State::Head) {
                        let rest = std::mem::take(&mut self.buf);
                        return self.feed_body(&rest);
                    }
                }
                Ok(false)
            }
        }
    }

    /// Adds `data` to the body; `Ok(true)` once it is complete.
    fn feed_body(&mut self, data: &[u8]) -> io::Result<bool> {
        let State::Body(body) = &mut self.state else {
            return Ok(self.is_done());
        };
        let out = &mut self.response.body;
        let done = match body {
            Body::Empty => true,
            Body::Length(total) => {
                let left = usize::try_from(*total - out.len() as u64).unwrap_or(usize::MAX);
                out.extend_from_slice(&data[..left.min(data.len())]);
                out.len() as u64 == *total
            }
            Body::Chunked(dec) => {
                dec.decode(data, Some(out))?;
                dec.is_done()
            }
            Body::ToClose => {
                out.extend_from_slice(data);
                false
            }
        };
        if done {
            self.state = State::Done;
        }
        Ok(done)
    }

    /// Parses `buf` as a head. `Some(len)` once complete, with the state set
    /// for the body; a 1xx interim response is skipped (state stays `Head`).
    fn parse_head(&mut self) -> io::Result<Option<usize>> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let too_long = || invalid(format!("head longer than {MAX_RESPONSE_HEAD} bytes"));
        let len = match parsed.parse(&self.buf) {
            // Checked on a complete head too: whether a long head arrives in
            // one read or in several must not change the answer.
            Ok(httparse::Status::Complete(len)) if len > MAX_RESPONSE_HEAD => return Err(too_long()),
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if self.buf.len() > MAX_RESPONSE_HEAD => return Err(too_long()),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(invalid(format!("{e} (starts {:?})", preview(&self.buf)))),
        };
        let status = parsed.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // 100 Continue and friends: the real response follows.
            return Ok(Some(len));
        }
        let r = &mut self.response;
        r.version = parsed.version.unwrap_or(1);
        r.status = status;
        r.reason = parsed.reason.unwrap_or("").to_owned();
        r.headers = parsed
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).trim().to_owned()))
            .collect();
        let body = self.framing()?;
        self.state = State::Body(body);
        Ok(Some(len))
    }

    /// Decides the body framing from the status and headers.
    fn framing(&self) -> io::Result<Body> {
        let r = &self.response;
        if self.head_request || matches!(r.status, 100..=199 | 204 | 304) {
            return Ok(Body::Empty);
        }
        let values = |name: &'static str| {
            r.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        };
        if let Some(last) = values("transfer-encoding").flat_map(|v| v.split(',')).map(str::trim).next_back() {
            // Transfer-Encoding overrides Content-Length; only chunked as the final coding delimits the body.
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                Body::Chunked(ChunkedDecoder::new())
            } else {
                Body::ToClose
            });
        }
        let mut length = None;
        for v in values("content-length").flat_map(|v| v.split(',')).map(str::trim) {
            let n = v
                .parse::<u64>()
                .ok()
                .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| invalid(format!("bad Content-Length {v:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(invalid("conflicting Content-Length values"));
            }
            length = Some(n);
        }
        Ok(match length {
            Some(0) => Body::Empty,
            Some(n) => Body::Length(n),
            None => Body::ToClose,
        })
    }

    /// The stream ended. Completes a read-to-close body; for any other
    /// framing an unfinished response is `ErrorKind::UnexpectedEof`.
    pub fn finish(&mut self) -> io::Result<()> {
        let eof = |why: String| io::Error::new(io::ErrorKind::UnexpectedEof, why);
        match &self.state {
            State::Done => Ok(()),
            State::Body(Body::ToClose) => {
                self.state = State::Done;
                Ok(())
            }
            State::Head if self.buf.is_empty() => Err(eof("connection closed before a response".to_owned())),
            State::Head => Err(eof(format!("connection closed inside the response head ({} bytes)", self.buf.len()))),
            State::Body(Body::Length(n)) => {
                Err(eof(format!("connection closed after {} of {n} body bytes", self.response.body.len())))
            }
            State::Body(_) => Err(eof(format!(
                "connection closed inside the chunked body (after {} bytes)",
                self.response.body.len()
            ))),
        }
    }

    /// The response, if complete (else `ErrorKind::UnexpectedEof`).
    pub fn into_response(self) -> io::Result<Response> {
        match self.state {
            State::Done => Ok(self.response),
            _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "response incomplete")),
        }
    }
}

/// The first bytes of `buf`, for an error message.
fn preview(buf: &[u8]) -> String {
    String::from_utf8_lossy(&buf[..buf.len().min(40)]).into_owned()
}

/// What the response's `Connection` header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 keep-alive, the default: no header.
    KeepAlive,
    /// HTTP/1.0 keep-alive, which must be confirmed: `Connection: keep-alive`.
    KeepAlive10,
    /// The server closes after this response: `Connection: close`.
    Close,
}

impl Persistence {
    /// What the response to `head` says: close unless the request keeps the connection alive.
    pub fn for_request(head: &RequestHead) -> Persistence {
        match (head.keep_alive, head.version) {
            (false, _) => Persistence::Close,
            (true, 0) => Persistence::KeepAlive10,
            (true, _) => Persistence::KeepAlive,
        }
    }
}

/// Appends a complete `text/plain` response to `out`; with `head_only`
/// (a `HEAD` request) the body is left out but still counted.
///
/// ```
/// use examples::http::proto::{write_response, Persistence};
/// let mut out = Vec::new();
/// write_response(&mut out, 200, "OK", b"OK", false, Persistence::Close);
/// assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
/// ```
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    body: &[u8],
    head_only: bool,
    persistence: Persistence,
) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n", body.len());
    match persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAlive10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Persistence::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Appends the error response for `err` (which always closes).
pub fn write_error(out: &mut Vec<u8>, err: &RequestError) {
    let (status, reason) = err.status();
    write_response(out, status, reason, format!("{reason}\n").as_bytes(), false, Persistence::Close);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes, then EOF if `eof`.
    fn parse(wire: &[u8], step: usize, eof: bool) -> io::Result<Response> {
        let mut p = ResponseParser::new(false);
        for piece in wire.chunks(step) {
            if p.feed(piece)? {
                break;
            }
        }
        if eof {
            p.finish()?;
        }
        p.into_response()
    }

    #[test]
    fn content_length_at_every_split() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
        for step in 1..=wire.len() {
            let r = parse(wire, step, false).unwrap();
            assert_eq!((r.version, r.status, r.reason.as_str()), (1, 200, "OK"));
            assert_eq!(r.header("content-type"), Some("text/plain"));
            assert_eq!(r.body, b"Hello, World!");
        }
    }

    #[test]
    fn chunked_and_to_close() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n";
        for step in 1..=wire.len() {
            assert_eq!(parse(wire, step, false).unwrap().body, b"abc");
        }
        let wire = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end";
        let r = parse(wire, 5, true).unwrap();
        assert_eq!((r.version, r.body.as_slice()), (0, &b"until the end"[..]));
    }

    #[test]
    fn skips_interim_and_knows_bodiless() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
        for step in 1..=wire.len() {
            let r = parse(wire, step, false).unwrap();
            assert_eq!((r.status, r.body.len()), (204, 0));
        }
        let mut p = ResponseParser::new(true);
        assert!(p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").unwrap());
    }

    #[test]
    fn errors() {
        let kind = |wire: &[u8], eof| parse(wire, 7, eof).unwrap_err().kind();
        assert_eq!(kind(b"garbage\r\n\r\n", false), io::ErrorKind::InvalidData);
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false), io::ErrorKind::InvalidData);
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false),
            io::ErrorKind::InvalidData
        );
        assert_eq!(kind(b"", true), io::ErrorKind::UnexpectedEof);
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\n", true), io::ErrorKind::UnexpectedEof);
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", true), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab", true),
            io::ErrorKind::UnexpectedEof
        );
        let huge = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &vec![b'a'; MAX_RESPONSE_HEAD]].concat();
        assert_eq!(kind(&huge, false), io::ErrorKind::InvalidData);
    }

    /// Found by the seeded random-input test: a complete head over the
    /// limit was accepted when it came in one read, rejected in several.
    #[test]
    fn head_limit_does_not_depend_on_reads() {
        let head =
            [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &vec![b'a'; MAX_RESPONSE_HEAD], b"\r\nContent-Length: 0\r\n\r\n"]
                .concat();
        for step in [head.len(), MAX_RESPONSE_HEAD / 2, 4096] {
            assert_eq!(parse(&head, step, false).unwrap_err().kind(), io::ErrorKind::InvalidData, "step {step}");
        }
        let fits = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &vec![b'a'; MAX_RESPONSE_HEAD - 40], b"\r\n\r\n"].concat();
        assert!(fits.len() <= MAX_RESPONSE_HEAD);
        assert_eq!(parse(&fits, fits.len(), true).unwrap().status, 200);
    }

    #[test]
    fn error_responses_are_well_formed() {
        for err in [RequestError::Malformed("x".into()), RequestError::TooLarge] {
            let mut out = Vec::new();
            write_error(&mut out, &err);
            let mut p = ResponseParser::new(false);
            assert!(p.feed(&out).unwrap());
            let r = p.into_response().unwrap();
            assert_eq!((r.status, r.header("connection")), (err.status().0, Some("close")));
            assert_eq!(r.body, format!("{}\n", err.status().1).as_bytes());
        }
    }
}
