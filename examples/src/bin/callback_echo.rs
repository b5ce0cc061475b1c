//! callback_echo: the event loop under every async runtime, written out by
//! hand: register a callback for each file descriptor, ask the kernel which
//! fds are ready, call their callbacks, repeat. Here it serves TCP echo.
//!
//! See it for yourself:
//!
//! ```text
//! cargo run -p examples --bin callback_echo
//! cargo run -p examples --bin echo_client   # in several terminals: every client is served at once
//! ```
//!
//! Like `async_echo`, it serves every client on one thread and sleeps in
//! the kernel (`epoll_wait` on Linux, `kevent` on macOS and the BSDs) while
//! nobody sends, so idle it uses no CPU (`busy_poll_echo` asks every socket
//! in a loop instead). The whole server is one loop, as in the example of
//! Python's `selectors` module:
//!
//! ```text
//! register(listener, EVENT_READ, on_acceptable)
//! loop:
//!     for fd in poller.wait():      # sleeps until some fd is ready
//!         callbacks[fd]()           # must not block: every client waits on it
//! ```
//!
//! The price is the shape of the code. In `async_echo` a connection's whole
//! story reads top to bottom in one function:
//!
//! ```text
//! loop { wait until readable; n = read(buf); if n == 0 { return } write_all(&buf[..n]).await }
//! ```
//!
//! Here no function lives as long as the connection: a callback handles one
//! event and returns to the loop. So the story is turned inside out, and
//! what `async_echo` keeps in local variables must be carried by hand, in a
//! `Conn` on the heap, from one callback to the next:
//!
//! 1. `on_acceptable` (the listener is readable): accept the client and
//!    register its socket for EVENT_READ with `on_readable`.
//! 2. `on_readable`: read what is there and write it back. If the socket
//!    takes only part of it (the client is slow to read), stash the rest in
//!    `Conn::pending` and re-register for EVENT_WRITE with `on_writable`,
//!    reading nothing more meanwhile: a client that never reads must not
//!    make us buffer without bound.
//! 3. `on_writable`: write from `pending`; once it is empty, re-register
//!    for EVENT_READ with `on_readable` (back to 2).
//! 4. End of stream or an error, in either: unregister and close.
//!
//! Each re-registration is an `.await` in `async_echo`, and `Conn` plus
//! "which callback comes next" is exactly what the compiler generates for
//! it: a future is this state machine, written for you from code that
//! reads in order.
//!
//! `--poller poll` and `--poller select` keep every callback and change only
//! how the loop waits, like Python's `PollSelector` and `SelectSelector`:
//! they hand the kernel the whole list of fds on every wait, O(n) however
//! few are ready (`poll_vs_epoll` times one wait, `io_models` whole
//! servers), and `select` cannot watch an fd numbered 1024 or above at all.
//!
//! All the unsafe code (the raw syscalls) is in the `os` module at the end.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use examples::cli::{announce, Args, Error, Long, Usage};
use os::{Events, Poller, EVENT_READ, EVENT_WRITE};

const USAGE: Usage = Usage {
    name: "callback_echo",
    text: "\
usage: callback_echo [--addr HOST:PORT] [--poller NAME] [--quiet] [--grace-ms MS]

A TCP echo server written as callbacks on a hand-made event loop: one
thread, no runtime, the kernel's poller called directly. On SIGINT or
SIGTERM it stops accepting, gives open connections up to the grace period
to finish (a second signal ends it), and exits with status 0.

options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0 picks a free port)
  --poller NAME     how the loop waits for ready fds: epoll (Linux) or kqueue (macOS, BSD),
                    the default; poll; or select (only fds below FD_SETSIZE, 1024)
  --quiet           do not log connections on stderr
  --grace-ms MS     how long open connections may finish after a signal (default 5000)
  --help            show this help
",
};

/// Bytes read from a connection in one call.
const CHUNK: usize = 16 * 1024;

/// Most connections accepted in one call of `on_acceptable`, so that a
/// flood of new clients cannot starve the connected ones (the listener
/// stays ready, and the loop comes back to it on its next round).
const ACCEPT_BATCH: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Options {
    quiet: bool,
    grace: Duration,
}

fn main() -> ExitCode {
    let (addr, poller, opts) = match USAGE.parse(parse) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    match serve(&addr, poller, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callback_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The address to listen on, the poller, and the options.
fn parse(args: &mut Args) -> Result<(String, os::Kind, Options), Error> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut poller = os::Kind::Native;
    let mut opts = Options { quiet: false, grace: Duration::from_millis(5000) };
    while let Some(arg) = args.next()? {
        match arg {
            Long("addr") => addr = args.string()?,
            Long("poller") => poller = os::Kind::parse(&args.string()?)?,
            Long("quiet") => opts.quiet = true,
            Long("grace-ms") => opts.grace = args.millis()?,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok((addr, poller, opts))
}

fn serve(addr: &str, poller: os::Kind, opts: Options) -> io::Result<()> {
    let listener = TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    // Non-blocking, like every socket here: a callback must never wait.
    listener.set_nonblocking(true)?;
    let mut event_loop = EventLoop::new(poller.open()?);
    // SIGINT and SIGTERM arrive as bytes on this socket, so the loop can
    // wait for them like for any client. Caught before the announcement:
    // a signal sent right after it is neither lost nor fatal.
    let signals = os::signal_pipe()?;
    announce(listener.local_addr()?);

    let listener_fd = listener.as_raw_fd();
    // The callbacks own their sockets: unregistering an fd drops its
    // callback, which closes the socket.
    event_loop.register(listener_fd, EVENT_READ, move |lp| on_acceptable(lp, &listener, opts))?;
    let signals_fd = signals.as_raw_fd();
    let mut draining = false;
    event_loop.register(signals_fd, EVENT_READ, move |lp| {
        on_signal(lp, &signals, listener_fd, opts, draining);
        draining = true;
    })?;
    event_loop.run()?;
    // Connections still open: the deadline ended the loop, or a second
    // signal did (which unregistered the signals, and said so).
    if !event_loop.is_idle() && event_loop.is_registered(signals_fd) && !opts.quiet {
        eprintln!("grace period over: closing the remaining connections");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The event loop: fds, their callbacks, and the loop that calls them.
// ---------------------------------------------------------------------------

/// What the loop calls when its fd is ready. It gets the loop, to register
/// and unregister fds, its own included.
type Callback = Box<dyn FnMut(&mut EventLoop)>;

struct EventLoop {
    poller: Box<dyn Poller>,
    /// The callback of every registered fd; `None` while it runs.
    callbacks: HashMap<RawFd, Option<Callback>>,
    /// Once set (by a shutdown), `run` returns at this instant even if fds
    /// are still registered.
    deadline: Option<Instant>,
    /// Registered fds that do not keep the loop running (libuv calls this
    /// `uv_unref`): the signals, while the server drains.
    unreferenced: HashSet<RawFd>,
}

impl EventLoop {
    fn new(poller: Box<dyn Poller>) -> EventLoop {
        EventLoop { poller, callbacks: HashMap::new(), deadline: None, unreferenced: HashSet::new() }
    }

    /// Calls `callback` whenever `fd` is ready for `events`, until the fd
    /// is modified or unregistered. On failure `callback` is dropped.
    fn register(
        &mut self,
        fd: RawFd,
        events: Events,
        callback: impl FnMut(&mut EventLoop) + 'static,
    ) -> io::Result<()> {
        self.poller.add(fd, events)?;
        self.callbacks.insert(fd, Some(Box::new(callback)));
        Ok(())
    }

    /// Changes what a registered `fd` waits for, and what is called then.
    fn modify(&mut self, fd: RawFd, events: Events, callback: impl FnMut(&mut EventLoop) + 'static) -> io::Result<()> {
        self.poller.modify(fd, events)?;
        self.callbacks.insert(fd, Some(Box::new(callback)));
        Ok(())
    }

    /// Stops watching `fd` and drops its callback (at once, or when it
    /// returns if it is the one running). The poller forgets the fd first:
    /// `poll` and `select` must never be handed a closed one.
    fn unregister(&mut self, fd: RawFd) {
        self.poller.remove(fd);
        self.callbacks.remove(&fd);
        self.unreferenced.remove(&fd);
    }

    /// Keeps watching `fd`, but `run` no longer waits for it alone.
    fn unref(&mut self, fd: RawFd) {
        self.unreferenced.insert(fd);
    }

    fn is_registered(&self, fd: RawFd) -> bool {
        self.callbacks.contains_key(&fd)
    }

    /// True when only unreferenced fds, or none, are registered.
    fn is_idle(&self) -> bool {
        self.callbacks.keys().all(|fd| self.unreferenced.contains(fd))
    }

    /// The loop: wait until some fds are ready, call their callbacks, again,
    /// until no referenced fd is registered or the deadline has passed.
    fn run(&mut self) -> io::Result<()> {
        let mut ready = Vec::new();
        while !self.is_idle() {
            let timeout = match self.deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(()),
                },
            };
            // The only place this thread sleeps.
            self.poller.wait(&mut ready, timeout)?;
            for &fd in &ready {
                // Take the callback out while it runs, so it can use the loop.
                // An fd unregistered by an earlier callback of this round is skipped.
                let Some(mut callback) = self.callbacks.get_mut(&fd).and_then(Option::take) else { continue };
                callback(self);
                // Put it back, unless it unregistered or replaced itself.
                if let Some(slot @ None) = self.callbacks.get_mut(&fd) {
                    *slot = Some(callback);
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The echo server, as callbacks.
// ---------------------------------------------------------------------------

/// One client, between callbacks: what `async_echo` keeps in the local
/// variables of its connection function. Shared (`Rc<RefCell<_>>`) because
/// whichever callback is registered next needs it, and none of them lives
/// as long as the connection.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Read but not yet written back: the client's socket was full.
    pending: Vec<u8>,
    /// Bytes echoed so far, for the log.
    total: u64,
}

type SharedConn = Rc<RefCell<Conn>>;

/// Step 1: the listener is readable: clients are waiting to be accepted.
fn on_acceptable(lp: &mut EventLoop, listener: &TcpListener, opts: Options) {
    for _ in 0..ACCEPT_BATCH {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            // Nobody left in the queue: back to the loop.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // The client gave up before we got to it.
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted) => continue,
            Err(e) => {
                // Out of fds, say. The client stays queued and the listener
                // stays readable, so the loop calls us again at once: a loop
                // with timers would pause accepting for a while instead.
                if !opts.quiet {
                    eprintln!("accept failed: {e}");
                }
                return;
            }
        };
        if let Err(e) = start(lp, stream, peer, opts) {
            // Printed even with --quiet: this client is dropped unserved
            // (with `--poller select`, once fd numbers reach FD_SETSIZE).
            eprintln!("cannot serve {peer}: {e}");
        }
    }
}

/// Registers a new client for reading. On failure the socket is closed.
fn start(lp: &mut EventLoop, stream: TcpStream, peer: SocketAddr, opts: Options) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let conn = Rc::new(RefCell::new(Conn { stream, peer, pending: Vec::new(), total: 0 }));
    lp.register(fd, EVENT_READ, move |lp| on_readable(lp, &conn, opts))?;
    if !opts.quiet {
        eprintln!("accepted {peer}");
    }
    Ok(())
}

/// Step 2: the client sent something (or closed, or failed).
fn on_readable(lp: &mut EventLoop, conn: &SharedConn, opts: Options) {
    let mut buf = [0u8; CHUNK];
    let mut c = conn.borrow_mut();
    let n = match (&c.stream).read(&mut buf) {
        Ok(0) => return close(lp, &c, None, opts),
        Ok(n) => n,
        // Woken, but the bytes were gone: the loop will call again.
        Err(e) if is_retry(&e) => return,
        Err(e) => return close(lp, &c, Some(e), opts),
    };
    c.total += n as u64;
    let written = match (&c.stream).write(&buf[..n]) {
        Ok(written) => written,
        Err(e) if is_retry(&e) => 0,
        Err(e) => return close(lp, &c, Some(e), opts),
    };
    if written == n {
        return; // all echoed: stay registered for reading
    }
    // The client's socket took less than we read. In `async_echo` this is
    // one `write_all(..).await`; here the rest must wait in `Conn` for a
    // callback that runs when the socket can take more, and nothing more is
    // read from this client until then.
    c.pending.extend_from_slice(&buf[written..n]);
    if !opts.quiet {
        eprintln!("{} is not reading: {} bytes wait for room", c.peer, c.pending.len());
    }
    let fd = c.stream.as_raw_fd();
    let next = conn.clone();
    if let Err(e) = lp.modify(fd, EVENT_WRITE, move |lp| on_writable(lp, &next, opts)) {
        close(lp, &c, Some(e), opts);
    }
}

/// Step 3: the client's socket has room again: send what is pending.
fn on_writable(lp: &mut EventLoop, conn: &SharedConn, opts: Options) {
    let mut c = conn.borrow_mut();
    let written = match (&c.stream).write(&c.pending) {
        Ok(written) => written,
        Err(e) if is_retry(&e) => return,
        Err(e) => return close(lp, &c, Some(e), opts),
    };
    c.pending.drain(..written);
    if !c.pending.is_empty() {
        return; // still more: stay registered for writing
    }
    // All caught up. Free the buffer (an idle client holds none) and go
    // back to waiting for the client's next bytes.
    c.pending = Vec::new();
    let fd = c.stream.as_raw_fd();
    let next = conn.clone();
    if let Err(e) = lp.modify(fd, EVENT_READ, move |lp| on_readable(lp, &next, opts)) {
        close(lp, &c, Some(e), opts);
    }
}

/// Step 4: the client closed, or its socket failed. Unregistering drops
/// the running callback once it returns, and with it the last reference to
/// `Conn`: that closes the socket.
fn close(lp: &mut EventLoop, conn: &Conn, err: Option<io::Error>, opts: Options) {
    lp.unregister(conn.stream.as_raw_fd());
    if !opts.quiet {
        match err {
            None => eprintln!("closed {} after {} bytes", conn.peer, conn.total),
            Some(e) => eprintln!("closed {} after {} bytes: {e}", conn.peer, conn.total),
        }
    }
}

/// `WouldBlock` (nothing to read, or no room to write, after all) and
/// `Interrupted` (a signal arrived): not failures, try again when told.
fn is_retry(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// SIGINT or SIGTERM: stop accepting (closing the listener, so new clients
/// are refused) and give the open connections until the grace period ends;
/// the loop returns once the last one closes. A second signal (`draining`)
/// ends the grace period at once.
fn on_signal(lp: &mut EventLoop, signals: &UnixStream, listener_fd: RawFd, opts: Options, draining: bool) {
    // Empty the pipe; what is in it does not matter, only that it is readable.
    let mut buf = [0u8; 64];
    while matches!((&*signals).read(&mut buf), Ok(n) if n > 0) {}
    if draining {
        lp.unregister(signals.as_raw_fd());
        lp.deadline = Some(Instant::now());
        if !opts.quiet && !lp.is_idle() {
            eprintln!("second signal: closing the remaining connections");
        }
        return;
    }
    lp.unregister(listener_fd);
    // Still listening, for a second signal, but not waiting for one.
    lp.unref(signals.as_raw_fd());
    lp.deadline = Some(Instant::now() + opts.grace);
    if !opts.quiet {
        eprintln!("shutting down: waiting up to {} ms for open connections", opts.grace.as_millis());
    }
}

// ---------------------------------------------------------------------------
// The OS part: the pollers and the signal pipe. Every unsafe block of this
// file is here, each a raw syscall through `libc` with its SAFETY argument.
// ---------------------------------------------------------------------------

mod os {
    use std::collections::{BTreeMap, HashMap};
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
    use std::os::unix::net::UnixStream;
    use std::ptr;
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::time::Duration;

    /// Most events one wait of epoll or kqueue hands back; the rest wait
    /// for the next one.
    const MAX_EVENTS: usize = 256;

    /// What a registered fd waits for: `EVENT_READ`, `EVENT_WRITE` or both.
    pub type Events = u8;
    pub const EVENT_READ: Events = 1;
    pub const EVENT_WRITE: Events = 2;

    /// Waits for registered fds to become ready. Level-triggered: an fd is
    /// reported on every wait while it is ready, so a callback may leave
    /// work for later. Errors and hang-ups are reported as readiness, and
    /// the callback's next read or write says which.
    pub trait Poller {
        fn add(&mut self, fd: RawFd, events: Events) -> io::Result<()>;
        fn modify(&mut self, fd: RawFd, events: Events) -> io::Result<()>;
        /// Forgets `fd` (nothing happens if it was not registered).
        fn remove(&mut self, fd: RawFd);
        /// Sleeps until some fds are ready or `timeout` (`None`: no limit)
        /// passes, and puts the ready fds in `ready`; an fd may appear
        /// twice. A signal ends the wait early with nothing ready.
        fn wait(&mut self, ready: &mut Vec<RawFd>, timeout: Option<Duration>) -> io::Result<()>;
    }

    /// The pollers `--poller` can name.
    #[derive(Clone, Copy, Debug)]
    pub enum Kind {
        /// epoll on Linux, kqueue on macOS and the BSDs.
        Native,
        Poll,
        Select,
    }

    impl Kind {
        pub fn parse(name: &str) -> Result<Kind, String> {
            match name {
                NATIVE => Ok(Kind::Native),
                "poll" => Ok(Kind::Poll),
                "select" => Ok(Kind::Select),
                _ => Err(format!("--poller {name:?}: this system has {NATIVE}, poll and select")),
            }
        }

        pub fn open(self) -> io::Result<Box<dyn Poller>> {
            Ok(match self {
                Kind::Native => Box::new(native::Native::new()?),
                Kind::Poll => Box::new(PollList::default()),
                Kind::Select => Box::new(SelectSet::default()),
            })
        }
    }

    /// The name of this system's own poller.
    pub use native::NAME as NATIVE;

    /// Turns a syscall's `-1` into the `errno` it set.
    fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    /// A wait's result: an interrupting signal is not an error, the loop
    /// just goes round again (and then finds the signal pipe readable).
    fn cvt_wait(ret: libc::c_int) -> io::Result<usize> {
        match cvt(ret) {
            Ok(n) => Ok(usize::try_from(n).unwrap_or(0)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// A timeout in whole milliseconds (rounded up, so a wait never ends
    /// before it), or -1 for none, as `epoll_wait` and `poll` take it.
    fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
        timeout.map_or(-1, |d| libc::c_int::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX))
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    mod native {
        use super::*;

        pub const NAME: &str = "epoll";

        /// epoll(7): the interest list lives in the kernel; each fd is
        /// registered once, and a wait returns the ready ones only.
        pub struct Native {
            epoll: OwnedFd,
            events: Vec<libc::epoll_event>,
        }

        impl Native {
            pub fn new() -> io::Result<Native> {
                // SAFETY: epoll_create1 takes no pointers.
                let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
                // SAFETY: `fd` was just opened and nothing else owns it.
                let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
                Ok(Native { epoll, events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS] })
            }

            fn ctl(&self, op: libc::c_int, fd: RawFd, events: Events) -> io::Result<()> {
                let mut flags = 0;
                if events & EVENT_READ != 0 {
                    flags |= libc::EPOLLIN;
                }
                if events & EVENT_WRITE != 0 {
                    flags |= libc::EPOLLOUT;
                }
                // The fd travels in the event's user data and comes back with it.
                let mut event = libc::epoll_event { events: flags as u32, u64: fd as u64 };
                // SAFETY: the kernel reads `event`, which lives across the call
                // (and ignores it for EPOLL_CTL_DEL); bad fds are errors, not UB.
                cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) }).map(drop)
            }
        }

        impl Poller for Native {
            fn add(&mut self, fd: RawFd, events: Events) -> io::Result<()> {
                self.ctl(libc::EPOLL_CTL_ADD, fd, events)
            }

            fn modify(&mut self, fd: RawFd, events: Events) -> io::Result<()> {
                self.ctl(libc::EPOLL_CTL_MOD, fd, events)
            }

            fn remove(&mut self, fd: RawFd) {
                // Fails only for an fd that is not registered: nothing to do.
                let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0);
            }

            fn wait(&mut self, ready: &mut Vec<RawFd>, timeout: Option<Duration>) -> io::Result<()> {
                ready.clear();
                let (ptr, len) = (self.events.as_mut_ptr(), self.events.len() as libc::c_int);
                // SAFETY: `ptr` points to `len` writable events, borrowed for the call.
                let n = cvt_wait(unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), ptr, len, timeout_ms(timeout)) })?;
                ready.extend(self.events[..n].iter().map(|event| event.u64 as RawFd));
                Ok(())
            }
        }
    }

    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    mod native {
        use super::*;

        pub const NAME: &str = "kqueue";

        /// kqueue(2): like epoll, the interest list lives in the kernel, but
        /// reading and writing are separate filters, added and deleted one
        /// by one.
        pub struct Native {
            kqueue: OwnedFd,
            events: Vec<libc::kevent>,
            /// What each fd is registered for, to know which filters change.
            registered: HashMap<RawFd, Events>,
        }

        /// A change (or an event) for `fd`'s `filter`.
        fn kevent(fd: RawFd, filter: i64, flags: u64) -> libc::kevent {
            // SAFETY: a kevent is integers and a user-data pointer, for which
            // all zeroes are valid (0 and null).
            let mut event: libc::kevent = unsafe { std::mem::zeroed() };
            event.ident = fd as libc::uintptr_t;
            event.filter = filter as _;
            event.flags = flags as _;
            event
        }

        impl Native {
            pub fn new() -> io::Result<Native> {
                // SAFETY: kqueue takes no arguments.
                let fd = cvt(unsafe { libc::kqueue() })?;
                // SAFETY: `fd` was just opened and nothing else owns it.
                let kqueue = unsafe { OwnedFd::from_raw_fd(fd) };
                // SAFETY: as in `kevent`: all zeroes is a valid kevent.
                let events = vec![unsafe { std::mem::zeroed::<libc::kevent>() }; MAX_EVENTS];
                Ok(Native { kqueue, events, registered: HashMap::new() })
            }

            /// Adds and deletes filters so that `fd` waits for `want`.
            fn set(&mut self, fd: RawFd, want: Events) -> io::Result<()> {
                let had = self.registered.get(&fd).copied().unwrap_or(0);
                let mut changes = Vec::with_capacity(2);
                for (event, filter) in [(EVENT_READ, libc::EVFILT_READ), (EVENT_WRITE, libc::EVFILT_WRITE)] {
                    if want & event != 0 && had & event == 0 {
                        changes.push(kevent(fd, filter as i64, libc::EV_ADD as u64));
                    } else if want & event == 0 && had & event != 0 {
                        changes.push(kevent(fd, filter as i64, libc::EV_DELETE as u64));
                    }
                }
                // SAFETY: the kernel reads `changes.len()` initialised kevents
                // from `changes`, borrowed for the call; it writes no events
                // back (a null list of length 0) and needs no timeout.
                cvt(unsafe {
                    libc::kevent(
                        self.kqueue.as_raw_fd(),
                        changes.as_ptr(),
                        changes.len() as _,
                        ptr::null_mut(),
                        0,
                        ptr::null(),
                    )
                })?;
                if want == 0 {
                    self.registered.remove(&fd);
                } else {
                    self.registered.insert(fd, want);
                }
                Ok(())
            }
        }

        impl Poller for Native {
            fn add(&mut self, fd: RawFd, events: Events) -> io::Result<()> {
                self.set(fd, events)
            }

            fn modify(&mut self, fd: RawFd, events: Events) -> io::Result<()> {
                self.set(fd, events)
            }

            fn remove(&mut self, fd: RawFd) {
                // Fails only for a filter that is not registered: nothing to do.
                let _ = self.set(fd, 0);
            }

            fn wait(&mut self, ready: &mut Vec<RawFd>, timeout: Option<Duration>) -> io::Result<()> {
                ready.clear();
                let limit = timeout.map(|d| libc::timespec {
                    tv_sec: d.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                    tv_nsec: d.subsec_nanos() as _,
                });
                let limit_ptr = limit.as_ref().map_or(ptr::null(), |t| t as *const libc::timespec);
                let (ptr, len) = (self.events.as_mut_ptr(), self.events.len());
                // SAFETY: no changes (a null list of length 0); `ptr` points to
                // `len` writable events and `limit_ptr` to a timespec or null,
                // all borrowed for the call.
                let n = cvt_wait(unsafe {
                    libc::kevent(self.kqueue.as_raw_fd(), ptr::null(), 0, ptr, len as _, limit_ptr)
                })?;
                ready.extend(self.events[..n].iter().map(|event| event.ident as RawFd));
                Ok(())
            }
        }
    }

    /// poll(2): the whole list goes to the kernel and back on every wait,
    /// and the loop scans all of it for the few ready fds.
    #[derive(Default)]
    struct PollList {
        fds: Vec<libc::pollfd>,
        /// Where each fd is in `fds`.
        index: HashMap<RawFd, usize>,
    }

    fn poll_flags(events: Events) -> libc::c_short {
        let mut flags = 0;
        if events & EVENT_READ != 0 {
            flags |= libc::POLLIN;
        }
        if events & EVENT_WRITE != 0 {
            flags |= libc::POLLOUT;
        }
        flags
    }

    impl Poller for PollList {
        fn add(&mut self, fd: RawFd, events: Events) -> io::Result<()> {
            self.index.insert(fd, self.fds.len());
            self.fds.push(libc::pollfd { fd, events: poll_flags(events), revents: 0 });
            Ok(())
        }

        fn modify(&mut self, fd: RawFd, events: Events) -> io::Result<()> {
            let i = self.index.get(&fd).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "fd not registered"))?;
            self.fds[*i].events = poll_flags(events);
            Ok(())
        }

        fn remove(&mut self, fd: RawFd) {
            if let Some(i) = self.index.remove(&fd) {
                self.fds.swap_remove(i);
                // The last entry moved into the hole.
                if let Some(moved) = self.fds.get(i) {
                    self.index.insert(moved.fd, i);
                }
            }
        }

        fn wait(&mut self, ready: &mut Vec<RawFd>, timeout: Option<Duration>) -> io::Result<()> {
            ready.clear();
            let (ptr, len) = (self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t);
            // SAFETY: `ptr` points to `len` initialised pollfds, borrowed
            // (and not moved) for the call.
            if cvt_wait(unsafe { libc::poll(ptr, len, timeout_ms(timeout)) })? > 0 {
                // poll says how many fds are ready, not which: scan them all.
                ready.extend(self.fds.iter().filter(|p| p.revents != 0).map(|p| p.fd));
            }
            Ok(())
        }
    }

    /// select(2): two bitmaps indexed by fd number, rebuilt from the whole
    /// list for every wait and scanned whole afterwards. A bitmap has
    /// FD_SETSIZE (1024) bits, so an fd numbered 1024 or more cannot even
    /// be named: `add` refuses it.
    #[derive(Default)]
    struct SelectSet {
        fds: BTreeMap<RawFd, Events>,
    }

    impl Poller for SelectSet {
        fn add(&mut self, fd: RawFd, events: Events) -> io::Result<()> {
            if !usize::try_from(fd).is_ok_and(|fd| fd < libc::FD_SETSIZE) {
                return Err(io::Error::other(format!(
                    "select: fd {fd} ≥ FD_SETSIZE ({}): an fd_set has no bit for it",
                    libc::FD_SETSIZE
                )));
            }
            self.fds.insert(fd, events);
            Ok(())
        }

        fn modify(&mut self, fd: RawFd, events: Events) -> io::Result<()> {
            let registered =
                self.fds.get_mut(&fd).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "fd not registered"))?;
            *registered = events;
            Ok(())
        }

        fn remove(&mut self, fd: RawFd) {
            self.fds.remove(&fd);
        }

        fn wait(&mut self, ready: &mut Vec<RawFd>, timeout: Option<Duration>) -> io::Result<()> {
            ready.clear();
            // SAFETY: an fd_set is plain bits; all zeroes is the empty set.
            let (mut read, mut write): (libc::fd_set, libc::fd_set) = unsafe { std::mem::zeroed() };
            let mut nfds = 0;
            for (&fd, &events) in &self.fds {
                if events & EVENT_READ != 0 {
                    // SAFETY: `read` is a valid fd_set and 0 <= fd < FD_SETSIZE (checked by `add`).
                    unsafe { libc::FD_SET(fd, &mut read) };
                }
                if events & EVENT_WRITE != 0 {
                    // SAFETY: as above, for `write`.
                    unsafe { libc::FD_SET(fd, &mut write) };
                }
                nfds = fd + 1; // the map is sorted: the last fd is the highest
            }
            let mut limit = timeout.map(|d| {
                // Whole microseconds, rounded up, so the wait never ends before the timeout.
                let micros = d.as_nanos().div_ceil(1000);
                libc::timeval {
                    tv_sec: (micros / 1_000_000).try_into().unwrap_or(libc::time_t::MAX),
                    tv_usec: (micros % 1_000_000) as _,
                }
            });
            let limit_ptr = limit.as_mut().map_or(ptr::null_mut(), |t| t as *mut libc::timeval);
            // SAFETY: the sets and the timeval (or null: no limit) are valid
            // and writable, borrowed for the call; `nfds` bounds the bits
            // the kernel looks at to the sets' size.
            let n = cvt_wait(unsafe { libc::select(nfds, &mut read, &mut write, ptr::null_mut(), limit_ptr) })?;
            if n > 0 {
                // Like poll: a count comes back; find the fds by testing every bit.
                for &fd in self.fds.keys() {
                    // SAFETY: valid fd_sets, and every registered fd is below FD_SETSIZE.
                    if unsafe { libc::FD_ISSET(fd, &read) || libc::FD_ISSET(fd, &write) } {
                        ready.push(fd);
                    }
                }
            }
            Ok(())
        }
    }

    /// The write end of the signal pipe, for the handler (-1: none yet).
    static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

    /// The self-pipe trick: SIGINT and SIGTERM become a byte on a socket
    /// pair whose read end (returned, non-blocking) the loop watches like
    /// any client. The signals no longer end the process at once.
    pub fn signal_pipe() -> io::Result<UnixStream> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        // A full pipe must not block the handler: a wake-up is pending anyway.
        write.set_nonblocking(true)?;
        // The write end stays open for the rest of the process: a handler
        // may run at any moment.
        SIGNAL_PIPE.store(write.into_raw_fd(), Ordering::SeqCst);
        for signum in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: sigaction is plain data (integers, a handler address and
            // a signal mask); all zeroes is a valid empty value.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            // SAFETY: initialises the mask inside our local `action`.
            cvt(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
            // SAFETY: `action` is fully initialised and its handler is
            // async-signal-safe; the old action is not asked for (null).
            cvt(unsafe { libc::sigaction(signum, &action, ptr::null_mut()) })?;
        }
        Ok(read)
    }

    /// The handler: one `write`, which is async-signal-safe, and `errno`
    /// put back as the interrupted code left it.
    extern "C" fn on_signal(_signum: libc::c_int) {
        // SAFETY: the errno location is valid for the calling thread's life.
        let saved = unsafe { *errno_location() };
        let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
        let byte = 1u8;
        // SAFETY: writes one byte from a local to an fd that is never
        // closed; a failure (a full pipe) is harmless.
        let _ = unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        // SAFETY: as above.
        unsafe { *errno_location() = saved };
    }

    #[cfg(any(target_os = "android", target_os = "netbsd", target_os = "openbsd"))]
    use libc::__errno as errno_location;
    #[cfg(any(target_os = "linux", target_os = "dragonfly"))]
    use libc::__errno_location as errno_location;
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    use libc::__error as errno_location;
}
