//! One independent group of samples (theory.md section 4.4), solved self-consistently on
//! its own: its effective samples ([`PatternSide`]), its weight side and the kernel rows
//! and training series it measures, advanced one step at a time.

use super::cholesky::IncrementalCholesky;
use super::options::DmftOptions;
use super::patterns::{Chunk, PatternParams, StepDraws, StepSums, CHUNK};
use super::profile::{Laps, StageSeconds};
use super::statistics::{sem_of, GroupResult};
use super::weights::{Kernels, WeightSide};
use crate::config::Config;
use crate::divergence::DivergenceGuard;
use crate::error::Result;
use crate::losses::{ActivationFn, LossFn};
use crate::rng::{stream, Domain};
use crate::simd::dot;
use rayon::prelude::*;

/// The effective samples of one group, in chunks.
struct PatternSide<'a, L, A> {
    chunks: Vec<Chunk>,
    params: PatternParams<'a, L, A>,
    samples: usize,
    responders: usize,
}

impl<'a, L: LossFn, A: ActivationFn> PatternSide<'a, L, A> {
    /// Fresh samples for group `group`; `round` separates the random streams of
    /// successive iterations; `level`: on a coarser level of a ladder, its number and the
    /// finer chain's switching probabilities over one of its steps (the static draws
    /// are the finest level's, the others its own).
    fn new(
        params: PatternParams<'a, L, A>,
        opts: &DmftOptions,
        steps: usize,
        group: usize,
        round: u64,
        level: Option<LevelCoupling>,
    ) -> Self {
        let (samples, responders) = group_size(opts, group);
        let chunks = (0..samples.div_ceil(CHUNK))
            .into_par_iter()
            .map(|i| {
                let first = i * CHUNK;
                let size = CHUNK.min(samples - first);
                let resp = responders.saturating_sub(first).min(size);
                // Distinct for every (round, group, chunk): groups < 2^20 (validated),
                // chunks per group < 2^20 (samples are bounded far below 2^28).
                let index = (round << 40) | ((group as u64) << 20) | i as u64;
                let rng = stream(opts.seed, Domain::DmftChunk, index);
                match level {
                    None => {
                        let probe_rng = stream(opts.seed, Domain::DmftProbe, index);
                        Chunk::new(&params, rng, probe_rng, size, resp, steps)
                    }
                    Some(level) => {
                        // Levels < 2^16 (a ladder has a few).
                        let own = (level.level << 40) | ((group as u64) << 20) | i as u64;
                        let probe_rng = stream(opts.seed, Domain::LadderProbe, own);
                        let step_rng = stream(opts.seed, Domain::LadderStep, own);
                        Chunk::new(&params, rng, probe_rng, size, resp, steps).coupled(
                            step_rng,
                            level.q_on,
                            level.q_off,
                        )
                    }
                }
            })
            .collect();
        PatternSide {
            chunks,
            params,
            samples,
            responders,
        }
    }

    /// Advances all samples to step `k` (their draws from `finer`, the same group of the
    /// next finer level of a ladder, with the row `whiten_row` of its `L_sub`; else
    /// their own); the chunks' sums are merged in chunk order.
    fn step(
        &mut self,
        k: usize,
        chol_row: &[f64],
        weights: &WeightSide,
        finer: Option<(&PatternSide<'a, L, A>, &[f64])>,
    ) -> StepSums {
        let params = self.params;
        let m_k = weights.m[k];
        let parts: Vec<StepSums> = match finer {
            None => self
                .chunks
                .par_iter_mut()
                .map(|chunk| chunk.step(k, chol_row, &weights.r, m_k, &params, StepDraws::Own))
                .collect(),
            Some((finer, whiten_row)) => self
                .chunks
                .par_iter_mut()
                .zip(finer.chunks.par_iter())
                .map(|(chunk, finer)| {
                    let draws = StepDraws::Finer {
                        chunk: finer,
                        whiten_row,
                    };
                    chunk.step(k, chol_row, &weights.r, m_k, &params, draws)
                })
                .collect(),
        };
        let mut total = parts[0].clone();
        for part in &parts[1..] {
            total.merge(part);
        }
        total
    }
}
/// What a coarser level of a ladder needs to take its draws from the next finer one.
#[derive(Clone, Copy, Debug)]
pub(super) struct LevelCoupling {
    /// The level's number (the coarsest is 0), for its own random streams.
    pub(super) level: u64,
    /// The finer level's steps per step of this level.
    pub(super) ratio: usize,
    /// `P(0 -> 1)` of the finer chain over one step of this level.
    pub(super) q_on: f64,
    /// `P(1 -> 0)` of the finer chain over one step of this level.
    pub(super) q_off: f64,
}

/// Samples and response samples of group `group`: the pairs are shared out as evenly as
/// possible, and the response samples in proportion (even, at least one pair).
fn group_size(opts: &DmftOptions, group: usize) -> (usize, usize) {
    let (pairs, g) = (opts.samples / 2, opts.group_count());
    let share = |total: usize| total / g + usize::from(group < total % g);
    let samples = 2 * share(pairs);
    let responders = match opts.response_samples {
        None => samples,
        Some(sr) => (2 * share(sr / 2)).clamp(2, samples),
    };
    (samples, responders)
}

/// Kernel row `k` from a group's merged sums (eq. 3.3):
/// `M_C(k,l) = alpha Delta E[f(k) f(l)]`, `M_R(k,l) = alpha sqrt(Delta) E[phi(k) G(k,l)]`,
/// `mu(k) = E[u f(k)]`.
pub(super) struct KernelRow {
    m_c: Vec<f64>,
    m_r: Vec<f64>,
    mu: f64,
}

impl KernelRow {
    fn new(sums: &StepSums, cfg: &Config, samples: usize, responders: usize) -> Self {
        let (s, sr) = (samples as f64, responders as f64);
        let delta = cfg.model().delta();
        KernelRow {
            m_c: sums.f_f.iter().map(|v| cfg.alpha * delta * v / s).collect(),
            m_r: sums
                .phi_g
                .iter()
                .map(|v| cfg.alpha * delta.sqrt() * v / sr)
                .collect(),
            mu: sums.u_f / s,
        }
    }

    fn is_finite(&self) -> bool {
        self.mu.is_finite()
            && self.m_c.iter().all(|v| v.is_finite())
            && self.m_r.iter().all(|v| v.is_finite())
    }

    fn store(&self, k: usize, kernels: &mut Kernels) {
        for (l, &v) in self.m_c.iter().enumerate() {
            kernels.m_c.set(k, l, v);
            kernels.m_c.set(l, k, v);
        }
        kernels.m_r.row_mut(k)[..=k].copy_from_slice(&self.m_r);
        kernels.mu[k] = self.mu;
    }

    /// Stores row `k` of the standard error of the kernels of `rows`, one per group (two
    /// or more), into `sem` (eq. 4.5).
    pub(super) fn store_sem(rows: &[&KernelRow], k: usize, sem: &mut Kernels) {
        let g = rows.len() as f64;
        let spread = |part: fn(&KernelRow) -> &[f64]| {
            let mut mean = vec![0.0; part(rows[0]).len()];
            for row in rows {
                mean.iter_mut().zip(part(row)).for_each(|(m, v)| *m += v);
            }
            mean.iter_mut().for_each(|m| *m /= g);
            sem_of(rows.iter().map(|&row| part(row)), &mean)
        };
        let row_sem = KernelRow {
            m_c: spread(|row| &row.m_c),
            m_r: spread(|row| &row.m_r),
            mu: spread(|row| std::slice::from_ref(&row.mu))[0],
        };
        row_sem.store(k, sem);
    }

    /// Adds the row into row `k` of a running sum of kernels.
    pub(super) fn add_to(&self, k: usize, sum: &mut Kernels) {
        for (l, &v) in self.m_c.iter().enumerate() {
            let total = sum.m_c.at(k, l) + v;
            sum.m_c.set(k, l, total);
            sum.m_c.set(l, k, total);
        }
        sum.m_r.row_mut(k)[..=k]
            .iter_mut()
            .zip(&self.m_r)
            .for_each(|(a, b)| *a += b);
        sum.mu[k] += self.mu;
    }
}

/// What a group's samples measured at every step: the training loss and error.
pub(super) struct TrainingSeries {
    /// Mean training loss `E[l(y, h(k))]` over the group's samples.
    pub(super) loss: Vec<f64>,
    /// Training error `E[1[y o(h(k)) <= 0]]` (zero unless labels are ±1).
    pub(super) error: Vec<f64>,
}

impl TrainingSeries {
    pub(super) fn zeros(steps: usize) -> Self {
        TrainingSeries {
            loss: vec![0.0; steps],
            error: vec![0.0; steps],
        }
    }

    /// Step `k`'s means from the merged sums of `samples` samples.
    fn record(&mut self, k: usize, sums: &StepSums, samples: usize) {
        self.loss[k] = sums.loss / samples as f64;
        self.error[k] = sums.errors / samples as f64;
    }
}

/// One independent group: its samples, its weight side and what it has measured.
pub(super) struct Group<'a, L, A> {
    weights: WeightSide,
    chol: IncrementalCholesky,
    /// On a coarser level of a ladder: how it follows the finer level, and the factor
    /// `L_sub` of the covariance of the finer level's `chi` on this level's grid.
    coupling: Option<(LevelCoupling, IncrementalCholesky)>,
    patterns: PatternSide<'a, L, A>,
    /// Full kernels (the iteration needs them); else only the current row.
    pub(super) kernels: Option<Kernels>,
    pub(super) row: Option<KernelRow>,
    pub(super) training: TrainingSeries,
    /// Where this group's time went.
    pub(super) seconds: StageSeconds,
}

impl<'a, L: LossFn, A: ActivationFn> Group<'a, L, A> {
    /// Group `group` of the single pass: the weight side at row 0 and fresh samples
    /// (random-stream round 0), keeping only the current kernel row.
    pub(super) fn new(
        cfg: &Config,
        opts: &DmftOptions,
        params: PatternParams<'a, L, A>,
        group: usize,
    ) -> Self {
        Self::on_weights(WeightSide::of(cfg), opts, params, group, 0, false)
    }

    /// Group `group` of level `level` of a ladder whose draws follow the next finer
    /// level (theory.md section 6.2).
    pub(super) fn on_level(
        cfg: &Config,
        opts: &DmftOptions,
        params: PatternParams<'a, L, A>,
        group: usize,
        level: LevelCoupling,
    ) -> Self {
        Self::build(
            WeightSide::of(cfg),
            opts,
            params,
            group,
            0,
            false,
            Some(level),
        )
    }

    /// Group `group` with fresh samples (the random streams of `round`) on the weight side
    /// `weights`; `full_kernels`: keep every kernel row (the iteration needs them), else
    /// only the current one.
    pub(super) fn on_weights(
        weights: WeightSide,
        opts: &DmftOptions,
        params: PatternParams<'a, L, A>,
        group: usize,
        round: u64,
        full_kernels: bool,
    ) -> Self {
        Self::build(weights, opts, params, group, round, full_kernels, None)
    }

    /// [`Group::on_weights`], on a coarser level of a ladder with `level`.
    fn build(
        weights: WeightSide,
        opts: &DmftOptions,
        params: PatternParams<'a, L, A>,
        group: usize,
        round: u64,
        full_kernels: bool,
        level: Option<LevelCoupling>,
    ) -> Self {
        let t = weights.m.len();
        Group {
            weights,
            chol: IncrementalCholesky::new(t),
            coupling: level.map(|level| (level, IncrementalCholesky::new(t))),
            patterns: PatternSide::new(params, opts, t, group, round, level),
            kernels: full_kernels.then(|| Kernels::zeros(t)),
            row: None,
            training: TrainingSeries::zeros(t),
            seconds: StageSeconds::default(),
        }
    }

    /// Step `k` of the pattern side (theory.md section 4.1, steps 1-4): extend the
    /// Cholesky factor of `C` by row `k`, advance every sample, fill kernel row `k` and
    /// record the observables.
    pub(super) fn pattern_step(&mut self, k: usize, cfg: &Config) -> Result<()> {
        let mut laps = Laps::start();
        self.chol.push_row(k, &self.weights.c.row(k)[..=k]);
        self.seconds.cholesky += laps.lap();
        let sums = self.patterns.step(k, self.chol.row(k), &self.weights, None);
        self.record(k, cfg, sums)
    }

    /// [`Group::pattern_step`] on a coarser level of a ladder, its draws from the same
    /// group `finer` of the next finer level, just stepped to the same time.
    pub(super) fn pattern_step_from(
        &mut self,
        k: usize,
        cfg: &Config,
        finer: &Group<'a, L, A>,
    ) -> Result<()> {
        let mut laps = Laps::start();
        self.chol.push_row(k, &self.weights.c.row(k)[..=k]);
        self.seconds.cholesky += laps.lap();
        let (level, whitener) = self.coupling.as_mut().expect("a coarser level of a ladder");
        // Row k of the covariance of the finer chi on this grid, as it was drawn:
        // sum_i L_f(n k, i) L_f(n j, i) for j <= k (n = level.ratio).
        let fine_k = finer.chol.row(level.ratio * k);
        let gram: Vec<f64> = (0..=k)
            .map(|j| {
                let fine_j = finer.chol.row(level.ratio * j);
                dot(&fine_k[..fine_j.len()], fine_j)
            })
            .collect();
        whitener.push_row(k, &gram);
        let finer_draws = Some((&finer.patterns, whitener.row(k)));
        let sums = self
            .patterns
            .step(k, self.chol.row(k), &self.weights, finer_draws);
        self.record(k, cfg, sums)
    }

    /// Kernel row `k` and the observables from step `k`'s merged sums.
    fn record(&mut self, k: usize, cfg: &Config, sums: StepSums) -> Result<()> {
        let (s, sr) = (self.patterns.samples, self.patterns.responders);
        let row = KernelRow::new(&sums, cfg, s, sr);
        if !(sums.finite && row.is_finite()) {
            return Err(DivergenceGuard::dmft(cfg).non_finite(cfg, k, "the memory kernels"));
        }
        if let Some(kernels) = self.kernels.as_mut() {
            row.store(k, kernels);
        }
        self.row = Some(row);
        self.training.record(k, &sums, s);
        self.seconds.add(&sums.seconds);
        Ok(())
    }

    /// Step 5: rows `k+1` of `C`, `R`, `m` from kernel row `k`, within the bounds of a
    /// run that has not diverged (eq. 4.7).
    pub(super) fn advance(&mut self, k: usize, cfg: &Config) -> Result<()> {
        if let Some(row) = &self.row {
            let mut laps = Laps::start();
            let finite = self.weights.advance_rows(k, &row.m_c, &row.m_r, row.mu);
            self.seconds.weight_side += laps.lap();
            self.weights.check_row(k + 1, finite, cfg)?;
        }
        Ok(())
    }

    /// What the group solved: its weight side and training series.
    pub(super) fn into_result(self) -> GroupResult {
        GroupResult {
            weights: self.weights,
            training: self.training,
            seconds: self.seconds,
        }
    }
}

/// Runs `step` on every group (in parallel); the first error in group order wins.
pub(super) fn each_group<G: Send>(
    groups: &mut [G],
    step: impl Fn(&mut G) -> Result<()> + Sync + Send,
) -> Result<()> {
    let outcomes: Vec<Result<()>> = groups.par_iter_mut().map(step).collect();
    outcomes.into_iter().collect()
}
