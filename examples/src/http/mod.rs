//! Just enough HTTP/1.1 for the examples, client and server side.
//!
//! - [`Url`]: `http://host[:port]/path`, with a clear error for `https` or garbage.
//! - [`ResponseParser`] / [`Response`]: a response read as bytes arrive: status
//!   line, headers, and a body framed by `Content-Length`, `Transfer-Encoding:
//!   chunked` ([`ChunkedDecoder`]) or the end of the connection.
//! - [`get`] and [`get_blocking`]: the same `GET`, as a weft task and on
//!   blocking `std::net`.
//! - [`parse_request`] / [`BodySkip`]: a server reads request heads (at most
//!   [`MAX_REQUEST_HEAD`] bytes) and skips their bodies; [`RequestReader`]
//!   does both from a connection, one request at a time.
//! - [`accept_loop`], [`IdleTimer`], [`write_response`], [`linger_close`]:
//!   what the example servers share; [`listen_and_announce`],
//!   [`serve_until_signal`] and [`Drain`] their graceful shutdown on
//!   SIGINT / SIGTERM.
//! - [`invariants`]: what the parsers promise for any input, checked by the
//!   seeded random-input tests and the fuzz targets in `fuzz/`.
//!
//! Heads are parsed by `httparse`; the runtime and `net` know nothing of HTTP.

mod chunked;
mod client;
pub mod invariants;
mod reader;
mod request;
mod response;
mod server;
mod shutdown;
mod url;

#[cfg(test)]
mod fuzz_tests;

pub use chunked::ChunkedDecoder;
pub use client::{get, get_blocking, request_bytes};
pub use reader::{Next, RequestReader};
pub use request::{parse_request, BodyLength, BodySkip, Method, RequestError, RequestHead, MAX_REQUEST_HEAD};
pub use response::{Response, ResponseParser, MAX_RESPONSE_HEAD};
pub use server::{accept_loop, accept_until, linger_close, write_error, write_response, IdleTimer, Persistence};
pub use shutdown::{listen_and_announce, serve_until_signal, Drain, ShutdownSignals};
pub use url::Url;
