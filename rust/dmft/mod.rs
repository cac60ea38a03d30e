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
//! of the old), and repeat until the relative change is below `tol`.

mod cholesky;
mod matrix;
mod patterns;
mod weights;

pub use matrix::TimeMatrix;
pub use weights::{Kernels, WeightSide};

use crate::config::Config;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::observables::test_error;
use crate::resources::check_memory;
use crate::rng::{stream, Domain};
use cholesky::IncrementalCholesky;
use patterns::{Chunk, PatternParams, StepSums, CHUNK};
use rayon::prelude::*;

/// How the DMFT equations are solved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// One causal sweep in time.
    SinglePass,
    /// Damped fixed-point iteration over whole trajectories.
    Iterate {
        /// Largest number of iterations.
        iterations: usize,
        /// Weight of the previous kernels in the update, in `[0, 1)`.
        damping: f64,
        /// Stop when the largest kernel change relative to the kernels' scale is below this.
        tol: f64,
    },
}

/// Monte Carlo size and method of a solve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DmftOptions {
    /// Number of effective samples `S` (even: mirror pairs).
    pub samples: usize,
    /// Samples carrying the exact tangent for `M_R` (the first ones); `None`: all.
    pub response_samples: Option<usize>,
    /// Seed; chunk `i` of samples uses random stream `i`, whatever the thread count.
    pub seed: u64,
    /// Solution method.
    pub method: Method,
}

/// The solution on the time grid `k = 0..T-1`.
#[derive(Clone, Debug, PartialEq)]
pub struct DmftSolution {
    /// Overlap `m(k)`.
    pub m: Vec<f64>,
    /// `q(k) = C(k,k)`.
    pub q: Vec<f64>,
    /// Mean training loss `E[l(y, h(k))]`.
    pub train_loss: Vec<f64>,
    /// Its Monte Carlo standard error.
    pub train_loss_sem: Vec<f64>,
    /// Training error `E[1[y o(h(k)) <= 0]]`.
    pub train_error: Vec<f64>,
    /// Its Monte Carlo standard error.
    pub train_error_sem: Vec<f64>,
    /// Closed-form test error from `m`, `q`.
    pub test_error: Vec<f64>,
    /// Weight side: `C`, `R`, `m`.
    pub weights: WeightSide,
    /// Memory kernels `M_C`, `M_R`, `mu`.
    pub kernels: Kernels,
    /// For `Iterate`: relative kernel change of each iteration.
    pub changes: Vec<f64>,
    /// For `Iterate`: whether the change fell below `tol`.
    pub converged: bool,
}

/// Bytes a solve needs: every sample's history (`xi` per pair, `f`, and for response
/// samples `phi` and the tangent row) plus the time-time matrices.
pub fn dmft_memory(cfg: &Config, opts: &DmftOptions) -> u64 {
    // In f64: the product of large requests must saturate, not wrap around.
    let (t, s) = (cfg.steps as f64, opts.samples as f64);
    let sr = opts.response_samples.unwrap_or(opts.samples) as f64;
    let threads = rayon::current_num_threads() as f64;
    let histories = 8.0 * t * (s / 2.0 + s + sr) + 8.0 * 6.0 * s;
    let scratch = threads * 3.0 * 8.0 * t * CHUNK as f64;
    (histories + scratch + 8.0 * 10.0 * t * t) as u64
}

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
    if let Some(sr) = opts.response_samples {
        if sr < 2 || sr > opts.samples {
            return Err(Error::invalid(
                "response_samples",
                format!("must be in [2, samples = {}], got {sr}", opts.samples),
            ));
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
    Ok(())
}

/// Solves the DMFT of `cfg` on the current rayon pool. Progress counts time steps
/// (`T` for a single pass, `T` per iteration for `Iterate`).
pub fn solve_dmft(cfg: &Config, opts: &DmftOptions, control: &Control) -> Result<DmftSolution> {
    validate(cfg, opts)?;
    check_memory(
        dmft_memory(cfg, opts),
        "use fewer samples, fewer response_samples or fewer steps",
    )?;
    match opts.method {
        Method::SinglePass => single_pass(cfg, opts, control),
        Method::Iterate {
            iterations,
            damping,
            tol,
        } => iterate(cfg, opts, iterations, damping, tol, control),
    }
}

/// All effective samples, in chunks.
struct PatternSide {
    chunks: Vec<Chunk>,
    params: PatternParams,
    samples: usize,
    responders: usize,
}

impl PatternSide {
    /// Fresh samples; `round` separates the random streams of successive iterations.
    fn new(cfg: &Config, opts: &DmftOptions, round: u64) -> Self {
        let params = PatternParams::new(cfg);
        let responders = opts.response_samples.unwrap_or(opts.samples);
        let chunks = (0..opts.samples.div_ceil(CHUNK))
            .into_par_iter()
            .map(|i| {
                let first = i * CHUNK;
                let size = CHUNK.min(opts.samples - first);
                let resp = responders.saturating_sub(first).min(size);
                let rng = stream(opts.seed, Domain::DmftChunk, (round << 32) | i as u64);
                Chunk::new(&params, rng, size, resp, cfg.steps)
            })
            .collect();
        PatternSide {
            chunks,
            params,
            samples: opts.samples,
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

/// Per-step observables, filled as the solve goes.
struct Observables {
    train_loss: Vec<f64>,
    train_loss_sem: Vec<f64>,
    train_error: Vec<f64>,
    train_error_sem: Vec<f64>,
}

impl Observables {
    fn new(steps: usize) -> Self {
        let z = vec![0.0; steps];
        Observables {
            train_loss: z.clone(),
            train_loss_sem: z.clone(),
            train_error: z.clone(),
            train_error_sem: z,
        }
    }

    fn record(&mut self, k: usize, sums: &StepSums, pairs: usize) {
        (self.train_loss[k], self.train_loss_sem[k]) = sums.loss.mean_sem(pairs);
        (self.train_error[k], self.train_error_sem[k]) = sums.error.mean_sem(pairs);
    }
}

/// Kernel row `k` from the merged sums:
/// `M_C(k,l) = alpha Delta E[f(k) f(l)]`, `M_R(k,l) = alpha sqrt(Delta) E[phi(k) G(k,l)]`,
/// `mu(k) = E[u f(k)]`.
/// Returns false if a kernel value is not finite.
fn fill_kernel_row(
    k: usize,
    sums: &StepSums,
    cfg: &Config,
    samples: usize,
    responders: usize,
    kernels: &mut Kernels,
) -> bool {
    let (s, sr) = (samples as f64, responders as f64);
    for l in 0..=k {
        let mc = cfg.alpha * cfg.delta * sums.f_f[l] / s;
        kernels.m_c.set(k, l, mc);
        kernels.m_c.set(l, k, mc);
        kernels
            .m_r
            .set(k, l, cfg.alpha * cfg.delta.sqrt() * sums.phi_g[l] / sr);
    }
    kernels.mu[k] = sums.u_f / s;
    kernels.mu[k].is_finite()
        && kernels.m_c.row(k)[..=k].iter().all(|v| v.is_finite())
        && kernels.m_r.row(k)[..=k].iter().all(|v| v.is_finite())
}

fn diverged(step: usize, cfg: &Config) -> Error {
    Error::Diverged {
        what: "DMFT".to_string(),
        step,
        lr: cfg.lr,
    }
}

/// Step `k` of the pattern side: extend the Cholesky factor of `C` by row `k`, advance
/// every sample, fill kernel row `k` and record the observables.
fn pattern_step(
    k: usize,
    cfg: &Config,
    weights: &WeightSide,
    chol: &mut IncrementalCholesky,
    patterns: &mut PatternSide,
    kernels: &mut Kernels,
    obs: &mut Observables,
) -> Result<()> {
    chol.push_row(k, &weights.c.row(k)[..=k]);
    let sums = patterns.step(k, chol.row(k), weights);
    let finite = fill_kernel_row(
        k,
        &sums,
        cfg,
        patterns.samples,
        patterns.responders,
        kernels,
    );
    if !(sums.finite && finite) {
        return Err(diverged(k, cfg));
    }
    obs.record(k, &sums, patterns.samples / 2);
    Ok(())
}

fn single_pass(cfg: &Config, opts: &DmftOptions, control: &Control) -> Result<DmftSolution> {
    let t = cfg.steps;
    let mut weights = WeightSide::new(t, cfg.lr, cfg.lam, cfg.alpha, cfg.m0(), cfg.q0);
    let mut kernels = Kernels::zeros(t);
    let mut chol = IncrementalCholesky::new(t);
    let mut patterns = PatternSide::new(cfg, opts, 0);
    let mut obs = Observables::new(t);
    for k in 0..t {
        pattern_step(
            k,
            cfg,
            &weights,
            &mut chol,
            &mut patterns,
            &mut kernels,
            &mut obs,
        )?;
        if k + 1 < t && !weights.advance(k, &kernels) {
            return Err(diverged(k + 1, cfg));
        }
        control.checkpoint(1)?;
    }
    Ok(finish(cfg, weights, kernels, obs, Vec::new(), true))
}

/// `C`, `R`, `m` for all times from given kernels.
fn weights_from(cfg: &Config, kernels: &Kernels) -> Result<WeightSide> {
    let mut weights = WeightSide::new(cfg.steps, cfg.lr, cfg.lam, cfg.alpha, cfg.m0(), cfg.q0);
    for k in 0..cfg.steps - 1 {
        if !weights.advance(k, kernels) {
            return Err(diverged(k + 1, cfg));
        }
    }
    Ok(weights)
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
    let mut kernels = Kernels::zeros(t);
    let mut changes = Vec::new();
    let mut converged = false;
    let mut obs = Observables::new(t);
    for round in 0..iterations {
        let weights = weights_from(cfg, &kernels)?;
        let mut chol = IncrementalCholesky::new(t);
        let mut patterns = PatternSide::new(cfg, opts, round as u64 + 1);
        let mut fresh = Kernels::zeros(t);
        for k in 0..t {
            pattern_step(
                k,
                cfg,
                &weights,
                &mut chol,
                &mut patterns,
                &mut fresh,
                &mut obs,
            )?;
            control.checkpoint(1)?;
        }
        let change = relative_change(&kernels, &fresh);
        changes.push(change);
        kernels = if round == 0 {
            fresh
        } else {
            mix(&kernels, &fresh, damping)
        };
        if change < tol {
            converged = true;
            break;
        }
    }
    let weights = weights_from(cfg, &kernels)?;
    Ok(finish(cfg, weights, kernels, obs, changes, converged))
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
    let mut out = Kernels::zeros(t);
    out.m_c = TimeMatrix::from_vec(t, blend(old.m_c.as_slice(), new.m_c.as_slice()));
    out.m_r = TimeMatrix::from_vec(t, blend(old.m_r.as_slice(), new.m_r.as_slice()));
    out.mu = blend(&old.mu, &new.mu);
    out
}

fn finish(
    cfg: &Config,
    weights: WeightSide,
    kernels: Kernels,
    obs: Observables,
    changes: Vec<f64>,
    converged: bool,
) -> DmftSolution {
    let t = cfg.steps;
    let q: Vec<f64> = (0..t).map(|k| weights.c.at(k, k)).collect();
    let test = (0..t)
        .map(|k| test_error(cfg, weights.m[k], q[k]))
        .collect();
    DmftSolution {
        m: weights.m.clone(),
        q,
        train_loss: obs.train_loss,
        train_loss_sem: obs.train_loss_sem,
        train_error: obs.train_error,
        train_error_sem: obs.train_error_sem,
        test_error: test,
        weights,
        kernels,
        changes,
        converged,
    }
}
