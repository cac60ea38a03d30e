//! The model and optimiser settings (theory.md section 1), validated in one place.

use crate::error::{Error, Result};

/// Which Gaussian mixture the data come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clusters {
    /// `c = ±1` with probability 1/2 each, label `y = c`.
    Two,
    /// `c = -1, 0, +1` with probability `rho/2, 1-rho, rho/2`; label `+1` for `c ≠ 0`.
    Three {
        /// Mass of the two outer clusters, `0 < rho < 1`.
        rho: f64,
    },
}

impl Clusters {
    /// The clusters as `(c, P(c), y(c))`.
    pub fn table(&self) -> Vec<(f64, f64, f64)> {
        match *self {
            Clusters::Two => vec![(-1.0, 0.5, -1.0), (1.0, 0.5, 1.0)],
            Clusters::Three { rho } => vec![
                (-1.0, rho / 2.0, 1.0),
                (0.0, 1.0 - rho, -1.0),
                (1.0, rho / 2.0, 1.0),
            ],
        }
    }

    /// The label `y(c)` of cluster `c`.
    pub fn label(&self, c: f64) -> f64 {
        match *self {
            Clusters::Two => c,
            Clusters::Three { .. } => {
                if c != 0.0 {
                    1.0
                } else {
                    -1.0
                }
            }
        }
    }

    /// Draws a cluster centre `c` and its label `y` from a uniform number `u ∈ [0, 1)`.
    pub fn draw(&self, u: f64) -> (f64, f64) {
        let c = match *self {
            Clusters::Two => {
                if u < 0.5 {
                    -1.0
                } else {
                    1.0
                }
            }
            Clusters::Three { rho } => {
                if u < rho / 2.0 {
                    -1.0
                } else if u < rho {
                    1.0
                } else {
                    0.0
                }
            }
        };
        (c, self.label(c))
    }
}

/// The pointwise loss `ell(y, o)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// `log(1 + exp(-y o))`.
    Logistic,
    /// `(y - o)^2 / 2`.
    Square,
}

impl std::str::FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "logistic" => Ok(Loss::Logistic),
            "square" => Ok(Loss::Square),
            _ => Err(Error::invalid(
                "loss",
                format!("must be 'logistic' or 'square', got '{s}'"),
            )),
        }
    }
}

/// The output `o(h)` of the network given its pre-activation `h`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `o = h`.
    Linear,
    /// `o = h^2 - L` (the symmetric door `sign(|h| - sqrt(L))`).
    Door {
        /// The threshold `L > 0`.
        threshold: f64,
    },
}

/// All settings of one run, with every default of the API resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Data model.
    pub clusters: Clusters,
    /// Sample ratio `alpha = n / d > 0`.
    pub alpha: f64,
    /// Cluster variance `Delta > 0`.
    pub delta: f64,
    /// Pointwise loss.
    pub loss: Loss,
    /// Output function.
    pub activation: Activation,
    /// Ridge `lambda >= 0`.
    pub lam: f64,
    /// Learning rate `eta`, which is the time step `dt`.
    pub lr: f64,
    /// Batch fraction `b ∈ (0, 1]`.
    pub batch: f64,
    /// Persistence time `tau` of the mini-batch chain (`lr / batch` is plain SGD).
    pub tau: f64,
    /// Number of time steps `T`.
    pub steps: usize,
    /// Initial overlap `m0`.
    pub m0: f64,
    /// Initial `|w_perp|^2 / d`, `q0 > 0`.
    pub q0: f64,
}

impl Default for Config {
    /// The API defaults for two clusters: logistic loss, plain full-batch GD.
    fn default() -> Self {
        Config {
            clusters: Clusters::Two,
            alpha: 2.0,
            delta: 0.5,
            loss: Loss::Logistic,
            activation: Activation::Linear,
            lam: 0.0,
            lr: 0.1,
            batch: 1.0,
            tau: 0.1,
            steps: 100,
            m0: 0.0,
            q0: 1.0,
        }
    }
}

/// Relative slack when comparing `tau` with its lower bounds, so that `tau = lr / batch`
/// computed in floating point is accepted.
const TAU_SLACK: f64 = 1e-12;

/// Largest number of time steps accepted (the DMFT stores T x T matrices).
pub const MAX_STEPS: usize = 1_000_000;

/// Largest magnitude accepted for the real-valued parameters: far beyond any sensible
/// setting, small enough that products of a few of them stay finite.
pub const MAX_PARAMETER: f64 = 1e6;

/// `x ∈ (0, MAX_PARAMETER]`.
fn positive(name: &str, x: f64) -> Result<()> {
    if x > 0.0 && x <= MAX_PARAMETER {
        Ok(())
    } else {
        Err(Error::invalid(
            name,
            format!("must be in (0, {MAX_PARAMETER:e}], got {x}"),
        ))
    }
}

impl Config {
    /// The persistence time of plain SGD: every step each sample is in the batch
    /// independently with probability `batch`.
    pub fn plain_sgd_tau(lr: f64, batch: f64) -> f64 {
        lr / batch
    }

    /// Checks every field; the error names the first bad parameter and its allowed range.
    pub fn validate(&self) -> Result<()> {
        if let Clusters::Three { rho } = self.clusters {
            if !(rho.is_finite() && rho > 0.0 && rho < 1.0) {
                return Err(Error::invalid(
                    "rho",
                    format!("must be in (0, 1), got {rho}"),
                ));
            }
        }
        positive("alpha", self.alpha)?;
        positive("delta", self.delta)?;
        if let Activation::Door { threshold } = self.activation {
            positive("threshold", threshold)?;
        }
        if !(self.lam >= 0.0 && self.lam <= MAX_PARAMETER) {
            return Err(Error::invalid(
                "lam",
                format!("must be in [0, {MAX_PARAMETER:e}], got {}", self.lam),
            ));
        }
        positive("lr", self.lr)?;
        if !(self.batch.is_finite() && self.batch > 0.0 && self.batch <= 1.0) {
            return Err(Error::invalid(
                "batch",
                format!("must be in (0, 1], got {}", self.batch),
            ));
        }
        positive("tau", self.tau)?;
        // Both transition probabilities of the batch chain must be <= 1.
        let tau_min = self.lr.max(self.lr * (1.0 - self.batch) / self.batch);
        if self.tau < tau_min * (1.0 - TAU_SLACK) {
            return Err(Error::invalid(
                "tau",
                format!(
                    "must be >= max(lr, lr*(1-batch)/batch) = {tau_min} so that the batch \
                     chain's switching probabilities are <= 1, got {}",
                    self.tau
                ),
            ));
        }
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(Error::invalid(
                "steps",
                format!("must be in [1, {MAX_STEPS}], got {}", self.steps),
            ));
        }
        if self.m0.is_nan() || self.m0.abs() > MAX_PARAMETER {
            return Err(Error::invalid(
                "m0",
                format!(
                    "must be in [-{MAX_PARAMETER:e}, {MAX_PARAMETER:e}], got {}",
                    self.m0
                ),
            ));
        }
        positive("q0", self.q0)?;
        Ok(())
    }

    /// Number of samples `n = round(alpha * d)` for dimension `d`.
    pub fn samples_for(&self, d: usize) -> Result<usize> {
        let n = (self.alpha * d as f64).round();
        if n < 1.0 {
            return Err(Error::invalid(
                "d",
                format!(
                    "gives n = round(alpha*d) = 0 samples (alpha = {}, d = {d})",
                    self.alpha
                ),
            ));
        }
        if n > (1u64 << 48) as f64 {
            return Err(Error::invalid(
                "d",
                format!("gives n = round(alpha*d) = {n:e} samples, more than any machine holds"),
            ));
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(e: Error) -> String {
        match e {
            Error::InvalidParameter { name, .. } => name,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let base = Config::default();
        let cases: Vec<(Config, &str)> = vec![
            (
                Config {
                    alpha: 0.0,
                    ..base.clone()
                },
                "alpha",
            ),
            (
                Config {
                    alpha: 1e7,
                    ..base.clone()
                },
                "alpha",
            ),
            (
                Config {
                    delta: 1e300,
                    ..base.clone()
                },
                "delta",
            ),
            (
                Config {
                    m0: -2e6,
                    ..base.clone()
                },
                "m0",
            ),
            (
                Config {
                    lam: 1e7,
                    ..base.clone()
                },
                "lam",
            ),
            (
                Config {
                    delta: f64::NAN,
                    ..base.clone()
                },
                "delta",
            ),
            (
                Config {
                    lam: -1.0,
                    ..base.clone()
                },
                "lam",
            ),
            (
                Config {
                    lr: f64::INFINITY,
                    ..base.clone()
                },
                "lr",
            ),
            (
                Config {
                    batch: 1.5,
                    tau: 1.0,
                    ..base.clone()
                },
                "batch",
            ),
            (
                Config {
                    batch: 0.5,
                    tau: 0.05,
                    ..base.clone()
                },
                "tau",
            ),
            (
                Config {
                    steps: 0,
                    ..base.clone()
                },
                "steps",
            ),
            (
                Config {
                    q0: 0.0,
                    ..base.clone()
                },
                "q0",
            ),
            (
                Config {
                    m0: f64::NAN,
                    ..base.clone()
                },
                "m0",
            ),
            (
                Config {
                    clusters: Clusters::Three { rho: 1.0 },
                    ..base.clone()
                },
                "rho",
            ),
            (
                Config {
                    activation: Activation::Door { threshold: -1.0 },
                    ..base.clone()
                },
                "threshold",
            ),
        ];
        for (cfg, name) in cases {
            assert_eq!(name_of(cfg.validate().unwrap_err()), name);
        }
    }

    #[test]
    fn plain_sgd_tau_is_accepted_at_its_bound() {
        for b in [0.1, 0.3, 0.7, 1.0] {
            let lr = 0.3;
            let cfg = Config {
                lr,
                batch: b,
                tau: Config::plain_sgd_tau(lr, b),
                ..Config::default()
            };
            cfg.validate().unwrap();
        }
    }

    #[test]
    fn three_cluster_draw_has_the_right_masses() {
        let c = Clusters::Three { rho: 0.4 };
        assert_eq!(c.draw(0.1), (-1.0, 1.0));
        assert_eq!(c.draw(0.3), (1.0, 1.0));
        assert_eq!(c.draw(0.9), (0.0, -1.0));
        let total: f64 = c.table().iter().map(|r| r.1).sum();
        assert!((total - 1.0).abs() < 1e-15);
    }
}
