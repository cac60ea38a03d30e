//! The statistics over groups (theory.md section 4.4): the mean of every quantity over
//! the independent groups and the standard error of the observables (eq. 4.5).

use super::group::TrainingSeries;
use super::matrix::TimeMatrix;
use super::options::Response;
use super::solution::{DmftSolution, Observables};
use super::weights::{Kernels, WeightSide};
use crate::config::Config;
use crate::losses::{ActivationFn, LossFn, SampleLoss};
use crate::observables::{test_error_with, test_loss_with};

/// What one group solved.
pub(super) struct GroupResult {
    pub(super) weights: WeightSide,
    pub(super) training: TrainingSeries,
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

/// The mean over groups of every quantity, and the standard error of the observables
/// (eq. 4.5); `kernels` are already the mean.
#[allow(clippy::too_many_arguments)] // what both methods report
pub(super) fn combine<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
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
        let (obs, w) = part.observables(cfg, sample_loss);
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
        t: cfg.times(),
        observables: mean,
        sem: (groups > 1).then_some(sem),
        c: mean_matrix(weights.iter().map(|w| &w.c), t),
        r: response_per_step(cfg, mean_matrix(weights.iter().map(|w| &w.r), t)),
        kernels,
        changes,
        change_noise,
        converged,
        response,
        groups,
    }
}
