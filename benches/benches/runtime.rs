//! Runtime micro-benchmarks: weft against tokio's current-thread runtime,
//! the same workloads side by side.
//!
//! `cargo bench -p benches --bench runtime [-- [--rounds N] [FILTER...]]`;
//! `WEFT_BENCH_ROUNDS=N` also sets the rounds (default 7). Each workload
//! runs once per runtime to warm up, then `N` timed rounds that alternate
//! which runtime goes first. Memory-sensitive workloads run each sample in a
//! fresh child process (this binary re-executed with `WEFT_BENCH_CHILD`
//! set), which reports its time and its peak RSS (`VmHWM`).

use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::process::{Command, ExitCode};
use std::task::Poll;
use std::time::{Duration, Instant};

use benches::{baton, format_kib_stats, format_secs_stats, peak_rss_kib, Samples};

/// Selects the child mode: `WORKLOAD:RUNTIME`, e.g. `cancel-1m:tokio`.
const CHILD_ENV: &str = "WEFT_BENCH_CHILD";
/// Timed rounds per workload, if `--rounds` is not given.
const ROUNDS_ENV: &str = "WEFT_BENCH_ROUNDS";
const DEFAULT_ROUNDS: usize = 7;

/// What a workload needs from a runtime. Workloads are written once,
/// generically, so only the executor differs between the two sides.
trait Executor {
    const NAME: &'static str;
    type Sleep: Future<Output = ()> + Send + 'static;

    fn new() -> io::Result<Self>
    where
        Self: Sized;
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    /// Spawns on the current runtime; the returned future is the task's output.
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    fn sleep(duration: Duration) -> Self::Sleep;
}

struct Weft(runtime::Runtime);

impl Executor for Weft {
    const NAME: &'static str = "weft";
    type Sleep = runtime::time::Sleep;

    fn new() -> io::Result<Weft> {
        runtime::Runtime::new().map(Weft)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = runtime::spawn(future);
        async move { handle.await.expect("benchmark task failed") }
    }

    fn sleep(duration: Duration) -> runtime::time::Sleep {
        runtime::time::sleep(duration)
    }
}

struct Tokio(tokio::runtime::Runtime);

impl Executor for Tokio {
    const NAME: &'static str = "tokio";
    type Sleep = tokio::time::Sleep;

    fn new() -> io::Result<Tokio> {
        tokio::runtime::Builder::new_current_thread().enable_all().build().map(Tokio)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(future);
        async move { handle.await.expect("benchmark task failed") }
    }

    fn sleep(duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration)
    }
}

/// Spawns `n` trivial tasks, then awaits every handle in spawn order.
async fn spawn_join<E: Executor>(n: usize) {
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        handles.push(E::spawn(async move { black_box(i) }));
    }
    let mut sum = 0usize;
    for h in handles {
        sum = sum.wrapping_add(h.await);
    }
    assert_eq!(sum, (0..n).sum::<usize>());
}

/// Spawns `n` tasks that each sleep `duration`, then awaits them all.
async fn concurrent_sleeps<E: Executor>(n: usize, duration: Duration) {
    let handles: Vec<_> = (0..n).map(|_| E::spawn(E::sleep(duration))).collect();
    for h in handles {
        h.await;
    }
}

/// Two tasks pass a baton back and forth `round_trips` times.
async fn ping_pong<E: Executor>(round_trips: usize) {
    let (a, b) = baton();
    let ping = E::spawn(async move {
        for _ in 0..round_trips {
            a.turn().await;
            a.pass();
        }
    });
    let pong = E::spawn(async move {
        for _ in 0..round_trips {
            b.turn().await;
            b.pass();
        }
    });
    ping.await;
    pong.await;
}

/// Creates `n` ten-second sleeps, polls each once (registering its timer),
/// then drops them all (cancelling every timer).
async fn cancel_sleeps<E: Executor>(n: usize) {
    let mut sleeps: Vec<E::Sleep> = Vec::with_capacity(n);
    for _ in 0..n {
        sleeps.push(E::sleep(Duration::from_secs(10)));
    }
    poll_fn(|cx| {
        for sleep in sleeps.iter_mut() {
            // SAFETY: the sleeps stay where they are until dropped: the
            // vector was sized up front, gains no element after this point,
            // and dropping it drops each element in place.
            let sleep = unsafe { Pin::new_unchecked(sleep) };
            assert!(sleep.poll(cx).is_pending(), "a ten-second sleep completed");
        }
        Poll::Ready(())
    })
    .await;
    drop(black_box(sleeps));
}

/// One benchmark: a name and how to run it once on each runtime.
struct Workload {
    name: &'static str,
    /// Runs one sample in a child process and reports its peak RSS too.
    in_child: bool,
    weft: fn() -> io::Result<Sample>,
    tokio: fn() -> io::Result<Sample>,
}

/// One measurement: the workload's time, and the process's peak RSS if measured.
struct Sample {
    secs: f64,
    peak_rss_kib: Option<u64>,
}

/// Times `workload` inside `block_on` on a fresh runtime (created and
/// dropped outside the timing).
fn time_on<E: Executor, F: Future<Output = ()>>(workload: impl FnOnce() -> F) -> io::Result<Sample> {
    let rt = E::new()?;
    let future = workload();
    let start = Instant::now();
    rt.block_on(future);
    let secs = start.elapsed().as_secs_f64();
    drop(rt);
    Ok(Sample { secs, peak_rss_kib: None })
}

macro_rules! workload {
    ($name:literal, in_child: $child:literal, |$e:ident| $body:expr) => {{
        fn on<$e: Executor>() -> io::Result<Sample> {
            time_on::<$e, _>(|| $body)
        }
        Workload { name: $name, in_child: $child, weft: on::<Weft>, tokio: on::<Tokio> }
    }};
}

fn workloads() -> Vec<Workload> {
    vec![
        workload!("spawn+join 100k tasks", in_child: false, |E| spawn_join::<E>(100_000)),
        workload!("spawn+join 1M tasks", in_child: false, |E| spawn_join::<E>(1_000_000)),
        workload!("100k concurrent 10 ms sleeps", in_child: false, |E| concurrent_sleeps::<E>(
            100_000,
            Duration::from_millis(10)
        )),
        workload!("ping-pong 1M round trips", in_child: false, |E| ping_pong::<E>(1_000_000)),
        workload!("1M sleeps created+polled+cancelled", in_child: true, |E| cancel_sleeps::<E>(1_000_000)),
    ]
}

/// Child mode: runs one workload once on one runtime and prints
/// `secs peak_rss_kib` for the parent.
fn child(spec: &str) -> io::Result<()> {
    let (name, rt) = spec.rsplit_once(':').ok_or_else(|| io::Error::other(format!("bad {CHILD_ENV}={spec}")))?;
    let all = workloads();
    let w = all.iter().find(|w| w.name == name).ok_or_else(|| io::Error::other(format!("no workload {name:?}")))?;
    let sample = match rt {
        "weft" => (w.weft)()?,
        "tokio" => (w.tokio)()?,
        other => return Err(io::Error::other(format!("no runtime {other:?}"))),
    };
    let rss = peak_rss_kib().ok_or_else(|| io::Error::other("cannot read VmHWM from /proc/self/status"))?;
    println!("{} {}", sample.secs, rss);
    Ok(())
}

/// Runs one sample of `w` on `rt` ("weft" or "tokio"), in a child process if the workload asks for it.
fn sample(w: &Workload, rt: &str) -> io::Result<Sample> {
    if !w.in_child {
        return if rt == Weft::NAME { (w.weft)() } else { (w.tokio)() };
    }
    let out = Command::new(std::env::current_exe()?).env(CHILD_ENV, format!("{}:{rt}", w.name)).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(io::Error::other(format!("child {}:{rt} failed ({}): {stderr}", w.name, out.status)));
    }
    let mut fields = stdout.split_whitespace();
    let parsed = (fields.next().and_then(|s| s.parse().ok()), fields.next().and_then(|s| s.parse().ok()));
    match parsed {
        (Some(secs), Some(rss)) => Ok(Sample { secs, peak_rss_kib: Some(rss) }),
        _ => Err(io::Error::other(format!("child {}:{rt} printed {stdout:?}", w.name))),
    }
}

/// `--rounds N` (or `WEFT_BENCH_ROUNDS`) and name filters; cargo's own
/// flags (`--bench`) are ignored.
struct Config {
    rounds: usize,
    filters: Vec<String>,
}

fn config(args: &[String]) -> io::Result<Config> {
    let mut rounds = match std::env::var(ROUNDS_ENV) {
        Ok(v) => v.parse().map_err(|e| io::Error::other(format!("{ROUNDS_ENV}={v}: {e}")))?,
        Err(_) => DEFAULT_ROUNDS,
    };
    let mut filters = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                let v = args.next().ok_or_else(|| io::Error::other("--rounds needs a value"))?;
                rounds = v.parse().map_err(|e| io::Error::other(format!("--rounds {v}: {e}")))?;
            }
            a if a.starts_with('-') => {}
            a => filters.push(a.to_owned()),
        }
    }
    Ok(Config { rounds: rounds.max(1), filters })
}

fn run(cfg: &Config) -> io::Result<()> {
    println!("weft vs tokio current_thread: {} rounds per workload, alternating which runs first", cfg.rounds);
    println!("median [min..max] of the timed rounds; ratio = weft median / tokio median (< 1: weft faster)\n");
    println!("{:<38} {:<30} {:<30} {:>10}", "workload", "weft", "tokio", "weft/tokio");
    for w in workloads() {
        if !cfg.filters.is_empty() && !cfg.filters.iter().any(|f| w.name.contains(f.as_str())) {
            continue;
        }
        // Warm up both sides (allocator, page cache, lazy statics) untimed;
        // a child-process workload starts cold every time anyway.
        if !w.in_child {
            sample(&w, Weft::NAME)?;
            sample(&w, Tokio::NAME)?;
        }
        let (mut weft_t, mut tokio_t, mut weft_rss, mut tokio_rss) =
            (Samples::default(), Samples::default(), Samples::default(), Samples::default());
        for round in 0..cfg.rounds {
            let order = if round % 2 == 0 { [Weft::NAME, Tokio::NAME] } else { [Tokio::NAME, Weft::NAME] };
            for rt in order {
                let s = sample(&w, rt)?;
                let (t, rss) =
                    if rt == Weft::NAME { (&mut weft_t, &mut weft_rss) } else { (&mut tokio_t, &mut tokio_rss) };
                t.push(s.secs);
                if let Some(kib) = s.peak_rss_kib {
                    rss.push(kib as f64);
                }
            }
        }
        println!(
            "{:<38} {:<30} {:<30} {:>10.2}",
            w.name,
            format_secs_stats(&weft_t),
            format_secs_stats(&tokio_t),
            weft_t.median() / tokio_t.median()
        );
        if w.in_child {
            println!(
                "{:<38} {:<30} {:<30} {:>10.2}",
                "  peak RSS (VmHWM, whole process)",
                format_kib_stats(&weft_rss),
                format_kib_stats(&tokio_rss),
                weft_rss.median() / tokio_rss.median()
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let result = if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec)
    } else {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // `cargo bench` passes `--bench`; anything else (`cargo test
        // --benches`, a stray run) only checks that the binary starts.
        if !args.iter().any(|a| a == "--bench") {
            println!("runtime benchmarks: run with `cargo bench -p benches --bench runtime`");
            return ExitCode::SUCCESS;
        }
        config(&args).and_then(|cfg| run(&cfg))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runtime bench: {e}");
            ExitCode::FAILURE
        }
    }
}
