//! Hostile and broken clients against the `delay_server` and `http_server`
//! binaries: garbage bytes, heads over the limit, slowloris, a client that
//! never reads its responses, and 10,000 connections that say nothing.
//! Each gets a clear answer (`400`, `431`) or is dropped at the idle limit,
//! and meanwhile other clients are served with normal latency.
//!
//! The tests synchronise on what the sockets report (an answer, a close, a
//! reset) with deadlines. The slow clients sleep between bytes and the
//! latency probes between requests: that pacing is the scenario, not a way
//! to wait for the server.

mod http_util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use examples::http::proto::{Response, ResponseParser};
use examples::measure::procfs::{open_fds_of, rss_kib};
use examples::measure::raise_fd_limit;
use http_util::{read_to_close, timing_lock};
use tests::support::{connect, Running, PATIENCE};

/// The delay server's delay, where the test does not need another.
const DELAY: Duration = Duration::from_millis(50);
/// What "normal latency" allows on top of the server's delay.
const SLACK: Duration = Duration::from_millis(200);
/// The idle limit for the slowloris and never-reading clients.
const IDLE: Duration = Duration::from_millis(1000);
/// How often the latency probes ask while an attack goes on.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Most probes in one test; the attacks end (or fail) long before.
const MAX_PROBES: usize = 400;

const GET_10: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
const GET_11: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

/// Which server a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    /// `delay_server`: every request answered `200 OK` after `--delay-ms`.
    Delay,
    /// `http_server`: `GET` answered at once, other methods `405`.
    Plaintext,
}

/// A server under attack, killed on drop.
struct Target {
    kind: Server,
    process: Running,
    addr: SocketAddr,
    /// The delay the server adds to every answer (zero for `http_server`).
    delay: Duration,
}

impl Target {
    /// Starts `kind` with the idle limit `idle` (and, for the delay
    /// server, the delay `delay`).
    fn start(kind: Server, delay: Duration, idle: Duration) -> io::Result<Target> {
        let idle_ms = idle.as_millis().to_string();
        let delay_ms = delay.as_millis().to_string();
        let (process, addr, delay) = match kind {
            Server::Delay => {
                let args = ["--addr", "127.0.0.1:0", "--delay-ms", &delay_ms, "--idle-ms", &idle_ms];
                let (p, a) = Running::server("delay_server", &args)?;
                (p, a, delay)
            }
            Server::Plaintext => {
                let (p, a) = Running::server("http_server", &["--addr", "127.0.0.1:0", "--idle-ms", &idle_ms])?;
                (p, a, Duration::ZERO)
            }
        };
        Ok(Target { kind, process, addr, delay })
    }

    fn pid(&self) -> u32 {
        self.process.child.0.id()
    }

    /// One request on a new connection, answered `200`; returns how long it took.
    fn probe(&self) -> io::Result<Duration> {
        let start = Instant::now();
        let mut s = connect(self.addr)?;
        s.write_all(GET_10)?;
        let r = response_of(&read_to_close(&mut s)?)?;
        assert_eq!(r.status, 200, "{:?}: the probe was not answered 200", self.kind);
        Ok(start.elapsed())
    }

    /// The most a probe may take: the server's delay and a little slack.
    fn normal_latency(&self) -> Duration {
        self.delay + SLACK
    }

    /// Probes every [`PROBE_EVERY`] until `attack` reports its result;
    /// checks every probe was answered with normal latency.
    fn probe_until<T>(&self, attack: &mpsc::Receiver<io::Result<T>>) -> io::Result<T> {
        let mut slowest = Duration::ZERO;
        for probes in 1..=MAX_PROBES {
            let took = self.probe()?;
            slowest = slowest.max(took);
            assert!(
                took < self.normal_latency(),
                "{:?}: probe {probes} took {took:?} during the attack (normal: under {:?})",
                self.kind,
                self.normal_latency()
            );
            match attack.recv_timeout(PROBE_EVERY) {
                Ok(result) => {
                    eprintln!("{:?}: {probes} probes during the attack, the slowest {slowest:?}", self.kind);
                    return result;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(io::Error::other("the attacking thread died")),
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "the attack did not end"))
    }
}

/// What the server sent before closing, as one response.
fn response_of(bytes: &[u8]) -> io::Result<Response> {
    let mut p = ResponseParser::new(false);
    if !p.feed(bytes)? {
        p.finish()?;
    }
    p.into_response()
}

/// A tiny deterministic PRNG (xorshift64), so random input is the same in every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Sends `bytes` (then half-closes if `half_close`) and returns the one
/// response the server sent before closing the connection.
fn answer_to(addr: SocketAddr, bytes: &[u8], half_close: bool) -> io::Result<Response> {
    let mut s = connect(addr)?;
    s.write_all(bytes)?;
    if half_close {
        s.shutdown(Shutdown::Write)?;
    }
    let got = read_to_close(&mut s)?;
    let responses = got.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    assert_eq!(responses, 1, "not one response to {:?}: {:?}", preview(bytes), String::from_utf8_lossy(&got));
    response_of(&got)
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned()
}

/// Garbage, invalid methods and versions, bare CRs, a line that never
/// ends: each is answered `400` with `Connection: close`, then closed.
fn garbage_gets_400(kind: Server) -> io::Result<()> {
    let _timing = timing_lock();
    let target = Target::start(kind, DELAY, Duration::from_secs(10))?;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut cases: Vec<(Vec<u8>, bool)> = (0..4).map(|_| (rng.bytes(1024), false)).collect();
    for bad in [
        &b"\x00\x01\x02\x03\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"G\x7fT / HTTP/1.1\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.2\r\n\r\n",
        b"GET / FTP/1.0\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\rHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\n: no name\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        cases.push((bad.to_vec(), false));
    }
    // A line that never ends, and a head cut short: the client's
    // half-close tells the server no more is coming.
    for cut in [&b"hello"[..], b"GET /no-line-end", b"GET / HTTP/1.1\r\nHost: x\r\n"] {
        cases.push((cut.to_vec(), true));
    }
    for (bytes, half_close) in &cases {
        let r = answer_to(target.addr, bytes, *half_close)?;
        let got = (r.status, r.header("connection"));
        assert_eq!(got, (400, Some("close")), "{kind:?}: answer to {:?}", preview(bytes));
    }
    // A chunked body that is not: http_server has answered the head already
    // (it answers before skipping the body), then says 400.
    let mut s = connect(target.addr)?;
    s.write_all(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")?;
    let got = read_to_close(&mut s)?;
    let last = got.windows(9).rposition(|w| w == b"HTTP/1.1 ").unwrap_or(0);
    let r = response_of(&got[last..])?;
    assert_eq!((r.status, r.header("connection")), (400, Some("close")), "{kind:?}: bad chunked body");
    // What is documented as accepted: bare LF line ends, and any method
    // (the delay server answers it; http_server says 405).
    let r = answer_to(target.addr, b"GET / HTTP/1.0\nHost: x\n\n", false)?;
    assert_eq!(r.status, 200);
    let r = answer_to(target.addr, b"BREW / HTTP/1.1\r\nConnection: close\r\n\r\n", false)?;
    assert_eq!(r.status, if kind == Server::Delay { 200 } else { 405 });
    // The server is fine afterwards.
    target.probe()?;
    Ok(())
}

/// Heads over 8 KiB (or 64 fields), however they are built, get `431`
/// and a close, even while the client keeps sending.
fn huge_heads_get_431(kind: Server) -> io::Result<()> {
    let _timing = timing_lock();
    let target = Target::start(kind, DELAY, Duration::from_secs(10))?;
    let endless_fields: Vec<u8> =
        [b"GET / HTTP/1.1\r\n".as_slice(), &b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(1600)].concat();
    let endless_line = [b"GET /".as_slice(), &[b'a'; 64 * 1024]].concat();
    let many_fields: Vec<u8> = [
        b"GET / HTTP/1.1\r\n".as_slice(),
        &(0..100).flat_map(|i| format!("X-{i}: v\r\n").into_bytes()).collect::<Vec<_>>(),
        b"\r\n",
    ]
    .concat();
    for bytes in [endless_fields, endless_line, many_fields] {
        let r = answer_to(target.addr, &bytes, false)?;
        assert_eq!((r.status, r.header("connection")), (431, Some("close")), "{kind:?}: {:?}", preview(&bytes));
    }
    target.probe()?;
    Ok(())
}

/// How one slow client ended.
#[derive(Debug)]
struct Slow {
    /// From connecting to seeing the server close.
    closed_after: Duration,
    /// Bytes of the head it had sent.
    sent: usize,
    /// Bytes the server sent it (none expected).
    got: usize,
}

/// Opens `n` connections and sends each one byte of `head` per `tick`
/// until the server closes it (or the deadline passes).
fn slowloris(addr: SocketAddr, n: usize, head: &[u8], tick: Duration) -> io::Result<Vec<Slow>> {
    struct Client {
        stream: TcpStream,
        start: Instant,
        sent: usize,
        got: usize,
        closed_after: Option<Duration>,
    }
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        clients.push(Client { stream, start: Instant::now(), sent: 0, got: 0, closed_after: None });
    }
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline && clients.iter().any(|c| c.closed_after.is_none()) {
        for c in clients.iter_mut().filter(|c| c.closed_after.is_none()) {
            let closed = match c.stream.read(&mut buf) {
                Ok(0) => true,
                Ok(n) => {
                    c.got += n;
                    false
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
                Err(e) => return Err(e),
            };
            let closed = closed
                || match c.stream.write(&head[c.sent.min(head.len() - 1)..][..1]) {
                    Ok(_) => {
                        c.sent += 1;
                        false
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => true,
                    Err(e) => return Err(e),
                };
            if closed {
                c.closed_after = Some(c.start.elapsed());
            }
        }
        // One byte per tick: the attack itself.
        thread::sleep(tick);
    }
    Ok(clients
        .into_iter()
        .map(|c| Slow { closed_after: c.closed_after.unwrap_or(PATIENCE), sent: c.sent, got: c.got })
        .collect())
}

/// Slowloris: 16 clients each send a valid head one byte every 50 ms. The
/// server drops each at its idle limit, without an answer, and serves
/// everyone else at normal latency meanwhile.
fn slowloris_is_dropped_at_the_idle_limit(kind: Server) -> io::Result<()> {
    let _timing = timing_lock();
    let target = Target::start(kind, DELAY, IDLE)?;
    let head = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n", "a".repeat(200)).into_bytes();
    let (tx, rx) = mpsc::channel();
    let addr = target.addr;
    let attack = {
        let head = head.clone();
        thread::spawn(move || {
            let _ = tx.send(slowloris(addr, 16, &head, Duration::from_millis(50)));
        })
    };
    let slow = target.probe_until(&rx)?;
    let _ = attack.join();
    for s in &slow {
        assert!(s.sent < head.len(), "{kind:?}: a slow client sent its whole head: {s:?}");
        assert_eq!(s.got, 0, "{kind:?}: a slow client got an answer: {s:?}");
        assert!(s.closed_after >= IDLE, "{kind:?}: dropped before the idle limit: {s:?}");
        assert!(s.closed_after < IDLE + Duration::from_secs(1), "{kind:?}: not dropped at the idle limit: {s:?}");
    }
    Ok(())
}

/// A client that pipelines requests without ever reading the answers, until
/// the server drops it; returns the bytes it wrote and how its last write failed.
fn never_read(addr: SocketAddr) -> io::Result<(usize, io::Error)> {
    let mut s = connect(addr)?;
    let batch = GET_11.repeat(1000);
    let mut sent = 0;
    // Bounded: the server's buffers fill long before this.
    while sent < 256 << 20 {
        if let Err(e) = s.write_all(&batch) {
            return Ok((sent, e));
        }
        sent += batch.len();
    }
    Err(io::Error::other(format!("the server took {sent} bytes of requests without being read")))
}

/// A client that never reads its responses fills the socket buffers; the
/// server's write then times out at the idle limit and it drops the client
/// (a reset, since requests were left unread), its memory staying bounded.
/// Other clients are served at normal latency throughout. The delay server
/// runs without delay here, so that the answers pile up quickly.
fn never_reading_client_is_dropped(kind: Server) -> io::Result<()> {
    let _timing = timing_lock();
    let target = Target::start(kind, Duration::ZERO, IDLE)?;
    target.probe()?;
    let rss_before = rss_kib(target.pid())?;
    let (tx, rx) = mpsc::channel();
    let addr = target.addr;
    let start = Instant::now();
    let attack = thread::spawn(move || {
        let _ = tx.send(never_read(addr));
    });
    let (sent, err) = target.probe_until(&rx)?;
    let took = start.elapsed();
    let _ = attack.join();
    assert!(
        matches!(err.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe),
        "{kind:?}: the stuck client's write ended with {err} after {sent} bytes"
    );
    assert!(took >= IDLE, "{kind:?}: dropped after {took:?}, before the idle limit");
    let rss_after = rss_kib(target.pid())?;
    eprintln!("{kind:?}: {sent} bytes of requests, dropped after {took:?}; RSS {rss_before} -> {rss_after} KiB");
    assert!(rss_after < rss_before + 32 * 1024, "{kind:?}: RSS grew from {rss_before} to {rss_after} KiB");
    target.probe()?;
    Ok(())
}

/// How many silent connections the crowd test opens.
const CROWD: usize = 10_000;
/// The idle limit in the crowd test: longer than opening the crowd takes.
const CROWD_IDLE: Duration = Duration::from_millis(2000);

/// 10,000 connections that connect and say nothing: the server holds them
/// (an fd each) while it answers other clients at normal latency, then drops
/// every one at the idle limit, and its fd count goes back to where it was.
fn silent_crowd_is_dropped(kind: Server) -> io::Result<()> {
    let _timing = timing_lock();
    // The crowd's fds here, as many in the server, and some to spare.
    let limit = raise_fd_limit(CROWD + 1000)?;
    let crowd_size = CROWD.min(limit.saturating_sub(1000));
    if crowd_size < CROWD {
        eprintln!("{kind:?}: the fd limit is {limit}: a crowd of {crowd_size} instead of {CROWD}");
    }
    let target = Target::start(kind, DELAY, CROWD_IDLE)?;
    // Before any connection: a probe's connection lingers a moment after the probe.
    let baseline = open_fds_of(target.pid())?;
    target.probe()?;
    let start = Instant::now();
    let mut crowd = Vec::with_capacity(crowd_size);
    for _ in 0..crowd_size {
        crowd.push(TcpStream::connect(target.addr)?);
    }
    let connected = start.elapsed();
    // Connections are accepted in order, so once this probe is answered the
    // server has accepted the whole crowd (the probe waited its turn).
    let caught_up = target.probe()?;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let took = target.probe()?;
        slowest = slowest.max(took);
        assert!(took < target.normal_latency(), "{kind:?}: a probe took {took:?} beside the crowd");
    }
    let held = open_fds_of(target.pid())?;
    let probed = start.elapsed();
    eprintln!(
        "{kind:?}: {crowd_size} connections in {connected:?}, all accepted after {caught_up:?} more; \
         probes (slowest {slowest:?}) done at {probed:?}; server fds {baseline} -> {held}"
    );
    if probed < CROWD_IDLE {
        assert!(held >= baseline + crowd_size, "{kind:?}: the server holds {held} fds, baseline {baseline}");
    }
    // Every member is dropped at the idle limit: EOF on each.
    let mut buf = [0u8; 16];
    for s in &mut crowd {
        s.set_read_timeout(Some(PATIENCE))?;
        assert_eq!(s.read(&mut buf)?, 0, "{kind:?}: a silent client got an answer");
    }
    let dropped = start.elapsed();
    assert!(dropped >= CROWD_IDLE, "{kind:?}: the crowd was dropped after {dropped:?}");
    assert!(dropped < connected + CROWD_IDLE + Duration::from_secs(3), "{kind:?}: dropping took until {dropped:?}");
    // The server closed each fd before its FIN went out.
    let after = open_fds_of(target.pid())?;
    assert_eq!(after, baseline, "{kind:?}: the server's fds did not go back down");
    drop(crowd);
    target.probe()?;
    Ok(())
}

#[test]
fn delay_server_answers_garbage_with_400() -> io::Result<()> {
    garbage_gets_400(Server::Delay)
}

#[test]
fn http_server_answers_garbage_with_400() -> io::Result<()> {
    garbage_gets_400(Server::Plaintext)
}

#[test]
fn delay_server_answers_huge_heads_with_431() -> io::Result<()> {
    huge_heads_get_431(Server::Delay)
}

#[test]
fn http_server_answers_huge_heads_with_431() -> io::Result<()> {
    huge_heads_get_431(Server::Plaintext)
}

#[test]
fn delay_server_drops_slowloris() -> io::Result<()> {
    slowloris_is_dropped_at_the_idle_limit(Server::Delay)
}

#[test]
fn http_server_drops_slowloris() -> io::Result<()> {
    slowloris_is_dropped_at_the_idle_limit(Server::Plaintext)
}

#[test]
fn delay_server_drops_a_client_that_never_reads() -> io::Result<()> {
    never_reading_client_is_dropped(Server::Delay)
}

#[test]
fn http_server_drops_a_client_that_never_reads() -> io::Result<()> {
    never_reading_client_is_dropped(Server::Plaintext)
}

#[test]
fn delay_server_drops_a_silent_crowd() -> io::Result<()> {
    silent_crowd_is_dropped(Server::Delay)
}

#[test]
fn http_server_drops_a_silent_crowd() -> io::Result<()> {
    silent_crowd_is_dropped(Server::Plaintext)
}
