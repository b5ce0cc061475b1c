//! Helpers for the UDP, Unix-socket and example-binary tests: a private
//! temporary directory for socket files, running the `examples` package's
//! binaries with deadlines on everything they print, blocking clients for
//! them, and signalling them to shut down.
//!
//! Cargo only tells a package's own tests where its binaries are, so the
//! example binaries are built here, once per test process, with the same
//! cargo, profile, `--target` and environment as the running test; their
//! paths are taken from cargo's JSON report, so any target or build-dir
//! layout works. `WEFT_EXAMPLES_DIR` points at prebuilt ones instead.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::lock;

/// How long a child process gets to print a line or answer.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How long building an example may take (a cold build compiles `examples`).
const BUILD_PATIENCE: Duration = Duration::from_secs(300);

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

/// Names a directory holding prebuilt example binaries (`async_echo`,
/// `http_server`, ...); when set, nothing is built and the binaries are
/// taken from there as they are.
pub const EXAMPLES_DIR_VAR: &str = "WEFT_EXAMPLES_DIR";

/// The target triple this crate was compiled for (from the build script).
const TARGET: &str = env!("WEFT_TESTS_TARGET");

/// How this test process was built, as far as building the examples the
/// same way needs to know. Only the profile and whether `--target` was
/// given are read off the executable's path; where cargo put the examples
/// is read off cargo's own report, never guessed.
#[derive(Debug, PartialEq, Eq)]
struct Build {
    /// The cargo profile (`dev`, `release` or a custom one).
    profile: String,
    /// `--target TRIPLE`, if this test was built with one.
    triple: Option<String>,
}

impl Build {
    /// Reads the profile and `--target` off the path of a test executable.
    ///
    /// Cargo puts tests in `<dir>[/<triple>]/<profile-dir>/deps/` (the
    /// classic layout, also under a separate `build-dir`) or, with the new
    /// build-dir layout, in `<dir>[/<triple>]/<profile-dir>/build/<pkg>/<hash>/out/`.
    /// If neither shape is found the profile follows `debug_assertions`.
    fn of(exe: &Path) -> Build {
        let dirs: Vec<&Path> = exe.ancestors().skip(1).collect();
        let profile_dir = dirs
            .iter()
            .position(|d| d.file_name().is_some_and(|n| n == "deps" || n == "build"))
            .and_then(|i| dirs.get(i + 1))
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str());
        let profile = match profile_dir {
            Some("debug") => "dev".to_owned(),
            Some(other) => other.to_owned(),
            None if cfg!(debug_assertions) => "dev".to_owned(),
            None => "release".to_owned(),
        };
        // A `--target` build has a directory named after the triple; a
        // plain one never does (cargo omits it).
        let triple = exe.components().any(|c| c.as_os_str() == TARGET).then(|| TARGET.to_owned());
        Build { profile, triple }
    }
}

/// The path of the `examples` binary `name`. The first call in a process
/// builds all of them (cargo does nothing if they are fresh), unless
/// [`EXAMPLES_DIR_VAR`] names a directory that holds them.
pub fn example_binary(name: &str) -> io::Result<PathBuf> {
    static BUILT: Mutex<Option<Result<HashMap<String, PathBuf>, String>>> = Mutex::new(None);
    if let Some(dir) = std::env::var_os(EXAMPLES_DIR_VAR) {
        let path = Path::new(&dir).join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if !path.is_file() {
            return Err(io::Error::other(format!("{EXAMPLES_DIR_VAR} is set, but {} is not a file", path.display())));
        }
        return Ok(path);
    }
    // Holding the lock while building serialises builds: cargo would anyway.
    let mut built = lock(&BUILT);
    let bins = built.get_or_insert_with(|| build_examples().map_err(|e| e.to_string()));
    match bins {
        Ok(bins) => bins.get(name).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = bins.keys().map(String::as_str).collect();
            known.sort_unstable();
            io::Error::other(format!("the examples package has no binary {name:?} (it has {known:?})"))
        }),
        Err(e) => Err(io::Error::other(e.clone())),
    }
}

/// Builds every binary of the `examples` package with the cargo that runs
/// this test, the same profile and `--target`, and the environment this
/// process inherited (`CARGO_TARGET_DIR`, `CARGO_BUILD_BUILD_DIR`,
/// `RUSTFLAGS`, `RUSTUP_TOOLCHAIN`, ...); returns each binary's path as
/// cargo reports it.
///
/// Cargo runs from the workspace root, so a relative `CARGO_TARGET_DIR`
/// means what it means there. A `--target-dir` given on the command line
/// is not seen here: the examples are then built (correctly, but again)
/// wherever cargo puts them by default.
fn build_examples() -> io::Result<HashMap<String, PathBuf>> {
    let build = Build::of(&std::env::current_exe()?);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace).args([
        "build",
        "--quiet",
        "-p",
        "examples",
        "--bins",
        "--message-format=json-render-diagnostics",
        "--profile",
        &build.profile,
    ]);
    if let Some(triple) = &build.triple {
        cmd.args(["--target", triple]);
    }
    let output = Finished::run(cmd.stdin(Stdio::null()), BUILD_PATIENCE)?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "building the examples ({build:?}) failed ({}):\n{}",
            output.status, output.stderr
        )));
    }
    let bins: HashMap<String, PathBuf> = output.stdout.lines().filter_map(executable).collect();
    if bins.is_empty() {
        return Err(io::Error::other(format!("cargo reported no example binaries; stderr:\n{}", output.stderr)));
    }
    for path in bins.values() {
        if !path.is_file() {
            return Err(io::Error::other(format!("cargo reported {}, but it is not a file", path.display())));
        }
    }
    Ok(bins)
}

/// A binary's name and path from one line of cargo's JSON messages: a
/// `compiler-artifact` whose target is a `bin`. Other lines give `None`.
///
/// A string scan rather than a JSON parser: a key with its quotes cannot
/// occur inside a JSON string value, where the quotes would be escaped.
fn executable(line: &str) -> Option<(String, PathBuf)> {
    if !line.contains(r#""reason":"compiler-artifact""#) {
        return None;
    }
    let target = &line[line.find(r#""target":{"#)?..];
    if !target.contains(r#""kind":["bin"]"#) {
        return None;
    }
    let name = json_string(&target[target.find(r#""name":"#)? + r#""name":"#.len()..])?;
    let path = json_string(&line[line.find(r#""executable":"#)? + r#""executable":"#.len()..])?;
    Some((name, PathBuf::from(path)))
}

/// Decodes the JSON string at the start of `s` (`None` if there is none,
/// e.g. `null`, or it is malformed).
fn json_string(s: &str) -> Option<String> {
    let mut chars = s.strip_prefix('"')?.chars();
    let mut out = String::new();
    // One iteration per character of the value; ends at the closing quote.
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
                        let digits: String = chars.by_ref().take(4).collect();
                        (digits.len() == 4).then(|| u32::from_str_radix(&digits, 16).ok()).flatten()
                    };
                    let unit = hex(&mut chars)?;
                    let c = if (0xD800..0xDC00).contains(&unit) {
                        // A surrogate pair: `\uD8xx\uDCxx`.
                        if chars.next()? != '\\' || chars.next()? != 'u' {
                            return None;
                        }
                        let low = hex(&mut chars)?;
                        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + low.checked_sub(0xDC00)?)?
                    } else {
                        char::from_u32(unit)?
                    };
                    out.push(c);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
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

    /// A server's first line on stdout, `listening on ADDR` (a weft server
    /// adds its backend: `listening on ADDR (epoll)`), within [`PATIENCE`]:
    /// returns the line and ADDR. EOF or any other line is an error.
    pub fn announcement(&self) -> io::Result<(String, SocketAddr)> {
        let line = self.next_by(Instant::now() + PATIENCE)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the server exited before announcing its address")
        })?;
        let (addr, _backend) = examples::cli::parse_announcement(&line)
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
    fn build_is_read_off_every_layout() {
        let t = TARGET;
        let cases = [
            ("/w/target/debug/deps/support-0123", "dev", false),
            ("/w/target/release/deps/support-0123", "release", false),
            (&format!("/w/target/{t}/debug/deps/support-0123"), "dev", true),
            // A separate build-dir, classic and new layouts.
            ("/w/build/debug/deps/support-0123", "dev", false),
            ("/w/build/debug/build/tests/0123/out/support-0123", "dev", false),
            (&format!("/w/build/{t}/custom/build/tests/0123/out/support-0123"), "custom", true),
        ];
        for (exe, profile, cross) in cases {
            let want = Build { profile: profile.to_owned(), triple: cross.then(|| t.to_owned()) };
            assert_eq!(Build::of(Path::new(exe)), want, "{exe}");
        }
    }

    #[test]
    fn executables_are_read_off_cargo_json() {
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/examples#0.1.0","target":{"kind":["bin"],"crate_types":["bin"],"name":"async_echo","src_path":"/w/examples/src/bin/async_echo.rs"},"filenames":["/w/t\"q\\/async_echo"],"executable":"/w/t\"q\\\u00e9\ud83d\ude00/async_echo","fresh":true}"#;
        assert_eq!(
            executable(bin),
            Some(("async_echo".to_owned(), PathBuf::from("/w/t\"q\\\u{e9}\u{1F600}/async_echo")))
        );
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"libc"},"executable":null}"#;
        assert_eq!(executable(lib), None);
        let script = r#"{"reason":"build-script-executed","package_id":"libc"}"#;
        assert_eq!(executable(script), None);
        assert_eq!(executable(r#"{"reason":"build-finished","success":true}"#), None);
        assert_eq!(json_string(r#""unterminated"#), None);
    }

    #[test]
    fn example_binaries_are_found() -> io::Result<()> {
        let path = example_binary("async_echo")?;
        assert!(path.is_file(), "{}", path.display());
        assert!(example_binary("no_such_example").is_err());
        Ok(())
    }
}
