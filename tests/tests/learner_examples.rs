//! The learner examples show what they claim: `blocking_echo` serves one
//! client at a time (and all of them with `--threads`), `busy_poll_echo`
//! serves every client but spins a core, and `poll_vs_epoll` measures a
//! poll that gets slower with more idle fds while epoll does not.

use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tests::lock;
use tests::support::{connect, example_binary, exchange, Finished, Running, PATIENCE};

/// Serialises the tests that burn CPU or measure it, so that
/// `poll_vs_epoll` does not steal `busy_poll_echo`'s core (the harness
/// runs tests on several threads).
static CPU_BOUND: Mutex<()> = Mutex::new(());

/// How long a client must hear nothing to count as "not served".
const SILENCE: Duration = Duration::from_millis(300);

#[test]
fn blocking_echo_serves_one_client_at_a_time() -> io::Result<()> {
    let (server, addr) = Running::server("blocking_echo", &["--addr", "127.0.0.1:0"])?;
    let mut a = connect(addr)?;
    assert_eq!(exchange(&mut a, b"from a")?, b"from a");

    // B's connect succeeds and its bytes are buffered: the kernel completes
    // the handshake and queues the connection, though the server, blocked
    // in a read on A, never accepts it.
    let mut b = connect(addr)?;
    b.write_all(b"from b")?;
    // A negative check needs a time window: B must hear nothing for SILENCE
    // while A is connected. A slow machine cannot make it fail (this server
    // never answers B while A is connected), and a server that did serve B
    // would answer in well under a millisecond, so the window catches it.
    b.set_read_timeout(Some(SILENCE))?;
    let mut byte = [0u8; 1];
    match b.read(&mut byte) {
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
        other => panic!("B was answered while A was still connected: {other:?}"),
    }
    // A is served all along.
    assert_eq!(exchange(&mut a, b"still a")?, b"still a");

    // A leaves: the server gets to B, and B's echo arrives.
    let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
    drop(a);
    b.set_read_timeout(Some(PATIENCE))?;
    let mut back = [0u8; 6];
    b.read_exact(&mut back)?;
    assert_eq!(&back, b"from b");

    // The log tells the same story: B was accepted only after A closed.
    assert_eq!(server.stderr.next()?, format!("accepted {a_addr}"));
    assert_eq!(server.stderr.next()?, format!("closed {a_addr} after 13 bytes"));
    assert_eq!(server.stderr.next()?, format!("accepted {b_addr}"));
    Ok(())
}

#[test]
fn blocking_echo_with_threads_serves_clients_together() -> io::Result<()> {
    let (_server, addr) = Running::server("blocking_echo", &["--addr", "127.0.0.1:0", "--threads", "--quiet"])?;
    let mut a = connect(addr)?;
    assert_eq!(exchange(&mut a, b"from a")?, b"from a");
    // A stays connected and idle; B is served on its own thread.
    let mut b = connect(addr)?;
    assert_eq!(exchange(&mut b, b"from b")?, b"from b");
    assert_eq!(exchange(&mut a, b"a again")?, b"a again");
    Ok(())
}

/// `ran for WALL s: CPU s of CPU (P%), ITERATIONS loop iterations, EAGAIN calls returned EAGAIN`.
#[derive(Debug)]
struct Summary {
    wall: f64,
    cpu: f64,
    iterations: u64,
    eagain: u64,
}

fn parse_summary(out: &str) -> Option<Summary> {
    let line = out.lines().find(|l| l.starts_with("ran for "))?;
    let rest = line.strip_prefix("ran for ")?;
    let (wall, rest) = rest.split_once(" s: ")?;
    let (cpu, rest) = rest.split_once(" s of CPU (")?;
    let (_percent, rest) = rest.split_once("%), ")?;
    let (iterations, rest) = rest.split_once(" loop iterations, ")?;
    let eagain = rest.strip_suffix(" calls returned EAGAIN")?;
    let count = |s: &str| s.replace(',', "").parse().ok();
    Some(Summary {
        wall: wall.parse().ok()?,
        cpu: cpu.parse().ok()?,
        iterations: count(iterations)?,
        eagain: count(eagain)?,
    })
}

#[test]
fn busy_poll_echo_serves_everyone_and_spins_a_core() -> io::Result<()> {
    let _cpu = lock(&CPU_BOUND);
    // Two seconds leave a wide margin for the echoes below, which must
    // happen before the server stops on its own.
    let (server, addr) = Running::server("busy_poll_echo", &["--addr", "127.0.0.1:0", "--secs", "2", "--quiet"])?;
    let mut a = connect(addr)?;
    let mut b = connect(addr)?;
    // Unlike blocking_echo, B is served while A is connected and idle.
    assert_eq!(exchange(&mut b, b"from b")?, b"from b");
    assert_eq!(exchange(&mut a, b"from a")?, b"from a");
    drop((a, b));

    // Idle from here on, the server keeps spinning until its time is up.
    let (status, out) = server.wait(Instant::now() + PATIENCE)?;
    assert!(status.success(), "busy_poll_echo exited with {status}:\n{out}");
    let summary = parse_summary(&out).unwrap_or_else(|| panic!("no summary line in:\n{out}"));
    assert!((2.0..2.0 + PATIENCE.as_secs_f64()).contains(&summary.wall), "{summary:?}");
    // The point of the example: a server that never sleeps uses a core
    // even with nothing to do. A quarter of one leaves room for a busy
    // machine: on 2 shared cores under a load of 4 or more, a spinning
    // process gets under half a core, while a sleeping one uses ~0.
    assert!(summary.cpu >= 0.25 * summary.wall, "it did not spin: {summary:?}");
    // Every pass asks the listener at least once and hears "not yet".
    assert!(summary.iterations > 1000, "{summary:?}");
    assert!(summary.eagain >= summary.iterations, "{summary:?}");
    Ok(())
}

/// One row of the table: `N  poll us/wait  epoll us/wait  select us/wait`.
#[derive(Debug)]
struct Row {
    n: u64,
    poll: f64,
    epoll: f64,
}

/// The table's rows: lines whose first column is a number.
fn parse_rows(out: &str) -> Vec<Row> {
    out.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let n = cols.first()?.replace(',', "").parse().ok()?;
            Some(Row { n, poll: cols.get(1)?.parse().ok()?, epoll: cols.get(2)?.parse().ok()? })
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn poll_vs_epoll_shows_poll_growing_with_n() -> io::Result<()> {
    let _cpu = lock(&CPU_BOUND);
    let out = Finished::run(
        Command::new(example_binary("poll_vs_epoll")?)
            .args(["--max-n", "1000", "--rounds", "200"])
            .stdin(Stdio::null()),
        Duration::from_secs(60),
    )?;
    assert!(out.status.success(), "poll_vs_epoll exited with {}:\n{}\n{}", out.status, out.stdout, out.stderr);
    assert!(out.stdout.contains("poll us/wait") && out.stdout.contains("epoll us/wait"), "no header:\n{}", out.stdout);
    let rows = parse_rows(&out.stdout);
    let ns: Vec<u64> = rows.iter().map(|r| r.n).collect();
    assert_eq!(ns, [10, 100, 1000], "{}", out.stdout);
    // Qualitative only: medians over 200 rounds are steady, but this machine
    // may be busy, so no ratios. 1,001 fds against 11 is a wide gap.
    let (small, large) = (&rows[0], &rows[rows.len() - 1]);
    assert!(large.poll > small.poll, "poll did not get slower with N:\n{}", out.stdout);
    assert!(large.epoll < large.poll, "epoll was not faster than poll at N = 1,000:\n{}", out.stdout);
    Ok(())
}

#[test]
fn learner_examples_document_their_options() -> io::Result<()> {
    for (name, option) in [("blocking_echo", "--threads"), ("busy_poll_echo", "--secs"), ("poll_vs_epoll", "--max-n")] {
        let help = Finished::example(name, &["--help"])?;
        assert!(help.status.success(), "{name} --help exited with {}", help.status);
        assert!(help.stdout.starts_with(&format!("usage: {name}")), "{name}: {}", help.stdout);
        assert!(help.stdout.contains(option), "{name} --help does not mention {option}:\n{}", help.stdout);

        let bad = Finished::example(name, &["--bogus"])?;
        assert_eq!(bad.status.code(), Some(2), "{name} accepted --bogus");
        assert!(bad.stderr.contains("--bogus"), "{name}: {}", bad.stderr);
    }
    Ok(())
}
