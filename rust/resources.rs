//! Threads and memory: the local rayon pool of a run and the up-front memory check.

use crate::error::{Error, Result};

/// The number of worker threads `threads` asks for: all cores for `None`.
pub(crate) fn resolve_threads(threads: Option<usize>) -> Result<usize> {
    match threads {
        Some(0) => Err(Error::invalid(
            "threads",
            "must be >= 1 (or None for all cores), got 0",
        )),
        Some(t) => Ok(t),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// Runs `job` on a local rayon pool of `threads` workers (all cores when `None`).
/// Never touches the global pool, so a library user keeps control of it.
pub(crate) fn with_threads<T: Send>(
    threads: Option<usize>,
    job: impl FnOnce() -> T + Send,
) -> Result<T> {
    let threads = resolve_threads(threads)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| {
            Error::invalid("threads", format!("could not start {threads} threads: {e}"))
        })?;
    Ok(pool.install(job))
}

/// Memory the operating system can still hand out, in bytes (`None` where unknown).
pub(crate) fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses a run whose estimated need exceeds the available memory.
pub(crate) fn check_memory(needed_bytes: u64, hint: &str) -> Result<()> {
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

/// Measured read bandwidth of main memory in bytes per second: the best of `repeats`
/// parallel sums over a buffer of `bytes` bytes on the current rayon pool. The benchmarks
/// use it as the machine's limit for memory-bound steps (through the Python binding).
#[cfg(feature = "python")]
pub(crate) fn measure_read_bandwidth(bytes: usize, repeats: usize) -> f64 {
    use rayon::prelude::*;
    let data = vec![1.0f32; (bytes / 4).max(1)];
    let chunk = data.len().div_ceil(rayon::current_num_threads()).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = std::time::Instant::now();
        let total: f64 = data.par_chunks(chunk).map(sum_f32).sum();
        best = best.min(start.elapsed().as_secs_f64());
        std::hint::black_box(total);
    }
    (data.len() * 4) as f64 / best
}

/// `sum c_i` with independent partial sums (vectorised).
#[cfg(feature = "python")]
fn sum_f32(c: &[f32]) -> f64 {
    let mut acc = [0.0f32; 16];
    let chunks = c.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for ch in chunks {
        for i in 0..16 {
            acc[i] += ch[i];
        }
    }
    acc.iter().map(|&a| a as f64).sum::<f64>() + tail as f64
}
