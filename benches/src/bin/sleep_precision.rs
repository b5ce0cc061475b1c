//! sleep_precision: how late a timer fires on an idle runtime, weft against
//! tokio's current-thread runtime.
//!
//! For each runtime and each duration `d`: up to `--count` sequential
//! `sleep(d)` in one `block_on` (after `--warmup` unrecorded ones), each
//! timed from just before the `Sleep` is created to just after it completes;
//! lateness = wake − (start + d). A series also stops after `--max-secs`, so
//! a runtime whose timers are coarse (each 200 µs sleep taking 1–2 ms) ends
//! on time with fewer samples; the table says how many.
//!
//! weft: `runtime::time::sleep` in `runtime::block_on`; tokio:
//! `tokio::time::sleep` on `Builder::new_current_thread().enable_time()`.
//! Nothing else runs on either runtime. Prints a table (p50/p99/max
//! lateness in µs) and one JSON line. A negative lateness (a timer that fired
//! before its deadline) is counted as `early` and reported.

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use benches::{percentile, Opts};

const USAGE: &str = "\
usage: sleep_precision [--count 10000] [--max-secs 4] [--warmup 50] [--durations-us 200,1000]
                       [--runtimes weft,tokio]

Sequential sleeps on an idle runtime; prints p50/p99/max lateness (wake - deadline) per
runtime and duration, and one JSON line.";

struct Series {
    runtime: &'static str,
    sleep: Duration,
    /// Lateness of each sleep in ns, sorted; negative = fired early.
    late_ns: Vec<i64>,
    elapsed: Duration,
}

impl Series {
    fn early(&self) -> usize {
        self.late_ns.iter().filter(|&&l| l < 0).count()
    }

    /// Quantile of lateness in µs (early sleeps count as 0 late).
    fn pct_us(&self, q: f64) -> f64 {
        let clamped: Vec<u64> = self.late_ns.iter().map(|&l| l.max(0) as u64).collect();
        percentile(&clamped, q).map_or(f64::NAN, |ns| ns as f64 / 1e3)
    }

    fn mean_period_us(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.late_ns.len().max(1) as f64
    }
}

/// Sleeps `d` in a loop with the runtime's `sleep`, recording lateness.
async fn measure<S, F>(sleep: S, d: Duration, count: usize, warmup: usize, budget: Duration) -> (Vec<i64>, Duration)
where
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    for _ in 0..warmup {
        sleep(d).await;
    }
    let mut late = Vec::with_capacity(count);
    let t0 = Instant::now();
    while late.len() < count && t0.elapsed() < budget {
        let start = Instant::now();
        sleep(d).await;
        let woke = Instant::now();
        let deadline = start + d;
        late.push(if woke >= deadline {
            i64::try_from((woke - deadline).as_nanos()).unwrap_or(i64::MAX)
        } else {
            -i64::try_from((deadline - woke).as_nanos()).unwrap_or(i64::MAX)
        });
    }
    (late, t0.elapsed())
}

fn main() -> ExitCode {
    let o = Opts::from_env(USAGE, &["--count", "--max-secs", "--warmup", "--durations-us", "--runtimes"], &[]);
    let parsed = (|| -> Result<_, String> {
        let count: usize = o.value("--count", 10_000)?;
        let max_secs: f64 = o.value("--max-secs", 4.0)?;
        let warmup: usize = o.value("--warmup", 50)?;
        let durations = o
            .value("--durations-us", "200,1000".to_owned())?
            .split(',')
            .map(|d| d.trim().parse::<u64>().map(Duration::from_micros).map_err(|_| format!("bad duration {d:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let runtimes: Vec<String> =
            o.value("--runtimes", "weft,tokio".to_owned())?.split(',').map(|s| s.trim().to_owned()).collect();
        if let Some(r) = runtimes.iter().find(|r| !matches!(r.as_str(), "weft" | "tokio")) {
            return Err(format!("unknown runtime {r:?} (weft, tokio)"));
        }
        if !(max_secs > 0.0 && max_secs <= 600.0) || count == 0 {
            return Err("--max-secs must be in (0, 600] and --count > 0".to_owned());
        }
        Ok((count, Duration::from_secs_f64(max_secs), warmup, durations, runtimes))
    })();
    let (count, budget, warmup, durations, runtimes) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sleep_precision: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut all = Vec::new();
    for &d in &durations {
        for rt in &runtimes {
            let (late_ns, elapsed) = match rt.as_str() {
                "weft" => runtime::block_on(measure(runtime::time::sleep, d, count, warmup, budget)),
                _ => {
                    let tokio_rt = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("sleep_precision: tokio runtime: {e}");
                            return ExitCode::FAILURE;
                        }
                    };
                    tokio_rt.block_on(measure(tokio::time::sleep, d, count, warmup, budget))
                }
            };
            let mut late_ns = late_ns;
            late_ns.sort_unstable();
            let runtime = if rt == "weft" { "weft" } else { "tokio_ct" };
            all.push(Series { runtime, sleep: d, late_ns, elapsed });
        }
    }

    println!(
        "# sequential sleeps on an idle runtime, up to {count} per series ({:.1} s at most), lateness = wake - deadline",
        budget.as_secs_f64()
    );
    println!(
        "{:<10}{:>10}{:>8}{:>12}{:>12}{:>12}{:>12}{:>16}{:>7}",
        "runtime", "sleep us", "count", "p50 us", "p99 us", "p99.9 us", "max us", "mean period us", "early"
    );
    for s in &all {
        println!(
            "{:<10}{:>10}{:>8}{:>12.1}{:>12.1}{:>12.1}{:>12.1}{:>16.1}{:>7}",
            s.runtime,
            s.sleep.as_micros(),
            s.late_ns.len(),
            s.pct_us(0.5),
            s.pct_us(0.99),
            s.pct_us(0.999),
            s.pct_us(1.0),
            s.mean_period_us(),
            s.early()
        );
    }
    let rows: Vec<String> = all
        .iter()
        .map(|s| {
            format!(
                "{{\"runtime\":\"{}\",\"sleep_us\":{},\"count\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\
                 \"p999_us\":{:.1},\"max_us\":{:.1},\"mean_period_us\":{:.1},\"early\":{}}}",
                s.runtime,
                s.sleep.as_micros(),
                s.late_ns.len(),
                s.pct_us(0.5),
                s.pct_us(0.99),
                s.pct_us(0.999),
                s.pct_us(1.0),
                s.mean_period_us(),
                s.early()
            )
        })
        .collect();
    println!("{{\"sleep_precision\":[{}]}}", rows.join(","));
    if all.iter().any(|s| s.early() > 0) {
        eprintln!("sleep_precision: some timers fired before their deadline");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
