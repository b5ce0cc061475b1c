//! Every example binary reads its command line the same way (lexopt, in
//! `examples::cli`): `--help` prints its usage on stdout and exits 0; an
//! unknown option, a stray argument or an option without its value is
//! named on stderr, after the binary's name, with exit status 2 and nothing
//! on stdout.
//!
//! The binaries are the files in `examples/src/bin/`, so a new one is
//! checked without being listed here.

use std::io;
use std::path::Path;

use tests::support::Finished;

/// Every file in `examples/src/bin/`, by binary name.
fn binaries() -> io::Result<Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/src/bin");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_owned());
            }
        }
    }
    names.sort();
    assert!(names.len() >= 13, "found only {names:?} in {}", dir.display());
    Ok(names)
}

/// What a binary takes before its options: the mode of the binaries that
/// have one.
fn mode(bin: &str) -> &'static [&'static str] {
    match bin {
        "udp_chat" | "framed" | "chat" => &["server"],
        _ => &[],
    }
}

/// Runs `bin` with `args` and expects a usage error that says `wanted`.
fn usage_error(bin: &str, args: &[&str], wanted: &str) -> io::Result<()> {
    let out = Finished::example(bin, args)?;
    assert_eq!(out.status.code(), Some(2), "{bin} {args:?} exited with {}; stderr:\n{}", out.status, out.stderr);
    assert!(out.stderr.starts_with(&format!("{bin}: ")), "{bin} {args:?}: stderr:\n{}", out.stderr);
    assert!(out.stderr.contains(wanted), "{bin} {args:?}: stderr does not say {wanted:?}:\n{}", out.stderr);
    assert!(out.stderr.contains(&format!("usage: {bin}")), "{bin} {args:?}: no usage after the error");
    assert!(out.stdout.is_empty(), "{bin} {args:?} printed on stdout: {}", out.stdout);
    Ok(())
}

#[test]
fn help_prints_the_usage_and_exits_0() -> io::Result<()> {
    for bin in binaries()? {
        for help in ["--help", "-h"] {
            let out = Finished::example(&bin, &[help])?;
            assert!(out.status.success(), "{bin} {help} exited with {}; stderr:\n{}", out.status, out.stderr);
            assert!(out.stdout.starts_with(&format!("usage: {bin}")), "{bin} {help}:\n{}", out.stdout);
            assert!(out.stdout.contains("--help"), "{bin} {help} does not list --help:\n{}", out.stdout);
            assert!(out.stderr.is_empty(), "{bin} {help} printed on stderr: {}", out.stderr);
        }
    }
    Ok(())
}

#[test]
fn an_unknown_option_is_named_as_unknown() -> io::Result<()> {
    for bin in binaries()? {
        // `--bogus VALUE`: the value must not make it look like a known option.
        usage_error(&bin, &[mode(&bin), &["--bogus"]].concat(), "unknown option --bogus")?;
        usage_error(&bin, &[mode(&bin), &["--bogus", "1"]].concat(), "unknown option --bogus")?;
    }
    Ok(())
}

#[test]
fn a_stray_argument_is_an_error() -> io::Result<()> {
    for bin in binaries()? {
        match bin.as_str() {
            // Its positional arguments are URLs; a bad one is one line
            // alone (see http_bins.rs), without the usage text.
            "http_client" | "hyper_client" => {
                let out = Finished::example(&bin, &["stray"])?;
                assert_eq!(out.status.code(), Some(2), "{bin} stray: {out:?}");
                assert!(out.stderr.contains("expected http://host[:port]/path"), "{bin} stray: {}", out.stderr);
            }
            // Its one positional argument is the server's address.
            "echo_client" => usage_error(&bin, &["127.0.0.1:1", "stray"], "unexpected argument \"stray\"")?,
            "udp_chat" | "framed" | "chat" => {
                usage_error(&bin, &["server", "stray"], "expected `server")?;
                usage_error(&bin, &["client", "127.0.0.1:1", "stray"], "unexpected argument \"stray\"")?;
            }
            _ => usage_error(&bin, &["stray"], "unexpected argument \"stray\"")?,
        }
    }
    Ok(())
}

#[test]
fn an_option_without_its_value_says_so() -> io::Result<()> {
    for (bin, option) in [
        ("async_echo", "--addr"),
        ("async_echo", "--grace-ms"),
        ("blocking_echo", "--addr"),
        ("busy_poll_echo", "--secs"),
        ("callback_echo", "--poller"),
        ("delay_server", "--delay-ms"),
        ("http_client", "-n"),
        ("http_server", "--idle-ms"),
        ("io_models", "--clients"),
        ("poll_vs_epoll", "--rounds"),
        ("producer_consumer", "--buns"),
        ("soak", "--secs"),
        ("udp_chat", "--addr"),
        ("framed", "--max-frame"),
    ] {
        usage_error(bin, &[mode(bin), &[option]].concat(), &format!("{option} needs a value"))?;
    }
    Ok(())
}

#[test]
fn a_bad_value_names_its_option() -> io::Result<()> {
    for (bin, args, wanted) in [
        ("async_echo", &["--grace-ms", "soon"][..], "--grace-ms \"soon\""),
        ("busy_poll_echo", &["--secs", "-1"], "--secs -1"),
        ("framed", &["server", "--max-frame", "lots"], "--max-frame \"lots\""),
        ("producer_consumer", &["--producers", "0"], "--producers must be at least 1"),
        ("blocking_echo", &["--threads=4"], "--threads takes no value"),
    ] {
        usage_error(bin, args, wanted)?;
    }
    Ok(())
}
