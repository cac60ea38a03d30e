//! Threads and memory: the local rayon pool of a run and the up-front memory check.

use crate::error::{Error, Result};

/// Runs `job` on a local rayon pool of `threads` workers (all cores when `None`).
/// Never touches the global pool, so a library user keeps control of it.
pub fn with_threads<T: Send>(threads: Option<usize>, job: impl FnOnce() -> T + Send) -> Result<T> {
    let threads = match threads {
        Some(0) => return Err(Error::invalid("threads", "must be >= 1 (or None for all cores), got 0")),
        Some(t) => t,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::invalid("threads", format!("could not start {threads} threads: {e}")))?;
    Ok(pool.install(job))
}

/// Memory the operating system can still hand out, in bytes (`None` where unknown).
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses a run whose estimated need exceeds the available memory.
pub fn check_memory(needed_bytes: u64, hint: &str) -> Result<()> {
    const MIB: u64 = 1 << 20;
    match available_memory() {
        Some(avail) if needed_bytes > avail => Err(Error::OutOfMemory {
            needed_mib: needed_bytes.div_ceil(MIB),
            available_mib: avail / MIB,
            hint: hint.to_string(),
        }),
        _ => Ok(()),
    }
}
