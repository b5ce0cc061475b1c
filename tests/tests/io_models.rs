//! `io_models` shows the lessons of the learner examples in its numbers.
//! The tests run `io_models --quick` with `--tsv` and check the shape of
//! the results, never absolute numbers (this machine may be slow or busy):
//! the blocking server serves one client at a time, busy-poll burns CPU
//! while nobody talks and weft does not, a thread per client means a
//! thread per connection, weft serves everyone at every N, and select
//! hits FD_SETSIZE.
//!
//! The binaries are built with the same profile as this test; `io_models`
//! is told not to run cargo itself (`CARGO` unset).

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use examples::measure::raise_fd_limit;
use tests::lock;
use tests::support::{example_binary, Finished, TempDir};

/// The servers `io_models` runs.
const SERVERS: [&str; 4] = ["blocking_echo", "busy_poll_echo", "callback_echo", "async_echo"];

/// Most a run may take: `--quick` takes about 15 s.
const RUN_PATIENCE: Duration = Duration::from_secs(120);

/// Serialises the runs: each measures CPU, which the other would steal.
static CPU_BOUND: Mutex<()> = Mutex::new(());

/// One line of the TSV: column name to value.
type Row = HashMap<String, String>;

/// What a run of `io_models` produced.
struct Run {
    /// The TSV's rows by (model, clients).
    rows: HashMap<(String, usize), Row>,
    /// The tables.
    stdout: String,
    /// The plot.
    svg: String,
}

/// Runs `io_models ARGS --tsv FILE --svg FILE`.
fn run(args: &[&str]) -> io::Result<Run> {
    for server in SERVERS {
        example_binary(server)?;
    }
    let dir = TempDir::new("io-models")?;
    let (tsv, svg) = (dir.join("results.tsv"), dir.join("plot.svg"));
    let started = Instant::now();
    let out = Finished::run(
        Command::new(example_binary("io_models")?)
            .args(args)
            .arg("--tsv")
            .arg(&tsv)
            .arg("--svg")
            .arg(&svg)
            .env_remove("CARGO")
            .stdin(Stdio::null()),
        RUN_PATIENCE,
    )?;
    eprintln!("io_models {} took {:.1} s", args.join(" "), started.elapsed().as_secs_f64());
    assert!(out.status.success(), "io_models exited with {}:\n{}\n{}", out.status, out.stdout, out.stderr);
    Ok(Run { rows: parse_tsv(&tsv)?, stdout: out.stdout, svg: std::fs::read_to_string(&svg)? })
}

fn parse_tsv(path: &Path) -> io::Result<HashMap<(String, usize), Row>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let mut rows = HashMap::new();
    for line in lines {
        let row: Row = header.iter().zip(line.split('\t')).map(|(k, v)| (k.to_string(), v.to_owned())).collect();
        let clients =
            row.get("clients").and_then(|c| c.parse().ok()).ok_or_else(|| io::Error::other(line.to_owned()))?;
        rows.insert((row["model"].clone(), clients), row);
    }
    Ok(rows)
}

/// `row[column]` as a number; `None` for `-`.
fn number(row: &Row, column: &str) -> Option<f64> {
    row.get(column).and_then(|v| v.parse().ok())
}

#[cfg(target_os = "linux")] // CPU and threads come from /proc
#[test]
fn quick_run_shows_each_model_s_shape() -> io::Result<()> {
    let _cpu = lock(&CPU_BOUND);
    let Run { rows, stdout, svg } = run(&["--quick"])?;
    let row = |model: &str, n: usize| -> &Row {
        rows.get(&(model.to_owned(), n)).unwrap_or_else(|| panic!("no row for {model} at N = {n}:\n{stdout}"))
    };
    let ns = [1, 10, 100];
    for n in ns {
        // Every model but select-beyond-its-limit serves at every N of a
        // quick run, and weft serves every client.
        for model in ["blocking", "threads", "busy-poll", "select", "poll", "epoll", "weft"] {
            let r = row(model, n);
            assert_eq!(r["why"], "", "{model} at N = {n} could not serve:\n{stdout}");
            assert!(number(r, "round_trips") > Some(0.0), "{model} at N = {n} made no round trip:\n{stdout}");
        }
        for model in ["threads", "busy-poll", "select", "poll", "epoll", "weft"] {
            assert_eq!(number(row(model, n), "served"), Some(n as f64), "{model} at N = {n}:\n{stdout}");
        }
        // One client at a time: whatever N, only one client ever gets an answer.
        assert_eq!(number(row("blocking", n), "served"), Some(1.0), "blocking at N = {n}:\n{stdout}");
        // A thread per connection, the idle ones included.
        let threads = number(row("threads", n), "threads");
        assert!(threads >= Some((n + 100) as f64), "{threads:?} threads for N = {n} + 100 idle:\n{stdout}");
        // Busy-polling spins while nobody talks; weft sleeps in epoll_wait.
        // (A quarter of a core, not all of it: the machine may be busy.)
        let busy = number(row("busy-poll", n), "idle_cpu_pct");
        let weft = number(row("weft", n), "idle_cpu_pct");
        assert!(busy > Some(25.0), "busy-poll used {busy:?}% CPU while idle at N = {n}:\n{stdout}");
        assert!(weft < Some(10.0), "weft used {weft:?}% CPU while idle at N = {n}:\n{stdout}");
    }
    for label in ["blocking, 1 at a time", "weft coroutines", "p99 latency", "round trips per second"] {
        assert!(svg.contains(label), "the plot lacks {label:?}");
    }
    Ok(())
}

#[test]
fn select_stops_at_fd_setsize() -> io::Result<()> {
    let _cpu = lock(&CPU_BOUND);
    // 10 clients and 1,100 idle connections: more fds than an fd_set has
    // bits, here and in the server (which inherits this limit).
    let limit = raise_fd_limit(1300)?;
    if limit < 1300 {
        eprintln!("skipped: the open-file limit is {limit}, and select's wall is at 1,024");
        return Ok(());
    }
    let Run { rows, stdout, .. } = run(&["--quick", "--models", "select,weft", "--clients", "10", "--idle", "1100"])?;
    let why = &rows[&("select".to_owned(), 10)]["why"];
    assert!(why.contains("FD_SETSIZE"), "select did not report its limit: {why:?}\n{stdout}");
    assert!(stdout.contains("select: fd 1024 ≥ FD_SETSIZE"), "{stdout}");
    let weft = &rows[&("weft".to_owned(), 10)];
    assert_eq!((weft["why"].as_str(), number(weft, "served")), ("", Some(10.0)), "{stdout}");
    assert_eq!(number(weft, "idle_connected"), Some(1100.0), "{stdout}");
    Ok(())
}

#[test]
fn help_names_every_option() -> io::Result<()> {
    let help = Finished::example("io_models", &["--help"])?;
    assert!(help.status.success() && help.stdout.starts_with("usage: io_models"), "{}", help.stdout);
    for option in ["--quick", "--clients", "--idle", "--models", "--svg", "--tsv"] {
        assert!(help.stdout.contains(option), "--help does not mention {option}:\n{}", help.stdout);
    }
    let bad = Finished::example("io_models", &["--models", "carrier-pigeon"])?;
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("carrier-pigeon"), "{}", bad.stderr);
    Ok(())
}
