//! When a run has diverged (theory.md section 4.6), the one rule of both engines: its
//! numbers stop being finite, or the weights' squared norm `|w|^2/d = q + m^2` grows
//! beyond [`DivergenceGuard::GROWTH`] times the problem's own scale. A stable run stays
//! within a few orders of that scale (a ridge bounds it, and without one the norm grows
//! like `log t` for separable data or like `2 T t` under Langevin noise), while an
//! unstable one grows geometrically and crosses the bound within a few steps of leaving it
//! behind: the bound reports it long before the numbers overflow, and the numbers a user
//! would read (a healthy-looking test error beside `q = 1e60`) are never returned.

use crate::config::Config;
use crate::error::{Divergence, Error, Result};

/// The bound on the weights' norm of one run, and the name the run goes by in an error.
#[derive(Clone, Debug)]
pub(crate) struct DivergenceGuard {
    /// `GROWTH * max(1, |w(0)|^2/d, E[y^2])`.
    bound: f64,
    /// Which run, e.g. `DMFT` or `simulation replica 3`.
    what: String,
}

impl DivergenceGuard {
    /// How far beyond its scale the norm may grow: eight orders of magnitude (`|w|` ten
    /// thousand times its scale), far beyond any stable run's growth.
    pub const GROWTH: f64 = 1e8;

    /// The guard of a run from `w(0)` with squared norm `initial_norm = |w(0)|^2/d` on
    /// labels of second moment `label_moment = E[y^2]`: the scale is the largest of the
    /// two and 1 (a norm the labels call for, the one it starts from, the unit one).
    pub fn new(what: impl Into<String>, initial_norm: f64, label_moment: f64) -> Self {
        // f64::max ignores a NaN: a non-finite start is caught by the finiteness check.
        let scale = 1f64.max(initial_norm).max(label_moment);
        DivergenceGuard {
            bound: Self::GROWTH * scale,
            what: what.into(),
        }
    }

    /// The guard of the DMFT of `cfg`: `|w(0)|^2/d = m0^2 + q0`, `E[y^2]` of its data model.
    pub fn dmft(cfg: &Config) -> Self {
        let m0 = cfg.m0();
        let data = crate::data::DataModel::of(cfg);
        Self::new("DMFT", m0 * m0 + cfg.q0, data.label_moment())
    }

    /// The bound on `q` and on `m^2`.
    #[cfg(test)]
    pub fn bound(&self) -> f64 {
        self.bound
    }

    /// `Ok` while the order parameters `m`, `q` of `w(step)` are finite and within the
    /// bound; else the error naming the first of them that is not.
    pub fn check_weights(&self, cfg: &Config, step: usize, m: f64, q: f64) -> Result<()> {
        for (name, value, size) in [("m", m, m * m), ("q", q, q)] {
            if !value.is_finite() {
                return Err(self.non_finite(cfg, step, name));
            }
            if size > self.bound {
                return Err(self.error(
                    cfg,
                    step,
                    name,
                    Divergence::BeyondBound {
                        value,
                        bound: if name == "m" {
                            self.bound.sqrt()
                        } else {
                            self.bound
                        },
                    },
                ));
            }
        }
        Ok(())
    }

    /// The error of `observable` (e.g. `train_loss`) no longer finite at `step`.
    pub fn non_finite(&self, cfg: &Config, step: usize, observable: &str) -> Error {
        self.error(cfg, step, observable, Divergence::NonFinite)
    }

    fn error(&self, cfg: &Config, step: usize, observable: &str, cause: Divergence) -> Error {
        Error::Diverged {
            what: self.what.clone(),
            step,
            observable: observable.to_string(),
            cause,
            // The rate of the update that made w(step): a schedule's own, not its first.
            lr: cfg.lr_at(step.saturating_sub(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_the_largest_of_one_the_start_and_the_labels() {
        assert_eq!(DivergenceGuard::new("x", 0.01, 1.0).bound(), 1e8);
        assert_eq!(DivergenceGuard::new("x", 4.0, 1.0).bound(), 4e8);
        assert_eq!(DivergenceGuard::new("x", 0.5, 9.0).bound(), 9e8);
        assert_eq!(DivergenceGuard::new("x", f64::NAN, 0.0).bound(), 1e8);
    }

    #[test]
    fn names_the_first_order_parameter_out_of_bounds() {
        let cfg = Config {
            lr_schedule: Some(vec![0.1, 0.2, 0.3]),
            lr: 0.1,
            steps: 3,
            ..Config::default()
        };
        let guard = DivergenceGuard::new("DMFT", 1.0, 1.0);
        assert!(guard.check_weights(&cfg, 2, 1e3, 1e7).is_ok());
        match guard.check_weights(&cfg, 2, 1.0, 2e8).unwrap_err() {
            Error::Diverged {
                step,
                observable,
                cause,
                lr,
                ..
            } => {
                assert_eq!((step, observable.as_str(), lr), (2, "q", 0.2));
                assert_eq!(
                    cause,
                    Divergence::BeyondBound {
                        value: 2e8,
                        bound: 1e8
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        let err = guard
            .check_weights(&cfg, 1, f64::INFINITY, 1.0)
            .unwrap_err();
        assert!(err.to_string().contains("non-finite values appeared in m"));
        let err = guard.check_weights(&cfg, 1, -2e4, 1.0).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("DMFT diverged at step 1: m = -2.000e4"));
    }
}
