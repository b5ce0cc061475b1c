//! Helpers for the `http_*` tests: running an example server, a scripted
//! std-only HTTP server, and blocking socket helpers (the rest is in
//! `tests::support`).
//!
//! Everything waits on a signal (a bound port, a `listening on` line, a
//! channel message, end of stream) with a deadline, never on a sleep.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use tests::lock;
use tests::support::{example_binary, Guard, Lines, PATIENCE};

/// Serialises the timing-sensitive tests of one test binary, so they do
/// not compete with each other for the CPU.
pub fn timing_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    lock(&LOCK)
}

/// A running example server, killed on drop; its stderr goes to the test's.
pub struct ServerProcess {
    _child: Guard,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `name --addr 127.0.0.1:0 ARGS` and waits for `listening on ADDR`.
    pub fn start(name: &str, args: &[&str]) -> io::Result<ServerProcess> {
        let mut child = Guard(
            Command::new(example_binary(name)?)
                .args(["--addr", "127.0.0.1:0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?,
        );
        let stdout = Lines::new(child.0.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?, "stdout");
        let (line, addr) = stdout.announcement()?;
        let plain = format!("listening on 127.0.0.1:{}", addr.port());
        let backend = line.strip_prefix(&plain).unwrap_or_else(|| panic!("announced {line:?}"));
        assert!(["", " (epoll)", " (io_uring)"].contains(&backend), "announced {line:?}");
        assert_ne!(addr.port(), 0);
        Ok(ServerProcess { _child: child, addr })
    }
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
