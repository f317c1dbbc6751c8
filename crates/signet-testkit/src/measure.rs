//! What the benchmarks measure besides time: percentiles of latencies and
//! a process's memory from `/proc`.

use std::time::Duration;

/// The `p` quantile (0 to 1) of sorted latencies, nearest rank; zero when
/// there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`…) of `pid`, or of
/// this process when `None`; 0 when it cannot be read.
pub fn status_kib(pid: Option<u32>, field: &str) -> u64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let prefix = format!("{field}:");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
