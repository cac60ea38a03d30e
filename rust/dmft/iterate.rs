//! The damped fixed-point iteration (theory.md section 4.5): guess the kernels, solve the
//! weight side for all times, re-simulate fresh samples over the whole trajectory for new
//! kernels, mix them with the old ones, and repeat until the change is below `tol` or its
//! Monte Carlo noise (eq. 4.6).

use super::group::{each_group, Group, TrainingSeries};
use super::matrix::TimeMatrix;
use super::options::DmftOptions;
use super::patterns::PatternParams;
use super::profile::StageSeconds;
use super::solution::DmftSolution;
use super::statistics::{combine, kernels_sem, mean_kernels, GroupResult, KernelStats, Rounds};
use super::weights::{Kernels, WeightSide};
use crate::config::Config;
use crate::control::Control;
use crate::error::Result;
use crate::losses::{ActivationFn, LossFn, SampleLoss};

/// `C`, `R`, `m` for all times from given kernels.
fn weights_from(cfg: &Config, kernels: &Kernels) -> Result<WeightSide> {
    let mut weights = WeightSide::of(cfg);
    for k in 0..cfg.steps - 1 {
        let finite = weights.advance(k, kernels);
        weights.check_row(k + 1, finite, cfg)?;
    }
    Ok(weights)
}

/// One group of the iteration: its current kernels and last round's training series.
struct IterGroup {
    kernels: Kernels,
    training: TrainingSeries,
    /// Where the time of its rounds went.
    seconds: StageSeconds,
}

/// Solves the DMFT of `cfg` by at most `iterations` damped rounds (`damping` the weight
/// of the old kernels), stopping early below `tol` or the noise of the change.
pub(super) fn iterate<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
    opts: &DmftOptions,
    iterations: usize,
    damping: f64,
    tol: f64,
    control: &Control,
) -> Result<DmftSolution> {
    let t = cfg.steps;
    let scales = cfg.chain_scales();
    let params = PatternParams::new(cfg, sample_loss, &scales, opts.response);
    let mut groups: Vec<IterGroup> = (0..opts.group_count())
        .map(|_| IterGroup {
            kernels: Kernels::zeros(t),
            training: TrainingSeries::zeros(t),
            seconds: StageSeconds::default(),
        })
        .collect();
    let mut changes = Vec::new();
    let mut change_noise = Vec::new();
    let mut converged = false;
    for round in 0..iterations {
        // Fresh samples on the weights of the current kernels; the whole trajectory of
        // each group, side by side.
        let mut fresh: Vec<Group<L, A>> = Vec::with_capacity(groups.len());
        for (g, group) in groups.iter().enumerate() {
            let weights = weights_from(cfg, &group.kernels)?;
            fresh.push(Group::on_weights(
                weights,
                opts,
                params,
                g,
                round as u64 + 1,
                true,
            ));
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
            group.training = new.training;
            group.seconds.add(&new.seconds);
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
    let mean = opts
        .keep_kernels
        .then(|| mean_kernels(groups.iter().map(|g| &g.kernels)));
    let kernels = KernelStats {
        sem: mean
            .as_ref()
            .filter(|_| groups.len() > 1)
            .map(|mean| kernels_sem(groups.iter().map(|g| &g.kernels), mean)),
        mean,
    };
    let mut parts = Vec::with_capacity(groups.len());
    for g in groups {
        parts.push(GroupResult {
            weights: weights_from(cfg, &g.kernels)?,
            training: g.training,
            seconds: g.seconds,
        });
    }
    Ok(combine(
        cfg,
        sample_loss,
        params.response,
        parts,
        kernels,
        opts.keep_groups,
        Rounds {
            changes,
            change_noise,
            converged,
        },
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
