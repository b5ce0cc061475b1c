//! http_fanout: 10,000 concurrent HTTP requests against a 1 s delay server,
//! from a weft client and from the same client on tokio's current-thread
//! runtime, in the same run.
//!
//! `cargo bench -p benches --bench http_fanout [-- --requests N] [--delay-ms MS] [--rounds R]`
//!
//! The server is the `delay_server` example, built with this bench's cargo
//! and profile and run as a separate process (or the binary named by
//! `HTTP_FANOUT_SERVER`); each client run is this binary re-executed with
//! `HTTP_FANOUT_CHILD` set. So every side's peak RSS (`VmHWM`) is its own:
//! each sample gets a fresh server and a fresh client process. Rounds
//! alternate which runtime goes first.
//!
//! Every request is its own connection (`Connection: close`), all started
//! at once: the total is one delay plus the cost of 10,000 connects,
//! accepts, timers and responses on one thread per side; the target is at
//! most 1.3 s. `N` is capped below `ulimit -n`.
//!
//! Each sample line shows the wall time, when the last connection was
//! established (the rest is the delay and the answers), and each side's
//! peak RSS and CPU time (user + system); a summary per client follows.

use std::future::Future;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use benches::Samples;

/// Selects the child mode: `weft` or `tokio`.
const CHILD_ENV: &str = "HTTP_FANOUT_CHILD";
/// The server's address, for a child.
const ADDR_ENV: &str = "HTTP_FANOUT_ADDR";
/// How many requests a child sends.
const REQUESTS_ENV: &str = "HTTP_FANOUT_REQUESTS";
/// A prebuilt `delay_server` to use instead of building one.
const SERVER_ENV: &str = "HTTP_FANOUT_SERVER";

const DEFAULT_REQUESTS: usize = 10_000;
const DEFAULT_DELAY_MS: u64 = 1000;
const DEFAULT_ROUNDS: usize = 3;
/// The goal for the whole fan-out with a 1 s delay.
const TARGET: Duration = Duration::from_millis(1300);
/// File descriptors kept free besides one per connection.
const FD_MARGIN: usize = 64;
/// Longest a server start or a client run may take.
const PATIENCE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let res = match std::env::var(CHILD_ENV) {
        Ok(runtime) => child(&runtime),
        // `cargo bench` passes `--bench`; anything else (`cargo test
        // --benches`, a stray run) only checks that the binary starts.
        Err(_) if !std::env::args().any(|a| a == "--bench") => {
            println!("http_fanout: run with `cargo bench -p benches --bench http_fanout`");
            return ExitCode::SUCCESS;
        }
        Err(_) => parent(),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_fanout: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    requests: usize,
    delay_ms: u64,
    rounds: usize,
}

fn options() -> io::Result<Options> {
    let mut opts = Options { requests: DEFAULT_REQUESTS, delay_ms: DEFAULT_DELAY_MS, rounds: DEFAULT_ROUNDS };
    let mut args = std::env::args().skip(1);
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next().and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| bad(format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--requests" => opts.requests = value("--requests")? as usize,
            "--delay-ms" => opts.delay_ms = value("--delay-ms")?,
            "--rounds" => opts.rounds = value("--rounds")? as usize,
            // `cargo bench` passes `--bench`; filters are not used here.
            "--bench" => {}
            other if other.starts_with("--") => return Err(bad(format!("unknown option {other}"))),
            _ => {}
        }
    }
    if opts.requests == 0 || opts.rounds == 0 {
        return Err(bad("--requests and --rounds must be at least 1".to_owned()));
    }
    Ok(opts)
}

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits`.
fn fd_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One sample: a fresh server, one client run.
struct Sample {
    wall: f64,
    /// When the last connection was established, from the start.
    connected: f64,
    client_kib: Option<u64>,
    server_kib: Option<u64>,
    /// CPU time (user + system) of each process over its life, in seconds.
    client_cpu: Option<f64>,
    server_cpu: Option<f64>,
}

fn parent() -> io::Result<()> {
    let mut opts = options()?;
    if let Some(limit) = fd_limit() {
        if opts.requests + FD_MARGIN > limit {
            let capped = limit.saturating_sub(FD_MARGIN).max(1);
            println!("# ulimit -n is {limit}: {} requests capped to {capped}", opts.requests);
            opts.requests = capped;
        }
    }
    let server = server_binary()?;
    println!(
        "# http_fanout: {} concurrent requests, one connection each, against delay_server --delay-ms {} \
         (separate process); {} rounds, alternating order",
        opts.requests, opts.delay_ms, opts.rounds
    );
    let runtimes = ["weft", "tokio"];
    let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=opts.rounds {
        let order = if round % 2 == 1 { [0, 1] } else { [1, 0] };
        for i in order {
            let s = sample(&server, runtimes[i], &opts)?;
            println!(
                "round {round}: {:<5} {:>9} (all connected after {:>9})  client: peak {:>8}, cpu {:>7}  \
                 server: peak {:>8}, cpu {:>7}",
                runtimes[i],
                format_secs(s.wall),
                format_secs(s.connected),
                kib(s.client_kib),
                secs(s.client_cpu),
                kib(s.server_kib),
                secs(s.server_cpu),
            );
            samples[i].push(s);
        }
    }
    println!(
        "\n{:<7} {:>26}  {:>15}  {:>15}",
        "client", "wall: median (min..max)", "client peak RSS", "server peak RSS"
    );
    for (name, runs) in runtimes.iter().zip(&samples) {
        let wall: Samples = runs.iter().map(|s| s.wall).collect();
        let client: Samples = runs.iter().filter_map(|s| s.client_kib).map(|k| k as f64).collect();
        let server: Samples = runs.iter().filter_map(|s| s.server_kib).map(|k| k as f64).collect();
        println!(
            "{name:<7} {:>26}  {:>15}  {:>15}",
            format!("{} ({}..{})", format_secs(wall.median()), format_secs(wall.min()), format_secs(wall.max())),
            format_kib(client.median()),
            format_kib(server.median()),
        );
    }
    if opts.delay_ms == DEFAULT_DELAY_MS && opts.requests == DEFAULT_REQUESTS {
        let weft: Samples = samples[0].iter().map(|s| s.wall).collect();
        let verdict = if weft.median() <= TARGET.as_secs_f64() { "met" } else { "missed" };
        println!("target: weft total <= {} with a 1 s delay: {verdict}", format_secs(TARGET.as_secs_f64()));
    }
    Ok(())
}

fn kib(k: Option<u64>) -> String {
    k.map_or_else(|| "n/a".to_owned(), |k| format_kib(k as f64))
}

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "n/a".to_owned(), format_secs)
}

fn format_secs(secs: f64) -> String {
    format!("{secs:.3} s")
}

fn format_kib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// Starts a fresh server, runs one client child against it, and reads both peaks.
fn sample(server: &PathBuf, runtime: &str, opts: &Options) -> io::Result<Sample> {
    let mut cmd = Command::new(server);
    cmd.args(["--addr", "127.0.0.1:0", "--delay-ms", &opts.delay_ms.to_string()]);
    let (server, server_out) = spawn(&mut cmd)?;
    let line =
        server_out.recv_timeout(PATIENCE).map_err(|_| io::Error::other("delay_server did not announce its address"))?;
    let addr: SocketAddr = line
        .strip_prefix("listening on ")
        // `listening on ADDR (BACKEND)`: the address is the first word.
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected line from delay_server: {line:?}")))?;

    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.env(CHILD_ENV, runtime).env(ADDR_ENV, addr.to_string()).env(REQUESTS_ENV, opts.requests.to_string());
    let (client, client_out) = spawn(&mut cmd)?;
    let report = client_out
        .recv_timeout(PATIENCE)
        .map_err(|_| io::Error::other(format!("the {runtime} client gave no report within {PATIENCE:?}")))?;
    let server_kib = vm_hwm_kib(server.0.id());
    let server_cpu = cpu_secs(server.0.id());
    drop(client);
    drop(server);
    // The child prints `ok SECONDS CONNECTED_SECONDS PEAK_KIB CPU_SECONDS` or `error MESSAGE`.
    let bad = || io::Error::other(format!("bad report {report:?}"));
    let words: Vec<&str> = report.split_whitespace().collect();
    match words.as_slice() {
        ["ok", wall, connected, peak, cpu] => Ok(Sample {
            wall: wall.parse().map_err(|_| bad())?,
            connected: connected.parse().map_err(|_| bad())?,
            client_kib: peak.parse().ok().filter(|&k| k > 0),
            server_kib,
            client_cpu: cpu.parse().ok().filter(|&c| c >= 0.0),
            server_cpu,
        }),
        _ => Err(io::Error::other(format!("{runtime} client: {report}"))),
    }
}

/// A child process killed and reaped on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` with its stdout lines sent to a channel by a helper thread.
fn spawn(cmd: &mut Command) -> io::Result<(Killed, mpsc::Receiver<String>)> {
    let mut child = Killed(cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?);
    let stdout = child.0.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((child, rx))
}

/// User plus system CPU time of process `pid` so far, in seconds
/// (`utime` and `stime` in `/proc/PID/stat`, in USER_HZ = 100 ticks).
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which ends at the last ')': state is field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Peak RSS of process `pid` in KiB (`VmHWM` in `/proc/PID/status`).
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `delay_server` binary: `HTTP_FANOUT_SERVER`, or built next to this
/// bench with the same cargo and profile.
fn server_binary() -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(SERVER_ENV) {
        return Ok(path.into());
    }
    // Benches run from `<target>/<profile>/deps/`.
    let exe = std::env::current_exe()?;
    let not_found =
        || io::Error::other(format!("{} is not in <target>/<profile>/deps; set {SERVER_ENV}", exe.display()));
    let profile_dir = exe.parent().filter(|d| d.ends_with("deps")).and_then(|d| d.parent()).ok_or_else(not_found)?;
    let target_dir = profile_dir.parent().ok_or_else(not_found)?;
    let profile = match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") => "dev",
        Some("release") => "release",
        _ => return Err(not_found()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let status = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "-p", "examples", "--bin", "delay_server", "--profile", profile])
        .arg("--target-dir")
        .arg(target_dir)
        .stdin(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!("building delay_server failed ({status})")));
    }
    let path = profile_dir.join("delay_server");
    if !path.is_file() {
        return Err(io::Error::other(format!("cargo built delay_server, but not at {}", path.display())));
    }
    Ok(path)
}

/// Child mode: sends the requests with one runtime and prints
/// `ok SECONDS CONNECTED_SECONDS PEAK_KIB CPU_SECONDS`, or `error MESSAGE`.
fn child(runtime: &str) -> io::Result<()> {
    let addr: SocketAddr = std::env::var(ADDR_ENV)
        .ok()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::other(format!("{ADDR_ENV} is not an address")))?;
    let requests: usize = std::env::var(REQUESTS_ENV)
        .ok()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other(format!("{REQUESTS_ENV} is not a number")))?;
    let request: Arc<[u8]> = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes().into();
    let res = match runtime {
        "weft" => {
            let rt = runtime::Runtime::new()?;
            rt.block_on(fan_out(requests, |_| {
                let request = request.clone();
                let task = runtime::spawn(weft_get(addr, request));
                async move { task.await.map_err(io::Error::other)? }
            }))
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(fan_out(requests, |_| {
                let request = request.clone();
                let task = tokio::spawn(tokio_get(addr, request));
                async move { task.await.map_err(io::Error::other)? }
            }))
        }
        other => return Err(io::Error::other(format!("unknown runtime {other:?}"))),
    };
    match res {
        Ok((wall, connected)) => println!(
            "ok {:.6} {:.6} {} {}",
            wall.as_secs_f64(),
            connected.as_secs_f64(),
            vm_hwm_kib(std::process::id()).unwrap_or(0),
            cpu_secs(std::process::id()).unwrap_or(-1.0)
        ),
        Err(e) => println!("error {e}"),
    }
    Ok(())
}

/// Starts `n` requests at once (`start(i)` spawns request `i` and returns
/// its completion: the status and when it connected), waits for all, and
/// checks every answer is `200`. Returns the wall time and when the last
/// connection was made.
async fn fan_out<F, Fut>(n: usize, mut start: F) -> io::Result<(Duration, Duration)>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = io::Result<(u16, Instant)>>,
{
    let began = Instant::now();
    let pending: Vec<Fut> = (0..n).map(&mut start).collect();
    let mut failures = 0;
    let mut first = None;
    let mut connected = began;
    for p in pending {
        match p.await {
            Ok((200, at)) => connected = connected.max(at),
            Ok((status, _)) => {
                failures += 1;
                first.get_or_insert_with(|| format!("status {status}"));
            }
            Err(e) => {
                failures += 1;
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let wall = began.elapsed();
    match first {
        None => Ok((wall, connected - began)),
        Some(e) => Err(io::Error::other(format!("{failures} of {n} requests failed; first: {e}"))),
    }
}

/// One request's exchange on weft.
async fn weft_get(addr: SocketAddr, request: Arc<[u8]>) -> io::Result<(u16, Instant)> {
    use runtime::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = net::TcpStream::connect(addr).await?;
    let connected = Instant::now();
    stream.write_all(&request).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        let n = stream.read(&mut chunk).await?;
        if let Some(status) = response_complete(&mut buf, &chunk[..n])? {
            return Ok((status, connected));
        }
    }
}

/// The same exchange on tokio.
async fn tokio_get(addr: SocketAddr, request: Arc<[u8]>) -> io::Result<(u16, Instant)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let connected = Instant::now();
    stream.write_all(&request).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        let n = stream.read(&mut chunk).await?;
        if let Some(status) = response_complete(&mut buf, &chunk[..n])? {
            return Ok((status, connected));
        }
    }
}

/// Appends `data` (empty at end of stream) and returns the status once
/// the response (head and `Content-Length` body) is complete. Runtime
/// independent, so both clients do exactly the same work.
fn response_complete(buf: &mut Vec<u8>, data: &[u8]) -> io::Result<Option<u16>> {
    let malformed = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("malformed response: {why}"));
    if data.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the response ended"));
    }
    buf.extend_from_slice(data);
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| malformed("not UTF-8"))?;
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| malformed("bad status line"))?;
    let length: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .ok_or_else(|| malformed("no Content-Length"))?;
    Ok((buf.len() >= head_end + 4 + length).then_some(status))
}
