//! soak: a bounded load test for `async_echo`: long-lived echo connections
//! plus connection churn, watching the server's fds and memory over time.
//!
//! The server runs as a child process (the `async_echo` built next to this
//! binary), so its open fds and resident memory can be read from
//! `/proc/PID`, apart from the load, which runs here: one task per
//! long-lived connection and a few tasks opening, using and closing
//! connections as fast as they can, all on one thread.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::cli::{self, Args, Error, Long};
use net::TcpStream;
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use runtime::time::{sleep, sleep_until, timeout};

const USAGE: cli::Usage = cli::Usage {
    name: "soak",
    text: "\
usage: soak [--secs N] [--warmup-secs N] [--every N] [--long N] [--period-ms MS]
            [--churners N] [--addr HOST:PORT [--pid PID]] [--server PATH]

Runs async_echo (from this binary's directory, --quiet, on 127.0.0.1:0)
under load for a bounded time: N long-lived connections, each sending a
small message every period and checking its echo, plus churners that
connect, echo one message and close (with a reset: SO_LINGER 0, so no
TIME_WAIT piles up on the ephemeral ports) as fast as they can.

Every interval it prints one line: churn connections/s, echoes/s, errors,
open long-lived connections, and the server's fds and resident memory
(VmRSS). The first line comes after the warm-up; the last is a summary.

Exit status: 0 if there were no errors and the server's RSS at the end is
at most 20% above its RSS after the warm-up; 1 otherwise; 2 on bad usage.

options:
  --secs N          total run time in seconds, warm-up included (default 60)
  --warmup-secs N   seconds before the baseline is taken (default 5)
  --every N         seconds between report lines (default 5)
  --long N          long-lived connections (default 1000)
  --period-ms MS    how often each long-lived connection echoes (default 1000)
  --churners N      tasks doing connect-echo-close in a loop (default 4)
  --addr HOST:PORT  load an already running server instead of starting one
  --pid PID         that server's process id, for its fds and RSS (with --addr)
  --server PATH     the async_echo binary to start (default: next to this one)
  --help            show this help
",
};

/// Most the server's RSS may grow after the warm-up, in percent.
const MAX_RSS_GROWTH_PERCENT: u64 = 20;
/// Every single connect, write or read must finish within this.
const IO_LIMIT: Duration = Duration::from_secs(5);
/// Errors whose message is printed; later ones are only counted.
const PRINTED_ERRORS: usize = 5;

#[derive(Clone, Debug)]
struct Options {
    secs: u64,
    warmup: u64,
    every: u64,
    long: usize,
    period: Duration,
    churners: usize,
    addr: Option<String>,
    pid: Option<u32>,
    server: Option<PathBuf>,
}

fn parse(args: &mut Args) -> Result<Options, Error> {
    let mut opts = Options {
        secs: 60,
        warmup: 5,
        every: 5,
        long: 1000,
        period: Duration::from_millis(1000),
        churners: 4,
        addr: None,
        pid: None,
        server: None,
    };
    while let Some(arg) = args.next()? {
        match arg {
            Long("secs") => opts.secs = args.parsed()?,
            Long("warmup-secs") => opts.warmup = args.parsed()?,
            Long("every") => opts.every = args.parsed()?,
            Long("long") => opts.long = args.parsed()?,
            Long("period-ms") => opts.period = args.millis()?,
            Long("churners") => opts.churners = args.parsed()?,
            Long("addr") => opts.addr = Some(args.string()?),
            Long("pid") => opts.pid = Some(args.parsed()?),
            Long("server") => opts.server = Some(args.value()?.into()),
            _ => return Err(arg.unexpected()),
        }
    }
    if opts.secs <= opts.warmup {
        return Err(format!("--secs {} must exceed --warmup-secs {}", opts.secs, opts.warmup).into());
    }
    if opts.every == 0 || opts.period.is_zero() {
        return Err("--every and --period-ms must be positive".into());
    }
    if opts.pid.is_some() && opts.addr.is_none() {
        return Err("--pid goes with --addr".into());
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match USAGE.parse(parse) {
        Ok(opts) => opts,
        Err(exit) => return exit,
    };
    match run(opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server child process, killed and reaped on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `async_echo --quiet --addr 127.0.0.1:0` and reads its address.
fn start_server(path: Option<PathBuf>) -> io::Result<(Server, SocketAddr)> {
    let path = match path {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name(format!("async_echo{}", std::env::consts::EXE_SUFFIX)),
    };
    let child = Command::new(&path)
        .args(["--quiet", "--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("starting {}: {e} (cargo build -p examples)", path.display())))?;
    let mut server = Server(child);
    let stdout = server.0.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
    // The server prints its address at once, or exits (EOF).
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let (addr, _backend) = cli::parse_announcement(&line)
        .ok_or_else(|| io::Error::other(format!("unexpected first line from the server: {line:?}")))?;
    Ok((server, addr))
}

fn run(opts: Options) -> io::Result<bool> {
    let (_server, addr, pid) = match &opts.addr {
        Some(a) => {
            let addr = a.parse().map_err(|e| io::Error::other(format!("--addr {a:?}: {e}")))?;
            (None, addr, opts.pid)
        }
        None => {
            let (server, addr) = start_server(opts.server.clone())?;
            let pid = server.0.id();
            (Some(server), addr, Some(pid))
        }
    };
    println!(
        "soak: {} s ({} s warm-up) against {addr}: {} long-lived connections every {} ms, {} churners",
        opts.secs,
        opts.warmup,
        opts.long,
        opts.period.as_millis(),
        opts.churners
    );
    runtime::block_on(soak(addr, pid, opts))
}

/// Counters shared by the load tasks.
#[derive(Debug, Default)]
struct Stats {
    /// Completed connect-echo-close cycles.
    churned: AtomicU64,
    /// Completed echoes on long-lived connections.
    echoes: AtomicU64,
    /// Failed connects, reads, writes, wrong echoes and timeouts.
    errors: AtomicU64,
    /// Long-lived connections open now.
    open: AtomicU64,
    /// Set when the load should stop.
    stop: AtomicBool,
}

impl Stats {
    fn error(&self, what: &str, e: &io::Error) {
        if (self.errors.fetch_add(1, Relaxed) as usize) < PRINTED_ERRORS {
            eprintln!("soak: {what}: {e}");
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }
}

/// Runs `f` with the [`IO_LIMIT`].
async fn limited<T>(what: &str, f: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    match timeout(IO_LIMIT, f).await {
        Ok(res) => res,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} took over {IO_LIMIT:?}"))),
    }
}

/// Writes `msg` and checks that it comes back.
async fn echo(stream: &mut TcpStream, msg: &[u8], back: &mut Vec<u8>) -> io::Result<()> {
    limited("write", stream.write_all(msg)).await?;
    back.resize(msg.len(), 0);
    limited("read", stream.read_exact(back)).await?;
    if back != msg {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the echo differs from the message"));
    }
    Ok(())
}

/// Makes `close` reset the connection instead of a FIN exchange
/// (`SO_LINGER` with a zero timeout, socket(7)), so that the closing side
/// keeps no TIME_WAIT entry on its ephemeral port.
fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the fd is open while `stream` is borrowed, and the kernel reads
    // exactly `size_of::<linger>()` bytes from the valid `linger` value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Connect, echo one message, close; again until stopped.
async fn churn(addr: SocketAddr, id: usize, stats: Arc<Stats>) {
    let msg = format!("churner {id}: connect, echo, close\n").into_bytes();
    let mut back = Vec::new();
    while !stats.stopped() {
        let cycle = async {
            let mut stream = limited("connect", TcpStream::connect(addr)).await?;
            set_linger_zero(&stream)?;
            echo(&mut stream, &msg, &mut back).await
        };
        match cycle.await {
            Ok(()) => {
                stats.churned.fetch_add(1, Relaxed);
            }
            Err(e) => {
                stats.error("churn", &e);
                // Do not turn a persistent failure into a busy loop.
                sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One long-lived connection: a small message every `period`, starting
/// after `offset` (so that the connections spread over the period);
/// reconnects after an error.
async fn long_lived(addr: SocketAddr, id: usize, offset: Duration, period: Duration, stats: Arc<Stats>) {
    let mut next = Instant::now() + offset;
    let mut seq = 0u64;
    let mut back = Vec::new();
    while !stats.stopped() {
        sleep_until(next).await;
        let mut stream = match limited("connect", TcpStream::connect(addr)).await {
            Ok(s) => s,
            Err(e) => {
                stats.error("long-lived connect", &e);
                next = Instant::now() + period;
                continue;
            }
        };
        stats.open.fetch_add(1, Relaxed);
        while !stats.stopped() {
            seq += 1;
            let msg = format!("long-lived {id} message {seq}\n");
            if let Err(e) = echo(&mut stream, msg.as_bytes(), &mut back).await {
                stats.error("long-lived echo", &e);
                break;
            }
            stats.echoes.fetch_add(1, Relaxed);
            next += period;
            sleep_until(next).await;
        }
        stats.open.fetch_sub(1, Relaxed);
        next = Instant::now() + period;
    }
}

/// The server's open fds and resident memory, if it can be watched.
#[derive(Clone, Copy, Debug)]
struct Usage {
    fds: usize,
    rss_kib: u64,
}

fn usage(pid: Option<u32>) -> Option<Usage> {
    let pid = pid?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())?;
    Some(Usage { fds, rss_kib })
}

fn show(usage: Option<Usage>) -> String {
    match usage {
        Some(u) => format!("server fds {:5}  rss {:7.1} MiB", u.fds, u.rss_kib as f64 / 1024.0),
        None => "server fds     -  rss       - MiB".to_owned(),
    }
}

/// Counter values at one instant, for rates over an interval.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    churned: u64,
    echoes: u64,
    errors: u64,
}

impl Sample {
    fn take(stats: &Stats) -> Sample {
        Sample {
            at: Instant::now(),
            churned: stats.churned.load(Relaxed),
            echoes: stats.echoes.load(Relaxed),
            errors: stats.errors.load(Relaxed),
        }
    }

    /// `(churn/s, echoes/s)` from `earlier` to `self`.
    fn rates(&self, earlier: &Sample) -> (f64, f64) {
        let secs = (self.at - earlier.at).as_secs_f64().max(1e-9);
        ((self.churned - earlier.churned) as f64 / secs, (self.echoes - earlier.echoes) as f64 / secs)
    }
}

async fn soak(addr: SocketAddr, pid: Option<u32>, opts: Options) -> io::Result<bool> {
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for id in 0..opts.long {
        let offset = opts.period.mul_f64(id as f64 / opts.long as f64);
        tasks.push(runtime::spawn(long_lived(addr, id, offset, opts.period, stats.clone())));
    }
    for id in 0..opts.churners {
        tasks.push(runtime::spawn(churn(addr, id, stats.clone())));
    }
    let line = |label: String, now: &Sample, earlier: &Sample, usage: Option<Usage>| {
        let (churn, echoes) = now.rates(earlier);
        println!(
            "{label}  churn {churn:7.0} conn/s  echoes {echoes:6.0}/s  errors {:3}  long-lived open {:5}  {}",
            now.errors,
            stats.open.load(Relaxed),
            show(usage)
        );
    };

    let mut earlier = Sample::take(&stats);
    sleep_until(start + Duration::from_secs(opts.warmup)).await;
    let warm = Sample::take(&stats);
    let warm_usage = usage(pid);
    line(format!("{:6.1}s warm", start.elapsed().as_secs_f64()), &warm, &earlier, warm_usage);
    earlier = warm;
    let end = start + Duration::from_secs(opts.secs);
    let mut next = start + Duration::from_secs(opts.warmup + opts.every);
    // The final interval may be shorter; the loop ends at `end`.
    loop {
        let tick = next.min(end);
        sleep_until(tick).await;
        let now = Sample::take(&stats);
        line(format!("{:6.1}s     ", start.elapsed().as_secs_f64()), &now, &earlier, usage(pid));
        earlier = now;
        if tick >= end {
            break;
        }
        next += Duration::from_secs(opts.every);
    }
    let end_usage = usage(pid);
    let last = Sample::take(&stats);
    stats.stop.store(true, Relaxed);
    for t in tasks {
        t.abort();
    }

    let (churn, echoes) = last.rates(&warm);
    let secs = (last.at - warm.at).as_secs_f64();
    println!(
        "summary: {secs:.1} s after warm-up: {} churn connections ({churn:.0}/s), {} long-lived echoes ({echoes:.0}/s), {} errors",
        last.churned - warm.churned,
        last.echoes - warm.echoes,
        last.errors
    );
    let mut ok = last.errors == 0;
    match (warm_usage, end_usage) {
        (Some(w), Some(e)) => {
            let growth = (e.rss_kib as f64 / w.rss_kib.max(1) as f64 - 1.0) * 100.0;
            let rss_ok = e.rss_kib * 100 <= w.rss_kib * (100 + MAX_RSS_GROWTH_PERCENT);
            println!("summary: server fds {} after warm-up, {} at the end", w.fds, e.fds);
            println!(
                "summary: server rss {} KiB after warm-up, {} KiB at the end ({growth:+.1}%, limit +{MAX_RSS_GROWTH_PERCENT}%): {}",
                w.rss_kib, e.rss_kib,
                if rss_ok { "ok" } else { "GREW" }
            );
            ok &= rss_ok;
        }
        _ => println!("summary: server fds and rss unknown (give --pid with --addr)"),
    }
    println!("summary: {}", if ok { "PASS" } else { "FAIL" });
    Ok(ok)
}
