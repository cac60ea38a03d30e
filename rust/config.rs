//! The model and optimiser settings (theory.md section 1), validated in one place.

use crate::error::{Error, Result};

/// Which Gaussian mixture the data come from.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Activation {
    /// `o = h`.
    Linear,
    /// `o = h^2 - theta` (the symmetric door `sign(|h| - sqrt(theta))`).
    Door {
        /// The threshold `theta > 0` (`threshold` in the API).
        threshold: f64,
    },
}

impl Loss {
    /// The name used by the Python API and the command line: `"logistic"` or `"square"`.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Logistic => "logistic",
            Loss::Square => "square",
        }
    }
}

impl Activation {
    /// The name used by the Python API and the command line: `"linear"` or `"door"`.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Door { .. } => "door",
        }
    }

    /// The output used when none is given: linear for two clusters, the door with
    /// threshold [`DEFAULT_THRESHOLD`] for three (a linear output cannot separate the
    /// centre cluster from the outer ones).
    pub fn default_for(clusters: Clusters) -> Activation {
        match clusters {
            Clusters::Two => Activation::Linear,
            Clusters::Three { .. } => Activation::Door {
                threshold: DEFAULT_THRESHOLD,
            },
        }
    }
}

/// The default mass `rho` of the two outer clusters (the Python API's `rho` default).
pub const DEFAULT_RHO: f64 = 0.5;

/// The default door threshold `theta` (the Python API's `threshold` default), used by the
/// door that three clusters get when no activation is given.
pub const DEFAULT_THRESHOLD: f64 = 1.0;

/// The default initial overlap for three clusters: `m = 0` is a fixed point of the
/// dynamics there (the door output is even in `h`), an unstable one, so the run must
/// start off it.
pub const DEFAULT_THREE_CLUSTER_M0: f64 = 0.1;

/// All settings of one run.
///
/// The settings whose default depends on others are `Option`s, `None` meaning "the
/// default for this model", as `None` does in the Python API. Read them through the
/// resolving accessors [`Config::tau()`], [`Config::m0()`] and [`Config::activation()`],
/// the one place where those defaults are decided:
///
/// ```
/// use dmft_sgd::{Activation, Clusters, Config};
///
/// let cfg = Config { clusters: Clusters::Three { rho: 0.5 }, ..Config::default() };
/// assert_eq!(cfg.activation(), Activation::Door { threshold: 1.0 });
/// assert_eq!(cfg.m0(), 0.1);
/// assert_eq!(cfg.tau(), cfg.lr / cfg.batch); // plain SGD
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Config {
    /// Data model.
    pub clusters: Clusters,
    /// Sample ratio `alpha = n / d > 0`.
    pub alpha: f64,
    /// Cluster variance `Delta > 0`.
    pub delta: f64,
    /// Pointwise loss.
    pub loss: Loss,
    /// Output function; `None` is [`Activation::default_for`] the clusters (see
    /// [`Config::activation()`]).
    pub activation: Option<Activation>,
    /// Ridge `lambda >= 0`.
    pub lam: f64,
    /// Learning rate `eta`, which is the time step `dt`.
    pub lr: f64,
    /// Batch fraction `b ∈ (0, 1]`.
    pub batch: f64,
    /// Persistence time `tau` of the mini-batch chain; `None` is plain SGD, `lr / batch`
    /// (see [`Config::tau()`]).
    pub tau: Option<f64>,
    /// Number of time steps `T`.
    pub steps: usize,
    /// Initial overlap `m0`; `None` is 0 for two clusters and
    /// [`DEFAULT_THREE_CLUSTER_M0`] for three (see [`Config::m0()`]).
    pub m0: Option<f64>,
    /// Initial `|w_perp|^2 / d`, `q0 > 0`.
    pub q0: f64,
}

impl Default for Config {
    /// The API defaults: two clusters, logistic loss, full-batch gradient descent, and
    /// `None` (the model's default) for `activation`, `tau` and `m0`.
    fn default() -> Self {
        Config {
            clusters: Clusters::Two,
            alpha: 2.0,
            delta: 0.5,
            loss: Loss::Logistic,
            activation: None,
            lam: 0.0,
            lr: 0.1,
            batch: 1.0,
            tau: None,
            steps: 100,
            m0: None,
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

    /// The initial overlap used when none is given: 0 for two clusters,
    /// [`DEFAULT_THREE_CLUSTER_M0`] for three.
    pub fn default_m0(clusters: Clusters) -> f64 {
        match clusters {
            Clusters::Two => 0.0,
            Clusters::Three { .. } => DEFAULT_THREE_CLUSTER_M0,
        }
    }

    /// The persistence time in use: `tau`, or [`Config::plain_sgd_tau`] if `None`.
    pub fn tau(&self) -> f64 {
        self.tau
            .unwrap_or_else(|| Self::plain_sgd_tau(self.lr, self.batch))
    }

    /// The initial overlap in use: `m0`, or [`Config::default_m0`] if `None`.
    pub fn m0(&self) -> f64 {
        self.m0.unwrap_or_else(|| Self::default_m0(self.clusters))
    }

    /// The output function in use: `activation`, or [`Activation::default_for`] the
    /// clusters if `None`.
    pub fn activation(&self) -> Activation {
        self.activation
            .unwrap_or_else(|| Activation::default_for(self.clusters))
    }

    /// A copy with every `None` replaced by the value in use; runs the same dynamics.
    pub fn resolved(&self) -> Config {
        Config {
            activation: Some(self.activation()),
            tau: Some(self.tau()),
            m0: Some(self.m0()),
            ..self.clone()
        }
    }

    /// Checks every field, with the `None` defaults resolved; the error names the first
    /// bad parameter and its allowed range.
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
        if let Activation::Door { threshold } = self.activation() {
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
        let tau = self.tau();
        positive("tau", tau)?;
        // Both transition probabilities of the batch chain must be <= 1.
        let tau_min = self.lr.max(self.lr * (1.0 - self.batch) / self.batch);
        if tau < tau_min * (1.0 - TAU_SLACK) {
            return Err(Error::invalid(
                "tau",
                format!(
                    "must be >= max(lr, lr*(1-batch)/batch) = {tau_min} so that the batch \
                     chain's switching probabilities are <= 1, got {tau}"
                ),
            ));
        }
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(Error::invalid(
                "steps",
                format!("must be in [1, {MAX_STEPS}], got {}", self.steps),
            ));
        }
        let m0 = self.m0();
        if m0.is_nan() || m0.abs() > MAX_PARAMETER {
            return Err(Error::invalid(
                "m0",
                format!("must be in [-{MAX_PARAMETER:e}, {MAX_PARAMETER:e}], got {m0}"),
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
                    m0: Some(-2e6),
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
                    tau: Some(1.0),
                    ..base.clone()
                },
                "batch",
            ),
            (
                Config {
                    batch: 0.5,
                    tau: Some(0.05),
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
                    m0: Some(f64::NAN),
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
                    activation: Some(Activation::Door { threshold: -1.0 }),
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
                tau: Some(Config::plain_sgd_tau(lr, b)),
                ..Config::default()
            };
            cfg.validate().unwrap();
        }
    }

    /// Every model built from `Default` gets the values the Python API gives it (see
    /// `Config.effective_*` in `python/dmft_sgd/config.py` and tests/test_config.py).
    #[test]
    fn each_model_from_default_resolves_like_the_python_api() {
        // Two clusters: linear output, m0 = 0, full-batch GD (tau = lr / 1).
        let two = Config::default();
        assert_eq!(
            (two.activation, two.tau, two.m0),
            (None, None, None),
            "the defaults that depend on others are left to the resolution"
        );
        assert_eq!(two.activation(), Activation::Linear);
        assert_eq!(two.m0(), 0.0);
        assert_eq!(two.tau(), 0.1);
        two.validate().unwrap();

        // Three clusters: the door at the default threshold, and off the m = 0 fixed point.
        let three = Config {
            clusters: Clusters::Three { rho: 0.5 },
            ..Config::default()
        };
        assert_eq!(
            three.activation(),
            Activation::Door {
                threshold: DEFAULT_THRESHOLD
            }
        );
        assert_eq!(DEFAULT_THRESHOLD, 1.0);
        assert_eq!(three.m0(), 0.1);
        assert_eq!(three.tau(), 0.1);
        three.validate().unwrap();
        // An explicit m0 = 0 is kept (the unstable fixed point, on purpose).
        let at_zero = Config {
            m0: Some(0.0),
            ..three.clone()
        };
        assert_eq!(at_zero.m0(), 0.0);

        // Square loss: the output and start depend on the clusters only.
        let square = Config {
            loss: Loss::Square,
            ..Config::default()
        };
        assert_eq!(
            (square.activation(), square.m0(), square.tau()),
            (Activation::Linear, 0.0, 0.1)
        );
        let square_three = Config {
            loss: Loss::Square,
            clusters: Clusters::Three { rho: 0.3 },
            ..Config::default()
        };
        assert_eq!(
            (square_three.activation(), square_three.m0()),
            (Activation::Door { threshold: 1.0 }, 0.1)
        );

        // Plain SGD: tau = lr / batch follows lr and batch.
        let plain = Config {
            lr: 0.2,
            batch: 0.25,
            ..Config::default()
        };
        assert_eq!(plain.tau(), 0.8);
        plain.validate().unwrap();

        // Persistent SGD: an explicit tau is used as given.
        let persistent = Config {
            batch: 0.3,
            tau: Some(5.0),
            ..Config::default()
        };
        assert_eq!(persistent.tau(), 5.0);
        assert_eq!(persistent.activation(), Activation::Linear);
        persistent.validate().unwrap();

        // An explicit activation wins over the clusters' default.
        let linear_three = Config {
            activation: Some(Activation::Linear),
            ..three.clone()
        };
        assert_eq!(linear_three.activation(), Activation::Linear);

        // `resolved` fills in exactly the values the accessors give.
        for cfg in [
            two,
            three,
            square,
            square_three,
            plain,
            persistent,
            linear_three,
        ] {
            let r = cfg.resolved();
            assert_eq!(r.activation, Some(cfg.activation()));
            assert_eq!(r.tau, Some(cfg.tau()));
            assert_eq!(r.m0, Some(cfg.m0()));
            assert_eq!(r.resolved(), r);
            r.validate().unwrap();
        }
    }

    #[test]
    fn validation_checks_the_resolved_values() {
        // Plain SGD resolves tau = lr / batch above the largest accepted tau.
        let cfg = Config {
            lr: 1e6,
            batch: 0.5,
            ..Config::default()
        };
        assert_eq!(name_of(cfg.validate().unwrap_err()), "tau");
        // The door of three clusters is checked too; an explicit threshold is used.
        let cfg = Config {
            clusters: Clusters::Three { rho: 0.5 },
            activation: Some(Activation::Door { threshold: 0.0 }),
            ..Config::default()
        };
        assert_eq!(name_of(cfg.validate().unwrap_err()), "threshold");
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
