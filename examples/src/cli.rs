//! What every example binary does at its edges: parse `--flag` /
//! `--key value` options ([`Args`]) and answer `--help` or a bad command
//! line ([`Usage`]), announce a bound address (`listening on ADDR`,
//! [`announce`]), and print counts a reader takes in at a glance
//! ([`thousands`]).

use std::fmt::Display;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

/// A binary's name and its `--help` text: what `main` answers to `--help`
/// and to a command line it cannot run.
///
/// ```no_run
/// use std::process::ExitCode;
/// use examples::cli::Usage;
///
/// const USAGE: Usage = Usage { name: "demo", text: "usage: demo [--addr HOST:PORT] [--quiet]\n" };
///
/// fn main() -> ExitCode {
///     let args = match USAGE.args(&["quiet"], &["addr"]) {
///         Ok(args) => args,
///         Err(exit) => return exit, // --help, or a bad command line
///     };
///     if !args.positional.is_empty() {
///         return USAGE.error("unexpected arguments");
///     }
///     ExitCode::SUCCESS
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// The binary's name, which starts its error messages.
    pub name: &'static str,
    /// What `--help` prints, and a bad command line after the error.
    pub text: &'static str,
}

impl Usage {
    /// The process's arguments, parsed by [`Args::parse`]: `flags` take no
    /// value, `options` take one, `--help` (or `-h`) is always known.
    /// `Err` holds the exit status for `main` to return: success once
    /// `--help` printed the usage text on stdout, 2 once a bad command line
    /// (an unknown option, a missing value) was reported, with the usage
    /// text, on stderr.
    pub fn args(&self, flags: &[&str], options: &[&str]) -> Result<Args, ExitCode> {
        self.args_from(std::env::args().skip(1), flags, options)
    }

    /// Like [`args`](Usage::args), for arguments other than the process's
    /// (without the program name).
    pub fn args_from(
        &self,
        args: impl IntoIterator<Item = String>,
        flags: &[&str],
        options: &[&str],
    ) -> Result<Args, ExitCode> {
        let flags = [flags, &["help"]].concat();
        let known = [&flags[..], options].concat();
        let args = Args::parse(args, &flags).and_then(|a| a.reject_unknown(&known).map(|()| a));
        match args {
            Ok(args) if args.flag("help") => {
                print!("{}", self.text);
                Err(ExitCode::SUCCESS)
            }
            Ok(args) => Ok(args),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Reports a command line that cannot run: `NAME: ERROR` and the usage
    /// text on stderr. Returns exit status 2, for `main` to return.
    pub fn error(&self, error: impl Display) -> ExitCode {
        eprintln!("{}: {error}\n\n{}", self.name, self.text);
        ExitCode::from(2)
    }
}

/// Command-line options as `--flag` / `--key value` pairs; anything else is positional.
#[derive(Debug, Default)]
pub struct Args {
    /// `(name, value)` for `--name value` and `--name=value`; `value` is `None` for flags.
    pairs: Vec<(String, Option<String>)>,
    /// Arguments that do not start with `--`.
    pub positional: Vec<String>,
}

impl Args {
    /// Parses `args` (without the program name). `flags` lists the options
    /// that take no value; every other `--name` takes the next argument.
    pub fn parse(args: impl IntoIterator<Item = String>, flags: &[&str]) -> Result<Args, String> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            if let Some(name) = arg.strip_prefix("--") {
                if let Some((k, v)) = name.split_once('=') {
                    out.pairs.push((k.to_owned(), Some(v.to_owned())));
                } else if flags.contains(&name) {
                    out.pairs.push((name.to_owned(), None));
                } else {
                    let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                    out.pairs.push((name.to_owned(), Some(value)));
                }
            } else if arg == "-h" {
                out.pairs.push(("help".to_owned(), None));
            } else {
                out.positional.push(arg);
            }
        }
        Ok(out)
    }

    /// True if the flag `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The last value of `--name`, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref())
    }

    /// The value of `--name` parsed as `T`, or `default` if absent.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.value(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("--{name} {v:?}: {e}")),
        }
    }

    /// Fails on any option not in `known` (flags or valued).
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), String> {
        match self.pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((k, _)) => Err(format!("unknown option --{k}")),
            None => Ok(()),
        }
    }
}

/// Prints `listening on ADDR` on stdout and flushes it: scripts and tests
/// wait for this line before connecting.
pub fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

/// `n` with a comma every three digits, for counts a reader should take in
/// at a glance (the learner examples' summaries).
///
/// ```
/// assert_eq!(examples::cli::thousands(9_812_331), "9,812,331");
/// assert_eq!(examples::cli::thousands(100), "100");
/// assert_eq!(examples::cli::thousands(0), "0");
/// ```
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    // The first group has 1 to 3 digits, every later one exactly 3.
    let mut start = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = digits[..start].to_owned();
    while start < digits.len() {
        out.push(',');
        out.push_str(&digits[start..start + 3]);
        start += 3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags_values_and_positionals() {
        let a = Args::parse(args(&["--addr", "127.0.0.1:0", "--quiet", "x", "--n=3"]), &["quiet"]).unwrap();
        assert_eq!(a.value("addr"), Some("127.0.0.1:0"));
        assert!(a.flag("quiet"));
        assert_eq!(a.parsed("n", 1u32).unwrap(), 3);
        assert_eq!(a.positional, ["x"]);
        assert!(a.reject_unknown(&["addr", "quiet", "n"]).is_ok());
        assert!(a.reject_unknown(&["addr"]).is_err());
        assert!(Args::parse(args(&["--addr"]), &[]).is_err());
    }
}
