//! The DMFT solver: the exact `d -> infinity` dynamics of SGD in discrete time
//! (theory.md section 3), estimated by Monte Carlo over effective samples.
//!
//! **Single pass** (default). Causality makes the system triangular in time: row `k` of
//! `C`, `R`, `m` needs kernel rows `< k`, and the samples at step `k` need `C`, `R`, `m`
//! up to row `k`. So one sweep `k = 0, 1, ..., T-1` solves it: extend the Cholesky factor
//! of `C` by one row, advance every sample (drawing `chi(k)` conditionally on its past),
//! fill kernel row `k`, then extend `C`, `R`, `m` by one row.
//!
//! **Iterate** (the published codes' method, kept as a cross-check). Guess the kernels
//! (zero), solve the weight side for all times, re-simulate fresh samples over the whole
//! trajectory to get new kernels, mix them with the old ones (`damping` is the weight
//! of the old), and repeat until the relative change is below `tol` or below the change
//! that the Monte Carlo noise alone makes (theory.md section 4.5).
//!
//! **Error bars** (theory.md section 4.4). The samples are split into `groups`
//! independent groups, each solved self-consistently on its own (its own `C`, `R`, `m`),
//! side by side in time. The result is the mean over groups and its standard error the
//! spread of the groups over `sqrt(groups)`: honest for every quantity, including the
//! noise that feeds back through `m`, `C`, `R` to later times.

mod cholesky;
mod matrix;
mod patterns;
mod weights;

pub use matrix::TimeMatrix;
pub use weights::{Kernels, WeightSide};

use crate::config::Config;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::observables::{test_error, test_loss};
use crate::resources::{check_memory, resolve_threads, with_threads};
use crate::rng::{stream, Domain};
use cholesky::IncrementalCholesky;
use patterns::{history_bytes_per_step, Chunk, PatternParams, StepSums, CHUNK};
use rayon::prelude::*;

/// How the DMFT equations are solved.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Method {
    /// One causal sweep in time.
    SinglePass,
    /// Damped fixed-point iteration over whole trajectories.
    Iterate {
        /// Largest number of iterations.
        iterations: usize,
        /// Weight of the previous kernels in the update, in `[0, 1)`.
        damping: f64,
        /// Stop when the largest kernel change relative to the kernels' scale is below this,
        /// or below its Monte Carlo noise (see [`DmftSolution::change_noise`]).
        tol: f64,
    },
}

/// How the response kernel `M_R(k,l) = alpha sqrt(Delta) E[phi(k) G(k,l)]` is estimated
/// (theory.md section 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Response {
    /// [`Response::Tangent`] while its work is at most [`Response::AUTO_TANGENT_WORK`],
    /// else [`Response::Probe`] with the default band: see [`Response::resolve`].
    Auto,
    /// The exact tangent row of every sample in the batch: `b S T^3 / 6` multiply-adds.
    Tangent,
    /// Exact for lags `< band`, one random probe per sample beyond: `O(S T (T + band^2))`.
    Probe {
        /// Number of lags computed exactly, `>= 1`.
        band: usize,
    },
}

impl Response {
    /// Largest work `b S_r T^3 / 6` (multiply-adds; `S_r` the samples carrying the
    /// response) for which [`Response::Auto`] uses the exact tangent: a few seconds on
    /// two cores (S = 20 000: T = 355 at b = 1, 531 at b = 0.3). Below it the probe's
    /// noise is not worth its saving: it inflates the error bars up to 2x, and 4-12x
    /// where the response does not decay (three clusters with the door; theory.md 4.2).
    pub const AUTO_TANGENT_WORK: f64 = 1.5e11;
    /// The band of [`Response::Auto`]'s probe estimator.
    pub const DEFAULT_BAND: usize = 16;

    /// The multiply-adds of the exact tangent for a run of `cfg` with `response_samples`
    /// samples carrying the response: `b S_r T^3 / 6` (only samples in the batch, a
    /// fraction `b`, have a tangent row).
    pub fn tangent_work(cfg: &Config, response_samples: usize) -> f64 {
        cfg.batch * response_samples as f64 * (cfg.steps as f64).powi(3) / 6.0
    }

    /// The estimator a run of `cfg` uses: `Auto` becomes `Tangent` while
    /// [`Response::tangent_work`] is at most [`Response::AUTO_TANGENT_WORK`] (exact, and
    /// affordable), else `Probe { band: DEFAULT_BAND }`: a rule of the configuration and
    /// sample count alone, never of timings or threads. A band wider than the run is
    /// clipped to it.
    pub fn resolve(self, cfg: &Config, response_samples: usize) -> Response {
        match self {
            Response::Auto
                if Self::tangent_work(cfg, response_samples) <= Self::AUTO_TANGENT_WORK =>
            {
                Response::Tangent
            }
            Response::Auto => Response::Probe {
                band: Self::DEFAULT_BAND.min(cfg.steps),
            },
            Response::Probe { band } => Response::Probe {
                band: band.min(cfg.steps).max(1),
            },
            Response::Tangent => Response::Tangent,
        }
    }
}

/// Monte Carlo size and method of a solve. Start from [`DmftOptions::default`] and
/// change what you need with the setters:
/// `DmftOptions::default().samples(4_000).groups(4).seed(7)`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DmftOptions {
    /// Number of effective samples `S` (even: mirror pairs), over all groups.
    pub samples: usize,
    /// Independent groups the samples are split into, for the error bars (`>= 1`, at
    /// least one pair each; one group gives no error bars). `None`: 8, or 4 beyond
    /// [`DmftOptions::LONG_RUN_STEPS`] steps, where the groups' `O(T^3)` weight sides
    /// dominate the cost (never more than the number of pairs).
    pub groups: Option<usize>,
    /// The estimator of `M_R`.
    pub response: Response,
    /// Samples carrying the response process (the first ones of each group, in
    /// proportion); `None`: all.
    pub response_samples: Option<usize>,
    /// Whether the solution keeps `M_C`, `M_R` and `mu` (one pair of `T x T` matrices per
    /// run, summed over the groups as they come); `C` and `R` are always kept.
    pub keep_kernels: bool,
    /// Seed; chunk `i` of group `g` uses its own random streams, whatever the thread count.
    pub seed: u64,
    /// Solution method.
    pub method: Method,
    /// Worker threads of the run's own pool (`None`: all cores).
    pub threads: Option<usize>,
}

impl Default for DmftOptions {
    /// 20 000 samples, automatic groups and response estimator, kernels kept, seed 0,
    /// single pass, all cores.
    fn default() -> Self {
        DmftOptions {
            samples: 20_000,
            groups: None,
            response: Response::Auto,
            response_samples: None,
            keep_kernels: true,
            seed: 0,
            method: Method::SinglePass,
            threads: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = $name;
                self
            }
        )*
    };
}

impl DmftOptions {
    /// Beyond this many steps the default number of groups is 4 instead of 8.
    pub const LONG_RUN_STEPS: usize = 4000;

    /// Sets the number of independent groups (error bars need `>= 2`).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = Some(groups);
        self
    }

    /// The number of groups a run of `cfg` uses: `groups`, or the default for its length.
    pub fn groups_for(&self, cfg: &Config) -> usize {
        self.groups.unwrap_or_else(|| {
            let default = if cfg.steps <= Self::LONG_RUN_STEPS {
                8
            } else {
                4
            };
            // Never more groups than pairs, nor than pairs of response samples.
            let pairs = self.response_samples.unwrap_or(self.samples) / 2;
            default.min(pairs).max(1)
        })
    }

    /// These options with `groups` and `response` resolved for `cfg`.
    fn resolved(&self, cfg: &Config) -> DmftOptions {
        DmftOptions {
            groups: Some(self.groups_for(cfg)),
            response: self
                .response
                .resolve(cfg, self.response_samples.unwrap_or(self.samples)),
            ..*self
        }
    }

    /// The number of groups of resolved options.
    fn group_count(&self) -> usize {
        self.groups.unwrap_or(1)
    }

    setters! {
        /// Sets the number of effective samples `S` (even).
        samples: usize,
        /// Sets the estimator of `M_R`.
        response: Response,
        /// Sets how many samples carry the response process (`None`: all).
        response_samples: Option<usize>,
        /// Sets whether `M_C` and `M_R` are kept in the solution.
        keep_kernels: bool,
        /// Sets the seed.
        seed: u64,
        /// Sets the solution method.
        method: Method,
        /// Sets the number of worker threads (`None`: all cores).
        threads: Option<usize>,
    }
}

/// Observables on the time grid `k = 0..T-1`.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Observables {
    /// Overlap `m(k)`.
    pub m: Vec<f64>,
    /// `q(k) = C(k,k)`.
    pub q: Vec<f64>,
    /// Mean training loss `E[l(y, h(k))]`.
    pub train_loss: Vec<f64>,
    /// Expected loss on a fresh sample, from `m`, `q`.
    pub test_loss: Vec<f64>,
    /// Training error `E[1[y o(h(k)) <= 0]]`; empty unless labels are ±1
    /// ([`Config::labels_are_signs`]).
    pub train_error: Vec<f64>,
    /// Test classification error from `m`, `q`; empty unless labels are ±1.
    pub test_error: Vec<f64>,
}

impl Observables {
    fn named_mut(&mut self) -> [&mut Vec<f64>; 6] {
        [
            &mut self.m,
            &mut self.q,
            &mut self.train_loss,
            &mut self.test_loss,
            &mut self.train_error,
            &mut self.test_error,
        ]
    }
}

/// The solution: every quantity is the mean over the groups.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DmftSolution {
    /// The observables.
    pub observables: Observables,
    /// Their Monte Carlo standard errors (spread over groups / `sqrt(groups)`); `None`
    /// for a single group.
    pub sem: Option<Observables>,
    /// Correlation `C(k,l)` of the weights.
    pub c: TimeMatrix,
    /// Response `R(k,l)` of the weights.
    pub r: TimeMatrix,
    /// Memory kernels `M_C`, `M_R`, `mu` (`None` unless `keep_kernels`).
    pub kernels: Option<Kernels>,
    /// For `Iterate`: the largest relative kernel change over groups, per iteration.
    pub changes: Vec<f64>,
    /// For `Iterate`, per iteration: the change that Monte Carlo noise alone makes, the
    /// relative change between two independent estimates of the kernels of the same
    /// size as one round's, from the spread of the groups (empty for one group).
    pub change_noise: Vec<f64>,
    /// For `Iterate`: whether the change fell below `tol` or below its noise.
    pub converged: bool,
    /// The response estimator used (never `Auto`).
    pub response: Response,
    /// Number of groups.
    pub groups: usize,
}

/// Bytes a solve needs: every sample's history, each group's time-time matrices (`C`,
/// `R`, the Cholesky factor, and `M_C`, `M_R` when iterating), the tangent's per-thread
/// scratch and the result (with the mean kernels when kept).
pub fn dmft_memory(cfg: &Config, opts: &DmftOptions) -> u64 {
    let opts = opts.resolved(cfg);
    // In f64: the product of large requests must saturate, not wrap around.
    let (t, s, g) = (
        cfg.steps as f64,
        opts.samples as f64,
        opts.group_count() as f64,
    );
    let sr = opts.response_samples.unwrap_or(opts.samples);
    let response = opts.response;
    let histories = t * history_bytes_per_step(opts.samples, sr, response) as f64 + 64.0 * s;
    // Per group: C, R and the Cholesky factor; an iteration round also holds the
    // group's mixed and fresh kernels, and their means (shared) while comparing them.
    let iterating = matches!(opts.method, Method::Iterate { .. });
    let per_group = 8.0 * t * t * if iterating { 7.0 } else { 3.0 };
    let shared = 8.0 * t * t * if iterating { 6.0 } else { 0.0 };
    let result = 8.0 * t * t * if opts.keep_kernels { 4.0 } else { 2.0 };
    // The tangent's per-thread scratch, or the probe's recent phi (band values each).
    let estimator = match response {
        Response::Tangent => {
            let threads = resolve_threads(opts.threads).unwrap_or(1) as f64;
            threads * 3.0 * 8.0 * t * CHUNK as f64
        }
        Response::Probe { band } => 8.0 * band as f64 * sr as f64,
        _ => 0.0,
    };
    (histories + g * per_group + shared + result + estimator) as u64
}

/// Groups are numbered in 20 bits of the random-stream index.
const MAX_GROUPS: usize = 1 << 20;

fn validate(cfg: &Config, opts: &DmftOptions) -> Result<()> {
    cfg.validate()?;
    if opts.samples < 2 || opts.samples % 2 != 0 {
        return Err(Error::invalid(
            "samples",
            format!(
                "must be an even number >= 2 (samples come in mirror pairs), got {}",
                opts.samples
            ),
        ));
    }
    let groups = opts.groups_for(cfg);
    if groups >= MAX_GROUPS {
        return Err(Error::invalid(
            "groups",
            format!("must be < {MAX_GROUPS}, got {groups}"),
        ));
    }
    if groups < 1 || groups > opts.samples / 2 {
        return Err(Error::invalid(
            "groups",
            format!(
                "must be in [1, samples/2 = {}] (at least one pair per group), got {groups}",
                opts.samples / 2,
            ),
        ));
    }
    if let Some(sr) = opts.response_samples {
        if sr < 2 * groups || sr > opts.samples {
            return Err(Error::invalid(
                "response_samples",
                format!(
                    "must be in [2 groups = {}, samples = {}], got {sr}",
                    2 * groups,
                    opts.samples
                ),
            ));
        }
    }
    if let Response::Probe { band } = opts.response {
        if band == 0 {
            return Err(Error::invalid("band", "must be >= 1, got 0"));
        }
    }
    if let Method::Iterate {
        iterations,
        damping,
        tol,
    } = opts.method
    {
        if iterations == 0 {
            return Err(Error::invalid("iterations", "must be >= 1, got 0"));
        }
        if !(0.0..1.0).contains(&damping) {
            return Err(Error::invalid(
                "damping",
                format!("must be in [0, 1), got {damping}"),
            ));
        }
        if !(tol.is_finite() && tol >= 0.0) {
            return Err(Error::invalid(
                "tol",
                format!("must be finite and >= 0, got {tol}"),
            ));
        }
    }
    resolve_threads(opts.threads)?;
    Ok(())
}

/// Solves the DMFT of `cfg` on a pool of `opts.threads` workers. Progress counts time
/// steps (`T` for a single pass, `T` per iteration for `Iterate`).
///
/// ```
/// use dmft_sgd::{solve_dmft, Config, Control, DmftOptions};
///
/// let cfg = Config { batch: 0.3, steps: 40, ..Config::default() };
/// let opts = DmftOptions::default().samples(2_000).groups(4);
/// let sol = solve_dmft(&cfg, &opts, &Control::new()).unwrap();
/// let (e, se) = (sol.observables.test_error[39], sol.sem.unwrap().test_error[39]);
/// assert!(e < 0.5 && se > 0.0 && se < 0.05);
/// ```
pub fn solve_dmft(cfg: &Config, opts: &DmftOptions, control: &Control) -> Result<DmftSolution> {
    validate(cfg, opts)?;
    let opts = &opts.resolved(cfg);
    check_memory(
        dmft_memory(cfg, opts),
        "use fewer samples, fewer steps, fewer groups or keep_kernels=False",
    )?;
    with_threads(opts.threads, || match opts.method {
        Method::SinglePass => single_pass(cfg, opts, control),
        Method::Iterate {
            iterations,
            damping,
            tol,
        } => iterate(cfg, opts, iterations, damping, tol, control),
    })?
}

/// The effective samples of one group, in chunks.
struct PatternSide {
    chunks: Vec<Chunk>,
    params: PatternParams,
    samples: usize,
    responders: usize,
}

impl PatternSide {
    /// Fresh samples for group `group`; `round` separates the random streams of
    /// successive iterations.
    fn new(
        params: PatternParams,
        opts: &DmftOptions,
        steps: usize,
        group: usize,
        round: u64,
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
                let probe_rng = stream(opts.seed, Domain::DmftProbe, index);
                Chunk::new(&params, rng, probe_rng, size, resp, steps)
            })
            .collect();
        PatternSide {
            chunks,
            params,
            samples,
            responders,
        }
    }

    /// Advances all samples to step `k`; the chunks' sums are merged in chunk order.
    fn step(&mut self, k: usize, chol_row: &[f64], weights: &WeightSide) -> StepSums {
        let params = self.params;
        let m_k = weights.m[k];
        let parts: Vec<StepSums> = self
            .chunks
            .par_iter_mut()
            .map(|chunk| chunk.step(k, chol_row, &weights.r, m_k, &params))
            .collect();
        let mut total = parts[0].clone();
        for part in &parts[1..] {
            total.merge(part);
        }
        total
    }
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
struct KernelRow {
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

    /// Adds the row into row `k` of a running sum of kernels.
    fn add_to(&self, k: usize, sum: &mut Kernels) {
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

fn diverged(step: usize, cfg: &Config) -> Error {
    Error::Diverged {
        what: "DMFT".to_string(),
        step,
        lr: cfg.lr,
    }
}

/// One independent group: its samples, its weight side and what it has measured.
struct Group {
    weights: WeightSide,
    chol: IncrementalCholesky,
    patterns: PatternSide,
    /// Full kernels (the iteration needs them); else only the current row.
    kernels: Option<Kernels>,
    row: Option<KernelRow>,
    train_loss: Vec<f64>,
    train_error: Vec<f64>,
}

impl Group {
    fn new(cfg: &Config, opts: &DmftOptions, params: PatternParams, group: usize) -> Self {
        let t = cfg.steps;
        Group {
            weights: WeightSide::of(cfg),
            chol: IncrementalCholesky::new(t),
            patterns: PatternSide::new(params, opts, t, group, 0),
            kernels: None,
            row: None,
            train_loss: vec![0.0; t],
            train_error: vec![0.0; t],
        }
    }

    /// Step `k` of the pattern side (theory.md section 4.1, steps 1-4): extend the
    /// Cholesky factor of `C` by row `k`, advance every sample, fill kernel row `k` and
    /// record the observables.
    fn pattern_step(&mut self, k: usize, cfg: &Config) -> Result<()> {
        self.chol.push_row(k, &self.weights.c.row(k)[..=k]);
        let sums = self.patterns.step(k, self.chol.row(k), &self.weights);
        let (s, sr) = (self.patterns.samples, self.patterns.responders);
        let row = KernelRow::new(&sums, cfg, s, sr);
        if !(sums.finite && row.is_finite()) {
            return Err(diverged(k, cfg));
        }
        if let Some(kernels) = self.kernels.as_mut() {
            row.store(k, kernels);
        }
        self.row = Some(row);
        self.train_loss[k] = sums.loss / s as f64;
        self.train_error[k] = sums.errors / s as f64;
        Ok(())
    }

    /// Step 5: rows `k+1` of `C`, `R`, `m` from kernel row `k`.
    fn advance(&mut self, k: usize, cfg: &Config) -> Result<()> {
        let finite = match &self.row {
            Some(row) => self.weights.advance_rows(k, &row.m_c, &row.m_r, row.mu),
            None => true,
        };
        if finite {
            Ok(())
        } else {
            Err(diverged(k + 1, cfg))
        }
    }
}

/// Runs `step` on every group (in parallel); the first error in group order wins.
fn each_group<G: Send>(
    groups: &mut [G],
    step: impl Fn(&mut G) -> Result<()> + Sync + Send,
) -> Result<()> {
    let outcomes: Vec<Result<()>> = groups.par_iter_mut().map(step).collect();
    outcomes.into_iter().collect()
}

fn single_pass(cfg: &Config, opts: &DmftOptions, control: &Control) -> Result<DmftSolution> {
    let params = PatternParams::new(cfg, opts.response);
    let mut groups: Vec<Group> = (0..opts.group_count())
        .map(|g| Group::new(cfg, opts, params, g))
        .collect();
    // The kept kernels are summed over groups as they come (in group order), so a run
    // holds one pair of T x T kernel matrices, not one per group.
    let mut kernel_sum = opts.keep_kernels.then(|| Kernels::zeros(cfg.steps));
    for k in 0..cfg.steps {
        each_group(&mut groups, |g| {
            g.pattern_step(k, cfg)?;
            if k + 1 < cfg.steps {
                g.advance(k, cfg)?;
            }
            Ok(())
        })?;
        if let Some(sum) = kernel_sum.as_mut() {
            for row in groups.iter().filter_map(|g| g.row.as_ref()) {
                row.add_to(k, sum);
            }
        }
        control.checkpoint(1)?;
    }
    let kernels = kernel_sum.map(|mut sum| {
        let g = groups.len() as f64;
        sum.m_c.as_mut_slice().iter_mut().for_each(|v| *v /= g);
        sum.m_r.as_mut_slice().iter_mut().for_each(|v| *v /= g);
        sum.mu.iter_mut().for_each(|v| *v /= g);
        sum
    });
    let parts = groups
        .into_iter()
        .map(|g| GroupResult {
            weights: g.weights,
            train_loss: g.train_loss,
            train_error: g.train_error,
        })
        .collect();
    Ok(combine(
        cfg,
        params.response,
        parts,
        kernels,
        Vec::new(),
        Vec::new(),
        true,
    ))
}

/// `C`, `R`, `m` for all times from given kernels.
fn weights_from(cfg: &Config, kernels: &Kernels) -> Result<WeightSide> {
    let mut weights = WeightSide::of(cfg);
    for k in 0..cfg.steps - 1 {
        if !weights.advance(k, kernels) {
            return Err(diverged(k + 1, cfg));
        }
    }
    Ok(weights)
}

/// One group of the iteration: its current kernels and last round's observables.
struct IterGroup {
    kernels: Kernels,
    train_loss: Vec<f64>,
    train_error: Vec<f64>,
}

fn iterate(
    cfg: &Config,
    opts: &DmftOptions,
    iterations: usize,
    damping: f64,
    tol: f64,
    control: &Control,
) -> Result<DmftSolution> {
    let t = cfg.steps;
    let params = PatternParams::new(cfg, opts.response);
    let mut groups: Vec<IterGroup> = (0..opts.group_count())
        .map(|_| IterGroup {
            kernels: Kernels::zeros(t),
            train_loss: vec![0.0; t],
            train_error: vec![0.0; t],
        })
        .collect();
    let mut changes = Vec::new();
    let mut change_noise = Vec::new();
    let mut converged = false;
    for round in 0..iterations {
        // Fresh samples on the weights of the current kernels; the whole trajectory of
        // each group, side by side.
        let mut fresh: Vec<Group> = Vec::with_capacity(groups.len());
        for (g, group) in groups.iter().enumerate() {
            fresh.push(Group {
                weights: weights_from(cfg, &group.kernels)?,
                chol: IncrementalCholesky::new(t),
                patterns: PatternSide::new(params, opts, t, g, round as u64 + 1),
                kernels: Some(Kernels::zeros(t)),
                row: None,
                train_loss: vec![0.0; t],
                train_error: vec![0.0; t],
            });
        }
        for k in 0..t {
            each_group(&mut fresh, |g| g.pattern_step(k, cfg))?;
            control.checkpoint(1)?;
        }
        let new_kernels: Vec<Kernels> = fresh
            .iter_mut()
            .map(|g| g.kernels.take().unwrap_or_else(|| Kernels::zeros(t)))
            .collect();
        // The change of the kernels the result reports: the mean over groups.
        let change = relative_change(
            &mean_kernels(groups.iter().map(|g| &g.kernels)),
            &mean_kernels(new_kernels.iter()),
        );
        let noise = noise_of_change(&new_kernels);
        for ((group, new), new_kernels) in groups.iter_mut().zip(fresh).zip(new_kernels) {
            group.kernels = if round == 0 {
                new_kernels
            } else {
                mix(&group.kernels, &new_kernels, damping)
            };
            group.train_loss = new.train_loss;
            group.train_error = new.train_error;
        }
        changes.push(change);
        change_noise.extend(noise);
        // Converged: the change is below the tolerance, or no larger than the noise, below
        // which no number of rounds can push it (eq. 4.6).
        if change < tol || noise.is_some_and(|noise| change <= noise) {
            converged = true;
            break;
        }
    }
    let kernels = opts
        .keep_kernels
        .then(|| mean_kernels(groups.iter().map(|g| &g.kernels)));
    let mut parts = Vec::with_capacity(groups.len());
    for g in groups {
        parts.push(GroupResult {
            weights: weights_from(cfg, &g.kernels)?,
            train_loss: g.train_loss,
            train_error: g.train_error,
        });
    }
    Ok(combine(
        cfg,
        params.response,
        parts,
        kernels,
        changes,
        change_noise,
        converged,
    ))
}

/// The relative change that Monte Carlo noise alone makes between two independent
/// estimates of the mean kernels over `G` groups: the change between the means of the two
/// halves of the groups, scaled by `sqrt((2/G) / (1/G_a + 1/G_b))` to two estimates of
/// `G` groups each (eq. 4.6). `None` for one group.
fn noise_of_change(kernels: &[Kernels]) -> Option<f64> {
    let g = kernels.len();
    if g < 2 {
        return None;
    }
    let (a, b) = kernels.split_at(g / 2);
    let half_change = relative_change(&mean_kernels(a.iter()), &mean_kernels(b.iter()));
    let (ga, gb) = (a.len() as f64, b.len() as f64);
    Some(half_change * ((2.0 / g as f64) / (1.0 / ga + 1.0 / gb)).sqrt())
}

/// `max |new - old| / max |new|` over `M_C`, `M_R` and `mu`.
fn relative_change(old: &Kernels, new: &Kernels) -> f64 {
    let pairs = old
        .m_c
        .as_slice()
        .iter()
        .zip(new.m_c.as_slice())
        .chain(old.m_r.as_slice().iter().zip(new.m_r.as_slice()))
        .chain(old.mu.iter().zip(&new.mu));
    let (mut diff, mut scale) = (0.0f64, 0.0f64);
    for (a, b) in pairs {
        diff = diff.max((a - b).abs());
        scale = scale.max(b.abs());
    }
    if scale > 0.0 {
        diff / scale
    } else {
        diff
    }
}

/// `damping * old + (1 - damping) * new`.
fn mix(old: &Kernels, new: &Kernels, damping: f64) -> Kernels {
    let blend = |a: &[f64], b: &[f64]| -> Vec<f64> {
        a.iter()
            .zip(b)
            .map(|(x, y)| damping * x + (1.0 - damping) * y)
            .collect()
    };
    let t = old.mu.len();
    Kernels {
        m_c: TimeMatrix::from_vec(t, blend(old.m_c.as_slice(), new.m_c.as_slice())),
        m_r: TimeMatrix::from_vec(t, blend(old.m_r.as_slice(), new.m_r.as_slice())),
        mu: blend(&old.mu, &new.mu),
    }
}

/// What one group solved.
struct GroupResult {
    weights: WeightSide,
    train_loss: Vec<f64>,
    train_error: Vec<f64>,
}

impl GroupResult {
    fn observables(self, cfg: &Config) -> (Observables, WeightSide) {
        let t = cfg.steps;
        let q: Vec<f64> = (0..t).map(|k| self.weights.c.at(k, k)).collect();
        let m = &self.weights.m;
        let classify = cfg.labels_are_signs();
        let obs = Observables {
            test_loss: (0..t).map(|k| test_loss(cfg, m[k], q[k])).collect(),
            test_error: match classify {
                true => (0..t).map(|k| test_error(cfg, m[k], q[k])).collect(),
                false => Vec::new(),
            },
            train_error: match classify {
                true => self.train_error,
                false => Vec::new(),
            },
            m: m.clone(),
            q,
            train_loss: self.train_loss,
        };
        (obs, self.weights)
    }
}

/// Element-wise mean of equally long `values`, in order, as the first plus the mean
/// deviation from it: exact where all groups agree (e.g. `C(0,0) = q0`).
fn mean_of<'a>(mut values: impl Iterator<Item = &'a [f64]>) -> Vec<f64> {
    let Some(first) = values.next() else {
        return Vec::new();
    };
    let mut deviation = vec![0.0; first.len()];
    let mut count = 1.0;
    for v in values {
        deviation
            .iter_mut()
            .zip(v.iter().zip(first))
            .for_each(|(d, (x, x0))| *d += x - x0);
        count += 1.0;
    }
    first
        .iter()
        .zip(&deviation)
        .map(|(x0, d)| x0 + d / count)
        .collect()
}

fn mean_matrix<'a>(matrices: impl Iterator<Item = &'a TimeMatrix>, n: usize) -> TimeMatrix {
    TimeMatrix::from_vec(n, mean_of(matrices.map(|m| m.as_slice())))
}

/// The mean of the groups' kernels.
fn mean_kernels<'a>(kernels: impl Iterator<Item = &'a Kernels> + Clone) -> Kernels {
    let t = kernels.clone().next().map_or(0, |k| k.mu.len());
    Kernels {
        m_c: mean_matrix(kernels.clone().map(|k| &k.m_c), t),
        m_r: mean_matrix(kernels.clone().map(|k| &k.m_r), t),
        mu: mean_of(kernels.map(|k| k.mu.as_slice())),
    }
}

/// The mean over groups of every quantity, and the standard error of the observables
/// (eq. 4.5); `kernels` are already the mean.
fn combine(
    cfg: &Config,
    response: Response,
    parts: Vec<GroupResult>,
    kernels: Option<Kernels>,
    changes: Vec<f64>,
    change_noise: Vec<f64>,
    converged: bool,
) -> DmftSolution {
    let t = cfg.steps;
    let groups = parts.len();
    let (mut observables, mut weights) = (Vec::new(), Vec::new());
    for part in parts {
        let (obs, w) = part.observables(cfg);
        observables.push(obs);
        weights.push(w);
    }
    let g = groups as f64;
    let mut mean = Observables::default();
    let mut sem = Observables::default();
    for (i, (out_mean, out_sem)) in mean
        .named_mut()
        .into_iter()
        .zip(sem.named_mut())
        .enumerate()
    {
        let series: Vec<&[f64]> = observables.iter().map(|o| o.named()[i].1).collect();
        if series[0].is_empty() {
            continue; // an error series of a regression model: not recorded
        }
        *out_mean = mean_of(series.iter().copied());
        // Standard error of the mean of independent groups (eq. 4.5).
        *out_sem = (0..t)
            .map(|k| {
                let var = series
                    .iter()
                    .map(|s| (s[k] - out_mean[k]).powi(2))
                    .sum::<f64>()
                    / (g - 1.0);
                (var / g).sqrt()
            })
            .collect();
    }
    DmftSolution {
        observables: mean,
        sem: (groups > 1).then_some(sem),
        c: mean_matrix(weights.iter().map(|w| &w.c), t),
        r: mean_matrix(weights.iter().map(|w| &w.r), t),
        kernels,
        changes,
        change_noise,
        converged,
        response,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_uses_the_tangent_while_its_work_is_affordable() {
        let at = |steps: usize, batch: f64, samples: usize| {
            let cfg = Config {
                steps,
                batch,
                ..Config::default()
            };
            Response::Auto.resolve(&cfg, samples)
        };
        let probe = Response::Probe {
            band: Response::DEFAULT_BAND,
        };
        // S = 20 000: b S T^3 / 6 <= 1.5e11 up to T = 355 at b = 1 and 531 at b = 0.3.
        assert_eq!(at(355, 1.0, 20_000), Response::Tangent);
        assert_eq!(at(356, 1.0, 20_000), probe);
        assert_eq!(at(531, 0.3, 20_000), Response::Tangent);
        assert_eq!(at(532, 0.3, 20_000), probe);
        // Fewer samples carrying the response make a longer tangent affordable.
        assert_eq!(at(1100, 1.0, 600), Response::Tangent);
        assert_eq!(at(1200, 1.0, 600), probe);
        // The band is clipped to the run; explicit choices are kept.
        let short = Config {
            steps: 5,
            ..Config::default()
        };
        assert_eq!(
            Response::Probe { band: 16 }.resolve(&short, 1),
            Response::Probe { band: 5 }
        );
        assert_eq!(
            Response::Tangent.resolve(&short, 1 << 40),
            Response::Tangent
        );
        // DmftOptions resolve with the response samples when given.
        let cfg = Config {
            steps: 1100,
            ..Config::default()
        };
        let opts = DmftOptions::default().samples(20_000);
        assert_eq!(opts.resolved(&cfg).response, probe);
        let few = opts.response_samples(Some(600)).resolved(&cfg);
        assert_eq!(few.response, Response::Tangent);
    }
}
