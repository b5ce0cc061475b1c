//! Helpers for the `http_*` tests: running the example binaries, a
//! scripted std-only HTTP server, and blocking socket helpers.
//!
//! Everything waits on a signal (a bound port, a `listening on` line, a
//! channel message, end of stream) with a deadline, never on a sleep.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long anything that should be quick may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long building the binaries may take (a cold build compiles `examples`).
const BUILD_PATIENCE: Duration = Duration::from_secs(300);

/// Serialises the timing-sensitive tests of one test binary, so they do
/// not compete with each other for the CPU.
pub fn timing_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where cargo put this test: `<target>[/<triple>]/<profile>/deps/`.
struct Layout {
    target_dir: PathBuf,
    triple: Option<String>,
    profile_dir: PathBuf,
}

fn layout() -> io::Result<Layout> {
    let exe = std::env::current_exe()?;
    let not_found = || io::Error::other(format!("{} is not in <target>/<profile>/deps", exe.display()));
    let deps = exe.parent().filter(|d| d.ends_with("deps")).ok_or_else(not_found)?;
    let profile_dir = deps.parent().ok_or_else(not_found)?;
    let above = profile_dir.parent().ok_or_else(not_found)?;
    if above.join("CACHEDIR.TAG").exists() {
        return Ok(Layout { target_dir: above.to_owned(), triple: None, profile_dir: profile_dir.to_owned() });
    }
    let target_dir = above.parent().filter(|t| t.join("CACHEDIR.TAG").exists()).ok_or_else(not_found)?;
    let triple = above.file_name().and_then(|t| t.to_str()).ok_or_else(not_found)?;
    Ok(Layout {
        target_dir: target_dir.to_owned(),
        triple: Some(triple.to_owned()),
        profile_dir: profile_dir.to_owned(),
    })
}

/// The path of example binary `name`, building the `examples` binaries
/// once per test process (cargo only tells a package's own tests where its
/// binaries are, so they are built with this test's cargo, target and profile).
pub fn binary(name: &str) -> io::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| build().map_err(|e| e.to_string())).clone().map_err(io::Error::other)?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        return Err(io::Error::other(format!("cargo built the examples, but {} is missing", path.display())));
    }
    Ok(path)
}

fn build() -> io::Result<PathBuf> {
    let layout = layout()?;
    let profile = match layout.profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => return Err(io::Error::other("unnamed profile directory")),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "-p", "examples", "--bins", "--profile", &profile])
        .arg("--target-dir")
        .arg(&layout.target_dir);
    if let Some(triple) = &layout.triple {
        cmd.args(["--target", triple]);
    }
    let out = Finished::run(cmd.stdin(Stdio::null()), BUILD_PATIENCE)?;
    if !out.status.success() {
        return Err(io::Error::other(format!("building the examples failed ({}):\n{}", out.status, out.stderr)));
    }
    Ok(layout.profile_dir)
}

/// Lines read from a pipe by a helper thread, so a test can wait for one
/// with a deadline instead of blocking forever.
pub struct Lines {
    rx: Receiver<io::Result<String>>,
    what: &'static str,
}

impl Lines {
    pub fn new(pipe: impl Read + Send + 'static, what: &'static str) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            // Ends at EOF (the process exited or closed the pipe) or when the test is gone.
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
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, format!("no line on {} within the deadline", self.what)))
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
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Runs `cmd`; its pipes must reach EOF (it exited) within `patience`.
    pub fn run(cmd: &mut Command, patience: Duration) -> io::Result<Finished> {
        let mut child = Guard(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?);
        let stdout = Lines::new(child.0.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?, "stdout");
        let stderr = Lines::new(child.0.stderr.take().ok_or_else(|| io::Error::other("no stderr"))?, "stderr");
        let deadline = Instant::now() + patience;
        let stdout = stdout.rest(deadline)?;
        let stderr = stderr.rest(deadline)?;
        let status = child.0.wait()?;
        Ok(Finished { status, stdout, stderr })
    }

    /// Runs example binary `name` with `args`, for at most [`PATIENCE`].
    pub fn example(name: &str, args: &[&str]) -> io::Result<Finished> {
        Finished::run(Command::new(binary(name)?).args(args).stdin(Stdio::null()), PATIENCE)
    }
}

/// A running example server, killed on drop.
pub struct ServerProcess {
    _child: Guard,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `name --addr 127.0.0.1:0 ARGS` and waits for `listening on ADDR`.
    pub fn start(name: &str, args: &[&str]) -> io::Result<ServerProcess> {
        let mut child = Guard(
            Command::new(binary(name)?)
                .args(["--addr", "127.0.0.1:0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?,
        );
        let stdout = Lines::new(child.0.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?, "stdout");
        let line = stdout
            .next_by(Instant::now() + PATIENCE)?
            .ok_or_else(|| io::Error::other(format!("{name} exited before announcing its address")))?;
        let addr: SocketAddr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line {line:?}")))?;
        assert_eq!(line, format!("listening on 127.0.0.1:{}", addr.port()));
        assert_ne!(addr.port(), 0);
        Ok(ServerProcess { _child: child, addr })
    }
}

/// A blocking connection with [`PATIENCE`] read and write timeouts.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    Ok(stream)
}

/// Reads until the peer closes (within the read timeout).
pub fn read_to_close(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all)?;
    Ok(all)
}

/// Reads exactly `len` bytes.
pub fn read_len(stream: &mut TcpStream, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// An address nothing listens on: a port the kernel just handed out, freed again.
pub fn refused_addr() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr()
}

/// What a [`Scripted`] server does on one connection, after reading the request head.
#[derive(Clone, Debug)]
pub enum Act {
    /// Writes these bytes (as one `write_all`).
    Send(Vec<u8>),
    /// Closes the connection.
    Close,
    /// Sends nothing and waits for the client to close (or [`PATIENCE`]).
    Hang,
}

/// A std-only server that plays one script per connection, in a thread,
/// and reports the request heads it read.
pub struct Scripted {
    pub addr: SocketAddr,
    heads: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    /// Serves `scripts.len()` connections, one script each, in order.
    pub fn start(scripts: Vec<Vec<Act>>) -> io::Result<Scripted> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, heads) = mpsc::channel();
        let thread = thread::spawn(move || {
            for script in scripts {
                let Ok((mut stream, _)) = listener.accept() else { return };
                let _ = stream.set_read_timeout(Some(PATIENCE));
                let _ = stream.set_nodelay(true);
                let Ok(head) = read_head(&mut stream) else { continue };
                let _ = tx.send(head);
                for act in script {
                    match act {
                        Act::Send(bytes) => {
                            if stream.write_all(&bytes).is_err() {
                                break;
                            }
                        }
                        Act::Close => break,
                        Act::Hang => {
                            let _ = stream.read_to_end(&mut Vec::new());
                        }
                    }
                }
            }
        });
        Ok(Scripted { addr, heads, thread: Some(thread) })
    }

    /// The next request head the server read.
    pub fn next_head(&self) -> io::Result<String> {
        let head = self
            .heads
            .recv_timeout(PATIENCE)
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the scripted server read no request"))?;
        Ok(String::from_utf8_lossy(&head).into_owned())
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        // Finished scripts end the thread; an unfinished one ends when its
        // accept or read times out, which we do not wait for.
        if let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Reads up to and including the blank line that ends a request head.
fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("request head too long"));
        }
        match stream.read(&mut byte)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            _ => head.push(byte[0]),
        }
    }
    Ok(head)
}
