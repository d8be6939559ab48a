//! CPU time and resident memory of a process from Linux procfs (proc(5)):
//! `utime + stime` (fields 14 and 15 of `/proc/PID/stat`, in clock ticks) and `VmRSS`
//! (`/proc/PID/status`), for the server under test and for the loader itself, so each
//! phase reports what the server spent whether or not the loader kept up.

use std::sync::OnceLock;
use std::time::Instant;

/// One reading of a process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU time of all threads, in seconds.
    pub cpu_s: f64,
    pub rss_bytes: u64,
}

/// Readings of the server and the loader at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub at: Instant,
    pub server: Option<ProcSample>,
    pub loader: Option<ProcSample>,
}

impl Snapshot {
    pub fn take(server_pid: Option<u32>) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            server: server_pid.and_then(|p| sample(&p.to_string())),
            loader: sample("self"),
        }
    }
}

/// Read `/proc/<pid>/stat` and `/proc/<pid>/status` (`pid` may be `self`).
pub fn sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu_s: cpu_ticks(&stat)? as f64 / clock_ticks() as f64,
        rss_bytes: rss_kib(&status)? * 1024,
    })
}

/// `utime + stime` from the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may contain spaces and parentheses, so fields are counted after the
/// last `)`: state is the first of them, utime the 12th, stime the 13th.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` in KiB from the text of `/proc/PID/status`.
pub fn rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft limit on open files from the text of `/proc/self/limits`.
pub fn open_files_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// This process's soft limit on open files, read once (later reads may fail for want of
/// a file descriptor).
pub fn fd_limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| open_files_limit(&l))
    })
}

/// Clock ticks per second (`getconf CLK_TCK`, asked once; 100 if that fails).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = "4242 (tern (serve) x) S 1 4242 4242 0 -1 4194560 9231 0 0 0 1234 567 0 0 20 0 \
                    6 0 123456 987654321 4321 18446744073709551615 1 1 0 0 0 0 0 4096 17 1 0 0 0 0 0";
        assert_eq!(cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(cpu_ticks("1 (x) S 1 2"), None);
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_status_and_limits() {
        let status = "Name:\ttern\nVmPeak:\t  200000 kB\nVmRSS:\t   65432 kB\nThreads:\t3\n";
        assert_eq!(rss_kib(status), Some(65432));
        assert_eq!(rss_kib("Name:\ttern\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            20000                20000                files     \n";
        assert_eq!(open_files_limit(limits), Some(20000));
    }

    #[test]
    fn reads_this_process() {
        let me = sample("self").expect("procfs is mounted");
        assert!(me.rss_bytes > 0);
        assert!(clock_ticks() >= 1);
    }
}
