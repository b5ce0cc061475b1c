//! The code behind weft's example binaries, laid out by role, so that each
//! binary in `src/bin/` stays one idea in one file and the tests can run
//! the same code in-process.
//!
//! - [`cli`]: what every binary does at its edges: the command line
//!   (over lexopt; `--help`, exit status 2 for a bad one), the
//!   `listening on ADDR` announcement, `1,234` counts.
//! - [`http`]: just enough HTTP/1.1 for the HTTP examples:
//!   [`http::proto`] is the wire format (URLs, request and response
//!   parsing and writing, chunked bodies, the parsers' invariants for the
//!   fuzz targets); [`http::client`] the `GET` clients, async and blocking.
//! - [`servers`]: the HTTP servers, and how they run their connections:
//!   [`servers::plaintext`] (`http_server`), [`servers::delay`]
//!   (`delay_server`, and `http_client`'s in-process demo), and
//!   [`servers::lifecycle`]: the accept loop, idle timeouts, lingering
//!   close and graceful shutdown they share.
//! - [`measure`]: watching servers from outside, for `io_models`: an echo
//!   load generator, `/proc` readers, server child processes, SVG plots.
//! - [`signals`]: how the long-running binaries stop: SIGINT and SIGTERM
//!   as one event, on weft or on a thread of their own.
//! - [`frame`]: length-prefixed messages over a byte stream (`framed`).
//! - [`stdin`]: lines from stdin as a channel (`udp_chat`).
//! - [`sys`]: the syscall helper of the examples that call the OS directly.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod cli;
pub mod frame;
pub mod http;
pub mod measure;
pub mod servers;
pub mod signals;
pub mod stdin;
pub mod sys;
