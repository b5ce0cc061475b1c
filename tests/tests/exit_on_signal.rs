//! Every long-running example ends the same way on SIGINT (Ctrl-C) and
//! SIGTERM: with exit status 0, never killed by the signal. The servers
//! with a grace period (`async_echo`, `callback_echo`, `framed server`; the
//! HTTP servers in http_shutdown.rs) end it at once on a second signal.
//! Graceful shutdown itself (in-flight echoes, the grace period) is in
//! shutdown.rs.
//!
//! Each test waits for the line a program prints once its signals are
//! caught (`listening on ADDR`, or a client's `joined`/`connected`) before
//! signalling it.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tests::support::{connect, exchange, line_starting, send_signal, wait_success, Running, TempDir};

/// Most a program may take to exit once signalled (and nothing holds it).
const PROMPT: Duration = Duration::from_secs(5);
/// A grace period no test waits out.
const LONG_GRACE_MS: &str = "60000";

const SIGNALS: [(libc::c_int, &str); 2] = [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")];

/// Signals `running` and waits for it to exit; returns its status and the
/// rest of its stdout.
fn signal_and_wait(running: Running, signal: libc::c_int) -> io::Result<(ExitStatus, String)> {
    let signalled = Instant::now();
    send_signal(&running, signal)?;
    let out = running.wait(signalled + PROMPT)?;
    assert!(signalled.elapsed() < PROMPT, "exiting took {:?}", signalled.elapsed());
    Ok(out)
}

/// The blocking server's only thread is stuck in `read` on a client's
/// socket, where no signal reaches it: a thread of its own catches the
/// signal and ends the process, with status 0.
#[test]
fn blocking_echo_exits_0_while_blocked_in_read() -> io::Result<()> {
    for mode in [&[][..], &["--threads"]] {
        for (signal, name) in SIGNALS {
            let (server, addr) = Running::server("blocking_echo", &[&["--addr", "127.0.0.1:0"], mode].concat())?;
            let mut client = connect(addr)?;
            assert_eq!(exchange(&mut client, b"ping")?, b"ping");
            let signalled = Instant::now();
            send_signal(&server, signal)?;
            let stderr = wait_success(server, signalled + PROMPT)?;
            assert!(stderr.contains("shutting down"), "blocking_echo {mode:?} on {name}: stderr:\n{stderr}");
        }
    }
    Ok(())
}

/// The busy loop notices the signal on its next pass, prints what the
/// spinning cost, and exits 0.
#[test]
fn busy_poll_echo_prints_its_summary_and_exits_0() -> io::Result<()> {
    for (signal, name) in SIGNALS {
        let (server, _addr) = Running::server("busy_poll_echo", &["--addr", "127.0.0.1:0", "--quiet"])?;
        let (status, stdout) = signal_and_wait(server, signal)?;
        assert!(status.success(), "busy_poll_echo on {name} exited with {status}");
        assert!(stdout.starts_with("ran for "), "busy_poll_echo on {name}: stdout:\n{stdout}");
    }
    Ok(())
}

#[test]
fn udp_chat_server_and_client_exit_0() -> io::Result<()> {
    for (signal, name) in SIGNALS {
        let (server, addr) = Running::server("udp_chat", &["server", "--addr", "127.0.0.1:0"])?;
        // The client's stdin stays open: only the signal can end it.
        let client = Running::start("udp_chat", &["client", &addr.to_string()])?;
        line_starting(&client, "joined")?;
        let (status, stdout) = signal_and_wait(client, signal)?;
        assert!(status.success() && stdout.is_empty(), "udp_chat client on {name}: {status}, stdout {stdout:?}");
        let (status, stdout) = signal_and_wait(server, signal)?;
        assert!(status.success() && stdout.is_empty(), "udp_chat server on {name}: {status}, stdout {stdout:?}");
    }
    Ok(())
}

#[test]
fn framed_server_and_client_exit_0() -> io::Result<()> {
    for (signal, name) in SIGNALS {
        let (server, addr) = Running::server("framed", &["server", "--addr", "127.0.0.1:0"])?;
        let mut client = Running::start("framed", &["client", &addr.to_string()])?;
        line_starting(&client, "connected to")?;
        if let Some(stdin) = client.stdin.as_mut() {
            stdin.write_all(b"hello\n")?;
        }
        assert_eq!(client.stdout.next()?, "hello");
        let (status, stdout) = signal_and_wait(client, signal)?;
        assert!(status.success() && stdout.is_empty(), "framed client on {name}: {status}, stdout {stdout:?}");
        // The client is gone, so nothing holds the server's grace period.
        let signalled = Instant::now();
        send_signal(&server, signal)?;
        let stderr = wait_success(server, signalled + PROMPT)?;
        assert!(stderr.starts_with("shutting down"), "framed server on {name}: stderr:\n{stderr}");
    }
    Ok(())
}

/// Starts the client `bin ARGS` (its stdin open, so only a signal can end
/// it), waits for its `ready` line on stderr, and checks that SIGINT and
/// SIGTERM each end it with status 0.
fn client_exits_0(bin: &str, args: &[&str], ready: &str) -> io::Result<()> {
    for (signal, name) in SIGNALS {
        let client = Running::start(bin, args)?;
        line_starting(&client, ready)?;
        let (status, stdout) = signal_and_wait(client, signal)?;
        assert!(status.success() && stdout.is_empty(), "{bin} {args:?} on {name}: {status}, stdout {stdout:?}");
    }
    Ok(())
}

#[test]
fn chat_client_exits_0() -> io::Result<()> {
    let (_server, addr) = Running::server("chat", &["server", "--addr", "127.0.0.1:0", "--quiet"])?;
    client_exits_0("chat", &["client", &addr.to_string()], "joined")
}

/// `tls_echo --client`, with the TLS session up.
#[test]
fn tls_echo_client_exits_0() -> io::Result<()> {
    let dir = TempDir::new("tls-signal")?;
    let pem = dir.join("server.pem").to_string_lossy().into_owned();
    let (server, addr) = Running::server("tls_echo", &["--addr", "127.0.0.1:0", "--cert-out", &pem, "--quiet"])?;
    server.stdout.skip_to("-----END CERTIFICATE-----")?;
    client_exits_0("tls_echo", &["--client", &addr.to_string(), "--cert", &pem], "connected to")
}

#[test]
fn echo_client_exits_0() -> io::Result<()> {
    let (_server, addr) = Running::server("async_echo", &["--addr", "127.0.0.1:0", "--quiet"])?;
    client_exits_0("echo_client", &[&addr.to_string()], "connected to")
}

/// A connection that never closes would hold the server for its whole
/// grace period; a second Ctrl-C ends it at once, and the exit is still 0.
#[test]
fn a_second_signal_ends_the_grace_period() -> io::Result<()> {
    let servers: [(&str, &[&str]); 3] = [("async_echo", &[]), ("callback_echo", &[]), ("framed", &["server"])];
    for (bin, mode) in servers {
        let args = [mode, &["--addr", "127.0.0.1:0", "--grace-ms", LONG_GRACE_MS]].concat();
        let (server, addr): (Running, SocketAddr) = Running::server(bin, &args)?;
        // One round trip (a frame is echoed byte for byte): the server has
        // accepted the connection, which now holds it.
        let mut held = connect(addr)?;
        let probe = b"\0\0\0\x01x";
        assert_eq!(exchange(&mut held, probe)?, probe, "{bin}");
        let signalled = Instant::now();
        let named = |step: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{bin}, {step}: {e}"));
        send_signal(&server, libc::SIGINT)?;
        line_starting(&server, "shutting down").map_err(named("first signal"))?;
        send_signal(&server, libc::SIGINT)?;
        line_starting(&server, "second signal").map_err(named("second signal"))?;
        wait_success(server, signalled + PROMPT)?;
        assert!(signalled.elapsed() < PROMPT, "{bin}: exiting took {:?}", signalled.elapsed());
        drop(held);
    }
    Ok(())
}
