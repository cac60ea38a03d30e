//! The registry of recorded observables ([`OBSERVABLES`]), and the test observables as
//! functions of `m` and `q` (theory.md section 2; each data model's in `data.rs`).

use crate::config::Config;
use crate::losses::{ActivationFn, LossFn, SampleLoss};

/// One observable recorded at every time step: its name, a short label for plots and
/// tables, and what it measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObservableInfo {
    /// Its name: the field of [`Observables`](crate::Observables),
    /// [`Ensemble`](crate::Ensemble) and [`Trajectory`](crate::Trajectory), and the attribute
    /// of the Python result classes.
    pub name: &'static str,
    /// A short label for plot axes (may hold matplotlib mathtext, `$...$`).
    pub label: &'static str,
    /// What it measures, in one line.
    pub description: &'static str,
    /// Whether it is defined only for labels ±1 (the classification errors): where
    /// labels are real ([`Config::labels_are_signs`] false) its series are empty.
    pub needs_sign_labels: bool,
}

/// Every observable the engines record, in order: the one list of names. Each entry is a
/// field of [`Observables`](crate::Observables), [`Ensemble`](crate::Ensemble) and
/// [`Trajectory`](crate::Trajectory) (their `named()` methods list them in this order).
/// The Python package derives its result classes, `dmft_sgd.OBSERVABLES`, the command
/// line's table and the plots' labels from it (`dmft_sgd._core.OBSERVABLES`): adding an
/// observable is an entry here, a field in those three structs, and its computation.
///
/// `train_error` and `test_error` are classification errors, recorded only where labels
/// are ±1 ([`Config::labels_are_signs`]); elsewhere their series are empty.
pub const OBSERVABLES: [ObservableInfo; 6] = [
    ObservableInfo {
        name: "m",
        label: "magnetisation $m$",
        description: "overlap m = w·v*/d with the teacher direction",
        needs_sign_labels: false,
    },
    ObservableInfo {
        name: "q",
        label: "$q = |w_\\perp|^2/d$",
        description: "q = |w|^2/d - m^2, the squared norm of the weights orthogonal to v*",
        needs_sign_labels: false,
    },
    ObservableInfo {
        name: "train_loss",
        label: "training loss",
        description: "mean training loss, without the ridge term",
        needs_sign_labels: false,
    },
    ObservableInfo {
        name: "test_loss",
        label: "test loss",
        description: "expected loss on a fresh sample, without the ridge term, from m and q",
        needs_sign_labels: false,
    },
    ObservableInfo {
        name: "train_error",
        label: "training error",
        description: "fraction of training samples with y o(h) <= 0",
        needs_sign_labels: true,
    },
    ObservableInfo {
        name: "test_error",
        label: "test error",
        description: "classification error on a fresh sample, from m and q (labels ±1 only)",
        needs_sign_labels: true,
    },
];

/// Implements `named()` and `into_named()` for structs holding one `Vec<f64>` per
/// observable: the one list of their fields, in the order of [`OBSERVABLES`].
macro_rules! observable_fields {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// The observables by name, in the order of [`OBSERVABLES`](crate::OBSERVABLES).
            pub fn named(&self) -> [(&'static str, &[f64]); 6] {
                [
                    ("m", &self.m),
                    ("q", &self.q),
                    ("train_loss", &self.train_loss),
                    ("test_loss", &self.test_loss),
                    ("train_error", &self.train_error),
                    ("test_error", &self.test_error),
                ]
            }

            /// The six series, mutably, in the order of [`OBSERVABLES`](crate::OBSERVABLES).
            #[allow(dead_code)] // not every struct is filled series by series
            pub(crate) fn named_mut(&mut self) -> [&mut Vec<f64>; 6] {
                [
                    &mut self.m,
                    &mut self.q,
                    &mut self.train_loss,
                    &mut self.test_loss,
                    &mut self.train_error,
                    &mut self.test_error,
                ]
            }

            /// The observables by name, moved out, in the order of
            /// [`OBSERVABLES`](crate::OBSERVABLES).
            pub fn into_named(self) -> [(&'static str, Vec<f64>); 6] {
                [
                    ("m", self.m),
                    ("q", self.q),
                    ("train_loss", self.train_loss),
                    ("test_loss", self.test_loss),
                    ("train_error", self.train_error),
                    ("test_error", self.test_error),
                ]
            }
        }
    )*};
}

observable_fields!(crate::Trajectory, crate::Ensemble, crate::Observables);

/// The standard normal CDF `Phi(x)`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// `P(h <= a)` for `h ~ N(mean, sd^2)`, also for `sd = 0`.
pub(crate) fn prob_below(a: f64, mean: f64, sd: f64) -> f64 {
    if sd > 0.0 {
        normal_cdf((a - mean) / sd)
    } else if mean <= a {
        1.0
    } else {
        0.0
    }
}

/// The classification error `P(y o(h) <= 0)` on a fresh sample of `cfg`'s data, given
/// the order parameters `m`, `q`, for the output `activation`; only for ±1 labels
/// ([`Config::labels_are_signs`]).
pub fn test_error_with<A: ActivationFn>(cfg: &Config, activation: &A, m: f64, q: f64) -> f64 {
    cfg.model().test_error(activation, m, q)
}

/// The expected loss `E[l(y, h)]` of `loss` on a fresh sample of `cfg`'s data (no ridge
/// term), given `m`, `q`.
pub fn test_loss_with<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    loss: &SampleLoss<L, A>,
    m: f64,
    q: f64,
) -> f64 {
    cfg.model().test_loss(loss, m, q)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_result_struct_lists_the_registry_in_order() {
        let names: Vec<&str> = super::OBSERVABLES.iter().map(|o| o.name).collect();
        let dmft = crate::Observables::default();
        let listed: Vec<&str> = dmft.named().iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, names, "dmft::Observables::named");
        let traj = crate::Trajectory::default();
        let listed: Vec<&str> = traj.named().iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, names, "Trajectory::named");
        let ens = crate::Ensemble::default();
        let listed: Vec<&str> = ens.named().iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, names, "Ensemble::named");
    }

    use super::*;
    use crate::config::{Activation, Clusters};

    #[test]
    fn normal_cdf_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((normal_cdf(-3.0) - 0.001_349_898_031_630_094_6).abs() < 1e-17);
    }

    #[test]
    fn two_cluster_linear_matches_the_closed_form() {
        let cfg = Config::default();
        let (m, q) = (0.8, 0.5);
        let expected = normal_cdf(-m / (cfg.delta * (m * m + q)).sqrt());
        assert!((test_error_with(&cfg, &cfg.activation(), m, q) - expected).abs() < 1e-15);
        assert!((test_error_with(&cfg, &cfg.activation(), 0.0, 1.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn three_cluster_door_matches_the_closed_form() {
        let rho = 0.3;
        let l: f64 = 1.5;
        let cfg = Config {
            clusters: Clusters::Three { rho },
            activation: Some(Activation::Door { threshold: l }),
            ..Config::default()
        };
        let (m, q) = (1.2, 0.4);
        let sd = (cfg.delta * (m * m + q)).sqrt();
        let inside =
            |mean: f64| normal_cdf((l.sqrt() - mean) / sd) - normal_cdf((-l.sqrt() - mean) / sd);
        let expected = rho * inside(m) + (1.0 - rho) * (1.0 - inside(0.0));
        assert!((test_error_with(&cfg, &cfg.activation(), m, q) - expected).abs() < 1e-14);
    }
}
