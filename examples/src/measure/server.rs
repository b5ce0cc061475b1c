//! An example server binary as a child process, the way `io_models` runs
//! its models (and the tests their servers): found next to the running
//! program and built first when cargo is around, started on
//! `127.0.0.1:0`, awaited until it prints `listening on ADDR`, its stderr
//! kept to say why a run failed, killed when dropped.

use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Most stderr lines a [`ServerProcess`] keeps (the first ones: the
/// reason a run failed comes first).
const KEPT_LINES: usize = 20;

/// Where cargo puts the binaries of one build: `<target>[/<triple>]/<profile>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The target directory (it holds `CACHEDIR.TAG`).
    pub target_dir: PathBuf,
    /// `--target TRIPLE`, for a cross build.
    pub triple: Option<String>,
    /// The profile's name as `--profile` takes it (`dev` for `debug/`).
    pub profile: String,
    /// The directory the binaries are in.
    pub profile_dir: PathBuf,
}

impl Layout {
    /// The layout of `profile_dir`, a directory cargo builds binaries into.
    pub fn of(profile_dir: &Path) -> io::Result<Layout> {
        let not_found = || io::Error::other(format!("{} is not in a cargo target directory", profile_dir.display()));
        let profile = match profile_dir.file_name().and_then(|p| p.to_str()).ok_or_else(not_found)? {
            "debug" => "dev".to_owned(),
            other => other.to_owned(),
        };
        let above = profile_dir.parent().ok_or_else(not_found)?;
        let (target_dir, triple) = if above.join("CACHEDIR.TAG").exists() {
            (above.to_owned(), None)
        } else {
            let target_dir = above.parent().filter(|t| t.join("CACHEDIR.TAG").exists()).ok_or_else(not_found)?;
            let triple = above.file_name().and_then(|t| t.to_str()).ok_or_else(not_found)?;
            (target_dir.to_owned(), Some(triple.to_owned()))
        };
        Ok(Layout { target_dir, triple, profile, profile_dir: profile_dir.to_owned() })
    }

    /// The layout the running program was built into, if it was built by cargo.
    pub fn of_current_exe() -> io::Result<Layout> {
        let exe = std::env::current_exe()?;
        Layout::of(exe.parent().ok_or_else(|| io::Error::other("the program has no directory"))?)
    }

    /// Builds the `examples` binaries `names` into this layout, with the
    /// cargo that built this crate (or `$CARGO`); cargo does nothing for
    /// fresh ones. Returns their paths.
    pub fn build_examples(&self, names: &[&str]) -> io::Result<Vec<PathBuf>> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")])
            .args(["--profile", &self.profile])
            .arg("--target-dir")
            .arg(&self.target_dir)
            .stdin(Stdio::null());
        if let Some(triple) = &self.triple {
            cmd.args(["--target", triple]);
        }
        for name in names {
            cmd.args(["--bin", name]);
        }
        let out = cmd.output().map_err(|e| io::Error::new(e.kind(), format!("running cargo: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(io::Error::other(format!("building {} failed ({}):\n{stderr}", names.join(", "), out.status)));
        }
        names.iter().map(|name| self.binary(name)).collect()
    }

    /// The path of binary `name` in this layout, which must exist.
    pub fn binary(&self, name: &str) -> io::Result<PathBuf> {
        let path = self.profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if path.is_file() {
            Ok(path)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, format!("{} does not exist", path.display())))
        }
    }
}

/// A server child process with its address; killed and reaped on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    /// The first [`KEPT_LINES`] lines of its stderr.
    stderr: Arc<Mutex<Vec<String>>>,
    /// Reads its stderr until EOF.
    stderr_reader: Option<JoinHandle<()>>,
}

impl ServerProcess {
    /// Starts `program ARGS --addr 127.0.0.1:0` and waits up to `patience`
    /// for its first line on stdout, `listening on ADDR`.
    pub fn start(program: &Path, args: &[&str], patience: Duration) -> io::Result<ServerProcess> {
        let mut child = Command::new(program)
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting {}: {e}", program.display())))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = child.stderr.take().map(|pipe| {
            let kept = stderr.clone();
            thread::spawn(move || keep_lines(pipe, &kept))
        });
        let (first_line, rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            thread::spawn(move || {
                let mut lines = BufReader::new(pipe).lines();
                let _ = first_line.send(lines.next());
                // Read on to EOF, so the server never writes into a closed pipe.
                lines.for_each(drop);
            });
        }
        let mut server = ServerProcess { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), stderr, stderr_reader };
        let line = match rx.recv_timeout(patience) {
            Ok(Some(Ok(line))) => line,
            Ok(Some(Err(e))) => return Err(server.failed(&format!("reading its stdout: {e}"))),
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(server.failed("it exited without announcing its address"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(server.failed(&format!("no `listening on ADDR` within {patience:?}")))
            }
        };
        match crate::cli::parse_announcement(&line) {
            Some((addr, _backend)) => server.addr = addr,
            None => return Err(server.failed(&format!("its first line is {line:?}, not `listening on ADDR`"))),
        }
        Ok(server)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first lines it printed on stderr.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// An error saying `what`, with what the server printed on stderr.
    fn failed(&mut self, what: &str) -> io::Error {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // It is gone: its stderr reaches EOF, and every line is in.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr();
        io::Error::other(if stderr.is_empty() {
            what.to_owned()
        } else {
            format!("{what}; stderr: {}", stderr.join(" | "))
        })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps the first [`KEPT_LINES`] lines of `pipe` in `kept`, and reads on to EOF.
fn keep_lines(pipe: impl Read, kept: &Mutex<Vec<String>>) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEPT_LINES {
            kept.push(line);
        }
    }
}
