//! hyper 1.x's runtime traits on weft (feature `hyper`): [`Executor`]
//! spawns hyper's background tasks as weft tasks, [`Timer`] gives hyper
//! weft's timers (its header-read and keep-alive timeouts), and
//! [`time::Sleep`] is a `hyper::rt::Sleep`.
//!
//! The I/O half, `hyper::rt::Read` / `hyper::rt::Write` on the socket
//! types, is in `net` (its `hyper` feature, which turns this one on): with
//! both, a weft `TcpStream` goes to hyper as it is.
//!
//! ```ignore
//! // (net + hyper with its "http1" and "server" features)
//! let (stream, _) = listener.accept().await?;
//! hyper::server::conn::http1::Builder::new()
//!     .timer(runtime::hyper::Timer)
//!     .serve_connection(stream, service)
//!     .await
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::time::{self, Sleep};

/// Runs hyper's background futures (HTTP/2 connection tasks, for one) as
/// weft tasks with [`spawn`](crate::spawn): call hyper inside a weft runtime.
///
/// ```
/// use hyper::rt::Executor as _;
///
/// runtime::block_on(async {
///     let (tx, rx) = runtime::sync::oneshot::channel();
///     runtime::hyper::Executor.execute(async move {
///         let _ = tx.send(42);
///     });
///     assert_eq!(rx.await.ok(), Some(42));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Executor;

impl<F> ::hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper keeps no handle to the tasks it spawns.
        drop(crate::spawn(future));
    }
}

/// hyper's timers on weft's timer store: what
/// `hyper::server::conn::http1::Builder::timer` (and the client's) takes.
/// Its sleeps are [`time::Sleep`]s, and
/// [`reset`](::hyper::rt::Timer::reset) moves one in place (hyper resets the
/// keep-alive and header-read timers on every request) instead of
/// allocating a new one.
///
/// ```
/// use std::time::{Duration, Instant};
/// use hyper::rt::Timer as _;
/// use runtime::hyper::Timer;
///
/// runtime::block_on(async {
///     let start = Instant::now();
///     let mut sleep = Timer.sleep(Duration::from_secs(60));
///     Timer.reset(&mut sleep, start + Duration::from_millis(10));
///     sleep.as_mut().await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
///     assert!(start.elapsed() < Duration::from_secs(60));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer;

impl ::hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(time::sleep_until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            Some(mut ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A weft sleep is a hyper sleep: `Send + Sync`, and completes once.
impl ::hyper::rt::Sleep for Sleep {}
