//! HTTP/1.1 on the wire: what the bytes mean, for clients and servers.
//!
//! - [`Url`]: `http://host[:port]/path`, with a clear error for `https` or garbage.
//! - [`ResponseParser`] / [`Response`]: a response read as bytes arrive: status
//!   line, headers, and a body framed by `Content-Length`, `Transfer-Encoding:
//!   chunked` ([`ChunkedDecoder`]) or the end of the connection.
//! - [`write_response`] / [`write_error`] / [`Persistence`]: the responses a
//!   server writes.
//! - [`parse_request`] / [`BodySkip`]: a server reads request heads (at most
//!   [`MAX_REQUEST_HEAD`] bytes) and skips their bodies; [`RequestReader`]
//!   does both from a connection, one request at a time.
//! - [`invariants`]: what the parsers promise for any input, checked by the
//!   seeded random-input tests and the fuzz targets in `fuzz/`.

mod chunked;
pub mod invariants;
mod reader;
mod request;
mod response;
mod url;

#[cfg(test)]
mod fuzz_tests;

pub use chunked::ChunkedDecoder;
pub use reader::{Next, RequestReader};
pub use request::{parse_request, BodyLength, BodySkip, Method, RequestError, RequestHead, MAX_REQUEST_HEAD};
pub use response::{write_error, write_response, Persistence, Response, ResponseParser, MAX_RESPONSE_HEAD};
pub use url::Url;
