//! Watching servers from the outside, for `io_models` (and the tests):
//!
//! - [`load`]: an echo load generator: many clients in request-response
//!   ping-pong, plus idle connections held alongside, bounded in time and
//!   in count; it reports throughput, latency percentiles and which
//!   clients got any answer at all.
//! - [`procfs`]: another process's CPU time, memory, threads and fds, from
//!   `/proc/PID`.
//! - [`server`]: where cargo puts the example binaries (and building them
//!   there); a server binary as a child process: started on port 0, its
//!   `listening on ADDR` awaited, its stderr kept.
//! - [`plot`]: a hand-written SVG line chart on log-log axes.
//! - [`raise_fd_limit`]: room for thousands of sockets.

use std::io;

pub mod load;
pub mod plot;
pub mod procfs;
pub mod server;

/// Makes sure `want` fds can be open: raises the soft `RLIMIT_NOFILE`
/// towards the hard limit if needed (no privilege required; child
/// processes inherit it). Returns the soft limit now in force, which is
/// below `want` if the hard limit is.
pub fn raise_fd_limit(want: usize) -> io::Result<usize> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit that outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == -1 {
        return Err(io::Error::last_os_error());
    }
    let want = libc::rlim_t::try_from(want).unwrap_or(libc::rlim_t::MAX);
    if lim.rlim_cur != libc::RLIM_INFINITY && lim.rlim_cur < want {
        lim.rlim_cur = if lim.rlim_max == libc::RLIM_INFINITY { want } else { want.min(lim.rlim_max) };
        // SAFETY: `lim` is a valid rlimit; the kernel only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX))
}
