//! Helpers for the UDP, Unix-socket and example-binary tests: a private
//! temporary directory for socket files, running the `examples` package's
//! binaries with deadlines on everything they print, blocking clients for
//! them, and signalling them to shut down.
//!
//! Cargo only tells a package's own tests where its binaries are, so an
//! example binary is built here with the same cargo, target directory and
//! profile as the running test (once per test process).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use examples::measure::server::Layout;

use crate::lock;

/// How long a child process gets to print a line or answer.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A fresh, private directory under the system temp dir, removed with its
/// contents on drop. Socket paths live here, short enough for `sun_path`.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `weft-<tag>-<pid>-<n>`; fails if it already exists.
    pub fn new(tag: &str) -> io::Result<TempDir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("weft-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Where cargo put this test: tests run from `<target>[/<triple>]/<profile>/deps/`.
fn layout() -> io::Result<Layout> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().filter(|d| d.ends_with("deps"));
    let profile_dir = deps
        .and_then(Path::parent)
        .ok_or_else(|| io::Error::other(format!("{} is not in <target>/<profile>/deps", exe.display())))?;
    Layout::of(profile_dir)
}

/// The path of the `examples` binary `name`, built on first use in this
/// process (cargo does nothing if it is fresh).
pub fn example_binary(name: &str) -> io::Result<PathBuf> {
    static BUILT: Mutex<Option<HashMap<String, Result<PathBuf, String>>>> = Mutex::new(None);
    // Holding the lock while building serialises builds: cargo would anyway.
    let mut built = lock(&BUILT);
    let res = built
        .get_or_insert_with(HashMap::new)
        .entry(name.to_owned())
        .or_insert_with(|| build(name).map_err(|e| e.to_string()));
    res.clone().map_err(io::Error::other)
}

fn build(name: &str) -> io::Result<PathBuf> {
    let mut built = layout()?.build_examples(&[name])?;
    built.pop().ok_or_else(|| io::Error::other(format!("cargo built no {name}")))
}

/// Lines read from a pipe by a helper thread, so a test can wait for one
/// with a deadline instead of blocking forever.
#[derive(Debug)]
pub struct Lines {
    rx: mpsc::Receiver<io::Result<String>>,
    what: &'static str,
}

impl Lines {
    /// Starts reading `pipe`; `what` names it in errors.
    pub fn new(pipe: impl Read + Send + 'static, what: &'static str) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            // Ends at EOF (the process exited) or when the test is gone.
            for line in BufReader::new(pipe).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx, what }
    }

    /// The next line, waiting until `deadline`; `None` at EOF.
    pub fn next_by(&self, deadline: Instant) -> io::Result<Option<String>> {
        match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line.map(Some),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(None),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, format!("no line on {} within the deadline", self.what)))
            }
        }
    }

    /// The next line within [`PATIENCE`]; EOF is an error.
    pub fn next(&self) -> io::Result<String> {
        self.next_by(Instant::now() + PATIENCE)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, format!("{} closed", self.what)))
    }

    /// A server's first line on stdout, `listening on ADDR`, within
    /// [`PATIENCE`]: returns the line and ADDR. EOF or any other line is an error.
    pub fn announcement(&self) -> io::Result<(String, SocketAddr)> {
        let line = self.next_by(Instant::now() + PATIENCE)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the server exited before announcing its address")
        })?;
        let addr: SocketAddr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line {line:?}")))?;
        Ok((line, addr))
    }

    /// Skips lines until one starts with `prefix`, within [`PATIENCE`]; returns it.
    pub fn skip_to(&self, prefix: &str) -> io::Result<String> {
        let deadline = Instant::now() + PATIENCE;
        // One iteration per line; the deadline bounds the time.
        loop {
            match self.next_by(deadline)? {
                Some(line) if line.starts_with(prefix) => return Ok(line),
                Some(_) => {}
                None => {
                    return Err(io::Error::other(format!("{} ended before a line starting with {prefix:?}", self.what)))
                }
            }
        }
    }

    /// Everything until EOF, which must come before `deadline`.
    pub fn rest(&self, deadline: Instant) -> io::Result<String> {
        let mut all = String::new();
        // At most one iteration per line; the deadline bounds the time.
        while let Some(line) = self.next_by(deadline)? {
            all.push_str(&line);
            all.push('\n');
        }
        Ok(all)
    }
}

/// A child process that is killed and reaped when dropped, whatever happens.
#[derive(Debug)]
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process run to completion: its status and all its output.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Finished {
    /// Runs `cmd`; its pipes must reach EOF (it exited) within `patience`.
    pub fn run(cmd: &mut Command, patience: Duration) -> io::Result<Finished> {
        let mut running = Running::spawn(cmd)?;
        let deadline = Instant::now() + patience;
        let stdout = running.stdout.rest(deadline)?;
        let stderr = running.stderr.rest(deadline)?;
        let status = running.child.0.wait()?;
        Ok(Finished { status, stdout, stderr })
    }

    /// Runs the example `name` with `args` and no stdin, for at most [`PATIENCE`].
    pub fn example(name: &str, args: &[&str]) -> io::Result<Finished> {
        Finished::run(Command::new(example_binary(name)?).args(args).stdin(Stdio::null()), PATIENCE)
    }
}

/// A running child process (an example binary, usually) with piped stdout
/// and stderr, and stdin if it asked for one; killed on drop.
#[derive(Debug)]
pub struct Running {
    /// Its stdin; `None` if it is not a pipe, or after [`Running::close_stdin`].
    pub stdin: Option<ChildStdin>,
    /// Its stdout, line by line.
    pub stdout: Lines,
    /// Its stderr, line by line.
    pub stderr: Lines,
    /// The process (declared last: dropped after the pipes are closed).
    pub child: Guard,
}

impl Running {
    /// Spawns `cmd` with stdout and stderr piped; stdin is as `cmd` sets it
    /// (a pipe only if it asks for one).
    pub fn spawn(cmd: &mut Command) -> io::Result<Running> {
        let mut child = Guard(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?);
        let stdin = child.0.stdin.take();
        let stdout = Lines::new(child.0.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?, "stdout");
        let stderr = Lines::new(child.0.stderr.take().ok_or_else(|| io::Error::other("no stderr"))?, "stderr");
        Ok(Running { stdin, stdout, stderr, child })
    }

    /// Starts the example `name` with `args`.
    pub fn start(name: &str, args: &[&str]) -> io::Result<Running> {
        Running::spawn(Command::new(example_binary(name)?).args(args).stdin(Stdio::piped()))
    }

    /// Starts a server and waits for its `listening on ADDR` line, which
    /// must announce a loopback address with a real port.
    pub fn server(name: &str, args: &[&str]) -> io::Result<(Running, SocketAddr)> {
        let running = Running::start(name, args)?;
        let (_, addr) = running.stdout.announcement()?;
        if !addr.ip().is_loopback() || addr.port() == 0 {
            return Err(io::Error::other(format!("announced {addr}")));
        }
        Ok((running, addr))
    }

    /// Closes stdin (the child reads EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to exit (after its stdout reached EOF by `deadline`).
    pub fn wait(mut self, deadline: Instant) -> io::Result<(ExitStatus, String)> {
        self.stdin = None;
        let rest = self.stdout.rest(deadline)?;
        Ok((self.child.0.wait()?, rest))
    }
}

/// Sends `signal` to the process.
pub fn send_signal(running: &Running, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(running.child.0.id()).map_err(io::Error::other)?;
    // SAFETY: kill has no memory-safety preconditions. The pid is our
    // child's, and the child is not reaped until `Guard` or `wait` does it,
    // so the number cannot have been reused by another process.
    if unsafe { libc::kill(pid, signal) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Skips stderr lines until one starts with `prefix`; returns it.
pub fn line_starting(running: &Running, prefix: &str) -> io::Result<String> {
    running.stderr.skip_to(prefix)
}

/// Waits for the server to exit (its stdout closes) by `deadline`; returns
/// its stderr from here on and checks it exited with status 0.
pub fn wait_success(server: Running, deadline: Instant) -> io::Result<String> {
    let stderr = server.stderr.rest(deadline)?;
    let (status, stdout) = server.wait(deadline)?;
    assert!(status.success(), "the server exited with {status}; stderr:\n{stderr}");
    assert!(stdout.is_empty(), "unexpected stdout: {stdout}");
    Ok(stderr)
}

/// A connection to a closed listener is refused at once.
pub fn assert_refused(addr: SocketAddr) {
    match TcpStream::connect_timeout(&addr, PATIENCE) {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "connecting after the signal: {e}"),
        Ok(_) => panic!("the server accepted a connection after the signal"),
    }
}

/// A blocking connection with [`PATIENCE`] read and write timeouts.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    Ok(stream)
}

/// Sends `msg` and reads as many bytes back.
pub fn exchange(stream: &mut TcpStream, msg: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(msg)?;
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back)?;
    Ok(back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_finds_this_test() -> io::Result<()> {
        let layout = layout()?;
        assert!(layout.target_dir.join("CACHEDIR.TAG").is_file());
        assert!(std::env::current_exe()?.starts_with(Path::new(&layout.profile_dir)));
        Ok(())
    }
}
