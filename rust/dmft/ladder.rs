//! The ladder of the stochastic gradient flow (theory.md section 6): the DMFT at learning
//! rates `lr_0 > lr_1 > ... > lr_L` to the same horizon, solved in one causal pass with
//! coupled randomness, so that the differences between levels (and the Richardson
//! extrapolation `lr -> 0` built on them) carry little Monte Carlo noise.
//!
//! Each group of samples is solved on every level side by side. The finest level draws
//! its own randomness, exactly as a plain solve at its `lr` with the same seed; each
//! coarser level shares the static draws (cluster, label, `u`, `s(0)`) of every sample
//! and takes the rest from the next finer level, just stepped to the same time: its batch
//! chain follows the finer chain's switches, its cavity innovations are the finer field's
//! standardised innovations on its grid (section 6.2, eqs. 6.3-6.4).

use super::check_sample_loss;
use super::checks::{dmft_memory, validate_options};
use super::group::{each_group, Group, LevelCoupling};
use super::options::{DmftOptions, Method};
use super::patterns::PatternParams;
use super::single_pass::KernelAccumulator;
use super::solution::DmftSolution;
use super::statistics::{combine, Rounds};
use crate::config::Config;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn, SampleLoss};
use crate::minibatch::BatchChain;
use crate::problem::Problem;
use crate::resources::{check_memory, with_threads};

/// Relative slack when checking that the learning rates divide each other and the
/// horizon: `lr` values typed in decimal are not exact binary fractions.
const GRID_SLACK: f64 = 1e-9;

/// The problems of the levels of the ladder of `problem` at learning rates `lrs`
/// (decreasing, each an integer fraction of the one before), each to the horizon of
/// `problem`, `t = (steps - 1) lr`: level `i` has `lr = lrs[i]` and `(steps - 1) lr /
/// lrs[i] + 1` steps, and is checked once, as a problem of its own. Refused: fewer than
/// two rates, rates that do not divide each other or the horizon, a learning-rate
/// schedule, and plain SGD (`tau = None` with `batch < 1`), which has no stochastic
/// gradient flow at fixed `batch`.
///
/// ```
/// use dmft_sgd::{ladder_configs, Config, Problem};
///
/// let cfg = Config { lr: 0.1, steps: 101, tau: Some(1.0), batch: 0.3, ..Config::default() };
/// let levels = ladder_configs(&Problem::new(cfg.clone()).unwrap(), &[0.1, 0.05, 0.025]).unwrap();
/// assert_eq!(levels.iter().map(|p| p.steps()).collect::<Vec<_>>(), [101, 201, 401]);
/// let plain = Problem::new(Config { tau: None, ..cfg }).unwrap();
/// assert!(ladder_configs(&plain, &[0.1, 0.05]).is_err());
/// ```
pub fn ladder_configs(problem: &Problem, lrs: &[f64]) -> Result<Vec<Problem>> {
    let cfg = problem.config();
    if cfg.lr_schedule.is_some() {
        return Err(Error::invalid(
            "lr",
            "must be one constant rate, not a schedule, for the stochastic gradient flow's \
             ladder, which takes lr -> 0 at fixed tau and batch",
        ));
    }
    if cfg.tau.is_none() && cfg.batch < 1.0 {
        return Err(Error::invalid(
            "tau",
            format!(
                "must be given for the stochastic gradient flow: plain SGD (tau=None, so tau = \
                 lr/batch) has none at fixed batch = {}, as lr -> 0 its batch noise averages \
                 out to gradient flow. Give a persistence time, e.g. tau=1.0 (or batch=1 for \
                 gradient flow)",
                cfg.batch
            ),
        ));
    }
    if lrs.len() < 2 {
        return Err(Error::invalid(
            "lrs",
            format!("must hold at least two learning rates, got {}", lrs.len()),
        ));
    }
    if let Some(bad) = lrs.iter().find(|lr| !(lr.is_finite() && **lr > 0.0)) {
        return Err(Error::invalid(
            "lrs",
            format!("must be finite and > 0, got {bad}"),
        ));
    }
    let horizon = (cfg.steps - 1) as f64 * cfg.lr;
    let mut levels = Vec::with_capacity(lrs.len());
    for (i, &lr) in lrs.iter().enumerate() {
        if i > 0 {
            let ratio = lrs[i - 1] / lr;
            if ratio.round() < 2.0 || (ratio - ratio.round()).abs() > GRID_SLACK * ratio {
                return Err(Error::invalid(
                    "lrs",
                    format!(
                        "must each be the one before divided by an integer >= 2 (the coarse \
                         grid is part of the fine one): {} / {lr} = {ratio}",
                        lrs[i - 1]
                    ),
                ));
            }
        }
        let intervals = horizon / lr;
        if (intervals - intervals.round()).abs() > GRID_SLACK * intervals.max(1.0) {
            return Err(Error::invalid(
                "lrs",
                format!("must each divide the horizon (steps - 1) lr = {horizon}: {lr} does not"),
            ));
        }
        let level = Config {
            lr,
            steps: intervals.round() as usize + 1,
            ..cfg.clone()
        };
        levels.push(Problem::new(level)?);
    }
    Ok(levels)
}

/// The weights of the Richardson extrapolation of order `order` on the ladder `lrs`
/// (theory.md section 6.1), one per level: the `order + 1` finest levels get the `w`
/// with `sum_i w_i = 1` and `sum_i w_i h_i^j = 0` for `j = 1..=order` (`h_i = lrs[i]`),
/// which cancels the terms `h, ..., h^order` of `f(h) = f_0 + a_1 h + a_2 h^2 + ...`; the
/// coarser levels get 0 (order 0: the finest level alone). Apply them to each group's
/// series ([`DmftSolution::group_observables`], on the coarsest grid) and take the mean
/// and spread over groups for the limit and its error bar.
///
/// ```
/// use dmft_sgd::richardson_weights;
///
/// let w = richardson_weights(&[0.2, 0.1, 0.05], 2).unwrap();
/// let expected = [1.0 / 3.0, -2.0, 8.0 / 3.0]; // (f(h) - 6 f(h/2) + 8 f(h/4)) / 3
/// assert!(w.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12));
/// assert_eq!(richardson_weights(&[0.2, 0.1], 1).unwrap(), [-1.0, 2.0]);
/// assert!(richardson_weights(&[0.2, 0.1], 2).is_err());
/// ```
pub fn richardson_weights(lrs: &[f64], order: usize) -> Result<Vec<f64>> {
    if order >= lrs.len() {
        return Err(Error::invalid(
            "order",
            format!(
                "must be at most len(lrs) - 1 = {} (each order needs one more level), got {order}",
                lrs.len().saturating_sub(1)
            ),
        ));
    }
    let n = order + 1;
    let first = lrs.len() - n;
    // Scaled by the finest rate: the Vandermonde system is better conditioned.
    let h: Vec<f64> = lrs[first..]
        .iter()
        .map(|lr| lr / lrs[lrs.len() - 1])
        .collect();
    // Rows j = 0..n: sum_i h_i^j w_i = [j == 0], solved by Gaussian elimination with
    // partial pivoting on the augmented n x (n + 1) matrix.
    let mut a: Vec<Vec<f64>> = (0..n)
        .map(|j| {
            let mut row: Vec<f64> = h.iter().map(|x| x.powi(j as i32)).collect();
            row.push(if j == 0 { 1.0 } else { 0.0 });
            row
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .expect("a row");
        a.swap(col, pivot);
        if a[col][col] == 0.0 {
            return Err(Error::invalid("lrs", "must be distinct learning rates"));
        }
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for target in lower {
            let factor = target[col] / pivot_row[col];
            for (t, p) in target[col..].iter_mut().zip(&pivot_row[col..]) {
                *t -= factor * p;
            }
        }
    }
    let mut w = vec![0.0; n];
    for row in (0..n).rev() {
        let known: f64 = (row + 1..n).map(|c| a[row][c] * w[c]).sum();
        w[row] = (a[row][n] - known) / a[row][row];
    }
    let mut weights = vec![0.0; first];
    weights.extend(w);
    Ok(weights)
}

/// The finer chain's probabilities to have switched state after `n` of its steps,
/// `(P(0 -> 1), P(1 -> 0))`: for the two-state chain, `P(0 -> 1) = p_on / (p_on + p_off)
/// (1 - (1 - p_on - p_off)^n)` and alike.
fn switch_probabilities(finer: &BatchChain, n: usize) -> (f64, f64) {
    let total = finer.p_on + finer.p_off;
    if total == 0.0 {
        return (0.0, 0.0);
    }
    let relaxed = 1.0 - (1.0 - total).powi(n as i32);
    (finer.p_on / total * relaxed, finer.p_off / total * relaxed)
}

/// Solves the DMFT of `cfg` on the ladder of learning rates `lrs` (see
/// [`ladder_configs`]) in one coupled pass (single-pass method only); returns one
/// solution per level, in the order of `lrs`. The response estimator is resolved once,
/// for the finest level, and used on every level. Progress counts the finest level's
/// steps.
pub fn solve_dmft_ladder(
    problem: &Problem,
    lrs: &[f64],
    opts: &DmftOptions,
    control: &Control,
) -> Result<Vec<DmftSolution>> {
    solve_dmft_ladder_with(problem, &problem.sample_loss(), lrs, opts, control)
}

/// [`solve_dmft_ladder`] with the sample loss `sample_loss`, as
/// [`solve_dmft_with`](crate::solve_dmft_with).
pub fn solve_dmft_ladder_with<L: LossFn, A: ActivationFn>(
    problem: &Problem,
    sample_loss: &SampleLoss<L, A>,
    lrs: &[f64],
    opts: &DmftOptions,
    control: &Control,
) -> Result<Vec<DmftSolution>> {
    let cfg = problem.config();
    let levels: Vec<Config> = ladder_configs(problem, lrs)?
        .into_iter()
        .map(|level| level.config().clone())
        .collect();
    let finest = levels.last().expect("two levels or more");
    if opts.method != Method::SinglePass {
        return Err(Error::invalid(
            "method",
            "must be the single pass (method='single') for the ladder",
        ));
    }
    for level in &levels {
        validate_options(level, opts)?;
    }
    check_sample_loss(cfg, sample_loss)?;
    let opts = &opts.resolved(finest);
    // Each level's solve, and on the coarser ones each group's factor L_sub (6.4).
    let whiteners: f64 = levels[..levels.len() - 1]
        .iter()
        .map(|level| 8.0 * (level.steps as f64).powi(2) * opts.group_count() as f64)
        .sum();
    let memory = levels
        .iter()
        .map(|level| dmft_memory(level, opts))
        .sum::<u64>()
        + whiteners as u64;
    check_memory(
        memory,
        "use fewer samples, fewer steps, fewer levels or keep_kernels=False",
    )?;
    with_threads(opts.threads, || {
        ladder_pass(&levels, sample_loss, opts, control)
    })?
}

/// The coupled single pass over the levels `levels` (coarsest first).
fn ladder_pass<L: LossFn, A: ActivationFn>(
    levels: &[Config],
    sample_loss: &SampleLoss<L, A>,
    opts: &DmftOptions,
    control: &Control,
) -> Result<Vec<DmftSolution>> {
    let top = levels.len() - 1;
    let scales: Vec<Vec<f64>> = levels.iter().map(Config::chain_scales).collect();
    let params: Vec<PatternParams<L, A>> = levels
        .iter()
        .zip(&scales)
        .map(|(level, scales)| PatternParams::new(level, sample_loss, scales, opts.response))
        .collect();
    // Level i < top follows level i + 1, `ratio` of whose steps make one of its own.
    let couplings: Vec<LevelCoupling> = (0..top)
        .map(|i| {
            let ratio = (levels[i + 1].steps - 1) / (levels[i].steps - 1);
            let (q_on, q_off) = switch_probabilities(&params[i + 1].chain, ratio);
            LevelCoupling {
                level: i as u64,
                ratio,
                q_on,
                q_off,
            }
        })
        .collect();
    // ladders[g][i]: group g on level i.
    let mut ladders: Vec<Vec<Group<L, A>>> = (0..opts.group_count())
        .map(|g| {
            let mut ladder: Vec<Group<L, A>> = (0..top)
                .map(|i| Group::on_level(&levels[i], opts, params[i], g, couplings[i]))
                .collect();
            ladder.push(Group::new(&levels[top], opts, params[top], g));
            ladder
        })
        .collect();
    let mut kernels: Vec<KernelAccumulator> = levels
        .iter()
        .map(|level| KernelAccumulator::new(level.steps, opts.keep_kernels, ladders.len()))
        .collect();
    for n in 0..levels[top].steps {
        // The levels that reach a step of their own at the finest step n: (level, step).
        let mut stepping = vec![(top, n)];
        let mut k = n;
        for i in (0..top).rev() {
            if k % couplings[i].ratio != 0 {
                break;
            }
            k /= couplings[i].ratio;
            stepping.push((i, k));
        }
        each_group(&mut ladders, |ladder| {
            for &(i, k) in &stepping {
                let (coarser, finer) = ladder.split_at_mut(i + 1);
                let group = &mut coarser[i];
                match finer.first() {
                    Some(finer) => group.pattern_step_from(k, &levels[i], finer)?,
                    None => group.pattern_step(k, &levels[i])?,
                }
                if k + 1 < levels[i].steps {
                    group.advance(k, &levels[i])?;
                }
            }
            Ok(())
        })?;
        for &(i, k) in &stepping {
            kernels[i].add(
                k,
                ladders.iter().filter_map(|ladder| ladder[i].row.as_ref()),
            );
        }
        control.checkpoint(1)?;
    }
    let mut per_level: Vec<Vec<_>> = levels.iter().map(|_| Vec::new()).collect();
    for ladder in ladders {
        for (i, group) in ladder.into_iter().enumerate() {
            per_level[i].push(group.into_result());
        }
    }
    Ok(levels
        .iter()
        .zip(per_level)
        .zip(kernels)
        .map(|((level, parts), kernels)| {
            combine(
                level,
                sample_loss,
                opts.response,
                parts,
                kernels.finish(),
                opts.keep_groups,
                Rounds::single_pass(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finer_chain_switches_as_its_matrix_power_says() {
        let chain = BatchChain {
            batch: 0.3,
            p_on: 0.05,
            p_off: 0.05 * 0.7 / 0.3,
        };
        // Two steps by hand: switched iff exactly one of the two steps switched.
        let (a, c) = (chain.p_on, chain.p_off);
        let (q_on, q_off) = switch_probabilities(&chain, 2);
        assert!((q_on - (a * (1.0 - c) + (1.0 - a) * a)).abs() < 1e-15);
        assert!((q_off - (c * (1.0 - a) + (1.0 - c) * c)).abs() < 1e-15);
        // Full batch never switches.
        let full = BatchChain {
            batch: 1.0,
            p_on: 0.1,
            p_off: 0.0,
        };
        assert_eq!(switch_probabilities(&full, 4).1, 0.0);
    }

    #[test]
    fn ladders_are_checked_before_any_work() {
        let cfg = Config {
            lr: 0.1,
            steps: 11,
            tau: Some(1.0),
            batch: 0.3,
            ..Config::default()
        };
        let problem = |cfg: &Config| Problem::new(cfg.clone()).unwrap();
        let err =
            |lrs: &[f64], cfg: &Config| ladder_configs(&problem(cfg), lrs).unwrap_err().to_string();
        assert!(err(&[0.1], &cfg).contains("lrs"));
        assert!(err(&[0.1, 0.04], &cfg).contains("integer"));
        assert!(err(&[0.1, 0.1], &cfg).contains("integer"));
        assert!(err(&[0.3, 0.1], &cfg).contains("horizon"));
        let plain = Config {
            tau: None,
            ..cfg.clone()
        };
        assert!(err(&[0.1, 0.05], &plain).contains("tau=1.0"));
        // Gradient flow (batch 1) needs no tau.
        let gd = Config {
            batch: 1.0,
            ..plain
        };
        assert_eq!(
            ladder_configs(&problem(&gd), &[0.1, 0.05]).unwrap()[1].steps(),
            21
        );
    }
}
