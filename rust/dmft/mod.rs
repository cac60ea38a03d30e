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
//!
//! One job per file: `options.rs` what a solve is asked for, `checks.rs` the validation
//! and the memory a solve needs, `group.rs` one group's samples and weight side stepped
//! in time, `single_pass.rs` and `iterate.rs` the two methods, `statistics.rs` the means
//! and error bars over groups, `solution.rs` what a solve returns; `patterns.rs` (the
//! effective samples and response estimators), `weights.rs` (the weight side),
//! `cholesky.rs` and `matrix.rs` are the pieces they are built from.

mod checks;
mod cholesky;
mod group;
mod iterate;
mod ladder;
mod matrix;
mod network;
mod options;
mod patterns;
mod profile;
mod single_pass;
mod solution;
mod statistics;
mod weights;

pub use checks::{dmft_memory, dmft_step_costs};
pub use ladder::{ladder_configs, richardson_weights, solve_dmft_ladder, solve_dmft_ladder_with};
pub use matrix::TimeMatrix;
pub use network::{solve_network_dmft, NetworkDmftOptions, NetworkResponse};
pub use options::{DmftOptions, Method, Response};
pub use profile::StageSeconds;
pub use solution::{DmftSolution, GroupMatrices, Observables, TwoTimeSem};
pub use weights::Kernels;
// The weight side alone, for the crate's fuzz tests (rust/fuzz_tests.rs).
#[allow(unused_imports)]
pub use weights::WeightSide;

use crate::config::Config;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn, SampleLoss};
use crate::problem::Problem;
use crate::resources::{check_memory, with_threads};
use checks::validate_options;
use iterate::iterate;
use single_pass::single_pass;

/// Solves the DMFT of `problem` on a pool of `opts.threads` workers. Progress counts
/// time steps (`T` for a single pass, `T` per iteration for `Iterate`).
///
/// ```
/// use dmft_sgd::{solve_dmft, Config, Control, DmftOptions, Problem};
///
/// let problem = Problem::new(Config { batch: 0.3, steps: 40, ..Config::default() }).unwrap();
/// let opts = DmftOptions::default().samples(2_000).groups(4);
/// let sol = solve_dmft(&problem, &opts, &Control::new()).unwrap();
/// let (e, se) = (sol.observables.test_error[39], sol.sem.unwrap().test_error[39]);
/// assert!(e < 0.5 && se > 0.0 && se < 0.05);
/// ```
pub fn solve_dmft(
    problem: &Problem,
    opts: &DmftOptions,
    control: &Control,
) -> Result<DmftSolution> {
    solve_dmft_with(problem, &problem.sample_loss(), opts, control)
}

/// [`solve_dmft`] with the loss and output `sample_loss` (your own [`LossFn`] and
/// [`ActivationFn`], or built-ins) instead of the problem's `loss` and `activation`. A
/// loss without a curvature ([`LossFn::has_curvature`]: the hinge) is refused before any
/// work: the response of the effective process needs `l''`.
pub fn solve_dmft_with<L: LossFn, A: ActivationFn>(
    problem: &Problem,
    sample_loss: &SampleLoss<L, A>,
    opts: &DmftOptions,
    control: &Control,
) -> Result<DmftSolution> {
    // The problem is checked already (once, when parsed); the options are checked here.
    let cfg = problem.config();
    validate_options(cfg, opts)?;
    check_sample_loss(cfg, sample_loss)?;
    let opts = &opts.resolved(cfg);
    check_memory(
        dmft_memory(cfg, opts),
        "use fewer samples, fewer steps, fewer groups or keep_kernels=False",
    )?;
    with_threads(opts.threads, || match opts.method {
        Method::SinglePass => single_pass(cfg, sample_loss, opts, control),
        Method::Iterate {
            iterations,
            damping,
            tol,
        } => iterate(cfg, sample_loss, opts, iterations, damping, tol, control),
    })?
}

/// Checks that the DMFT can solve `cfg` with `sample_loss`: the config's own loss rules,
/// and a loss with a curvature (the response of the effective process needs `l''`).
pub(super) fn check_sample_loss<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
) -> Result<()> {
    cfg.check_loss(&sample_loss.loss)?;
    cfg.check_single_unit("the single-unit DMFT (and its ladder of learning rates)")?;
    if !sample_loss.activation.is_smooth() {
        return Err(Error::invalid(
            "activation",
            format!(
                "'{}' has a kink: its o'' is a delta whose term in the DMFT's response does \
                 not vanish in expectation, which the solver does not handle yet; use \
                 simulate or sgd_trajectory for it, or a smooth output such as 'erf' or 'tanh'",
                sample_loss.activation.name()
            ),
        ));
    }
    if !sample_loss.loss.has_curvature() {
        return Err(Error::invalid(
            "loss",
            format!(
                "'{}' has no second derivative as a function (a kink puts a delta in it), which \
                 the DMFT's response needs: use simulate or sgd_trajectory for it, or a smooth \
                 loss such as 'squared_hinge' or 'logistic'",
                sample_loss.loss.name()
            ),
        ));
    }
    Ok(())
}
