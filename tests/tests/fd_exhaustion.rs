//! fd exhaustion: `async_echo` run with a small `RLIMIT_NOFILE` and flooded
//! with more connections than it can hold keeps echoing on the connections
//! it has, backs off instead of spinning while `accept` fails with
//! `EMFILE`, and serves the queued connections once fds free up.
//!
//! The flood's connections complete their handshake in the kernel (the
//! listen backlog), so the clients' `connect` succeeds; the server's
//! `accept4` is what fails, every time it retries, until it closes an fd.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use examples::measure::procfs::{cpu_ticks, fd_numbers_of, soft_limit};
use tests::support::{example_binary, Guard, Lines, Running, PATIENCE};

/// The server's fd limit: a few fds of its own plus about 58 connections.
const FD_LIMIT: usize = 64;
/// Connections opened before the flood; they must keep echoing throughout.
const KEEPERS: usize = 4;
/// Connections opened at once: more than the limit leaves room for.
const FLOOD: usize = 100;
/// How long the server's CPU time is measured while accept keeps failing.
const WINDOW: Duration = Duration::from_secs(1);
/// Most of [`WINDOW`] the server may spend on the CPU. A 100 ms backoff
/// costs about 1%; an accept loop retrying at once would use 100%.
const MAX_CPU_SHARE: f64 = 0.3;
/// Accept failures allowed in [`WINDOW`]: about 10 with a 100 ms backoff,
/// thousands for a spinning loop.
const MAX_FAILURES_PER_WINDOW: usize = 30;

/// A running `async_echo` with a lowered fd limit, killed on drop.
struct Server {
    child: Guard,
    addr: SocketAddr,
    log: Log,
}

/// What the server reported on stderr so far.
struct Log {
    stderr: Lines,
    /// Peers of `accepted PEER` lines (the clients' local addresses).
    accepted: HashSet<SocketAddr>,
    /// Peers of `closed PEER after N bytes` lines.
    closed: HashSet<SocketAddr>,
    /// `accept failed: ...` lines.
    failures: usize,
    /// The first `accept failed` line, for the error message check.
    first_failure: Option<String>,
}

impl Log {
    /// Reads one line (waiting until `deadline`) and records it. `Ok(false)`
    /// if the deadline passed first; EOF (the server died) is an error.
    fn read_one(&mut self, deadline: Instant) -> io::Result<bool> {
        let line = match self.stderr.next_by(deadline) {
            Ok(Some(line)) => line,
            Ok(None) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed its stderr")),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(false),
            Err(e) => return Err(e),
        };
        let peer = |rest: &str| -> io::Result<SocketAddr> {
            rest.split(' ')
                .next()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| io::Error::other(format!("bad line {line:?}")))
        };
        if let Some(rest) = line.strip_prefix("accepted ") {
            self.accepted.insert(peer(rest)?);
        } else if let Some(rest) = line.strip_prefix("closed ") {
            self.closed.insert(peer(rest)?);
        } else if line.starts_with("accept failed: ") {
            self.failures += 1;
            self.first_failure.get_or_insert(line);
        } else {
            return Err(io::Error::other(format!("unexpected line on stderr: {line:?}")));
        }
        Ok(true)
    }

    /// Reads lines until `done` holds, within [`PATIENCE`].
    fn until(&mut self, what: &str, mut done: impl FnMut(&Log) -> bool) -> io::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        // One iteration per line; the deadline bounds the time.
        while !done(self) {
            if !self.read_one(deadline)? {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("waiting for {what}")));
            }
        }
        Ok(())
    }

    /// Reads every line that arrives until `deadline`.
    fn drain_until(&mut self, deadline: Instant) -> io::Result<()> {
        while self.read_one(deadline)? {}
        Ok(())
    }
}

impl Server {
    /// Starts `async_echo --addr 127.0.0.1:0` with `RLIMIT_NOFILE` lowered
    /// to `limit` in the child only, and waits for its announcement.
    fn start(limit: usize) -> io::Result<Server> {
        let mut cmd = Command::new(example_binary("async_echo")?);
        cmd.args(["--addr", "127.0.0.1:0"]).stdin(Stdio::null());
        let rlimit = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
        // SAFETY: the closure runs in the forked child before exec, where
        // only async-signal-safe calls are allowed (signal-safety(7)): it
        // makes one `setrlimit` call on a value copied in beforehand and
        // reads errno; it neither allocates nor takes locks. (POSIX does not
        // list `setrlimit`, but glibc's and musl's are direct `prlimit64`
        // system call wrappers, so they are safe here.)
        unsafe {
            cmd.pre_exec(move || {
                // SAFETY: `rlimit` is a valid, initialised struct for the call to read.
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let running = Running::spawn(&mut cmd)?;
        let (_, addr) = running.stdout.announcement()?;
        let Running { child, stderr, .. } = running;
        let log = Log { stderr, accepted: HashSet::new(), closed: HashSet::new(), failures: 0, first_failure: None };
        Ok(Server { child, addr, log })
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&self.addr, PATIENCE)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_write_timeout(Some(PATIENCE))?;
        Ok(stream)
    }
}

/// Sends `msg` and expects it back.
fn exchange(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    stream.write_all(msg)?;
    expect_echo(stream, msg)
}

/// Reads `msg.len()` bytes, which must equal `msg`.
fn expect_echo(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back)?;
    if back != msg {
        return Err(io::Error::other(format!("echo {back:?} differs from {msg:?}")));
    }
    Ok(())
}

/// Open fds of process `pid` numbered below `limit`.
fn fds_below(pid: u32, limit: usize) -> io::Result<usize> {
    Ok(fd_numbers_of(pid)?.into_iter().filter(|&fd| (fd as usize) < limit).count())
}

/// Clock ticks per second of `/proc/PID/stat`'s CPU times.
fn ticks_per_second() -> io::Result<u64> {
    // SAFETY: sysconf takes no pointers and has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&hz| hz > 0).ok_or_else(|| io::Error::other("sysconf(_SC_CLK_TCK) failed"))
}

#[test]
fn serves_what_it_has_backs_off_and_recovers() -> io::Result<()> {
    let mut server = Server::start(FD_LIMIT)?;
    let pid = server.pid();
    assert_eq!(soft_limit(pid, "Max open files")?, Some(FD_LIMIT as u64), "the child's limit was not lowered");
    // The child may inherit fds numbered above the limit (from whoever
    // started this test without close-on-exec): only lower numbers count.
    let own_fds = fds_below(pid, FD_LIMIT)?;
    assert!(own_fds < FD_LIMIT - KEEPERS, "the server starts with {own_fds} fds");
    let room = FD_LIMIT - own_fds;
    assert!(KEEPERS + FLOOD > room, "the flood must exceed the {room} connections the server can hold");

    let mut keepers = (0..KEEPERS).map(|_| server.connect()).collect::<io::Result<Vec<_>>>()?;
    for (i, k) in keepers.iter_mut().enumerate() {
        exchange(k, format!("keeper {i}").as_bytes())?;
    }

    // The flood: every connect succeeds (the kernel completes the handshake),
    // but the server runs out of fds after `room` connections in all.
    let mut flood = (0..FLOOD).map(|_| server.connect()).collect::<io::Result<Vec<_>>>()?;
    server
        .log
        .until("a failed accept and every possible accept", |log| log.failures > 0 && log.accepted.len() == room)?;
    let failure = server.log.first_failure.clone().unwrap_or_default();
    assert!(failure.contains("Too many open files"), "not EMFILE: {failure:?}");
    assert_eq!(fds_below(pid, FD_LIMIT)?, FD_LIMIT, "the server is not at its fd limit");
    for k in &keepers {
        assert!(server.log.accepted.contains(&k.local_addr()?), "a keeper was not accepted");
    }
    let mut queued = Vec::new();
    let mut served = Vec::new();
    for stream in flood.drain(..) {
        if server.log.accepted.contains(&stream.local_addr()?) {
            served.push(stream);
        } else {
            queued.push(stream);
        }
    }
    assert_eq!(queued.len(), KEEPERS + FLOOD - room);

    // Existing connections still echo while accept fails; the queued ones
    // get their message now and must see it echoed after the recovery.
    for (i, k) in keepers.iter_mut().enumerate() {
        exchange(k, format!("keeper {i} during the flood").as_bytes())?;
    }
    if let Some(s) = served.first_mut() {
        exchange(s, b"accepted flood connection")?;
    }
    for (i, q) in queued.iter_mut().enumerate() {
        q.write_all(format!("queued {i}").as_bytes())?;
    }

    // The window: the server's CPU time while accept keeps failing, and the
    // number of failed accepts, which shows the pace of its retries.
    let hz = ticks_per_second()?;
    let failures_before = server.log.failures;
    let ticks_before = cpu_ticks(pid)?;
    let start = Instant::now();
    server.log.drain_until(start + WINDOW)?;
    let ticks = cpu_ticks(pid)? - ticks_before;
    let elapsed = start.elapsed();
    let failures = server.log.failures - failures_before;
    let budget = MAX_CPU_SHARE * elapsed.as_secs_f64() * hz as f64;
    eprintln!("during {elapsed:?}: {ticks} CPU ticks ({hz}/s), {failures} failed accepts");
    assert!((ticks as f64) < budget, "the server used {ticks} ticks in {elapsed:?} (at {hz}/s): it spins");
    assert!(failures > 0, "the server stopped retrying accept");
    assert!(failures <= MAX_FAILURES_PER_WINDOW, "{failures} failed accepts in {elapsed:?}: no backoff");
    assert!(server.log.accepted.len() == room, "a connection was accepted without a free fd");

    // Recovery: free every accepted connection's fd; the queued connections
    // are accepted and echo what they sent meanwhile, and more.
    let freed: Vec<SocketAddr> = keepers.iter().chain(&served).map(TcpStream::local_addr).collect::<io::Result<_>>()?;
    drop(keepers);
    drop(served);
    for (i, q) in queued.iter_mut().enumerate() {
        expect_echo(q, format!("queued {i}").as_bytes())?;
        exchange(q, b"after the recovery")?;
    }
    let queued_peers: Vec<SocketAddr> = queued.iter().map(TcpStream::local_addr).collect::<io::Result<_>>()?;
    server.log.until("the queued connections' accepts", |log| queued_peers.iter().all(|p| log.accepted.contains(p)))?;
    server.log.until("the freed connections' closes", |log| freed.iter().all(|p| log.closed.contains(p)))?;

    // Everything closed: the server is back to its own fds. A task logs
    // `closed` just before it drops its stream, so a probe's echo is what
    // shows the drops done; the probe itself holds one fd.
    drop(queued);
    server.log.until("every close", |log| log.closed.len() == log.accepted.len())?;
    assert_eq!(server.log.accepted.len(), KEEPERS + FLOOD);
    let mut probe = server.connect()?;
    exchange(&mut probe, b"probe")?;
    assert_eq!(fds_below(pid, FD_LIMIT)?, own_fds + 1, "the server leaked fds");
    Ok(())
}
