//! Just enough HTTP/1.1 for the examples, client and server side.
//!
//! - [`proto`]: the wire format, without the sockets' side of things:
//!   URLs, request heads and bodies, responses parsed and written, chunked
//!   bodies, and the parsers' [`invariants`](proto::invariants) that the
//!   seeded random-input tests and the fuzz targets in `fuzz/` check.
//! - [`client`]: the same `GET`, as a weft task ([`client::get`]) and on
//!   blocking `std::net` ([`client::get_blocking`]).
//!
//! The servers built on this are in [`crate::servers`]. Heads are parsed by
//! `httparse`; the runtime and `net` know nothing of HTTP.

pub mod client;
pub mod proto;
