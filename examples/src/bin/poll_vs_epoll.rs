//! poll_vs_epoll: waiting with select(2) or poll(2) costs O(n) in the
//! number of watched fds, even when only one is ready; epoll_wait(2) costs
//! O(1), however many idle fds are registered.
//!
//! See it for yourself:
//!
//! ```text
//! cargo run --release -p examples --bin poll_vs_epoll
//! ```
//!
//! For N = 10, 100, 1,000, 10,000 it opens N idle fds (eventfds nobody
//! writes: stand-ins for idle client connections) plus one active one, then
//! repeats a round: make the active fd readable, wait until "something is
//! ready", find which fd it is and read it. It prints the median time of a
//! round for each way of waiting; on one (virtualised, not fast) machine:
//!
//! ```text
//!       N   poll us/wait  epoll us/wait  select us/wait
//!      10           2.36           1.12            2.57
//!     100          13.15           1.10           13.36
//!   1,000         118.85           1.12          121.70
//!  10,000        1613.49           1.08               -
//! ```
//!
//! Your numbers will differ; the shape will not: poll and select grow
//! tenfold with N, epoll stays put.
//!
//! Why: `poll` and `select` take the whole list of fds on every call. The
//! kernel copies it in, asks every fd whether it is ready (and, until one
//! is, hooks the caller onto every fd's wait queue, then unhooks it), and
//! copies the results out; then the program scans them all to find the one
//! that fired. With epoll the list lives in the kernel: each fd is
//! registered once (`epoll_ctl`), a ready fd puts itself on the epoll
//! instance's ready list from its wake-up callback, and `epoll_wait` just
//! hands back that list. An event loop with 10,000 mostly idle connections
//! pays for the ready ones only, which is why weft (like every serious
//! runtime) is built on epoll on Linux and kqueue on the BSDs and macOS.
//!
//! `select` stops at FD_SETSIZE (1024): an `fd_set` is a fixed array of
//! 1024 bits indexed by fd number, so it cannot even name fd 1024, let
//! alone wait on it (`FD_SET` with a larger fd writes past the array).
//! The constant left over in every round, epoll included, is the write and
//! read that make the active fd ready and not ready again.

use std::process::ExitCode;

use examples::cli::{Args, Error, Long, Usage};

const USAGE: Usage = Usage {
    name: "poll_vs_epoll",
    text: "\
usage: poll_vs_epoll [--max-n N] [--rounds R]

Measures one wait for a single ready fd among N idle ones, with select(2)
(while every fd is below FD_SETSIZE), poll(2) and epoll_wait(2), for
N = 10, 100, 1,000, ... up to --max-n, and prints the median microseconds
per wait. Linux only. N is capped by the open-file limit (ulimit -n); the
soft limit is raised towards the hard one if needed.

options:
  --max-n N     the largest number of idle fds (default 10000)
  --rounds R    timed waits per method and N (default 1000)
  --help        show this help
",
};

fn main() -> ExitCode {
    let (max_n, rounds) = match USAGE.parse(parse) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };
    match linux::run(max_n, rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("poll_vs_epoll: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The largest number of idle fds, and the timed waits per method and N.
fn parse(args: &mut Args) -> Result<(usize, usize), Error> {
    let (mut max_n, mut rounds) = (10_000, 1000);
    while let Some(arg) = args.next()? {
        match arg {
            Long("max-n") => max_n = args.parsed()?,
            Long("rounds") => rounds = args.parsed()?,
            _ => return Err(arg.unexpected()),
        }
    }
    if max_n == 0 || rounds == 0 {
        return Err("--max-n and --rounds must be at least 1".into());
    }
    Ok((max_n, rounds))
}

#[cfg(not(target_os = "linux"))]
mod linux {
    use std::io;

    /// epoll and eventfd are Linux's; kqueue is the BSD and macOS counterpart.
    pub fn run(_max_n: usize, _rounds: usize) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "this measurement needs Linux (epoll, eventfd)"))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::io::{self, Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::ptr;
    use std::time::{Duration, Instant};

    use examples::cli::thousands;
    use examples::measure::raise_fd_limit;
    use examples::sys::{cvt, cvt_r};

    /// fds kept free for stdio, the epoll instance and whatever else is open.
    const SPARE_FDS: usize = 16;

    pub fn run(max_n: usize, rounds: usize) -> io::Result<()> {
        let limit = raise_fd_limit(max_n + SPARE_FDS)?;
        let max_n = if limit < max_n + SPARE_FDS {
            let capped = limit.saturating_sub(SPARE_FDS).max(1);
            println!("the open-file limit (ulimit -n) is {limit}: N is capped at {}", thousands(capped as u64));
            capped
        } else {
            max_n
        };
        let mut sizes: Vec<usize> =
            std::iter::successors(Some(10usize), |n| n.checked_mul(10)).take_while(|&n| n < max_n).collect();
        sizes.push(max_n);

        println!("median time of one wait for 1 ready fd among N idle ones ({rounds} rounds each)");
        println!("{:>7}  {:>13}  {:>13}  {:>14}", "N", "poll us/wait", "epoll us/wait", "select us/wait");
        for n in sizes {
            let sources = Sources::new(n)?;
            let poll = sources.time(rounds, PollWaiter::new(&sources))?;
            let epoll = sources.time(rounds, EpollWaiter::new(&sources)?)?;
            let select = match SelectWaiter::new(&sources) {
                Some(waiter) => format!("{:.2}", micros(sources.time(rounds, waiter)?)),
                None => "-".to_owned(),
            };
            println!("{:>7}  {:>13.2}  {:>13.2}  {:>14}", thousands(n as u64), micros(poll), micros(epoll), select);
        }
        println!(
            "select: only while every fd is below FD_SETSIZE ({}): an fd_set has no bit for more",
            libc::FD_SETSIZE
        );
        Ok(())
    }

    fn micros(d: Duration) -> f64 {
        d.as_secs_f64() * 1e6
    }

    /// N idle eventfds and one active one, opened in that order, so the
    /// active one has the highest fd number and comes last in every list.
    struct Sources {
        /// Never written: never readable, like a connection whose client is thinking.
        idle: Vec<OwnedFd>,
        /// Written to start a round (readable), read to end it (not readable).
        active: File,
    }

    impl Sources {
        fn new(n: usize) -> io::Result<Sources> {
            let idle = (0..n).map(|_| eventfd()).collect::<io::Result<Vec<_>>>()?;
            Ok(Sources { idle, active: File::from(eventfd()?) })
        }

        /// Every fd, the active one last.
        fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
            self.idle.iter().map(AsRawFd::as_raw_fd).chain([self.active.as_raw_fd()])
        }

        /// The median of `rounds` timed rounds (after a few untimed ones to
        /// warm caches). A median, not a mean: a round that lost the CPU to
        /// another process does not move it.
        fn time(&self, rounds: usize, mut waiter: impl Waiter) -> io::Result<Duration> {
            let warmup = (rounds / 10).max(10);
            let mut times = Vec::with_capacity(rounds);
            for i in 0..warmup + rounds {
                let start = Instant::now();
                // Make the active fd readable: add 1 to its counter.
                (&self.active).write_all(&1u64.to_ne_bytes())?;
                let ready = waiter.wait()?;
                if ready != self.active.as_raw_fd() {
                    return Err(io::Error::other(format!(
                        "{}: fd {ready} reported ready, not the active one",
                        waiter.name()
                    )));
                }
                // Read the counter back to 0: not readable any more.
                let mut counter = [0u8; 8];
                (&self.active).read_exact(&mut counter)?;
                if i >= warmup {
                    times.push(start.elapsed());
                }
            }
            times.sort_unstable();
            Ok(times[times.len() / 2])
        }
    }

    /// A non-blocking, close-on-exec eventfd with counter 0 (eventfd(2)).
    fn eventfd() -> io::Result<OwnedFd> {
        // SAFETY: eventfd takes no pointers.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just opened and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// One way to wait until one of the sources is readable.
    trait Waiter {
        fn name(&self) -> &'static str;
        /// Blocks until a source is readable and returns its fd.
        fn wait(&mut self) -> io::Result<RawFd>;
    }

    /// poll(2): the whole array goes to the kernel and back on every call.
    struct PollWaiter {
        fds: Vec<libc::pollfd>,
    }

    impl PollWaiter {
        fn new(sources: &Sources) -> PollWaiter {
            PollWaiter { fds: sources.fds().map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect() }
        }
    }

    impl Waiter for PollWaiter {
        fn name(&self) -> &'static str {
            "poll"
        }

        fn wait(&mut self) -> io::Result<RawFd> {
            let (ptr, len) = (self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t);
            // SAFETY: `ptr` points to `len` initialised pollfds that stay
            // borrowed, unmoved, for the call; -1 waits without a timeout.
            cvt_r(|| unsafe { libc::poll(ptr, len, -1) })?;
            // poll says how many fds are ready, not which: scan them all.
            self.fds
                .iter()
                .find(|p| p.revents != 0)
                .map(|p| p.fd)
                .ok_or_else(|| io::Error::other("poll returned, but no fd is ready"))
        }
    }

    /// epoll(7): the fds are registered once; a wait returns only ready ones.
    struct EpollWaiter {
        epoll: OwnedFd,
        /// Room for the events of one wait; one is all a round makes.
        events: [libc::epoll_event; 8],
    }

    impl EpollWaiter {
        fn new(sources: &Sources) -> io::Result<EpollWaiter> {
            // SAFETY: epoll_create1 takes no pointers.
            let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
            // SAFETY: `fd` was just opened and nothing else owns it.
            let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
            for fd in sources.fds() {
                // The fd travels in the event's user data, like a token.
                let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: fd as u64 };
                // SAFETY: both fds are open, and the kernel copies `event`,
                // which lives across the call.
                cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) })?;
            }
            Ok(EpollWaiter { epoll, events: [libc::epoll_event { events: 0, u64: 0 }; 8] })
        }
    }

    impl Waiter for EpollWaiter {
        fn name(&self) -> &'static str {
            "epoll"
        }

        fn wait(&mut self) -> io::Result<RawFd> {
            let (ep, ptr, len) = (self.epoll.as_raw_fd(), self.events.as_mut_ptr(), self.events.len() as i32);
            // SAFETY: `ep` is an open epoll fd; `ptr` points to `len`
            // writable events that stay borrowed for the call.
            let n = cvt_r(|| unsafe { libc::epoll_wait(ep, ptr, len, -1) })?;
            // Only ready fds come back: nothing to scan.
            match self.events[..n as usize] {
                [event] => Ok(event.u64 as RawFd),
                _ => Err(io::Error::other(format!("epoll_wait returned {n} events, not 1"))),
            }
        }
    }

    /// select(2): a bitmap indexed by fd number, rebuilt for every call
    /// (the kernel overwrites it with the result).
    struct SelectWaiter {
        /// Every source's bit set; copied for each call.
        all: libc::fd_set,
        /// The highest fd plus one: how many bits the kernel looks at.
        nfds: i32,
        fds: Vec<RawFd>,
    }

    impl SelectWaiter {
        /// `None` if some fd is too big for an fd_set.
        fn new(sources: &Sources) -> Option<SelectWaiter> {
            let fds: Vec<RawFd> = sources.fds().collect();
            let max = *fds.iter().max()?;
            if max as usize >= libc::FD_SETSIZE {
                return None;
            }
            // SAFETY: an fd_set is plain bits, for which all zeroes is valid (the empty set).
            let mut all: libc::fd_set = unsafe { std::mem::zeroed() };
            for &fd in &fds {
                // SAFETY: `all` is a valid fd_set and 0 <= fd < FD_SETSIZE (checked above).
                unsafe { libc::FD_SET(fd, &mut all) };
            }
            Some(SelectWaiter { all, nfds: max + 1, fds })
        }
    }

    impl Waiter for SelectWaiter {
        fn name(&self) -> &'static str {
            "select"
        }

        fn wait(&mut self) -> io::Result<RawFd> {
            let mut set = self.all;
            // On failure select leaves the sets unmodified (select(2)), so a
            // retry after EINTR waits on the full set again.
            // SAFETY: `set` is a valid fd_set borrowed for the call; the null
            // sets and timeout mean "none" and "no timeout".
            cvt_r(|| unsafe { libc::select(self.nfds, &mut set, ptr::null_mut(), ptr::null_mut(), ptr::null_mut()) })?;
            // Like poll: a count comes back; find the fd by testing every bit.
            self.fds
                .iter()
                .copied()
                // SAFETY: `set` is a valid fd_set and every fd is below FD_SETSIZE.
                .find(|&fd| unsafe { libc::FD_ISSET(fd, &set) })
                .ok_or_else(|| io::Error::other("select returned, but no fd is ready"))
        }
    }
}
