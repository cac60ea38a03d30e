//! Where a solve's time goes: the seconds of each stage of the single pass (theory.md
//! section 4.1), summed over every chunk of samples and every group, so over the threads
//! that ran them (CPU seconds, not wall time). The benchmarks print them.

use std::time::Instant;

/// CPU seconds spent in each stage of a solve.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StageSeconds {
    /// The batch chain and the cavity field `chi(k) = sum_j L(k,j) xi(j)`: the fresh
    /// noise and a pass over the history of `xi`.
    pub noise: f64,
    /// The memory terms `sum_j R(k,j) f(j)` (and the probe's): a pass over `f`.
    pub memory: f64,
    /// Each sample's field, loss, `f` and `phi`.
    pub samples: f64,
    /// The response: the tangent rows (eq. 4.2) or the probe's estimate (eqs. 4.3-4.4).
    pub response: f64,
    /// Kernel row `k`: `sum_a f_a(k) f_a(l)`, a second pass over `f` (and the probe's
    /// history term).
    pub kernel_rows: f64,
    /// The incremental Cholesky factor of `C`.
    pub cholesky: f64,
    /// The weight side: rows `k+1` of `C`, `R` and `m` (eqs. 3.4-3.6).
    pub weight_side: f64,
}

impl StageSeconds {
    /// Adds another part's seconds.
    pub fn add(&mut self, other: &StageSeconds) {
        self.noise += other.noise;
        self.memory += other.memory;
        self.samples += other.samples;
        self.response += other.response;
        self.kernel_rows += other.kernel_rows;
        self.cholesky += other.cholesky;
        self.weight_side += other.weight_side;
    }

    /// Each stage with its name, in the order of a step.
    pub fn named(&self) -> [(&'static str, f64); 7] {
        [
            ("noise", self.noise),
            ("memory", self.memory),
            ("samples", self.samples),
            ("response", self.response),
            ("kernel_rows", self.kernel_rows),
            ("cholesky", self.cholesky),
            ("weight_side", self.weight_side),
        ]
    }
}

/// Timings are a measurement of the run, not part of its result: solutions equal in
/// every number are equal whatever their timings (same seed, same numbers).
impl PartialEq for StageSeconds {
    fn eq(&self, _other: &StageSeconds) -> bool {
        true
    }
}

/// A stopwatch: each `lap` returns the seconds since the previous one.
pub(super) struct Laps(Instant);

impl Laps {
    /// Starts the first lap.
    pub(super) fn start() -> Self {
        Laps(Instant::now())
    }

    /// The seconds since the last lap (or the start); starts the next lap.
    pub(super) fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let seconds = now.duration_since(self.0).as_secs_f64();
        self.0 = now;
        seconds
    }
}
