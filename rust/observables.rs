//! The registry of recorded observables ([`OBSERVABLES`]), and the closed-form test error
//! (theory.md section 2): for a fresh sample of cluster `c`, `h | c ~ N(c m, Delta (m^2 + q))`.

use crate::config::{Activation, Config};

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
}

/// Every observable the engines record, in order: the one list of names. Each entry is a
/// field of [`Observables`](crate::Observables), [`Ensemble`](crate::Ensemble) and
/// [`Trajectory`](crate::Trajectory) (their `named()` methods list them in this order).
/// The Python package derives its result classes, `dmft_sgd.OBSERVABLES`, the command
/// line's table and the plots' labels from it (`dmft_sgd._core.OBSERVABLES`): adding an
/// observable is an entry here, a field in those three structs, and its computation.
pub const OBSERVABLES: [ObservableInfo; 5] = [
    ObservableInfo {
        name: "m",
        label: "magnetisation $m$",
        description: "overlap m = w·v*/d with the teacher direction",
    },
    ObservableInfo {
        name: "q",
        label: "$q = |w_\\perp|^2/d$",
        description: "q = |w|^2/d - m^2, the squared norm of the weights orthogonal to v*",
    },
    ObservableInfo {
        name: "train_loss",
        label: "training loss",
        description: "mean training loss, without the ridge term",
    },
    ObservableInfo {
        name: "train_error",
        label: "training error",
        description: "fraction of training samples with y o(h) <= 0",
    },
    ObservableInfo {
        name: "test_error",
        label: "test error",
        description: "closed-form test error of the mixture model, from m and q",
    },
];

/// Implements `named()` and `into_named()` for structs holding one `Vec<f64>` per
/// observable: the one list of their fields, in the order of [`OBSERVABLES`].
macro_rules! observable_fields {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// The observables by name, in the order of [`OBSERVABLES`](crate::OBSERVABLES).
            pub fn named(&self) -> [(&'static str, &[f64]); 5] {
                [
                    ("m", &self.m),
                    ("q", &self.q),
                    ("train_loss", &self.train_loss),
                    ("train_error", &self.train_error),
                    ("test_error", &self.test_error),
                ]
            }

            /// The observables by name, moved out, in the order of
            /// [`OBSERVABLES`](crate::OBSERVABLES).
            pub fn into_named(self) -> [(&'static str, Vec<f64>); 5] {
                [
                    ("m", self.m),
                    ("q", self.q),
                    ("train_loss", self.train_loss),
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
fn prob_below(a: f64, mean: f64, sd: f64) -> f64 {
    if sd > 0.0 {
        normal_cdf((a - mean) / sd)
    } else if mean <= a {
        1.0
    } else {
        0.0
    }
}

/// `e_test = sum_c P(c) P(y(c) o(h) <= 0 | c)` given the order parameters `m`, `q`.
pub fn test_error(cfg: &Config, m: f64, q: f64) -> f64 {
    let sd = (cfg.delta * (m * m + q).max(0.0)).sqrt();
    let mut e = 0.0;
    for (c, p, y) in cfg.clusters.table() {
        let mean = c * m;
        let wrong = match cfg.activation() {
            // y o <= 0  <=>  y h <= 0.
            Activation::Linear => {
                if y > 0.0 {
                    prob_below(0.0, mean, sd)
                } else {
                    prob_below(0.0, -mean, sd)
                }
            }
            // o = h^2 - theta: inside the door |h| < sqrt(theta) the output is negative.
            Activation::Door { threshold } => {
                let r = threshold.sqrt();
                let below = prob_below(-r, mean, sd);
                let above = prob_below(-r, -mean, sd);
                if y > 0.0 {
                    1.0 - below - above
                } else {
                    below + above
                }
            }
        };
        e += p * wrong;
    }
    e
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
    use crate::config::Clusters;

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
        assert!((test_error(&cfg, m, q) - expected).abs() < 1e-15);
        assert!((test_error(&cfg, 0.0, 1.0) - 0.5).abs() < 1e-15);
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
        assert!((test_error(&cfg, m, q) - expected).abs() < 1e-14);
    }
}
