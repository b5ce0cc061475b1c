//! Another process's resources, read from `/proc/PID` (Linux only): open
//! fds, CPU time, resident memory, threads and resource limits. `io_models`
//! watches its model servers through these, and the fd-exhaustion and HTTP
//! abuse tests their servers.
//!
//! Std only (and `sysconf` for the clock tick): the values are what the
//! kernel reports, whoever reads them.

use std::fs;
use std::io;

fn proc_path(pid: u32, entry: &str) -> String {
    format!("/proc/{pid}/{entry}")
}

fn invalid(pid: u32, entry: &str, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/{entry}: {what}"))
}

/// Open file descriptors of process `pid` (entries of `/proc/PID/fd`).
pub fn open_fds_of(pid: u32) -> io::Result<usize> {
    fs::read_dir(proc_path(pid, "fd"))?.try_fold(0, |n, entry| entry.map(|_| n + 1))
}

/// The numbers of the open fds of process `pid`, in ascending order.
pub fn fd_numbers_of(pid: u32) -> io::Result<Vec<u32>> {
    let mut fds = Vec::new();
    for entry in fs::read_dir(proc_path(pid, "fd"))? {
        let name = entry?.file_name();
        let fd =
            name.to_str().and_then(|n| n.parse().ok()).ok_or_else(|| invalid(pid, "fd", &format!("entry {name:?}")))?;
        fds.push(fd);
    }
    fds.sort_unstable();
    Ok(fds)
}

/// CPU time process `pid` has used, user plus system, in clock ticks
/// (`utime` + `stime`, fields 14 and 15 of `/proc/PID/stat`, see proc(5);
/// `sysconf(_SC_CLK_TCK)` ticks per second).
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = fs::read_to_string(proc_path(pid, "stat"))?;
    // The command name (field 2) is in parentheses and may contain spaces
    // and ')': the fields after it start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| invalid(pid, "stat", "no ')'"))?;
    // `rest` starts at field 3 (state), so field N is at index N - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| invalid(pid, "stat", &format!("field {n} missing or not a number")))
    };
    Ok(field(14)? + field(15)?)
}

/// How many clock ticks [`cpu_ticks`] counts per second (`_SC_CLK_TCK`,
/// 100 on most systems).
pub fn ticks_per_second() -> io::Result<u64> {
    // SAFETY: sysconf takes no pointers and only reads configuration.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).ok_or_else(io::Error::last_os_error)
}

/// Resident memory of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let value = status_field(pid, "VmRSS")?;
    value
        .strip_suffix("kB")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| invalid(pid, "status", &format!("VmRSS: {value:?}")))
}

/// How many threads process `pid` runs (`Threads` in `/proc/PID/status`).
pub fn threads_of(pid: u32) -> io::Result<u64> {
    status_field(pid, "Threads").and_then(|v| v.parse().map_err(|_| invalid(pid, "status", &format!("Threads: {v:?}"))))
}

/// The value of the line `NAME:\tVALUE` of `/proc/PID/status`, trimmed.
fn status_field(pid: u32, name: &str) -> io::Result<String> {
    let status = fs::read_to_string(proc_path(pid, "status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| invalid(pid, "status", &format!("no {name} line")))
}

/// The soft limit named `name` (as in `/proc/PID/limits`, e.g. `"Max open
/// files"`) of process `pid`; `None` if unlimited.
pub fn soft_limit(pid: u32, name: &str) -> io::Result<Option<u64>> {
    let limits = fs::read_to_string(proc_path(pid, "limits"))?;
    let value = limits
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| invalid(pid, "limits", &format!("no {name:?} line")))?;
    match value {
        "unlimited" => Ok(None),
        v => v.parse().map(Some).map_err(|_| invalid(pid, "limits", &format!("{name}: {v:?}"))),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() -> io::Result<()> {
        let pid = std::process::id();
        assert!(open_fds_of(pid)? >= 3, "stdin, stdout and stderr at least");
        let fds = fd_numbers_of(pid)?;
        assert!(!fds.is_empty() && fds.windows(2).all(|w| w[0] < w[1]), "{fds:?}");
        let before = cpu_ticks(pid)?;
        assert!(rss_kib(pid)? > 0);
        assert!(threads_of(pid)? >= 1);
        assert!(ticks_per_second()? > 0);
        assert!(cpu_ticks(pid)? >= before);
        let limit = soft_limit(pid, "Max open files")?;
        assert!(limit.is_none_or(|l| l >= 3), "{limit:?}");
        assert!(soft_limit(pid, "No such limit").is_err());
        Ok(())
    }
}
