//! The example HTTP servers, and how they run their connections.
//!
//! - [`plaintext`]: "Hello, World!" as fast as it goes (`http_server`).
//! - [`delay`]: every answer after a fixed delay on an async timer
//!   (`delay_server`), also on a background thread for in-process use.
//! - [`lifecycle`]: what both share from accept to close: the accept loop,
//!   idle timeouts, lingering close, and graceful shutdown on SIGINT or
//!   SIGTERM.

pub mod delay;
pub mod lifecycle;
pub mod plaintext;
