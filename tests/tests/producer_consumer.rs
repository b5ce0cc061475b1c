//! The `producer_consumer` binary: every bun is made once and eaten once,
//! never eaten before it is made, and the steamer never holds more than
//! its capacity (producers wait instead).

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use tests::support::{Running, PATIENCE};

/// Runs the binary and checks its story line by line.
fn check(producers: usize, consumers: usize, buns: usize, capacity: usize) -> io::Result<()> {
    let args = [
        "--producers".to_owned(),
        producers.to_string(),
        "--consumers".to_owned(),
        consumers.to_string(),
        "--buns".to_owned(),
        buns.to_string(),
        "--capacity".to_owned(),
        capacity.to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, out) = Running::start("producer_consumer", &args)?.wait(Instant::now() + PATIENCE)?;
    assert!(status.success(), "exited with {status}:\n{out}");

    let total = producers * buns;
    let mut made: HashMap<String, usize> = HashMap::new();
    let mut eaten: HashMap<String, usize> = HashMap::new();
    let mut eaten_by = vec![0usize; consumers];
    let mut waits = 0;
    let mut summary = None;
    for line in out.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words[..] {
            ["producer", _, "made", "bun", bun] => {
                assert!(made.insert(bun.to_owned(), made.len()).is_none(), "bun {bun} made twice");
            }
            ["producer", _, "waits:", ..] => waits += 1,
            ["consumer", id, "ate", "bun", bun] => {
                assert!(made.contains_key(bun), "bun {bun} eaten before it was made");
                assert!(eaten.insert(bun.to_owned(), eaten.len()).is_none(), "bun {bun} eaten twice");
                let id: usize = id.parse().map_err(|_| io::Error::other(line.to_owned()))?;
                eaten_by[id - 1] += 1;
            }
            ["all", ..] => summary = Some(line.to_owned()),
            _ => panic!("unexpected line {line:?}"),
        }
        // Made but not yet eaten = in the steamer.
        assert!(made.len() - eaten.len() <= capacity, "more than {capacity} buns in the steamer at {line:?}");
    }
    assert_eq!(made.len(), total);
    assert_eq!(eaten.len(), total);
    if total > capacity {
        assert!(waits > 0, "producers never waited on a full steamer");
    }
    let each: Vec<String> = eaten_by.iter().enumerate().map(|(i, n)| format!("consumer {} ate {n}", i + 1)).collect();
    assert_eq!(summary, Some(format!("all {total} buns eaten: {}", each.join(", "))));
    Ok(())
}

#[test]
fn every_bun_is_made_and_eaten_once_within_capacity() -> io::Result<()> {
    check(3, 2, 7, 2)?;
    check(1, 4, 10, 1)?;
    check(2, 3, 0, 3)
}

#[test]
fn defaults_run_to_completion() -> io::Result<()> {
    let (status, out) = Running::start("producer_consumer", &[])?.wait(Instant::now() + PATIENCE)?;
    assert!(status.success(), "exited with {status}");
    assert!(out.ends_with("\n") && out.lines().last().is_some_and(|l| l.starts_with("all 10 buns eaten")), "{out}");
    Ok(())
}

#[test]
fn bad_options_exit_2() -> io::Result<()> {
    for args in [&["--capacity", "0"][..], &["--consumers", "x"], &["extra"], &["--bogus"]] {
        let (status, out) = Running::start("producer_consumer", args)?.wait(Instant::now() + PATIENCE)?;
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert!(out.is_empty(), "{args:?} printed on stdout: {out}");
    }
    Ok(())
}
