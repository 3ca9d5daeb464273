//! The process's resident memory, read from /proc/self/status (Linux): the memory figures' peak is VmHWM after
//! it was set back to the current RSS.

use anyhow::Context;

/// Sets VmHWM back to the current RSS (Linux: `5` into /proc/self/clear_refs).
pub fn reset_peak_rss() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS")
}

/// A `kB` line of /proc/self/status (`VmRSS`, `VmHWM`), in bytes.
pub fn memory(field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .with_context(|| format!("{field} in /proc/self/status"))?;
    let kib: f64 = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024.0)
}
