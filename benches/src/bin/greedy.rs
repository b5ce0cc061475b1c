//! greedy: the starvation scenario of issue 12, as an echo client.
//!
//! Two "greedy" connections keep the server's side of their sockets always
//! readable: on each, one thread writes 64 KiB blocks in a loop and another
//! drains the echo. A third connection, the "ping", sends one byte every
//! 2 ms on a fixed schedule (open loop: it does not wait for the previous
//! answer) and times each echo. A server that lets a ready connection run
//! without yielding makes the ping wait behind the greedy ones.
//!
//! Before the greedy connections start, a few idle pings (one at a time)
//! give the idle round trip. Then `--warmup` s unmeasured and `--secs` s
//! measured; pings unanswered at the end get `--timeout-ms` more to arrive.
//! A ping answered after `--timeout-ms`, or never, is a timeout (`late` /
//! `lost`); percentiles are over the answered pings, late ones included.
//! Every echoed byte is checked against what was sent (a fixed pattern).
//!
//! The ping's sender sleeps with `thread::sleep` (nanosecond timers);
//! `missed_ticks` counts 2 ms ticks it was too late to send, a sign that the
//! client's core, not the server, set the pace.
//!
//! The five threads share one core (the scripts pin the client), and the
//! four greedy ones are always runnable when the server is fast: at equal
//! priority the ping's threads would wait for a scheduler slice on each
//! wake-up, adding up to a few ms to its round trips, and more the faster
//! the server (a slow server leaves the greedy threads blocked). So the
//! greedy threads run at nice `--greedy-nice` (default 19, allowed without
//! privileges): the ping's threads preempt them at once, and they still get
//! all the rest of the core. (With autogroups, the default on Linux, the
//! process's share against other processes does not change.)
//!
//! Prints one JSON line and one human line; exit status 1 on any error
//! (connect failure, connection closed, wrong echo). Only std, blocking
//! sockets; every loop is bounded by the run's deadline.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use benches::{percentile, Opts};

const USAGE: &str = "\
usage: greedy --addr 127.0.0.1:PORT [--secs 10] [--warmup 1] [--greedy 2] [--block 65536]
              [--interval-us 2000] [--timeout-ms 1000] [--idle-pings 50] [--greedy-nice 19]

Two greedy echo connections (write --block bytes in a loop, drain the echo on
another thread) and one ping connection (1 byte every --interval-us, round trip
timed) against an echo server; prints ping p50/p99/max, timeouts and the greedy
connections' echoed MB/s.";

/// The byte stream every greedy connection sends: `PATTERN[offset % PERIOD]`.
/// A prime period, so block boundaries fall at varying phases.
const PERIOD: usize = 251;
/// How long a blocking socket call may wait before the loop checks the clock.
const SOCKET_TICK: Duration = Duration::from_millis(50);

struct Config {
    addr: SocketAddr,
    secs: f64,
    warmup: f64,
    greedy: usize,
    block: usize,
    interval: Duration,
    timeout: Duration,
    idle_pings: usize,
    /// Nice value of the greedy threads (0: unchanged).
    greedy_nice: i32,
}

fn config() -> Result<Config, String> {
    let o = Opts::from_env(
        USAGE,
        &[
            "--addr",
            "--secs",
            "--warmup",
            "--greedy",
            "--block",
            "--interval-us",
            "--timeout-ms",
            "--idle-pings",
            "--greedy-nice",
        ],
        &[],
    );
    let addr: String = o.value("--addr", String::new())?;
    let addr = addr.parse::<SocketAddr>().map_err(|_| format!("--addr: not IP:PORT: {addr:?}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("--addr must be a loopback address, got {addr}"));
    }
    let c = Config {
        addr,
        secs: o.value("--secs", 10.0)?,
        warmup: o.value("--warmup", 1.0)?,
        greedy: o.value("--greedy", 2)?,
        block: o.value("--block", 64 * 1024)?,
        interval: Duration::from_micros(o.value("--interval-us", 2000)?),
        timeout: Duration::from_millis(o.value("--timeout-ms", 1000)?),
        idle_pings: o.value("--idle-pings", 50)?,
        greedy_nice: o.value("--greedy-nice", 19)?,
    };
    let ok = c.secs > 0.0
        && c.secs <= 3600.0
        && (0.0..=600.0).contains(&c.warmup)
        && c.block > 0
        && !c.interval.is_zero()
        && !c.timeout.is_zero()
        && (0..=19).contains(&c.greedy_nice);
    if !ok {
        return Err(
            "--secs must be in (0, 3600], --warmup in [0, 600], --block, --interval-us and --timeout-ms > 0, --greedy-nice in 0..=19".to_owned()
        );
    }
    Ok(c)
}

fn main() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("greedy: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok(report) => {
            println!("{}", report.json(&cfg));
            println!("{}", report.human(&cfg));
            if report.errors > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("greedy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Byte counts of one greedy connection, shared by its two threads.
#[derive(Default)]
struct GreedyCounts {
    /// Bytes written during the measured window.
    sent: AtomicU64,
    /// Echoed bytes read (and checked) during the measured window.
    echoed: AtomicU64,
}

/// The run's clock: warm-up from `start`, measurement in `[from, end)`.
#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    end: Instant,
}

struct Report {
    idle_rtt_ns: Vec<u64>,
    /// Round trips of the measured pings that were answered, sorted.
    rtt_ns: Vec<u64>,
    /// Pings sent during the measured window.
    pings: u64,
    /// Answered, but after the timeout.
    late: u64,
    /// Never answered (the timeout passed after the window closed).
    lost: u64,
    /// Measured ticks whose 1-byte write timed out (socket full).
    blocked: u64,
    /// Measured ticks skipped (the next one was due before the loop came back).
    missed: u64,
    /// Echoed MB/s of each greedy connection.
    greedy_mbs: Vec<f64>,
    greedy_sent_mbs: f64,
    errors: u64,
    elapsed: Duration,
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn run(cfg: &Config) -> io::Result<Report> {
    let t0 = Instant::now();
    let mut ping = connect(cfg.addr).map_err(|e| io::Error::new(e.kind(), format!("connect {}: {e}", cfg.addr)))?;
    ping.set_write_timeout(Some(SOCKET_TICK))?;
    let idle_rtt_ns = idle_pings(&mut ping, cfg)?;

    let mut pattern = Vec::with_capacity(cfg.block + PERIOD);
    pattern.extend((0..cfg.block + PERIOD).map(|i| (i % PERIOD) as u8));
    let pattern: Arc<[u8]> = pattern.into();
    let mut conns = Vec::new();
    for _ in 0..cfg.greedy {
        let s = connect(cfg.addr).map_err(|e| io::Error::new(e.kind(), format!("connect {}: {e}", cfg.addr)))?;
        conns.push(s);
    }

    let start = Instant::now();
    let from = start + Duration::from_secs_f64(cfg.warmup);
    let window = Window { from, end: from + Duration::from_secs_f64(cfg.secs) };
    let mut threads = Vec::new();
    let mut counts = Vec::new();
    for s in &conns {
        let c = Arc::new(GreedyCounts::default());
        counts.push(c.clone());
        let (w, r) = (s.try_clone()?, s.try_clone()?);
        let (pw, pr, cw, block, nice) = (pattern.clone(), pattern.clone(), c.clone(), cfg.block, cfg.greedy_nice);
        threads.push(thread::spawn(move || {
            renice_thread(nice)?;
            greedy_writer(w, window, &pw, block, &cw)
        }));
        threads.push(thread::spawn(move || {
            renice_thread(nice)?;
            greedy_reader(r, window, &pr, block, &c)
        }));
    }

    let mut errors = 0;
    let pings = match ping_loop(&mut ping, cfg, window) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("greedy: ping connection: {e}");
            errors += 1;
            PingResult::default()
        }
    };
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("greedy: greedy connection: {e}");
                errors += 1;
            }
            Err(_) => {
                eprintln!("greedy: a greedy thread panicked");
                errors += 1;
            }
        }
    }
    for s in conns.iter().chain([&ping]) {
        let _ = s.shutdown(Shutdown::Both);
    }
    drop(conns);
    drop(ping);

    let secs = cfg.secs;
    let mbs = |b: u64| b as f64 / secs / 1e6;
    let mut rtt_ns = pings.rtt_ns;
    rtt_ns.sort_unstable();
    Ok(Report {
        idle_rtt_ns,
        rtt_ns,
        pings: pings.sent,
        late: pings.late,
        lost: pings.lost,
        blocked: pings.blocked,
        missed: pings.missed,
        greedy_mbs: counts.iter().map(|c| mbs(c.echoed.load(Ordering::Relaxed))).collect(),
        greedy_sent_mbs: counts.iter().map(|c| mbs(c.sent.load(Ordering::Relaxed))).sum(),
        errors: errors + pings.errors,
        elapsed: t0.elapsed(),
    })
}

/// Sets the calling thread's nice value (Linux: nice is per thread); a
/// no-op for 0.
fn renice_thread(nice: i32) -> io::Result<()> {
    if nice == 0 {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take no pointers.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("setpriority({nice}) for a greedy thread: {e}")));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    Err(io::Error::new(ErrorKind::Unsupported, "--greedy-nice needs Linux (per-thread nice); pass --greedy-nice 0"))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn is_tick(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
}

/// One ping at a time on the quiet server: send a byte, wait for it.
fn idle_pings(ping: &mut TcpStream, cfg: &Config) -> io::Result<Vec<u64>> {
    ping.set_read_timeout(Some(cfg.timeout))?;
    let mut rtts = Vec::with_capacity(cfg.idle_pings);
    for i in 0..cfg.idle_pings {
        let seq = [i as u8];
        let at = Instant::now();
        ping.write_all(&seq)?;
        let mut echo = [0u8];
        match ping.read(&mut echo) {
            Ok(1) if echo == seq => rtts.push(nanos(at.elapsed())),
            Ok(1) => return Err(io::Error::new(ErrorKind::InvalidData, "idle ping: wrong byte echoed")),
            Ok(_) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "idle ping: server closed the connection")),
            Err(e) if is_tick(&e) => {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    format!("idle ping unanswered after {:?}", cfg.timeout),
                ))
            }
            Err(e) => return Err(e),
        }
        thread::sleep(Duration::from_millis(1));
    }
    rtts.sort_unstable();
    Ok(rtts)
}

#[derive(Default)]
struct PingResult {
    sent: u64,
    rtt_ns: Vec<u64>,
    late: u64,
    lost: u64,
    /// Measured ticks whose ping was not sent: the 1-byte write could not be
    /// queued within SOCKET_TICK (the server reads nothing, the socket is full).
    blocked: u64,
    /// Ticks skipped because the next was already due when the sender came
    /// back (a slow write, or the thread was not scheduled in time).
    missed: u64,
    errors: u64,
}

/// A ping on its way: when it left, whether it counts, its byte.
struct InFlight {
    at: Instant,
    measured: bool,
    seq: u8,
}

/// What the ping's sender and receiver threads share.
#[derive(Default)]
struct PingShared {
    flight: Mutex<VecDeque<InFlight>>,
    /// The sender has sent its last ping.
    done: AtomicBool,
}

impl PingShared {
    fn flight(&self) -> MutexGuard<'_, VecDeque<InFlight>> {
        self.flight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The ping connection in the measured phase: a sender thread writes a byte
/// every `interval` until the window ends, on a fixed schedule (ticks it
/// was too late for are skipped and counted, not sent in a burst); this
/// thread reads the echoes, in order, until every ping is answered or
/// `timeout` after the window. Two threads because the sender's schedule
/// needs `thread::sleep`'s precision: a socket read timeout (`SO_RCVTIMEO`)
/// counts in scheduler ticks (4 ms at 250 Hz) and would miss most 2 ms ticks.
fn ping_loop(ping: &mut TcpStream, cfg: &Config, w: Window) -> io::Result<PingResult> {
    let shared = Arc::new(PingShared::default());
    let sender = {
        let (shared, mut out, interval) = (shared.clone(), ping.try_clone()?, cfg.interval);
        thread::spawn(move || {
            let r = ping_sender(&mut out, &shared, interval, w);
            shared.done.store(true, Ordering::Release);
            r
        })
    };
    let received = ping_receiver(ping, &shared, cfg.timeout, w);
    if received.is_err() {
        // Stop the sender early: its writes now fail at once.
        let _ = ping.shutdown(Shutdown::Write);
    }
    let sent = sender.join().map_err(|_| io::Error::other("the ping sender panicked"))?;
    let (sent, blocked, missed) = sent?;
    let (rtt_ns, late) = received?;
    let lost = shared.flight().iter().filter(|p| p.measured).count() as u64;
    Ok(PingResult { sent, rtt_ns, late, lost, blocked, missed, errors: 0 })
}

/// Sends the pings; returns (measured pings sent, blocked, missed ticks).
fn ping_sender(out: &mut TcpStream, shared: &PingShared, interval: Duration, w: Window) -> io::Result<(u64, u64, u64)> {
    let (mut sent, mut blocked, mut missed) = (0, 0, 0);
    let mut seq = 0u8;
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= w.end {
            return Ok((sent, blocked, missed));
        }
        if now < next {
            thread::sleep(next.min(w.end) - now);
            continue;
        }
        let measured = now >= w.from;
        // In the queue before the byte leaves, so the echo always finds it.
        shared.flight().push_back(InFlight { at: Instant::now(), measured, seq });
        match out.write(&[seq]) {
            Ok(1) => {
                sent += u64::from(measured);
                seq = seq.wrapping_add(1);
            }
            Ok(_) => return Err(io::Error::new(ErrorKind::WriteZero, "ping: write returned 0")),
            // Not even one byte could be queued within SOCKET_TICK: the
            // server reads nothing. Nothing left, so the entry is withdrawn
            // (the sender alone pushes: it is still the last one).
            Err(e) if is_tick(&e) => {
                shared.flight().pop_back();
                blocked += u64::from(measured);
            }
            Err(e) => return Err(e),
        }
        next += interval;
        let after = Instant::now();
        while next <= after {
            next += interval;
            missed += u64::from(measured && next <= w.end);
        }
    }
}

/// Reads echoes until the sender is done and every ping is answered, or
/// `timeout` after the window; returns the measured round trips and how
/// many of them exceeded `timeout`.
fn ping_receiver(
    ping: &mut TcpStream,
    shared: &PingShared,
    timeout: Duration,
    w: Window,
) -> io::Result<(Vec<u64>, u64)> {
    ping.set_read_timeout(Some(SOCKET_TICK))?;
    let (mut rtt_ns, mut late) = (Vec::new(), 0);
    let drain_until = w.end + timeout;
    let mut buf = [0u8; 4096];
    loop {
        if Instant::now() >= drain_until || (shared.done.load(Ordering::Acquire) && shared.flight().is_empty()) {
            return Ok((rtt_ns, late));
        }
        match ping.read(&mut buf) {
            Ok(0) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "server closed the ping connection")),
            Ok(n) => {
                let at = Instant::now();
                let mut flight = shared.flight();
                for &b in &buf[..n] {
                    let Some(p) = flight.pop_front() else {
                        return Err(io::Error::new(ErrorKind::InvalidData, "ping: echo of a byte never sent"));
                    };
                    if p.seq != b {
                        return Err(io::Error::new(ErrorKind::InvalidData, "ping: echoed bytes out of order"));
                    }
                    if p.measured {
                        let rtt = at.saturating_duration_since(p.at);
                        late += u64::from(rtt > timeout);
                        rtt_ns.push(nanos(rtt));
                    }
                }
            }
            Err(e) if is_tick(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes the pattern stream, `block` bytes per call, until the window ends.
fn greedy_writer(mut s: TcpStream, w: Window, pattern: &[u8], block: usize, counts: &GreedyCounts) -> io::Result<()> {
    s.set_write_timeout(Some(SOCKET_TICK))?;
    let mut offset = 0usize; // stream offset modulo PERIOD
    while Instant::now() < w.end {
        match s.write(&pattern[offset..offset + block]) {
            Ok(0) => return Err(io::Error::new(ErrorKind::WriteZero, "write returned 0")),
            Ok(n) => {
                offset = (offset + n) % PERIOD;
                if Instant::now() >= w.from {
                    counts.sent.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            Err(e) if is_tick(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads the echo and checks it against the pattern until the window ends.
fn greedy_reader(mut s: TcpStream, w: Window, pattern: &[u8], block: usize, counts: &GreedyCounts) -> io::Result<()> {
    s.set_read_timeout(Some(SOCKET_TICK))?;
    let mut buf = vec![0u8; block];
    let mut offset = 0usize;
    let mut total = 0u64;
    while Instant::now() < w.end {
        match s.read(&mut buf) {
            Ok(0) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "server closed a greedy connection")),
            Ok(n) => {
                if buf[..n] != pattern[offset..offset + n] {
                    return Err(io::Error::new(
                        ErrorKind::InvalidData,
                        format!("wrong echo within bytes {total}..{}", total + n as u64),
                    ));
                }
                offset = (offset + n) % PERIOD;
                total += n as u64;
                if Instant::now() >= w.from {
                    counts.echoed.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            Err(e) if is_tick(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Report {
    fn pct_us(&self, q: f64) -> f64 {
        percentile(&self.rtt_ns, q).map_or(0.0, |ns| ns as f64 / 1e3)
    }

    fn idle_p50_us(&self) -> f64 {
        percentile(&self.idle_rtt_ns, 0.5).map_or(0.0, |ns| ns as f64 / 1e3)
    }

    fn json(&self, cfg: &Config) -> String {
        let each: Vec<String> = self.greedy_mbs.iter().map(|m| format!("{m:.2}")).collect();
        format!(
            concat!(
                "{{\"pings\":{},\"answered\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},",
                "\"max_us\":{:.1},\"timeouts\":{},\"late\":{},\"lost\":{},\"blocked\":{},\"missed_ticks\":{},\"greedy_mb_per_s\":{:.2},",
                "\"greedy_each_mb_per_s\":[{}],\"greedy_sent_mb_per_s\":{:.2},\"idle_p50_us\":{:.1},",
                "\"errors\":{},\"secs\":{},\"warmup\":{},\"greedy\":{},\"block\":{},\"interval_us\":{},",
                "\"timeout_ms\":{},\"greedy_nice\":{},\"elapsed_s\":{:.3}}}"
            ),
            self.pings,
            self.rtt_ns.len(),
            self.pct_us(0.5),
            self.pct_us(0.99),
            self.pct_us(0.999),
            self.pct_us(1.0),
            self.late + self.lost,
            self.late,
            self.lost,
            self.blocked,
            self.missed,
            self.greedy_mbs.iter().sum::<f64>(),
            each.join(","),
            self.greedy_sent_mbs,
            self.idle_p50_us(),
            self.errors,
            cfg.secs,
            cfg.warmup,
            cfg.greedy,
            cfg.block,
            cfg.interval.as_micros(),
            cfg.timeout.as_millis(),
            cfg.greedy_nice,
            self.elapsed.as_secs_f64(),
        )
    }

    fn human(&self, cfg: &Config) -> String {
        let each: Vec<String> = self.greedy_mbs.iter().map(|m| format!("{m:.1}")).collect();
        format!(
            "ping every {} us: {} pings, rtt p50 {:.1} us, p99 {:.1} us, max {:.1} us, timeouts {} \
             (late {}, lost {}), ticks missed {} (write blocked {}) | greedy {} x {} B: {:.1} MB/s echoed ({}) | idle rtt p50 {:.1} us | \
             errors {} | {:.2} s",
            cfg.interval.as_micros(),
            self.pings,
            self.pct_us(0.5),
            self.pct_us(0.99),
            self.pct_us(1.0),
            self.late + self.lost,
            self.late,
            self.lost,
            self.missed,
            self.blocked,
            cfg.greedy,
            cfg.block,
            self.greedy_mbs.iter().sum::<f64>(),
            each.join(" + "),
            self.idle_p50_us(),
            self.errors,
            self.elapsed.as_secs_f64(),
        )
    }
}
