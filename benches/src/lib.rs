//! Shared helpers for the benchmarks.
//!
//! Everything here is runtime-agnostic (std only), so when a benchmark runs
//! the same workload on weft and on tokio, the executor is the only thing
//! that differs.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Who holds the baton, and the parked waker of each side.
#[derive(Debug)]
struct BatonState {
    /// 0 or 1: the side whose turn it is.
    holder: usize,
    /// The waker each side parked while waiting for its turn.
    waiters: [Option<Waker>; 2],
}

/// One side of a baton shared by two tasks: [`Player::turn`] waits until
/// this side holds it, [`Player::pass`] hands it over and wakes the other.
///
/// A round trip (each side taking one turn) costs two wakes and two polls,
/// so a ping-pong loop measures the executor's wake-to-poll path.
///
/// ```
/// let (a, b) = benches::baton();
/// assert!(a.holds());
/// a.pass();
/// assert!(b.holds() && !a.holds());
/// ```
pub struct Player {
    shared: Arc<Mutex<BatonState>>,
    /// This player's index in `BatonState`.
    side: usize,
}

/// Two players sharing one baton; the first holds it.
pub fn baton() -> (Player, Player) {
    let shared = Arc::new(Mutex::new(BatonState { holder: 0, waiters: [None, None] }));
    (Player { shared: shared.clone(), side: 0 }, Player { shared, side: 1 })
}

impl Player {
    fn state(&self) -> MutexGuard<'_, BatonState> {
        // Poison only means a benchmark task panicked; the state is two plain fields.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True if it is this player's turn.
    pub fn holds(&self) -> bool {
        self.state().holder == self.side
    }

    /// Waits until this player holds the baton.
    pub fn turn(&self) -> Turn<'_> {
        Turn { player: self }
    }

    /// Hands the baton to the other player and wakes it (outside the lock).
    pub fn pass(&self) {
        let waker = {
            let mut state = self.state();
            let other = 1 - self.side;
            state.holder = other;
            state.waiters[other].take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl fmt::Debug for Player {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Player").field("side", &self.side).field("holds", &self.holds()).finish()
    }
}

/// The future returned by [`Player::turn`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Turn<'a> {
    player: &'a Player,
}

impl Future for Turn<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.player.state();
        if state.holder == self.player.side {
            return Poll::Ready(());
        }
        let slot = &mut state.waiters[self.player.side];
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Measurements of one side of a comparison (seconds, or KiB), in the order they were taken.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    /// Records one measurement.
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    /// The median (mean of the middle two for an even count); NaN if empty.
    pub fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The smallest sample; NaN if empty.
    pub fn min(&self) -> f64 {
        self.0.iter().copied().reduce(f64::min).unwrap_or(f64::NAN)
    }

    /// The largest sample; NaN if empty.
    pub fn max(&self) -> f64 {
        self.0.iter().copied().reduce(f64::max).unwrap_or(f64::NAN)
    }
}

impl FromIterator<f64> for Samples {
    fn from_iter<I: IntoIterator<Item = f64>>(values: I) -> Samples {
        Samples(values.into_iter().collect())
    }
}

/// A unit for `value` seconds that leaves three or four significant digits.
fn time_unit(secs: f64) -> (f64, &'static str) {
    if secs >= 1.0 {
        (1.0, "s")
    } else if secs >= 1e-3 {
        (1e3, "ms")
    } else if secs >= 1e-6 {
        (1e6, "µs")
    } else {
        (1e9, "ns")
    }
}

/// Formats seconds, e.g. `12.50 ms`.
pub fn format_secs(secs: f64) -> String {
    let (scale, unit) = time_unit(secs);
    format!("{:.2} {unit}", secs * scale)
}

/// `median [min..max]` of timings in seconds, all in the median's unit.
pub fn format_secs_stats(s: &Samples) -> String {
    let (scale, unit) = time_unit(s.median());
    format!("{:.2} {unit} [{:.2}..{:.2}]", s.median() * scale, s.min() * scale, s.max() * scale)
}

/// `median [min..max]` of sizes in KiB, shown in MiB.
pub fn format_kib_stats(s: &Samples) -> String {
    let mib = 1.0 / 1024.0;
    format!("{:.1} MiB [{:.1}..{:.1}]", s.median() * mib, s.min() * mib, s.max() * mib)
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`),
/// in KiB; `None` where procfs is unavailable.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `q`-quantile (0..=1) of `sorted` by nearest rank: the smallest
/// value with at least `q` of the samples at or below it; `None` if empty.
///
/// ```
/// let v = [10, 20, 30, 40];
/// assert_eq!(benches::percentile(&v, 0.5), Some(20));
/// assert_eq!(benches::percentile(&v, 0.99), Some(40));
/// assert_eq!(benches::percentile(&v, 0.0), Some(10));
/// ```
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// Command-line options `--name value` and bare `--flag`s, for the
/// benchmark binaries (`src/bin`).
#[derive(Debug, Default)]
pub struct Opts {
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Opts {
    /// Parses `args` (program name excluded): `with_value` names the options
    /// that take a value (`--name value` or `--name=value`), `flags` those
    /// that take none. Anything else is an error.
    pub fn parse<I>(args: I, with_value: &[&str], flags: &[&str]) -> Result<Opts, String>
    where
        I: IntoIterator<Item = String>,
    {
        let mut opts = Opts::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            if flags.contains(&name.as_str()) && inline.is_none() {
                opts.flags.push(name);
            } else if with_value.contains(&name.as_str()) {
                let value = match inline.or_else(|| args.next()) {
                    Some(v) => v,
                    None => return Err(format!("{name} needs a value")),
                };
                opts.values.push((name, value));
            } else {
                return Err(format!("unknown argument: {arg}"));
            }
        }
        Ok(opts)
    }

    /// [`Opts::parse`] on the process's arguments; prints `usage` and exits
    /// with status 0 on `--help`, or 2 on an error.
    pub fn from_env(usage: &str, with_value: &[&str], flags: &[&str]) -> Opts {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!("{usage}");
            std::process::exit(0);
        }
        Opts::parse(args, with_value, flags).unwrap_or_else(|e| {
            eprintln!("{e}\n{usage}");
            std::process::exit(2)
        })
    }

    /// The last value given for `name`, parsed; `default` if absent.
    pub fn value<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.values.iter().rev().find(|(n, _)| n == name) {
            None => Ok(default),
            Some((_, v)) => v.parse().map_err(|_| format!("{name}: cannot parse {v:?}")),
        }
    }

    /// True if the flag `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let mut s = Samples::default();
        assert!(s.median().is_nan());
        for v in [3.0, 1.0, 2.0, 10.0] {
            s.push(v);
        }
        assert_eq!((s.median(), s.min(), s.max()), (2.5, 1.0, 10.0));
        s.push(0.5);
        assert_eq!(s.median(), 2.0);
    }

    #[test]
    fn turn_parks_until_passed() {
        let (a, b) = baton();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut b.turn()).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut a.turn()).poll(&mut cx).is_ready());
        a.pass();
        assert!(Pin::new(&mut b.turn()).poll(&mut cx).is_ready());
        assert!(Pin::new(&mut a.turn()).poll(&mut cx).is_pending());
    }

    #[test]
    fn units() {
        assert_eq!(format_secs(2.0), "2.00 s");
        assert_eq!(format_secs(0.0125), "12.50 ms");
        assert_eq!(format_secs(0.000_003), "3.00 µs");
        let mut s = Samples::default();
        for v in [0.0125, 0.011, 0.0131] {
            s.push(v);
        }
        assert_eq!(format_secs_stats(&s), "12.50 ms [11.00..13.10]");
        let mut kib = Samples::default();
        kib.push(2048.0);
        assert_eq!(format_kib_stats(&kib), "2.0 MiB [2.0..2.0]");
    }

    #[test]
    fn percentiles() {
        assert_eq!(percentile(&[], 0.5), None);
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&[7], 0.99), Some(7));
    }

    #[test]
    fn opts() {
        let args = ["--secs", "3", "--addr=127.0.0.1:1", "--quiet", "--secs", "4"].map(String::from);
        let o = Opts::parse(args, &["--secs", "--addr"], &["--quiet"]).unwrap();
        assert_eq!(o.value("--secs", 10u32), Ok(4));
        assert_eq!(o.value("--addr", String::new()).unwrap(), "127.0.0.1:1");
        assert_eq!(o.value("--block", 65536usize), Ok(65536));
        assert!(o.flag("--quiet") && !o.flag("--loud"));
        assert!(o.value::<u32>("--addr", 0).is_err());
        assert!(Opts::parse(["--secs".to_owned()], &["--secs"], &[]).is_err());
        assert!(Opts::parse(["--what".to_owned()], &["--secs"], &[]).is_err());
    }
}
