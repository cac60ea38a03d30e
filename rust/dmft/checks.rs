//! The checks before a solve: the validation of the options and the memory a solve needs.

use super::options::{DmftOptions, Method, Response};
use super::patterns::{estimator_scratch_bytes, history_bytes_per_step};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::resources::resolve_threads;

/// Bytes a solve needs: every sample's history, each group's time-time matrices (`C`,
/// `R`, the Cholesky factor, and `M_C`, `M_R` when iterating), the tangent's per-thread
/// scratch and the result (with the kernels and each group's matrices when kept).
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
    // Per group: C, R and the Cholesky factor, each a packed triangle; an iteration
    // round also holds the group's mixed and fresh kernels (square), and their means
    // (shared) while comparing them.
    let iterating = matches!(opts.method, Method::Iterate { .. });
    let triangles = 3.0 * 8.0 * t * (t + 1.0) / 2.0;
    let per_group = triangles + 8.0 * t * t * if iterating { 4.0 } else { 0.0 };
    let shared = 8.0 * t * t * if iterating { 6.0 } else { 0.0 };
    // The result: C, R and their standard errors, the kernels' means and standard errors
    // when kept, each group's C and R when kept.
    let result = 8.0 * t * t * if opts.keep_kernels { 8.0 } else { 4.0 };
    let kept_groups = if opts.keep_groups {
        8.0 * t * t * 2.0 * g
    } else {
        0.0
    };
    // The tangent's per-thread scratch, or the probe's recent phi (band values each).
    let threads = resolve_threads(opts.threads).unwrap_or(1);
    let estimator = estimator_scratch_bytes(response, t, sr, threads);
    (histories + g * per_group + shared + result + kept_groups + estimator) as u64
}

/// The relative cost of each time step `k` of a solve, in bytes moved (a multiply-add of
/// the tangent counted as one byte: the machines measured do about as many of each per
/// second): the samples' per-step work and history passes, `(64 + 15 k) S` (theory.md
/// section 4.1), the exact tangent's `b S_r k^2 / 2` multiply-adds, and the weight side's
/// reading of `C`, `R` and the Cholesky factor, `4 G k^2`. What a progress bar's time
/// estimate needs: a step late in a long run costs far more than an early one.
pub fn dmft_step_costs(cfg: &Config, opts: &DmftOptions) -> Vec<f64> {
    let opts = opts.resolved(cfg);
    let s = opts.samples as f64;
    let sr = opts.response_samples.unwrap_or(opts.samples) as f64;
    let g = opts.group_count() as f64;
    let tangent = matches!(opts.response, Response::Tangent);
    (0..cfg.steps)
        .map(|k| {
            let k = k as f64;
            let samples = (64.0 + 15.0 * k) * s;
            let response = if tangent {
                cfg.batch * sr * k * k / 2.0
            } else {
                0.0
            };
            samples + response + 4.0 * g * k * k
        })
        .collect()
}

/// Groups are numbered in 20 bits of the random-stream index.
const MAX_GROUPS: usize = 1 << 20;

/// Checks every option of a solve of the (checked) problem `cfg` before any work: the
/// first bad parameter is named.
pub(super) fn validate_options(cfg: &Config, opts: &DmftOptions) -> Result<()> {
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
