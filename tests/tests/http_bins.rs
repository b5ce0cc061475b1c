//! The `delay_server` and `http_client` binaries: announcement, answers,
//! the demonstration's numbers, and one clear line on stderr (never a
//! panic) for each way a request can fail.

mod http_util;

use std::io::{self, Write};
use std::time::Duration;

use http_util::{read_len, read_to_close, refused_addr, timing_lock, Act, Scripted, ServerProcess};
use tests::support::{connect, Finished};

const OK_KEEP_ALIVE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
const OK_CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK";

#[test]
fn delay_server_announces_and_answers() -> io::Result<()> {
    let server = ServerProcess::start("delay_server", &["--delay-ms", "20"])?;
    let mut s = connect(server.addr)?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
    assert_eq!(read_len(&mut s, OK_KEEP_ALIVE.len())?, OK_KEEP_ALIVE);
    // What a simple socket client sends.
    let mut s = connect(server.addr)?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    assert_eq!(read_to_close(&mut s)?, OK_CLOSE);
    Ok(())
}

#[test]
fn delay_server_command_line() -> io::Result<()> {
    let out = Finished::example("delay_server", &["--help"])?;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.starts_with("usage: delay_server"));
    for option in ["--addr", "--delay-ms", "127.0.0.1:8081", "default 1000"] {
        assert!(out.stdout.contains(option), "--help does not mention {option}:\n{}", out.stdout);
    }
    for bad in [&["--delay-ms", "soon"][..], &["--bogus"], &["stray"]] {
        let out = Finished::example("delay_server", bad)?;
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
        assert!(out.stderr.starts_with("delay_server: "), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    Ok(())
}

/// The seconds in a summary line `"{prefix} N requests in S s"`.
fn summary_secs(stdout: &str, prefix: &str) -> f64 {
    let line =
        stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} line:\n{stdout}"));
    let secs = line.rsplit(' ').nth(1).and_then(|s| s.parse().ok());
    secs.unwrap_or_else(|| panic!("no time in {line:?}"))
}

#[test]
fn http_client_demo_blocking_takes_three_delays_concurrent_one() -> io::Result<()> {
    let _timing = timing_lock();
    let out = Finished::example("http_client", &["--delay-ms", "300"])?;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.starts_with("delay server (in-process) listening on 127.0.0.1:"), "{}", out.stdout);
    for mode in ["blocking", "concurrent"] {
        for i in 1..=3 {
            let line = format!("  {mode} #{i}: 200 OK, 2 bytes, ");
            assert!(out.stdout.contains(&line), "no {line:?} in:\n{}", out.stdout);
        }
    }
    let blocking = summary_secs(&out.stdout, "blocking: 3 requests in ");
    let concurrent = summary_secs(&out.stdout, "concurrent: 3 requests in ");
    // Printed with two decimals: 0.895 would show as 0.90.
    assert!(blocking >= 0.895, "blocking took {blocking} s, under 3 x 300 ms:\n{}", out.stdout);
    assert!(concurrent < 0.6, "concurrent took {concurrent} s, not under 2 x 300 ms:\n{}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    Ok(())
}

#[test]
fn http_client_fetches_urls_in_each_mode() -> io::Result<()> {
    let server = ServerProcess::start("delay_server", &["--delay-ms", "0"])?;
    let url = format!("http://{}/some/path", server.addr);
    let out = Finished::example("http_client", &[&url, "-n", "4", "--mode", "concurrent", "--timeout", "5"])?;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("concurrent: 4 requests in "), "{}", out.stdout);
    assert_eq!(out.stdout.matches(": 200 OK, 2 bytes, ").count(), 4, "{}", out.stdout);
    assert!(!out.stdout.contains("blocking"), "{}", out.stdout);
    let out = Finished::example("http_client", &[&url, &url, "--mode", "blocking", "-n", "1"])?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout.matches("blocking: 1 requests in ").count(), 2, "{}", out.stdout);
    Ok(())
}

/// Runs `http_client ARGS`, expecting exit code `code` and a first line on
/// stderr that contains every piece of `wanted`; returns it. A failed
/// request or a bad URL must be that one line alone (a bad option is
/// followed by the usage text).
fn client_fails(args: &[&str], code: i32, wanted: &[&str]) -> io::Result<String> {
    let out = Finished::example("http_client", args)?;
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    let first = out.stderr.lines().next().unwrap_or_default().to_owned();
    if code == 1 || !args[0].starts_with('-') {
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: not one line on stderr:\n{}", out.stderr);
    }
    assert!(first.starts_with("http_client: "), "{first}");
    for w in wanted {
        assert!(first.contains(w), "{args:?}: {first:?} does not contain {w:?}");
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    Ok(first)
}

#[test]
fn http_client_refused_connection() -> io::Result<()> {
    let addr = refused_addr()?.to_string();
    let url = format!("http://{addr}/");
    for mode in ["blocking", "concurrent"] {
        client_fails(
            &[&url, "-n", "2", "--mode", mode],
            1,
            &[&format!("GET {url}: connecting to {addr}: "), "refused"],
        )?;
    }
    Ok(())
}

#[test]
fn http_client_malformed_response() -> io::Result<()> {
    let garbage = vec![Act::Send(b"220 smtp.example ESMTP ready\r\n\r\n".to_vec()), Act::Close];
    let server = Scripted::start(vec![garbage.clone()])?;
    client_fails(&[&server.url("/"), "-n", "1"], 1, &["malformed response"])?;
    let server = Scripted::start(vec![garbage.clone(), garbage])?;
    client_fails(
        &[&server.url("/"), "-n", "2", "--mode", "concurrent"],
        1,
        &["malformed response", "(and 1 more of 2 requests failed)"],
    )?;
    let short = vec![Act::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec()), Act::Close];
    let server = Scripted::start(vec![short])?;
    client_fails(&[&server.url("/"), "-n", "1"], 1, &["closed after 3 of 10 body bytes"])?;
    Ok(())
}

#[test]
fn http_client_timeout() -> io::Result<()> {
    let server = Scripted::start(vec![vec![Act::Hang], vec![Act::Hang]])?;
    let limit = Duration::from_millis(300);
    for mode in ["blocking", "concurrent"] {
        client_fails(
            &[&server.url("/"), "-n", "1", "--timeout", "0.3", "--mode", mode],
            1,
            &[&format!("within {limit:?}")],
        )?;
    }
    Ok(())
}

#[test]
fn http_client_bad_urls_and_options() -> io::Result<()> {
    client_fails(&["https://example.com/"], 2, &["https is not supported"])?;
    client_fails(&["example.com"], 2, &["expected http://host[:port]/path"])?;
    client_fails(&["http://host:99999/"], 2, &["not a valid port"])?;
    client_fails(&["-n", "0"], 2, &["-n must be at least 1"])?;
    client_fails(&["--mode", "fast"], 2, &["--mode \"fast\""])?;
    client_fails(&["--timeout", "0"], 2, &["--timeout"])?;
    client_fails(&["--bogus"], 2, &["--bogus"])?;
    let out = Finished::example("http_client", &["--help"])?;
    assert!(out.status.success() && out.stdout.starts_with("usage: http_client"), "{out:?}");
    for option in ["-n N", "--mode", "--timeout", "--delay-ms"] {
        assert!(out.stdout.contains(option), "--help does not mention {option}");
    }
    Ok(())
}
