//! [`RequestReader`]: one complete request at a time from a connection.

use std::io;

use net::TcpStream;

use super::request::{parse_request, BodySkip, RequestError, RequestHead};

/// Bytes asked for per `read` call.
const READ_CHUNK: usize = 4 * 1024;

/// What [`RequestReader::next_request`] found.
#[derive(Debug)]
pub enum Next {
    /// A complete request: its head parsed, its body (if any) skipped.
    Request(RequestHead),
    /// Bytes that are not an acceptable request: answer the error, then
    /// close. A request cut short by the client's close (a half-close still
    /// reads the answer) is `Malformed` too.
    Reject(RequestError),
    /// The client closed the connection between requests.
    Closed,
}

/// Reads requests one by one from a connection, keeping the bytes of
/// pipelined requests that arrived early for the next call.
///
/// Between requests it holds no buffer (unless pipelined bytes wait), so
/// thousands of idle or sleeping connections cost little memory.
#[derive(Debug)]
pub struct RequestReader<'a> {
    stream: &'a TcpStream,
    /// Bytes read but not yet consumed: a partial head or later requests.
    pending: Vec<u8>,
}

impl<'a> RequestReader<'a> {
    /// A reader over `stream`.
    pub fn new(stream: &'a TcpStream) -> RequestReader<'a> {
        RequestReader { stream, pending: Vec::new() }
    }

    /// Waits for the next complete request (head and body). A head over
    /// [`MAX_REQUEST_HEAD`](super::MAX_REQUEST_HEAD) bytes or malformed
    /// bytes are rejected as soon as they are seen.
    pub async fn next_request(&mut self) -> io::Result<Next> {
        let head = loop {
            match parse_request(&self.pending) {
                Err(e) => return Ok(Next::Reject(e)),
                Ok(Some((head, len))) => {
                    self.pending.drain(..len);
                    break head;
                }
                Ok(None) => {
                    if !self.read_more().await? {
                        return Ok(self.closed_inside_head());
                    }
                }
            }
        };
        let mut body = BodySkip::new(head.body);
        loop {
            match body.skip(&self.pending) {
                Ok(used) => self.pending.drain(..used),
                Err(e) => return Ok(Next::Reject(RequestError::Malformed(e.to_string()))),
            };
            if body.is_done() {
                break;
            }
            if !self.read_more().await? {
                return Ok(Next::Reject(RequestError::Malformed("connection closed inside the request body".into())));
            }
        }
        if self.pending.is_empty() {
            // Hold no memory while the request is served.
            self.pending = Vec::new();
        }
        Ok(Next::Request(head))
    }

    /// Waits until bytes of the next request are there (`true`) or the
    /// client closed the connection (`false`), holding no buffer while it
    /// waits. Cancelling it loses nothing, so a server can race it against
    /// its shutdown.
    pub async fn wait_for_bytes(&mut self) -> io::Result<bool> {
        if !self.pending.is_empty() {
            return Ok(true);
        }
        self.read_more().await
    }

    /// What end of stream before a complete head means: nothing (or only
    /// the blank lines some clients send after a body) is a close between
    /// requests; anything else is a request cut short.
    fn closed_inside_head(&self) -> Next {
        if self.pending.iter().all(|&b| b == b'\r' || b == b'\n') {
            Next::Closed
        } else {
            let why = format!("connection closed inside the request head ({} bytes)", self.pending.len());
            Next::Reject(RequestError::Malformed(why))
        }
    }

    /// Appends what the socket has to `pending`; false at end of stream.
    /// Waits for readability first, so a waiting connection holds no buffer.
    async fn read_more(&mut self) -> io::Result<bool> {
        loop {
            self.stream.readable().await?;
            let start = self.pending.len();
            self.pending.resize(start + READ_CHUNK, 0);
            let res = self.stream.try_read(&mut self.pending[start..]);
            self.pending.truncate(start + *res.as_ref().unwrap_or(&0));
            match res {
                Ok(n) => return Ok(n > 0),
                // Woken, but the data was gone: wait again, holding nothing.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.pending.is_empty() {
                        self.pending = Vec::new();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
