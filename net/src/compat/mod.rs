//! Other crates' I/O traits on `net`'s stream types, each behind its
//! optional feature, so a weft stream goes to libraries written against
//! them as it is, with no adapter:
//!
//! - `futures-io`: `futures_io::AsyncRead` / `AsyncWrite` (futures'
//!   `io` utilities, futures-rustls, async-tungstenite, ...);
//! - `hyper`: `hyper::rt::Read` / `Write` (hyper 1.x servers and clients),
//!   reading straight into hyper's uninitialised buffer.
//!
//! Each is implemented on [`TcpStream`](crate::TcpStream),
//! [`UnixStream`](crate::UnixStream), shared references to them, and their
//! split halves (read traits on read halves, write traits on write halves).
//! The calls are the ones of weft's own `AsyncRead`/`AsyncWrite`: the same
//! readiness cache, the same cooperative budget.

#[cfg(feature = "futures-io")]
mod futures;
#[cfg(feature = "hyper")]
mod hyper_io;
