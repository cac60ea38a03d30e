//! The optimizer (theory.md eq. 1.2), one component both engines step with: its rate of
//! every step (a [`LearningRate`], constant or a schedule), the ridge `lambda`, the
//! Langevin temperature `T` and, optionally, momentum. The simulator calls
//! [`Optimizer::init`] once per run and [`Optimizer::update`] once per step on the weight
//! vector; the DMFT's weight side (`dmft/weights.rs`) advances the second moments of the
//! same update (eqs. 3.4-3.9), reading its rates and coefficients from here. A new
//! optimizer is a new field or variant here, with its update and its weight-side
//! recursion beside the existing ones.

use crate::config::{Config, LearningRate};
use crate::simd::axpy;

/// Heavy-ball or Nesterov momentum, PyTorch's `SGD(momentum=beta, nesterov=...)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Momentum {
    /// `beta ∈ (0, 1)`: `v_{k+1} = beta v_k + g_k`.
    pub beta: f64,
    /// Step along `g_k + beta v_{k+1}` (Nesterov) instead of `v_{k+1}` (heavy ball).
    pub nesterov: bool,
}

/// The update rule of SGD: `w_{k+1} = (1 - eta_k lambda) w_k - eta_k grad_k + sqrt(2 eta_k
/// T) xi_k`, or its momentum form. Built once from a checked [`Config`].
#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    /// The learning rate `eta_k` of every step.
    pub lr: LearningRate,
    /// Ridge `lambda`.
    pub lam: f64,
    /// Langevin temperature `T`.
    pub temperature: f64,
    /// Momentum, or `None` for plain SGD.
    pub momentum: Option<Momentum>,
}

/// The data's part of the gradient at one step: `-(batch_weight/sqrt(d)) sum`, with
/// `sum = sum_mu s_mu f_mu x_mu` (`f = -l'`) over the samples in the batch.
#[derive(Clone, Copy, Debug)]
pub struct Descent<'a> {
    /// `sum_mu s_mu f_mu x_mu`.
    pub sum: &'a [f64],
    /// `1/sqrt(d)`.
    pub inv_sqrt_d: f64,
    /// The weight of a sample in the batch (`1/b` with `normalize_batch`, else 1).
    pub batch_weight: f64,
}

impl<'a> Descent<'a> {
    /// The descent `-(batch_weight * inv_sqrt_d) sum`.
    pub fn new(sum: &'a [f64], inv_sqrt_d: f64, batch_weight: f64) -> Self {
        Descent {
            sum,
            inv_sqrt_d,
            batch_weight,
        }
    }
}

/// What the optimizer carries from one step of a run to the next: the velocity `v_k`
/// (`v_0 = 0`) with momentum, nothing without.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    velocity: Option<Vec<f64>>,
}

impl Optimizer {
    /// The optimizer of `cfg`.
    pub fn of(cfg: &Config) -> Self {
        Optimizer {
            lr: match &cfg.lr_schedule {
                Some(rates) => LearningRate::Schedule(rates.clone()),
                None => LearningRate::Constant(cfg.lr),
            },
            lam: cfg.lam,
            temperature: cfg.temperature,
            momentum: (cfg.momentum > 0.0).then_some(Momentum {
                beta: cfg.momentum,
                nesterov: cfg.nesterov,
            }),
        }
    }

    /// Plain SGD at the constant rate `lr` with ridge `lam` (no noise, no momentum).
    pub fn plain(lr: f64, lam: f64) -> Self {
        Optimizer {
            lr: LearningRate::Constant(lr),
            lam,
            temperature: 0.0,
            momentum: None,
        }
    }

    /// The learning rate (time step) of step `k`: `eta_k`.
    #[inline]
    pub fn lr_at(&self, k: usize) -> f64 {
        match &self.lr {
            LearningRate::Constant(lr) => *lr,
            LearningRate::Schedule(rates) => rates[k],
        }
    }

    /// Whether the update adds Langevin increments (`T > 0`).
    pub fn is_noisy(&self) -> bool {
        self.temperature > 0.0
    }

    /// The state of a run in dimension `d` before its first step.
    pub fn init(&self, d: usize) -> OptimizerState {
        OptimizerState {
            velocity: self.momentum.map(|_| vec![0.0; d]),
        }
    }

    /// Step `k`: `w_k -> w_{k+1}` from the data's descent direction and the Langevin
    /// increment `xi_k ~ N(0, I_d)` (`None` at `T = 0`).
    pub fn update(
        &self,
        k: usize,
        state: &mut OptimizerState,
        w: &mut [f64],
        descent: Descent<'_>,
        xi: Option<&[f64]>,
    ) {
        let Descent {
            sum: descent,
            inv_sqrt_d,
            batch_weight,
        } = descent;
        let dt = self.lr_at(k);
        let (shrink, kick) = (1.0 - dt * self.lam, (2.0 * dt * self.temperature).sqrt());
        match (self.momentum, state.velocity.as_mut()) {
            (Some(Momentum { beta, nesterov }), Some(v)) => {
                // PyTorch's SGD with momentum (eq. 1.2): the gradient with the ridge
                // inside, g = lam w - b_w descent / sqrt(d); v = beta v + g; the step
                // along v (heavy ball) or g + beta v (Nesterov).
                let scale = inv_sqrt_d * batch_weight;
                for ((wi, vi), gi) in w.iter_mut().zip(v.iter_mut()).zip(descent) {
                    let g = self.lam * *wi - scale * gi;
                    *vi = beta * *vi + g;
                    let along = if nesterov { g + beta * *vi } else { *vi };
                    *wi -= dt * along;
                }
                if let Some(xi) = xi {
                    axpy(kick, xi, w);
                }
            }
            _ => {
                let step = dt * inv_sqrt_d * batch_weight;
                match xi {
                    Some(xi) => {
                        for ((wi, gi), xi) in w.iter_mut().zip(descent).zip(xi) {
                            *wi = shrink * *wi + step * gi + kick * xi;
                        }
                    }
                    None => {
                        for (wi, gi) in w.iter_mut().zip(descent) {
                            *wi = shrink * *wi + step * gi;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_momentum_and_nesterov_steps_by_hand() {
        // One coordinate, d = 1, descent 2 (gradient -2 b_w), lam 0.5, lr 0.1.
        let (w0, descent) = (1.0, [2.0]);
        let plain = Optimizer::plain(0.1, 0.5);
        let mut w = [w0];
        plain.update(
            0,
            &mut plain.init(1),
            &mut w,
            Descent::new(&descent, 1.0, 1.0),
            None,
        );
        assert_eq!(w[0], (1.0 - 0.1 * 0.5) * w0 + 0.1 * 2.0);
        for nesterov in [false, true] {
            let opt = Optimizer {
                momentum: Some(Momentum {
                    beta: 0.9,
                    nesterov,
                }),
                ..Optimizer::plain(0.1, 0.5)
            };
            let mut state = opt.init(1);
            let (mut w, mut v) = ([w0], 0.0);
            for k in 0..3 {
                let g = 0.5 * w[0] - 2.0;
                v = 0.9 * v + g;
                let expected = w[0] - 0.1 * if nesterov { g + 0.9 * v } else { v };
                opt.update(
                    k,
                    &mut state,
                    &mut w,
                    Descent::new(&descent, 1.0, 1.0),
                    None,
                );
                assert_eq!(w[0], expected);
            }
        }
    }

    #[test]
    fn a_schedule_gives_each_step_its_rate() {
        let opt = Optimizer {
            lr: LearningRate::Schedule(vec![0.1, 0.3]),
            ..Optimizer::plain(0.1, 0.0)
        };
        let mut w = [0.0];
        opt.update(
            1,
            &mut opt.init(1),
            &mut w,
            Descent::new(&[1.0], 1.0, 1.0),
            None,
        );
        assert_eq!((opt.lr_at(0), opt.lr_at(1), w[0]), (0.1, 0.3, 0.3));
        // Langevin: sqrt(2 eta T) xi.
        let hot = Optimizer {
            temperature: 2.0,
            ..Optimizer::plain(0.25, 0.0)
        };
        let mut w = [0.0];
        hot.update(
            0,
            &mut hot.init(1),
            &mut w,
            Descent::new(&[0.0], 1.0, 1.0),
            Some(&[3.0]),
        );
        assert!(hot.is_noisy() && w[0] == 3.0);
    }
}
