//! The statistics over groups (theory.md section 4.4): the mean of every quantity over
//! the independent groups and the standard error of every quantity (eq. 4.5): the
//! observables, `C`, `R` and the kernels.

use super::group::TrainingSeries;
use super::matrix::{TimeMatrix, Triangle};
use super::options::Response;
use super::profile::StageSeconds;
use super::solution::{DmftSolution, GroupMatrices, Observables, TwoTimeSem};
use super::weights::{Kernels, WeightSide};
use crate::config::Config;
use crate::losses::{ActivationFn, LossFn, SampleLoss};
use crate::observables::{test_error_with, test_loss_with};

/// What one group solved.
pub(super) struct GroupResult {
    pub(super) weights: WeightSide,
    pub(super) training: TrainingSeries,
    pub(super) seconds: StageSeconds,
}

impl GroupResult {
    /// The group's observables (test ones from `m`, `q`), and its weight side.
    fn observables<L: LossFn, A: ActivationFn>(
        self,
        cfg: &Config,
        sample_loss: &SampleLoss<L, A>,
    ) -> (Observables, WeightSide) {
        let t = cfg.steps;
        let q: Vec<f64> = (0..t).map(|k| self.weights.c.at(k, k)).collect();
        let m = &self.weights.m;
        let classify = cfg.labels_are_signs();
        let obs = Observables {
            test_loss: (0..t)
                .map(|k| test_loss_with(cfg, sample_loss, m[k], q[k]))
                .collect(),
            test_error: match classify {
                true => (0..t)
                    .map(|k| test_error_with(cfg, &sample_loss.activation, m[k], q[k]))
                    .collect(),
                false => Vec::new(),
            },
            train_error: match classify {
                true => self.training.error,
                false => Vec::new(),
            },
            m: m.clone(),
            q,
            train_loss: self.training.loss,
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

/// Element-wise standard error of the mean of `G >= 2` equally long `values` about their
/// `mean` (eq. 4.5): `sqrt(sum (x - mean)^2 / ((G - 1) G))`.
pub(super) fn sem_of<'a>(values: impl Iterator<Item = &'a [f64]>, mean: &[f64]) -> Vec<f64> {
    let mut squares = vec![0.0; mean.len()];
    let mut count = 0.0;
    for v in values {
        squares
            .iter_mut()
            .zip(v.iter().zip(mean))
            .for_each(|(s, (x, m))| *s += (x - m).powi(2));
        count += 1.0;
    }
    squares
        .into_iter()
        .map(|s| (s / (count - 1.0) / count).sqrt())
        .collect()
}

/// Element-wise standard error of equally sized matrices about their `mean`, as [`sem_of`].
fn sem_matrix<'a>(matrices: impl Iterator<Item = &'a TimeMatrix>, mean: &TimeMatrix) -> TimeMatrix {
    TimeMatrix::from_vec(
        mean.n(),
        sem_of(matrices.map(|m| m.as_slice()), mean.as_slice()),
    )
}

/// The standard errors of the groups' kernels about their `mean` (two groups or more).
pub(super) fn kernels_sem<'a>(
    kernels: impl Iterator<Item = &'a Kernels> + Clone,
    mean: &Kernels,
) -> Kernels {
    Kernels {
        m_c: sem_matrix(kernels.clone().map(|k| &k.m_c), &mean.m_c),
        m_r: sem_matrix(kernels.clone().map(|k| &k.m_r), &mean.m_r),
        mu: sem_of(kernels.map(|k| k.mu.as_slice()), &mean.mu),
    }
}

/// The response `R(k,l) = (1/dt_l) dw(k)/d eta(l)` from the weight side's, normalised by
/// `dt_0` (eq. 3.10): column `l` divided by `omega_l = dt_l / dt_0` (nothing to do without
/// a schedule).
fn response_per_step(cfg: &Config, mut r: TimeMatrix) -> TimeMatrix {
    if cfg.lr_schedule.is_some() {
        let omega = cfg.step_ratios();
        for k in 0..cfg.steps {
            for (v, w) in r.row_mut(k)[..k].iter_mut().zip(&omega) {
                *v /= w;
            }
        }
    }
    r
}

/// Element-wise mean of equally sized matrices, as [`mean_of`].
fn mean_matrix<'a>(matrices: impl Iterator<Item = &'a TimeMatrix>, n: usize) -> TimeMatrix {
    TimeMatrix::from_vec(n, mean_of(matrices.map(|m| m.as_slice())))
}

/// The mean of the groups' kernels.
pub(super) fn mean_kernels<'a>(kernels: impl Iterator<Item = &'a Kernels> + Clone) -> Kernels {
    let t = kernels.clone().next().map_or(0, |k| k.mu.len());
    Kernels {
        m_c: mean_matrix(kernels.clone().map(|k| &k.m_c), t),
        m_r: mean_matrix(kernels.clone().map(|k| &k.m_r), t),
        mu: mean_of(kernels.map(|k| k.mu.as_slice())),
    }
}

/// The kept kernels of a solve, already combined over its groups: their mean and
/// standard error (`None` where not kept, or for one group).
#[derive(Default)]
pub(super) struct KernelStats {
    pub(super) mean: Option<Kernels>,
    pub(super) sem: Option<Kernels>,
}

/// What the iterative method reports of its rounds (for a single pass: nothing, and
/// converged).
pub(super) struct Rounds {
    pub(super) changes: Vec<f64>,
    pub(super) change_noise: Vec<f64>,
    pub(super) converged: bool,
}

impl Rounds {
    /// A single pass: no rounds, nothing left to converge.
    pub(super) fn single_pass() -> Self {
        Rounds {
            changes: Vec::new(),
            change_noise: Vec::new(),
            converged: true,
        }
    }
}

/// The mean over groups of every quantity and its standard error (eq. 4.5), with the
/// `kernels`' statistics and the `rounds` of an iteration; `keep_groups`: keep each
/// group's `C` and `R` in the solution.
pub(super) fn combine<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
    response: Response,
    parts: Vec<GroupResult>,
    kernels: KernelStats,
    keep_groups: bool,
    rounds: Rounds,
) -> DmftSolution {
    let t = cfg.steps;
    let groups = parts.len();
    let (mut observables, mut weights) = (Vec::new(), Vec::new());
    let mut stage_seconds = StageSeconds::default();
    for part in parts {
        stage_seconds.add(&part.seconds);
        let (obs, w) = part.observables(cfg, sample_loss);
        observables.push(obs);
        weights.push(w);
    }
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
        *out_sem = sem_of(series.iter().copied(), out_mean);
    }
    // Means and errors entry by entry on the packed triangles, then the square matrices
    // (C symmetric, R zero on and above the diagonal).
    let c = Triangle::from_vec(t, mean_of(weights.iter().map(|w| w.c.as_slice())));
    let r = Triangle::from_vec(t, mean_of(weights.iter().map(|w| w.r.as_slice())));
    let spread = |mean: &Triangle, of: fn(&WeightSide) -> &Triangle| {
        Triangle::from_vec(
            t,
            sem_of(weights.iter().map(|w| of(w).as_slice()), mean.as_slice()),
        )
    };
    let two_time_sem = (groups > 1).then(|| TwoTimeSem {
        c: spread(&c, |w| &w.c).to_square(true),
        r: response_per_step(cfg, spread(&r, |w| &w.r).to_square(false)),
        kernels: kernels.sem,
    });
    let group_matrices = match keep_groups {
        true => weights
            .into_iter()
            .map(|w| GroupMatrices {
                c: w.c.to_square(true),
                r: response_per_step(cfg, w.r.to_square(false)),
            })
            .collect(),
        false => Vec::new(),
    };
    let (c, r) = (c.to_square(true), r.to_square(false));
    DmftSolution {
        t: cfg.times(),
        observables: mean,
        sem: (groups > 1).then_some(sem),
        two_time_sem,
        group_observables: observables,
        group_matrices,
        c,
        r: response_per_step(cfg, r),
        kernels: kernels.mean,
        changes: rounds.changes,
        change_noise: rounds.change_noise,
        converged: rounds.converged,
        response,
        groups,
        stage_seconds,
    }
}
