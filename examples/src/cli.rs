//! What every example binary does at its edges: read its command line
//! ([`Usage::parse`], over [lexopt](https://docs.rs/lexopt)) and answer
//! `--help` or a bad command line ([`Usage`]), announce a bound address
//! (`listening on ADDR`, [`announce`]; read back with
//! [`parse_announcement`]), and print counts a reader takes in
//! at a glance ([`thousands`]).
//!
//! Each binary writes its own loop over the arguments, a `match` with one
//! arm per option: what it accepts is in one place, and anything else
//! (`--bogus`, a stray word) is an error that names it.

use std::error::Error as StdError;
use std::ffi::OsString;
use std::fmt::{self, Display};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

pub use lexopt::prelude::*;
pub use lexopt::{Arg, Error};

/// A binary's name and its `--help` text: what `main` answers to `--help`
/// and to a command line it cannot run.
///
/// ```no_run
/// use std::process::ExitCode;
/// use examples::cli::{Args, Error, Long, Usage};
///
/// const USAGE: Usage = Usage { name: "demo", text: "usage: demo [--addr HOST:PORT] [--quiet]\n" };
///
/// struct Options {
///     addr: String,
///     quiet: bool,
/// }
///
/// fn parse(args: &mut Args) -> Result<Options, Error> {
///     let mut opts = Options { addr: "127.0.0.1:8080".to_owned(), quiet: false };
///     while let Some(arg) = args.next()? {
///         match arg {
///             Long("addr") => opts.addr = args.string()?,
///             Long("quiet") => opts.quiet = true,
///             // `--bogus`, or a stray positional argument.
///             _ => return Err(arg.unexpected()),
///         }
///     }
///     Ok(opts)
/// }
///
/// fn main() -> ExitCode {
///     let opts = match USAGE.parse(parse) {
///         Ok(opts) => opts,
///         Err(exit) => return exit, // --help, or a bad command line
///     };
///     println!("would listen on {}", opts.addr);
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
    /// Reads the process's arguments with `parse`. `Err` holds the exit
    /// status for `main` to return: success once `--help` (or `-h`) printed
    /// the usage text on stdout, 2 once a bad command line (an unknown
    /// option, a stray argument, a missing or malformed value) was
    /// reported, with the usage text, on stderr.
    pub fn parse<T>(&self, parse: impl FnOnce(&mut Args) -> Result<T, Error>) -> Result<T, ExitCode> {
        self.parse_from(std::env::args_os().skip(1), parse)
    }

    /// Like [`parse`](Usage::parse), for arguments other than the
    /// process's (without the program name).
    pub fn parse_from<T, A: Into<OsString>>(
        &self,
        args: impl IntoIterator<Item = A>,
        parse: impl FnOnce(&mut Args) -> Result<T, Error>,
    ) -> Result<T, ExitCode> {
        let mut args = Args { parser: lexopt::Parser::from_args(args), option: String::new() };
        match parse(&mut args) {
            Ok(parsed) => Ok(parsed),
            Err(Error::Custom(e)) if e.is::<HelpAsked>() => {
                print!("{}", self.text);
                Err(ExitCode::SUCCESS)
            }
            Err(e) => Err(self.error(describe(e))),
        }
    }

    /// Reports a command line that cannot run: `NAME: ERROR` and the usage
    /// text on stderr. Returns exit status 2, for `main` to return.
    pub fn error(&self, error: impl Display) -> ExitCode {
        eprintln!("{}: {error}\n\n{}", self.name, self.text);
        ExitCode::from(2)
    }
}

/// lexopt's message for `e`, in the words the examples use.
fn describe(e: Error) -> String {
    match e {
        Error::UnexpectedOption(option) => format!("unknown option {option}"),
        Error::UnexpectedArgument(value) => format!("unexpected argument {value:?}"),
        Error::MissingValue { option: Some(option) } => format!("{option} needs a value"),
        Error::UnexpectedValue { option, value } => format!("{option} takes no value (got {value:?})"),
        other => other.to_string(),
    }
}

/// `--help` or `-h`: not an error, but it ends the parse like one.
#[derive(Debug)]
struct HelpAsked;

impl Display for HelpAsked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("--help")
    }
}

impl StdError for HelpAsked {}

/// The command line, one argument at a time: a [`lexopt::Parser`] that
/// answers `--help` and `-h` itself and names the option in a bad value's
/// error.
#[derive(Debug)]
pub struct Args {
    parser: lexopt::Parser,
    /// The last option returned by [`next`](Args::next), as written
    /// (`--addr`, `-n`), for error messages.
    option: String,
}

impl Args {
    /// The next option (`Long("addr")` for `--addr`, `Short('n')` for `-n`)
    /// or positional argument (`Value`); `None` at the end. `--help` and
    /// `-h` end the parse: [`Usage::parse`] prints the help text.
    // Named like lexopt's `Parser::next`, which it wraps; it cannot be an
    // `Iterator`: each item borrows the parser.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Arg<'_>>, Error> {
        let arg = self.parser.next()?;
        match &arg {
            Some(Arg::Long("help") | Arg::Short('h')) => return Err(Error::Custom(Box::new(HelpAsked))),
            Some(Arg::Long(name)) => self.option = format!("--{name}"),
            Some(Arg::Short(c)) => self.option = format!("-{c}"),
            Some(Arg::Value(_)) | None => {}
        }
        Ok(arg)
    }

    /// The option [`next`](Args::next) returned last, as written (`--addr`, `-n`).
    pub fn option(&self) -> &str {
        &self.option
    }

    /// The value of the option just returned (`--addr VALUE` or `--addr=VALUE`).
    pub fn value(&mut self) -> Result<OsString, Error> {
        self.parser.value()
    }

    /// The option's value as a `String`.
    pub fn string(&mut self) -> Result<String, Error> {
        self.value()?.string()
    }

    /// The option's value parsed as `T`; an error names the option and the
    /// value (`--grace-ms "soon": invalid digit found in string`).
    pub fn parsed<T: FromStr>(&mut self) -> Result<T, Error>
    where
        T::Err: Display,
    {
        let value = self.string()?;
        value.parse().map_err(|e| Error::from(format!("{} {value:?}: {e}", self.option)))
    }

    /// The option's value as a number of milliseconds (`--grace-ms 500`).
    pub fn millis(&mut self) -> Result<Duration, Error> {
        self.parsed().map(Duration::from_millis)
    }

    /// The option's value as a number of seconds, fractions allowed
    /// (`--secs 0.5`), not negative.
    pub fn secs(&mut self) -> Result<Duration, Error> {
        let secs: f64 = self.parsed()?;
        Duration::try_from_secs_f64(secs)
            .map_err(|_| Error::from(format!("{} {secs}: expected a number of seconds, 0 or more", self.option)))
    }
}

/// Prints `listening on ADDR` on stdout and flushes it: scripts and tests
/// wait for this line before connecting. Called inside a weft runtime, the
/// line ends with the backend it waits on: `listening on 127.0.0.1:8080 (io_uring)`.
pub fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = match runtime::backend() {
        Some(backend) => writeln!(out, "listening on {addr} ({backend})"),
        None => writeln!(out, "listening on {addr}"),
    };
    let _ = out.flush();
}

/// The address and backend of a line [`announce`] printed (`listening on
/// ADDR`, or `listening on ADDR (BACKEND)` from inside a weft runtime), for
/// the tools and tests that start a server and wait for its address.
/// `None` for any other line.
///
/// ```
/// use examples::cli::parse_announcement;
/// use runtime::Backend;
/// let addr = "127.0.0.1:8080".parse().unwrap();
/// assert_eq!(parse_announcement("listening on 127.0.0.1:8080"), Some((addr, None)));
/// assert_eq!(parse_announcement("listening on 127.0.0.1:8080 (io_uring)\n"), Some((addr, Some(Backend::IoUring))));
/// assert_eq!(parse_announcement("listening on 127.0.0.1:8080 (fast)"), None);
/// assert_eq!(parse_announcement("accepted 127.0.0.1:4000"), None);
/// ```
pub fn parse_announcement(line: &str) -> Option<(SocketAddr, Option<runtime::Backend>)> {
    let rest = line.trim_end().strip_prefix("listening on ")?;
    let (addr, backend) = match rest.split_once(' ') {
        None => (rest, None),
        Some((addr, backend)) => (addr, Some(backend.strip_prefix('(')?.strip_suffix(')')?.parse().ok()?)),
    };
    Some((addr.parse().ok()?, backend))
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

    #[derive(Debug, Default, PartialEq)]
    struct Parsed {
        addr: Option<String>,
        quiet: bool,
        n: u32,
        grace: Duration,
        words: Vec<String>,
    }

    /// A parser like the binaries': two positional words at most.
    fn parse(args: &mut Args) -> Result<Parsed, Error> {
        let mut p = Parsed::default();
        while let Some(arg) = args.next()? {
            match arg {
                Long("addr") => p.addr = Some(args.string()?),
                Long("quiet") => p.quiet = true,
                Short('n') => p.n = args.parsed()?,
                Long("grace-ms") => p.grace = args.millis()?,
                Value(word) if p.words.len() < 2 => p.words.push(word.string()?),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(p)
    }

    const USAGE: Usage = Usage { name: "test", text: "usage: test\n" };

    /// What `Usage::parse` would report, as a message.
    fn error(args: &[&str]) -> String {
        let mut a = Args { parser: lexopt::Parser::from_args(args), option: String::new() };
        describe(parse(&mut a).expect_err("a bad command line"))
    }

    #[test]
    fn parses_flags_values_and_positionals() {
        let p = USAGE.parse_from(["--addr", "127.0.0.1:0", "--quiet", "x", "-n", "3", "--grace-ms=250"], parse);
        let p = p.expect("a good command line");
        assert_eq!(p.addr.as_deref(), Some("127.0.0.1:0"));
        assert!(p.quiet);
        assert_eq!((p.n, p.grace), (3, Duration::from_millis(250)));
        assert_eq!(p.words, ["x"]);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert_eq!(error(&["--bogus"]), "unknown option --bogus");
        assert_eq!(error(&["--bogus", "value"]), "unknown option --bogus");
        assert_eq!(error(&["a", "b", "c"]), "unexpected argument \"c\"");
        assert_eq!(error(&["--addr"]), "--addr needs a value");
        assert_eq!(error(&["--quiet=yes"]), "--quiet takes no value (got \"yes\")");
        assert_eq!(error(&["--grace-ms", "soon"]), "--grace-ms \"soon\": invalid digit found in string");
        assert_eq!(error(&["-n", "-1"]), "-n \"-1\": invalid digit found in string");
        assert_eq!(USAGE.parse_from(["--bogus"], parse).err(), Some(ExitCode::from(2)));
    }

    #[test]
    fn help_wins_wherever_it_is() {
        for args in [&["--help"][..], &["-h"], &["--quiet", "--help"], &["x", "-h", "--bogus"]] {
            assert_eq!(USAGE.parse_from(args, parse).err(), Some(ExitCode::SUCCESS), "{args:?}");
        }
    }
}
