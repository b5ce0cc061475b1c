//! The `tls_echo` binary: a TLS echo server (rustls through futures-rustls
//! on weft) with a certificate made at start, and its own client, which
//! trusts only that certificate: lines round-trip, an untrusted
//! certificate is refused, and the server shuts down on a signal.

use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use tests::support::{example_binary, send_signal, wait_success, Finished, Running, TempDir, PATIENCE};

#[test]
fn tls_echo_round_trips_through_its_own_client() -> io::Result<()> {
    let dir = TempDir::new("tls")?;
    let pem = dir.join("server.pem");
    let pem_arg = pem.to_string_lossy().into_owned();
    let (server, addr) = Running::server("tls_echo", &["--addr", "127.0.0.1:0", "--cert-out", &pem_arg])?;
    // The certificate is printed after the announcement, as written to the file.
    assert_eq!(server.stdout.next()?, "-----BEGIN CERTIFICATE-----");
    server.stdout.skip_to("-----END CERTIFICATE-----")?;
    assert!(std::fs::read_to_string(&pem)?.starts_with("-----BEGIN CERTIFICATE-----"));

    let mut client = Running::spawn(
        Command::new(example_binary("tls_echo")?)
            .args(["--client", &addr.to_string(), "--cert", &pem_arg])
            .stdin(Stdio::piped()),
    )?;
    let stdin = client.stdin.as_mut().ok_or_else(|| io::Error::other("no stdin"))?;
    stdin.write_all(b"hello over TLS\n")?;
    assert_eq!(client.stdout.next()?, "hello over TLS");
    stdin.write_all("ünïcode and a second line\n".as_bytes())?;
    assert_eq!(client.stdout.next()?, "ünïcode and a second line");
    client.close_stdin();
    let (status, rest) = client.wait(Instant::now() + PATIENCE)?;
    assert!(status.success(), "client exited with {status}");
    assert!(rest.is_empty(), "{rest}");

    // A client given another certificate refuses the server's.
    let other_dir = TempDir::new("tls-other")?;
    let other = other_dir.join("other.pem");
    let other_arg = other.to_string_lossy().into_owned();
    let (other_server, _) = Running::server("tls_echo", &["--addr", "127.0.0.1:0", "--cert-out", &other_arg])?;
    drop(other_server);
    let refused = Finished::example("tls_echo", &["--client", &addr.to_string(), "--cert", &other_arg])?;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(refused.stderr.contains("certificate"), "{}", refused.stderr);

    send_signal(&server, libc::SIGINT)?;
    wait_success(server, Instant::now() + PATIENCE)?;
    Ok(())
}

#[test]
fn tls_echo_help_says_how_to_connect_with_openssl() -> io::Result<()> {
    let out = Finished::example("tls_echo", &["--help"])?;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("openssl s_client -connect"), "{}", out.stdout);
    for bad in [&["--client", "127.0.0.1:1"][..], &["--bogus"], &["stray"]] {
        let out = Finished::example("tls_echo", bad)?;
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
        assert!(out.stderr.starts_with("tls_echo: "), "{}", out.stderr);
    }
    Ok(())
}
