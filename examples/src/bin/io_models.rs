//! io_models: one echo load, seven ways to write the server, measured side
//! by side: the lessons of the other learner examples, as numbers.
//!
//! See it for yourself:
//!
//! ```text
//! cargo run --release -p examples --bin io_models              # about 90 s
//! cargo run --release -p examples --bin io_models -- --quick   # about 15 s
//! ```
//!
//! Each model is another example, started as an echo server in its own
//! child process (the command is printed, so you can poke at it yourself):
//!
//! ```text
//! blocking    blocking_echo                  one thread, one client at a time
//! threads     blocking_echo --threads        a thread per client
//! busy-poll   busy_poll_echo                 non-blocking sockets, asked in a loop that never sleeps
//! select      callback_echo --poller select  callbacks on an event loop that waits in select(2)
//! poll        callback_echo --poller poll    the same, waiting in poll(2)
//! epoll       callback_echo                  the same, waiting in epoll_wait(2) (kqueue on macOS/BSD)
//! weft        async_echo                     coroutines: a task per client, on weft's epoll loop
//! weft-all    async_echo --threads 0         the same, with a loop per core (thread-per-core)
//! ```
//!
//! For each number of concurrent clients N (1, 10, 100, 1,000), every
//! server gets the same load from a load generator in this process: first
//! N clients connect, then K idle connections (`--idle`, default 100, as a
//! real server has) that never say a word; then, after a silent window
//! that shows what the server costs when nobody talks, the N clients play
//! request-response ping-pong with 64-byte messages for a window. One table
//! per N: round trips per second, the 99th percentile round trip, how many
//! clients got any answer at all, and the server's CPU (during the load,
//! per message, and while silent), memory (RSS) and threads, read from
//! `/proc/PID` (Linux). A model that cannot serve at some N says why
//! instead of giving numbers. The same numbers are plotted against N on
//! log axes, in an SVG file whose path is printed at the end.
//!
//! What to look for (your numbers will differ, the shapes should not):
//!
//! - blocking: `served` stays at 1: one client is served, every other one
//!   waits in the kernel's accept queue, so more clients bring no more
//!   throughput.
//! - threads: everyone is served, but `threads` and `RSS` grow with N: a
//!   kernel thread, with its stack, per client, idle or not.
//! - busy-poll: `idle CPU %` near 100 with nobody talking: it never sleeps.
//! - select: it cannot even hold N = 1,000 clients plus 100 idle
//!   connections: an `fd_set` has FD_SETSIZE (1024) bits, one per fd
//!   number, so fd 1024 cannot be named. It says so instead of a number.
//! - poll (and select): `CPU µs/msg` grows with the number of connections,
//!   because every wait hands the kernel the whole list and scans it all
//!   (try `--idle 1000`); epoll's and weft's stay flat.
//! - epoll callbacks and weft cost about the same: weft *is* an epoll loop.
//!   What it adds is code that reads top to bottom (compare `async_echo`
//!   with `callback_echo`).
//!
//! On a small machine the load generator shares the cores with the server,
//! so `msgs/s` says as much about the machine as about the model: compare
//! `CPU µs/msg`. On one busy 2-core virtual machine, N = 1,000:
//!
//! ```text
//! model                       served    msgs/s   p99 µs  CPU %  CPU µs/msg  idle CPU %  RSS MiB  threads
//! blocking, 1 at a time      1/1,000   131,389       12     43         3.3           0      2.1        1
//! thread per client      1,000/1,000   142,194   41,531    104         7.3           0     29.6     1101
//! busy-poll              1,000/1,000   124,508   15,053     46         3.7          98      2.2        1
//! select callbacks       cannot serve: select: fd 1024 ≥ FD_SETSIZE (1024): an fd_set has no bit for it
//! poll callbacks         1,000/1,000   115,582   16,626     46         4.0           0      2.3        1
//! epoll callbacks        1,000/1,000   108,449   38,495     46         4.3           0      2.2        1
//! weft coroutines        1,000/1,000   135,387   16,094     42         3.1           0      2.7        1
//! ```
//!
//! and one client among 1,000 idle connections (`--quick --clients 1 --idle 1000`):
//!
//! ```text
//! select callbacks               1/1     7,490      335     90       120.2           0      2.3        1
//! poll callbacks                 1/1     5,743      372     97       168.3           0      2.3        1
//! epoll callbacks                1/1    43,560       35     40         9.2           0      2.3        1
//! weft coroutines                1/1    54,297       36     43         8.0           0      2.7        1
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use examples::cli::{thousands, Args, Error, Long, Usage};
use examples::measure::load::{Load, Report, MESSAGE_LEN};
use examples::measure::plot::{svg, Panel, Series};
use examples::measure::procfs::{cpu_ticks, rss_kib, threads_of, ticks_per_second};
use examples::measure::raise_fd_limit;
use examples::measure::server::{Layout, ServerProcess};

const USAGE: Usage = Usage {
    name: "io_models",
    text: "\
usage: io_models [--quick] [--clients LIST] [--idle K] [--models LIST] [--svg PATH] [--tsv PATH]
                 [--secs S] [--idle-secs S] [--load-threads T]

Runs each I/O model (another example, as an echo server in its own child
process) under the same echo load, for each number of concurrent clients,
and prints a table per number: round trips per second, p99 latency,
clients served, server CPU, memory and threads. Writes an SVG plot of
throughput and p99 latency against the number of clients.

options:
  --quick           shorter windows and fewer clients (1,10,100): about 15 s instead of 90 s
  --clients LIST    numbers of concurrent clients (default 1,10,100,1000)
  --idle K          idle connections held open alongside the clients (default 100)
  --models LIST     which models to run (default all): blocking, threads, busy-poll,
                    select, poll, epoll (kqueue on macOS and BSD), weft
  --svg PATH        where to write the plot (default io_models.svg in the target directory)
  --tsv PATH        also write the results there, one tab-separated line per model and N
  --secs S          how long the clients ping-pong, per model and N (default 2; --quick 0.3)
  --idle-secs S     how long the server is watched while everybody is silent (default 0.5;
                    --quick 0.2)
  --load-threads T  threads of the load generator (default: one per core, at most 4)
  --help            show this help
",
};

/// This system's own poller, as `callback_echo` calls it.
const NATIVE: &str = if cfg!(any(target_os = "linux", target_os = "android")) { "epoll" } else { "kqueue" };

/// How long a server may take to start and announce its address.
const START_PATIENCE: Duration = Duration::from_secs(10);

/// Most round trips one client makes in a window: a bound in count, on
/// top of the window's bound in time.
const MAX_ROUND_TRIPS: u64 = 1_000_000;

/// fds this process and each server need beyond one per connection.
const SPARE_FDS: usize = 64;

/// One way to write the server: an example binary and its arguments.
#[derive(Clone, Debug)]
struct Model {
    /// Its name on the command line and in the TSV.
    key: &'static str,
    /// Its name in the tables and the plot.
    label: &'static str,
    bin: &'static str,
    args: &'static [&'static str],
}

/// Every model, in the order of the learner examples.
fn models() -> Vec<Model> {
    let native_label = if NATIVE == "epoll" { "epoll callbacks" } else { "kqueue callbacks" };
    vec![
        Model { key: "blocking", label: "blocking, 1 at a time", bin: "blocking_echo", args: &["--quiet"] },
        Model { key: "threads", label: "thread per client", bin: "blocking_echo", args: &["--threads", "--quiet"] },
        Model { key: "busy-poll", label: "busy-poll", bin: "busy_poll_echo", args: &["--quiet"] },
        Model {
            key: "select",
            label: "select callbacks",
            bin: "callback_echo",
            args: &["--poller", "select", "--quiet"],
        },
        Model { key: "poll", label: "poll callbacks", bin: "callback_echo", args: &["--poller", "poll", "--quiet"] },
        Model { key: NATIVE, label: native_label, bin: "callback_echo", args: &["--quiet"] },
        Model { key: "weft", label: "weft coroutines", bin: "async_echo", args: &["--quiet"] },
        // The same coroutines on every core: one event loop per thread.
        Model {
            key: "weft-all",
            label: "weft, a loop per core",
            bin: "async_echo",
            args: &["--threads", "0", "--quiet"],
        },
    ]
}

/// What to run, from the command line.
#[derive(Debug)]
struct Options {
    clients: Vec<usize>,
    idle: usize,
    models: Vec<Model>,
    svg: PathBuf,
    tsv: Option<PathBuf>,
    window: Duration,
    idle_window: Duration,
    connect_timeout: Duration,
    load_threads: usize,
}

fn main() -> ExitCode {
    let opts = match USAGE.parse(parse_options) {
        Ok(opts) => opts,
        Err(exit) => return exit,
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("io_models: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The options, from the command line.
fn parse_options(args: &mut Args) -> Result<Options, Error> {
    let (mut quick, mut clients, mut chosen, mut window, mut idle_window) = (false, None, None, None, None);
    let (mut idle, mut svg, mut tsv, mut load_threads) = (100, None, None, default_load_threads());
    while let Some(arg) = args.next()? {
        match arg {
            Long("quick") => quick = true,
            Long("clients") => clients = Some(list(&args.string()?, "--clients")?),
            Long("idle") => idle = args.parsed()?,
            Long("models") => chosen = Some(chosen_models(&args.string()?)?),
            Long("svg") => svg = Some(PathBuf::from(args.value()?)),
            Long("tsv") => tsv = Some(PathBuf::from(args.value()?)),
            Long("secs") => window = Some(args.secs()?),
            Long("idle-secs") => idle_window = Some(args.secs()?),
            Long("load-threads") => load_threads = args.parsed()?,
            _ => return Err(arg.unexpected()),
        }
    }
    let clients = clients.unwrap_or_else(|| if quick { vec![1, 10, 100] } else { vec![1, 10, 100, 1000] });
    if clients.contains(&0) {
        return Err("--clients: every number must be at least 1".into());
    }
    let svg = svg.unwrap_or_else(|| {
        Layout::of_current_exe().map_or_else(|_| "io_models.svg".into(), |l| l.target_dir.join("io_models.svg"))
    });
    Ok(Options {
        clients,
        idle,
        models: chosen.unwrap_or_else(models),
        svg,
        tsv,
        window: window.unwrap_or(if quick { Duration::from_millis(300) } else { Duration::from_secs(2) }),
        idle_window: idle_window.unwrap_or(if quick { Duration::from_millis(200) } else { Duration::from_millis(500) }),
        connect_timeout: if quick { Duration::from_secs(1) } else { Duration::from_secs(2) },
        load_threads,
    })
}

/// The models named in `keys` (`blocking,weft`), in that order.
fn chosen_models(keys: &str) -> Result<Vec<Model>, String> {
    let all = models();
    keys.split(',')
        .map(|key| {
            all.iter().find(|m| m.key == key.trim()).cloned().ok_or_else(|| format!("--models: no model {key:?}"))
        })
        .collect()
}

/// One load thread per core (up to 4): the load generator and the server
/// share the machine, and a single-threaded server needs one core.
fn default_load_threads() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// `1,10,100` as numbers.
fn list(value: &str, name: &str) -> Result<Vec<usize>, String> {
    value.split(',').map(|n| n.trim().replace('_', "").parse().map_err(|e| format!("{name} {value:?}: {e}"))).collect()
}

/// What one model did at one N: numbers, or why there are none.
#[derive(Debug)]
struct Outcome {
    model: Model,
    clients: usize,
    measured: Result<Measured, String>,
}

/// The clients' report and the server's resources.
#[derive(Debug)]
struct Measured {
    report: Report,
    /// The server's CPU time during the load, and while everybody was
    /// silent, as a share of one core; `None` without `/proc`.
    cpu: Option<f64>,
    idle_cpu: Option<f64>,
    rss_kib: Option<u64>,
    threads: Option<u64>,
}

impl Measured {
    /// Server CPU microseconds per round trip.
    fn cpu_us_per_msg(&self) -> Option<f64> {
        let msgs = self.report.round_trips;
        self.cpu.filter(|_| msgs > 0).map(|share| share * self.report.window.as_secs_f64() * 1e6 / msgs as f64)
    }
}

fn run(opts: &Options) -> io::Result<()> {
    // Every connection is an fd here and another in the server (which
    // inherits this limit).
    let most = opts.clients.iter().max().copied().unwrap_or(0) + opts.idle + SPARE_FDS;
    let limit = raise_fd_limit(most)?;
    if limit < most {
        println!("note: the open-file limit (ulimit -n) is {limit}, below the {most} fds the largest N needs");
    }
    let programs = server_programs(&opts.models)?;
    let mut outcomes = Vec::new();
    for &n in &opts.clients {
        println!(
            "\nN = {} clients (+{} idle connections), {MESSAGE_LEN}-byte ping-pong for {:.1} s after {:.1} s of silence",
            thousands(n as u64),
            thousands(opts.idle as u64),
            opts.window.as_secs_f64(),
            opts.idle_window.as_secs_f64()
        );
        println!(
            "{:<22} {:>11} {:>9} {:>8} {:>6} {:>11} {:>11} {:>8} {:>8}",
            "model", "served", "msgs/s", "p99 µs", "CPU %", "CPU µs/msg", "idle CPU %", "RSS MiB", "threads"
        );
        for model in &opts.models {
            let measured = measure(&programs[model.bin], model, n, opts);
            let outcome = Outcome { model: model.clone(), clients: n, measured };
            println!("{}", row(&outcome));
            outcomes.push(outcome);
        }
    }
    write_svg(&opts.svg, opts, &outcomes)?;
    println!("\nplot: {}", opts.svg.display());
    if let Some(path) = &opts.tsv {
        fs::write(path, tsv(opts, &outcomes))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        println!("results: {}", path.display());
    }
    let commands: Vec<String> =
        opts.models.iter().map(|m| format!("  {:<10} {} {}", m.key, m.bin, m.args.join(" "))).collect();
    println!("\nThe servers, to run by hand (with --addr HOST:PORT):\n{}", commands.join("\n"));
    Ok(())
}

/// The server binaries the models need: next to this program, where cargo
/// puts every binary of the package. Run by `cargo run`, which builds only
/// this one, they are built first, so none is missing or stale.
fn server_programs(models: &[Model]) -> io::Result<BTreeMap<&'static str, PathBuf>> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| io::Error::other("this program has no directory"))?;
    let mut bins: Vec<&str> = models.iter().map(|m| m.bin).collect();
    bins.sort_unstable();
    bins.dedup();
    if std::env::var_os("CARGO").is_some() {
        if let Ok(layout) = Layout::of(dir) {
            println!("building the model servers: {}", bins.join(", "));
            layout.build_examples(&bins)?;
        }
    }
    bins.into_iter()
        .map(|bin| {
            let path = dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
            if path.is_file() {
                Ok((bin, path))
            } else {
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{} is missing: io_models runs the other examples as its servers; \
                         build them with `cargo build --release -p examples --bins`",
                        path.display()
                    ),
                ))
            }
        })
        .collect()
}

/// One model at one N, in a server process of its own.
fn measure(program: &Path, model: &Model, clients: usize, opts: &Options) -> Result<Measured, String> {
    let mut server = ServerProcess::start(program, model.args, START_PATIENCE).map_err(|e| e.to_string())?;
    let pid = server.pid();
    let load = Load {
        addr: server.addr(),
        clients,
        idle: opts.idle,
        threads: opts.load_threads,
        connect_timeout: opts.connect_timeout,
        max_round_trips: MAX_ROUND_TRIPS,
    };
    let connected = load.connect().map_err(|e| e.to_string())?;

    // Everybody connected, nobody talking: what does waiting cost?
    let idle_start = cpu_ticks(pid).ok();
    thread::sleep(opts.idle_window);
    let idle_cpu = cpu_share(pid, idle_start, opts.idle_window);

    let load_start = cpu_ticks(pid).ok();
    let started = connected.go(opts.window);
    thread::sleep(started.deadline().saturating_duration_since(Instant::now()));
    let cpu = cpu_share(pid, load_start, opts.window);
    let (rss_kib, threads) = (rss_kib(pid).ok(), threads_of(pid).ok());
    let report = started.finish().map_err(|e| e.to_string())?;

    // With --quiet, the servers print only what stops them serving: a
    // limit hit (select's FD_SETSIZE, threads), or the error they die of.
    if let Some(status) = server.exited().map_err(|e| e.to_string())? {
        return Err(format!("the server exited ({status}): {}", server.stderr().join(" | ")));
    }
    if let Some(line) = server.stderr().first() {
        return Err(without_peer(line).to_owned());
    }
    if let Some(e) = &report.first_error {
        return Err(format!("{} of {clients} clients failed: {e}", report.failed.max(1)));
    }
    Ok(Measured { report, cpu, idle_cpu, rss_kib, threads })
}

/// A server's error line without the peer it names:
/// `cannot serve 127.0.0.1:40000: select: fd 1024 ...` becomes `select: fd 1024 ...`.
fn without_peer(line: &str) -> &str {
    match line.split_once(": ") {
        Some((head, rest)) if head.contains("127.0.0.1:") => rest,
        _ => line,
    }
}

/// The CPU time process `pid` used since `start` ticks, as a share of one
/// core over `wall` (1.0 is a whole core).
fn cpu_share(pid: u32, start: Option<u64>, wall: Duration) -> Option<f64> {
    let used = cpu_ticks(pid).ok()?.checked_sub(start?)?;
    Some(used as f64 / ticks_per_second().ok()? as f64 / wall.as_secs_f64().max(f64::MIN_POSITIVE))
}

/// One line of a table.
fn row(outcome: &Outcome) -> String {
    let m = match &outcome.measured {
        Err(why) => return format!("{:<22} cannot serve: {why}", outcome.model.label),
        Ok(m) => m,
    };
    let r = &m.report;
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    format!(
        "{:<22} {:>11} {:>9} {:>8} {:>6} {:>11} {:>11} {:>8} {:>8}",
        outcome.model.label,
        format!("{}/{}", thousands(r.served as u64), thousands(outcome.clients as u64)),
        thousands(r.per_second().round() as u64),
        opt(r.percentile(99.0).map(|d| thousands(d.as_micros() as u64))),
        opt(m.cpu.map(|c| format!("{:.0}", c * 100.0))),
        opt(m.cpu_us_per_msg().map(|c| format!("{c:.1}"))),
        opt(m.idle_cpu.map(|c| format!("{:.0}", c * 100.0))),
        opt(m.rss_kib.map(|k| format!("{:.1}", k as f64 / 1024.0))),
        opt(m.threads.map(|t| t.to_string())),
    )
}

/// Throughput and p99 latency against N, one line per model.
fn write_svg(path: &Path, opts: &Options, outcomes: &[Outcome]) -> io::Result<()> {
    let series = |value: &dyn Fn(&Measured, usize) -> Option<f64>| -> Vec<Series> {
        opts.models
            .iter()
            .map(|model| Series {
                label: model.label.to_owned(),
                points: outcomes
                    .iter()
                    .filter(|o| o.model.key == model.key)
                    .map(|o| (o.clients as f64, o.measured.as_ref().ok().and_then(|m| value(m, o.clients))))
                    .collect(),
            })
            .collect()
    };
    let x_label = "concurrent clients (N)".to_owned();
    let panels = [
        Panel {
            title: "throughput".to_owned(),
            x_label: x_label.clone(),
            y_label: "round trips per second".to_owned(),
            series: series(&|m, _| Some(m.report.per_second())),
        },
        // A client that got no answer has no round trip to count: the
        // latency of a model that left some unserved would flatter it.
        Panel {
            title: "p99 latency, where every client was served".to_owned(),
            x_label,
            y_label: "p99 round trip (µs)".to_owned(),
            series: series(&|m, clients| {
                m.report.percentile(99.0).filter(|_| m.report.served == clients).map(|d| d.as_micros() as f64)
            }),
        },
    ];
    let title = format!("I/O models: {MESSAGE_LEN}-byte echo ping-pong, +{} idle connections", opts.idle);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, svg(&title, &panels)).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The results as tab-separated values, a header and one line per model and N.
fn tsv(opts: &Options, outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "model\tclients\tidle\tserved\tclients_connected\tidle_connected\tunanswered\tround_trips\tmsgs_per_s\tp99_us\t\
         cpu_pct\tidle_cpu_pct\tcpu_us_per_msg\trss_kib\tthreads\twhy\n",
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    for o in outcomes {
        let fields = match &o.measured {
            Err(why) => {
                let mut fields = vec!["-".to_owned(); 12];
                fields.push(why.replace(['\t', '\n'], " "));
                fields
            }
            Ok(m) => {
                let r = &m.report;
                vec![
                    r.served.to_string(),
                    r.clients_connected.to_string(),
                    r.idle_connected.to_string(),
                    r.unanswered.to_string(),
                    r.round_trips.to_string(),
                    format!("{:.0}", r.per_second()),
                    opt(r.percentile(99.0).map(|d| d.as_micros().to_string())),
                    opt(m.cpu.map(|c| format!("{:.1}", c * 100.0))),
                    opt(m.idle_cpu.map(|c| format!("{:.1}", c * 100.0))),
                    opt(m.cpu_us_per_msg().map(|c| format!("{c:.2}"))),
                    opt(m.rss_kib.map(|k| k.to_string())),
                    opt(m.threads.map(|t| t.to_string())),
                    String::new(),
                ]
            }
        };
        out.push_str(&format!("{}\t{}\t{}\t{}\n", o.model.key, o.clients, opts.idle, fields.join("\t")));
    }
    out
}
