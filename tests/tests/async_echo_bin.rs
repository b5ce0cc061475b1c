//! The `async_echo` binary itself: its announcement line, echo and
//! `--upper` through plain blocking std sockets, its command line, and its
//! connection log on stderr.
//!
//! Cargo only tells a package's own tests where its binaries are, so the
//! binary (from the `examples` package) is built here with the same cargo,
//! target directory and profile as this test.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// How long the server gets to print a line or answer.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long building the binary may take (a cold build compiles `examples`).
const BUILD_PATIENCE: Duration = Duration::from_secs(300);

/// Where cargo put this test, split into the parts a build needs.
struct Layout {
    /// The target directory (holds `CACHEDIR.TAG`).
    target_dir: PathBuf,
    /// `--target TRIPLE`, if this test was cross-built.
    triple: Option<String>,
    /// The profile directory's name (`debug`, `release`, or a custom profile).
    profile_dir: PathBuf,
}

/// Tests run from `<target>[/<triple>]/<profile>/deps/`.
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

/// Builds `async_echo` once per test process (cargo does nothing if it is
/// fresh) and returns its path.
fn binary() -> io::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| build().map_err(|e| e.to_string())).clone().map_err(io::Error::other)
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
        .args(["build", "--quiet", "-p", "examples", "--bin", "async_echo", "--profile", &profile])
        .arg("--target-dir")
        .arg(&layout.target_dir);
    if let Some(triple) = &layout.triple {
        cmd.args(["--target", triple]);
    }
    let output = Finished::run(cmd.stdin(Stdio::null()), BUILD_PATIENCE)?;
    if !output.status.success() {
        return Err(io::Error::other(format!("building async_echo failed ({}):\n{}", output.status, output.stderr)));
    }
    let path = layout.profile_dir.join(format!("async_echo{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        return Err(io::Error::other(format!("cargo built async_echo, but not at {}", path.display())));
    }
    Ok(path)
}

/// Lines read from a pipe by a helper thread, so a test can wait for one
/// with a deadline instead of blocking forever.
struct Lines {
    rx: Receiver<io::Result<String>>,
    what: &'static str,
}

impl Lines {
    fn new(pipe: impl Read + Send + 'static, what: &'static str) -> Lines {
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
    fn next_by(&self, deadline: Instant) -> io::Result<Option<String>> {
        match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line.map(Some),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, format!("no line on {} within the deadline", self.what)))
            }
        }
    }

    /// The next line within [`PATIENCE`]; EOF is an error.
    fn next(&self) -> io::Result<String> {
        self.next_by(Instant::now() + PATIENCE)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, format!("{} closed", self.what)))
    }

    /// Everything until EOF, which must come before `deadline`.
    fn rest(&self, deadline: Instant) -> io::Result<String> {
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
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process run to completion: its status and all its output.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    /// Runs `cmd`; its pipes must reach EOF (it exited) within `patience`.
    fn run(cmd: &mut Command, patience: Duration) -> io::Result<Finished> {
        let mut child = Guard(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?);
        let stdout = Lines::new(child.0.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?, "stdout");
        let stderr = Lines::new(child.0.stderr.take().ok_or_else(|| io::Error::other("no stderr"))?, "stderr");
        let deadline = Instant::now() + patience;
        let stdout = stdout.rest(deadline)?;
        let stderr = stderr.rest(deadline)?;
        let status = child.0.wait()?;
        Ok(Finished { status, stdout, stderr })
    }
}

/// A running `async_echo`, killed on drop.
struct Server {
    /// Held for its `Drop`, which kills the server.
    _child: Guard,
    addr: SocketAddr,
    stderr: Lines,
}

impl Server {
    /// Starts `async_echo --addr 127.0.0.1:0 ARGS` and waits for its announcement.
    fn start(args: &[&str]) -> io::Result<Server> {
        let mut child = Guard(
            Command::new(binary()?)
                .args(["--addr", "127.0.0.1:0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        let stdout = Lines::new(child.0.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?, "stdout");
        let stderr = Lines::new(child.0.stderr.take().ok_or_else(|| io::Error::other("no stderr"))?, "stderr");
        let line = stdout.next()?;
        let addr: SocketAddr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line {line:?}")))?;
        assert!(addr.ip().is_loopback() && addr.port() != 0, "announced {addr}");
        assert_eq!(line, format!("listening on 127.0.0.1:{}", addr.port()));
        Ok(Server { _child: child, addr, stderr })
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_write_timeout(Some(PATIENCE))?;
        Ok(stream)
    }
}

/// Sends `msg` and reads as many bytes back.
fn exchange(stream: &mut TcpStream, msg: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(msg)?;
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back)?;
    Ok(back)
}

/// Closes our write side and expects the server to close in turn.
fn close_and_expect_eof(mut stream: TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf)?, 0, "server sent data after our FIN");
    Ok(())
}

#[test]
fn announces_and_echoes() -> io::Result<()> {
    let server = Server::start(&["--quiet"])?;
    let mut a = server.connect()?;
    let mut b = server.connect()?;
    // `a` stays open and idle while `b` is served: one task per connection.
    assert_eq!(exchange(&mut b, b"hello, b")?, b"hello, b");
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    let writer = {
        let mut a = a.try_clone()?;
        let data = all_bytes.clone();
        // A 200 kB echo needs a concurrent reader, or full buffers stall both sides.
        thread::spawn(move || a.write_all(&data))
    };
    let mut back = vec![0u8; all_bytes.len()];
    a.read_exact(&mut back)?;
    writer.join().map_err(|_| io::Error::other("writer thread panicked"))??;
    assert!(back == all_bytes, "echo differs from what was sent");
    close_and_expect_eof(a)?;
    close_and_expect_eof(b)?;
    Ok(())
}

#[test]
fn upper_changes_only_ascii_letters() -> io::Result<()> {
    let server = Server::start(&["--quiet", "--upper"])?;
    let mut stream = server.connect()?;
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let back = exchange(&mut stream, &every_byte)?;
    let expected: Vec<u8> = every_byte.iter().map(u8::to_ascii_uppercase).collect();
    assert_eq!(back, expected);
    assert_eq!(exchange(&mut stream, "Grüße, wörld 42!".as_bytes())?, "GRüßE, WöRLD 42!".as_bytes());
    close_and_expect_eof(stream)
}

#[test]
fn logs_accepted_and_closed_connections() -> io::Result<()> {
    let server = Server::start(&[])?;
    let mut stream = server.connect()?;
    let peer = stream.local_addr()?;
    assert_eq!(server.stderr.next()?, format!("accepted {peer}"));
    assert_eq!(exchange(&mut stream, b"twelve bytes")?, b"twelve bytes");
    assert_eq!(exchange(&mut stream, b"+3!")?, b"+3!");
    close_and_expect_eof(stream)?;
    assert_eq!(server.stderr.next()?, format!("closed {peer} after 15 bytes"));

    // The server is still up for the next client.
    let next = server.connect()?;
    assert_eq!(server.stderr.next()?, format!("accepted {}", next.local_addr()?));
    Ok(())
}

#[test]
fn help_exits_zero_and_documents_addr() -> io::Result<()> {
    let out = Finished::run(Command::new(binary()?).arg("--help").stdin(Stdio::null()), PATIENCE)?;
    assert!(out.status.success(), "--help exited with {}", out.status);
    assert!(out.stdout.contains("--addr"), "--help output does not mention --addr:\n{}", out.stdout);
    assert!(out.stdout.starts_with("usage: async_echo"), "{}", out.stdout);
    Ok(())
}

#[test]
fn unknown_option_exits_nonzero() -> io::Result<()> {
    let out = Finished::run(Command::new(binary()?).arg("--bogus-option").stdin(Stdio::null()), PATIENCE)?;
    assert!(!out.status.success(), "an unknown option was accepted");
    assert!(out.stderr.contains("--bogus-option"), "stderr does not name the option:\n{}", out.stderr);
    assert!(out.stdout.is_empty(), "printed on stdout: {}", out.stdout);
    Ok(())
}

#[test]
fn layout_finds_this_test() -> io::Result<()> {
    let layout = layout()?;
    assert!(layout.target_dir.join("CACHEDIR.TAG").is_file());
    assert!(std::env::current_exe()?.starts_with(Path::new(&layout.profile_dir)));
    Ok(())
}
