//! What the machine offers: memory, cores. Read once per question, never cached, so a long
//! session sees the machine as it is now.

/// MemAvailable from /proc/meminfo, or 8 GiB where that cannot be read.
pub fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(8 << 30, |kb| kb.saturating_mul(1024))
}

/// Bytes as GiB with one decimal, as the memory guards print them.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The cores this process may run on (1 where that cannot be told).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// This process's peak resident memory (Linux's VmHWM), in KiB, where the system says.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// [`peak_memory_kib`] for a note: `123456 KiB`, or "not known".
pub fn peak_memory_text() -> String {
    peak_memory_kib().map_or("not known".into(), |k| format!("{k} KiB"))
}
