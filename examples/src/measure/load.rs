//! An echo load generator: `clients` connections in request-response
//! ping-pong (64 bytes out, the same 64 bytes back, again), and `idle`
//! connections held open alongside that say nothing. They are spread over
//! a few threads, each running its share as weft tasks on its own runtime.
//!
//! A run has phases, so that the caller can watch the server in between:
//! [`Load::connect`] opens the clients' connections, then the idle ones (in
//! that order, so that a server that serves one connection at a time gets
//! a client first), and returns with everybody connected and silent;
//! [`Connected::go`] starts the ping-pong for a window; [`Started::finish`]
//! waits for the window's end and reports.
//!
//! A connection counts once the server has answered it: it sends one byte
//! and waits for the echo. That is the only proof that the server accepted
//! it: the kernel completes the handshake on its own, and when the
//! server's listen backlog overflows it may even leave the client thinking
//! it is connected while the server has dropped it. So connections are
//! opened in batches small enough for any backlog (a batch waits for its
//! answers), and once an answer does not come in time the server has
//! stopped accepting (`blocking_echo` serves one client at a time): the
//! rest are not even tried.
//!
//! Bounded: every connect has a timeout, the ping-pong stops at the end of
//! the window (a round trip still in flight then is not counted), and no
//! client makes more than [`Load::max_round_trips`] round trips.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use net::TcpStream;
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use runtime::time::{timeout, timeout_at};
use runtime::Runtime;

/// Bytes per message, each way.
pub const MESSAGE_LEN: usize = 64;

/// What every client sends, and must get back.
const MESSAGE: [u8; MESSAGE_LEN] = [b'w'; MESSAGE_LEN];

/// Most connections waiting for the server's first answer at once, all
/// threads together: well below the 128 of `std`'s listen backlog.
const OPENING: usize = 64;

/// The load to put on an echo server.
#[derive(Clone, Debug)]
pub struct Load {
    /// The server.
    pub addr: SocketAddr,
    /// Connections in ping-pong.
    pub clients: usize,
    /// Connections opened after the clients' and held silent.
    pub idle: usize,
    /// Threads to spread the connections over (at least one is used).
    pub threads: usize,
    /// How long a connection may take to be answered: a server that does
    /// not accept leaves clients in its listen backlog, and once that is
    /// full, in SYN retries for minutes.
    pub connect_timeout: Duration,
    /// Most round trips per client.
    pub max_round_trips: u64,
}

/// What the load threads share with the caller.
#[derive(Debug, Default)]
struct Shared {
    /// The end of the ping-pong window, set before the go phase.
    deadline: Mutex<Option<Instant>>,
    clients_connected: AtomicUsize,
    idle_connected: AtomicUsize,
    /// Connections not answered in time, or not tried after that.
    unanswered: AtomicUsize,
    /// Set once a connection was not answered in time: the server has
    /// stopped accepting, and no more are tried.
    stopped_answering: AtomicBool,
    /// The first thing that went wrong, other than a connect timeout.
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, what: String) {
        self.first_error.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(what);
    }
}

/// One client's ping-pong.
#[derive(Debug, Default)]
struct ClientReport {
    /// Kept open until every client has stopped.
    connection: Option<TcpStream>,
    round_trips: u64,
    /// Each round trip's time, in microseconds.
    latencies_us: Vec<u32>,
    /// Why it stopped before the window's end.
    error: Option<String>,
}

impl Load {
    /// Opens every connection (clients first, then idle ones) and returns
    /// with all of them open and silent, or given up on after
    /// [`connect_timeout`](Load::connect_timeout).
    pub fn connect(&self) -> io::Result<Connected> {
        let threads = self.threads.clamp(1, (self.clients + self.idle).max(1)).min(OPENING);
        let shared = Arc::new(Shared::default());
        // Each thread first waits for the barrier: it is made only once
        // every thread has started, so that a failed start strands nobody.
        let mut gates = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let (gate, barrier) = mpsc::channel::<Arc<Barrier>>();
            let share = |total: usize| total / threads + usize::from(i < total % threads);
            let (clients, idle) = (share(self.clients), share(self.idle));
            let (load, shared) = (self.clone(), shared.clone());
            let spawned = thread::Builder::new()
                .name(format!("load {i}"))
                .spawn(move || match barrier.recv() {
                    Ok(barrier) => load_thread(&load, clients, idle, &barrier, &shared),
                    Err(_) => Vec::new(), // another thread failed to start
                })
                .map_err(|e| io::Error::new(e.kind(), format!("starting a load thread: {e}")))?;
            gates.push(gate);
            handles.push(spawned);
        }
        let barrier = Arc::new(Barrier::new(threads + 1));
        for gate in gates {
            let _ = gate.send(barrier.clone());
        }
        barrier.wait(); // the clients are connected
        barrier.wait(); // and the idle connections
        Ok(Connected { barrier, shared, handles, clients: self.clients })
    }
}

/// Every connection open and silent; the ping-pong has not started.
#[derive(Debug)]
pub struct Connected {
    barrier: Arc<Barrier>,
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<Vec<ClientReport>>>,
    clients: usize,
}

impl Connected {
    /// Clients whose connection is open.
    pub fn clients_connected(&self) -> usize {
        self.shared.clients_connected.load(Ordering::SeqCst)
    }

    /// Idle connections open.
    pub fn idle_connected(&self) -> usize {
        self.shared.idle_connected.load(Ordering::SeqCst)
    }

    /// Starts the ping-pong now, for `window`.
    pub fn go(self, window: Duration) -> Started {
        let start = Instant::now();
        let deadline = start + window;
        *self.shared.deadline.lock().unwrap_or_else(PoisonError::into_inner) = Some(deadline);
        self.barrier.wait();
        Started { connected: self, start, deadline }
    }
}

/// The ping-pong, running until [`deadline`](Started::deadline).
#[derive(Debug)]
pub struct Started {
    connected: Connected,
    start: Instant,
    deadline: Instant,
}

impl Started {
    /// When the window ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Waits for the clients to stop (at the deadline) and closes every connection.
    pub fn finish(self) -> io::Result<Report> {
        let Connected { barrier, shared, handles, clients } = self.connected;
        barrier.wait(); // every client has stopped: the connections may close
        let mut report = Report {
            clients,
            clients_connected: shared.clients_connected.load(Ordering::SeqCst),
            idle_connected: shared.idle_connected.load(Ordering::SeqCst),
            unanswered: shared.unanswered.load(Ordering::SeqCst),
            window: self.deadline - self.start,
            ..Report::default()
        };
        for handle in handles {
            let clients = handle.join().map_err(|_| io::Error::other("a load thread panicked"))?;
            for client in clients {
                report.served += usize::from(client.round_trips > 0);
                report.round_trips += client.round_trips;
                report.latencies_us.extend(client.latencies_us);
                if let Some(e) = client.error {
                    report.failed += 1;
                    shared.error(e);
                }
            }
        }
        report.latencies_us.sort_unstable();
        report.first_error = shared.first_error.lock().unwrap_or_else(PoisonError::into_inner).take();
        Ok(report)
    }
}

/// What a run measured, from the clients' side.
#[derive(Debug, Default)]
pub struct Report {
    /// Clients asked for.
    pub clients: usize,
    /// Clients whose connection the server answered.
    pub clients_connected: usize,
    /// Idle connections the server answered.
    pub idle_connected: usize,
    /// Connections (clients' or idle) the server did not answer within the
    /// connect timeout, or not tried after that: it was not accepting.
    pub unanswered: usize,
    /// Clients that got at least one answer in the window.
    pub served: usize,
    /// Round trips completed in the window, all clients together.
    pub round_trips: u64,
    /// How long the ping-pong ran.
    pub window: Duration,
    /// Clients whose connection failed during the window.
    pub failed: usize,
    /// The first failure: of a connect (other than a timeout), or of a
    /// client in the window.
    pub first_error: Option<String>,
    /// Every round trip's time in microseconds, sorted.
    latencies_us: Vec<u32>,
}

impl Report {
    /// Round trips per second.
    pub fn per_second(&self) -> f64 {
        self.round_trips as f64 / self.window.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The `p`-th percentile (0 to 100) of the round trips' times, if any completed.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let last = self.latencies_us.len().checked_sub(1)?;
        let rank = ((p / 100.0 * self.latencies_us.len() as f64).ceil() as usize).clamp(1, last + 1) - 1;
        Some(Duration::from_micros(self.latencies_us[rank].into()))
    }
}

/// One load thread: its clients' and idle connections, then the ping-pong.
/// It reaches every barrier whatever fails, or the caller would wait forever.
fn load_thread(load: &Load, clients: usize, idle: usize, barrier: &Barrier, shared: &Shared) -> Vec<ClientReport> {
    let rt = Runtime::new().map_err(|e| shared.error(format!("creating a load runtime: {e}"))).ok();
    let batch = (OPENING / load.threads.max(1)).max(1);
    let connect = |n| rt.as_ref().map_or_else(Vec::new, |rt| rt.block_on(open(load, n, batch, shared)));
    let streams = connect(clients);
    shared.clients_connected.fetch_add(streams.len(), Ordering::SeqCst);
    barrier.wait();
    let idle = connect(idle);
    shared.idle_connected.fetch_add(idle.len(), Ordering::SeqCst);
    barrier.wait();
    // The caller watches the server, everybody connected and silent.
    barrier.wait();
    let deadline = shared.deadline.lock().unwrap_or_else(PoisonError::into_inner).unwrap_or_else(Instant::now);
    let reports = match &rt {
        Some(rt) => rt.block_on(async {
            let tasks: Vec<_> = streams
                .into_iter()
                .map(|stream| runtime::spawn(ping_pong(stream, deadline, load.max_round_trips)))
                .collect();
            let mut reports = Vec::with_capacity(tasks.len());
            for task in tasks {
                reports.push(task.await.unwrap_or_else(|e| ClientReport {
                    error: Some(format!("client task failed: {e}")),
                    ..ClientReport::default()
                }));
            }
            reports
        }),
        None => Vec::new(),
    };
    // Every thread's clients stop at the deadline; the connections close
    // only once all have, so that no server gets to a waiting client early.
    barrier.wait();
    drop(idle);
    reports.into_iter().map(|r| ClientReport { connection: None, ..r }).collect()
}

/// Opens `n` connections, `batch` at a time, each answered by the server
/// (see the module's doc) within the connect timeout. The first one left
/// unanswered stops the opening, here and in every other thread.
async fn open(load: &Load, n: usize, batch: usize, shared: &Shared) -> Vec<TcpStream> {
    let (addr, limit) = (load.addr, load.connect_timeout);
    let mut answered = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 && !shared.stopped_answering.load(Ordering::SeqCst) {
        let now = left.min(batch);
        left -= now;
        let tasks: Vec<_> = (0..now).map(|_| runtime::spawn(timeout(limit, open_one(addr)))).collect();
        for task in tasks {
            match task.await {
                Ok(Ok(Ok(stream))) => answered.push(stream),
                Ok(Ok(Err(e))) => shared.error(e.to_string()),
                Ok(Err(_elapsed)) => {
                    shared.stopped_answering.store(true, Ordering::SeqCst);
                    shared.unanswered.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => shared.error(format!("connect task failed: {e}")),
            }
        }
    }
    shared.unanswered.fetch_add(left, Ordering::SeqCst);
    answered
}

/// Connects and checks that the server answers: one byte out, its echo back.
async fn open_one(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await.map_err(|e| io::Error::new(e.kind(), format!("connect: {e}")))?;
    let _ = stream.set_nodelay(true);
    let mut socket = &stream;
    let mut echo = [0u8; 1];
    socket.write_all(b"?").await?;
    match socket.read_exact(&mut echo).await {
        Ok(_) if echo == *b"?" => Ok(stream),
        Ok(_) => Err(io::Error::other("the first echo differs from what was sent")),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(io::Error::new(e.kind(), "the server closed a new connection without answering"))
        }
        Err(e) => Err(io::Error::new(e.kind(), format!("first echo: {e}"))),
    }
}

/// Sends a message and waits for its echo, again and again, until the
/// deadline (or `max` round trips).
async fn ping_pong(stream: TcpStream, deadline: Instant, max: u64) -> ClientReport {
    let mut report = ClientReport::default();
    let mut back = [0u8; MESSAGE_LEN];
    let mut socket = &stream;
    while report.round_trips < max {
        let sent = Instant::now();
        let round_trip = async {
            socket.write_all(&MESSAGE).await?;
            socket.read_exact(&mut back).await
        };
        match timeout_at(deadline, round_trip).await {
            Err(_elapsed) => break, // the window is over
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                report.error = Some("the server closed the connection".to_owned());
                break;
            }
            Ok(Err(e)) => {
                report.error = Some(e.to_string());
                break;
            }
            Ok(Ok(_)) if back != MESSAGE => {
                report.error = Some("the echo differs from the message".to_owned());
                break;
            }
            // Answered, but after the window (the deadline passed while
            // this task waited to run): not counted.
            Ok(Ok(_)) if Instant::now() > deadline => break,
            Ok(Ok(_)) => {
                let micros = sent.elapsed().as_micros();
                report.latencies_us.push(u32::try_from(micros).unwrap_or(u32::MAX));
                report.round_trips += 1;
            }
        }
    }
    report.connection = Some(stream);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_rank_above() {
        let report = Report { latencies_us: (1..=100).collect(), ..Report::default() };
        assert_eq!(report.percentile(99.0), Some(Duration::from_micros(99)));
        assert_eq!(report.percentile(50.0), Some(Duration::from_micros(50)));
        assert_eq!(report.percentile(100.0), Some(Duration::from_micros(100)));
        assert_eq!(report.percentile(0.0), Some(Duration::from_micros(1)));
        assert_eq!(Report::default().percentile(99.0), None);
    }

    /// An echo server on a thread per connection, for the first `accepts`
    /// connections; later ones wait in its backlog, never accepted.
    fn echo_server(accepts: usize) -> io::Result<(SocketAddr, JoinHandle<io::Result<()>>)> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = thread::spawn(move || {
            let mut echoes = Vec::new();
            for _ in 0..accepts {
                let (mut stream, _) = listener.accept()?;
                echoes.push(thread::spawn(move || std::io::copy(&mut stream.try_clone()?, &mut stream)));
            }
            // Runs until every client has closed.
            for echo in echoes {
                echo.join().map_err(|_| io::Error::other("echo thread panicked"))??;
            }
            Ok(())
        });
        Ok((addr, server))
    }

    fn load(addr: SocketAddr, clients: usize, idle: usize) -> Load {
        Load { addr, clients, idle, threads: 2, connect_timeout: Duration::from_millis(500), max_round_trips: 50 }
    }

    #[test]
    fn every_client_of_an_echo_server_is_served() -> io::Result<()> {
        let (addr, server) = echo_server(5)?;
        let connected = load(addr, 3, 2).connect()?;
        assert_eq!((connected.clients_connected(), connected.idle_connected()), (3, 2));
        let report = connected.go(Duration::from_secs(2)).finish()?;
        assert_eq!((report.served, report.round_trips, report.unanswered, report.failed), (3, 150, 0, 0), "{report:?}");
        assert!(report.percentile(99.0).is_some() && report.per_second() > 0.0);
        server.join().map_err(|_| io::Error::other("server panicked"))?
    }

    #[test]
    fn a_server_that_stops_accepting_leaves_clients_unanswered() -> io::Result<()> {
        let (addr, server) = echo_server(1)?;
        let connected = load(addr, 3, 2).connect()?;
        // One client is answered; the two others wait in the backlog, and
        // no idle connection is tried after that.
        assert_eq!((connected.clients_connected(), connected.idle_connected()), (1, 0));
        let report = connected.go(Duration::from_millis(200)).finish()?;
        assert_eq!((report.served, report.unanswered, report.failed), (1, 4, 0), "{report:?}");
        assert!(report.round_trips >= 1 && report.first_error.is_none(), "{report:?}");
        server.join().map_err(|_| io::Error::other("server panicked"))?
    }
}
