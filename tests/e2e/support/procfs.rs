//! What `/proc` tells about a process: CPU time used so far, resident memory and open
//! files. Shared by the soak scenario and the server-load bench. A process that is gone
//! reads as zero.

use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`, 100 if unknown).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// User + system CPU time of all threads of `pid` (`"self"` for this process) so far.
pub fn cpu_time(pid: &str, ticks: u64) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name in parentheses may hold spaces: count fields after its `)`.
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the name.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_secs_f64((tick(11) + tick(12)) as f64 / ticks as f64)
}

/// Resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM` of `/proc/PID/status`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rss {
    pub now_kib: u64,
    pub peak_kib: u64,
}

pub fn rss(pid: u32) -> Rss {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Rss {
        now_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

/// Open file descriptors of a process (`ls /proc/PID/fd | wc -l`).
pub fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}
