//! What a solve is asked for: the solution [`Method`], the [`Response`] estimator (and the
//! rule that resolves [`Response::Auto`]) and the [`DmftOptions`] with their defaults.

use crate::config::Config;

/// How the DMFT equations are solved.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Method {
    /// One causal sweep in time.
    SinglePass,
    /// Damped fixed-point iteration over whole trajectories.
    Iterate {
        /// Largest number of iterations.
        iterations: usize,
        /// Weight of the previous kernels in the update, in `[0, 1)`.
        damping: f64,
        /// Stop when the largest kernel change relative to the kernels' scale is below this,
        /// or below its Monte Carlo noise (see
        /// [`DmftSolution::change_noise`](crate::DmftSolution::change_noise)).
        tol: f64,
    },
}

impl Method {
    /// The iteration's default rounds (the Python API's `iterations`).
    pub const DEFAULT_ITERATIONS: usize = 50;
    /// The iteration's default damping (the Python API's `damping`).
    pub const DEFAULT_DAMPING: f64 = 0.5;
    /// The iteration's default tolerance (the Python API's `tol`; below the Monte Carlo
    /// noise of the change, the iteration stops at the noise).
    pub const DEFAULT_TOL: f64 = 1e-3;

    /// The damped iteration with its default settings.
    pub fn iterate() -> Method {
        Method::Iterate {
            iterations: Self::DEFAULT_ITERATIONS,
            damping: Self::DEFAULT_DAMPING,
            tol: Self::DEFAULT_TOL,
        }
    }
}

/// How the response kernel `M_R(k,l) = alpha sqrt(Delta) E[phi(k) G(k,l)]` is estimated
/// (theory.md section 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Response {
    /// [`Response::Tangent`] while its work is at most [`Response::AUTO_TANGENT_WORK`],
    /// else [`Response::Probe`] with the default band: see [`Response::resolve`].
    Auto,
    /// The exact tangent row of every sample in the batch: `b S T^3 / 6` multiply-adds.
    Tangent,
    /// Exact for lags `< band`, one random probe per sample beyond: `O(S T (T + band^2))`.
    Probe {
        /// Number of lags computed exactly, `>= 1`.
        band: usize,
    },
}

impl Response {
    /// Largest work `b S_r T^3 / 6` (multiply-adds; `S_r` the samples carrying the
    /// response) for which [`Response::Auto`] uses the exact tangent: a few seconds on
    /// two cores (S = 20 000: T = 355 at b = 1, 531 at b = 0.3). Below it the probe's
    /// noise is not worth its saving: it inflates the error bars up to 2x, and 4-12x
    /// where the response does not decay (three clusters with the door; theory.md 4.2).
    pub const AUTO_TANGENT_WORK: f64 = 1.5e11;
    /// The band of [`Response::Auto`]'s probe estimator.
    pub const DEFAULT_BAND: usize = 16;

    /// The multiply-adds of the exact tangent for a run of `cfg` with `response_samples`
    /// samples carrying the response: `b S_r T^3 / 6` (only samples in the batch, a
    /// fraction `b`, have a tangent row).
    pub fn tangent_work(cfg: &Config, response_samples: usize) -> f64 {
        cfg.batch * response_samples as f64 * (cfg.steps as f64).powi(3) / 6.0
    }

    /// The estimator a run of `cfg` uses: `Auto` becomes `Tangent` while
    /// [`Response::tangent_work`] is at most [`Response::AUTO_TANGENT_WORK`] (exact, and
    /// affordable), else `Probe { band: DEFAULT_BAND }`: a rule of the configuration and
    /// sample count alone, never of timings or threads. A band wider than the run is
    /// clipped to it.
    pub fn resolve(self, cfg: &Config, response_samples: usize) -> Response {
        match self {
            Response::Auto
                if Self::tangent_work(cfg, response_samples) <= Self::AUTO_TANGENT_WORK =>
            {
                Response::Tangent
            }
            Response::Auto => Response::Probe {
                band: Self::DEFAULT_BAND.min(cfg.steps),
            },
            Response::Probe { band } => Response::Probe {
                band: band.min(cfg.steps).max(1),
            },
            Response::Tangent => Response::Tangent,
        }
    }
}

/// Monte Carlo size and method of a solve. Start from [`DmftOptions::default`] and
/// change what you need with the setters:
/// `DmftOptions::default().samples(4_000).groups(4).seed(7)`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DmftOptions {
    /// Number of effective samples `S` (even: mirror pairs), over all groups.
    pub samples: usize,
    /// Independent groups the samples are split into, for the error bars (`>= 1`, at
    /// least one pair each; one group gives no error bars). `None`: 8, or 4 beyond
    /// [`DmftOptions::LONG_RUN_STEPS`] steps, where the groups' `O(T^3)` weight sides
    /// dominate the cost (never more than the number of pairs).
    pub groups: Option<usize>,
    /// The estimator of `M_R`.
    pub response: Response,
    /// Samples carrying the response process (the first ones of each group, in
    /// proportion); `None`: all.
    pub response_samples: Option<usize>,
    /// Whether the solution keeps `M_C`, `M_R` and `mu` (one pair of `T x T` matrices per
    /// run, summed over the groups as they come); `C` and `R` are always kept.
    pub keep_kernels: bool,
    /// Whether the solution keeps each group's `C` and `R` (`groups` pairs of `T x T`
    /// matrices), for statistics of functions of them (the FDT temperature's error bar).
    pub keep_groups: bool,
    /// Seed; chunk `i` of group `g` uses its own random streams, whatever the thread count.
    pub seed: u64,
    /// Solution method.
    pub method: Method,
    /// Worker threads of the run's own pool (`None`: all cores).
    pub threads: Option<usize>,
}

impl Default for DmftOptions {
    /// 20 000 samples, automatic groups and response estimator, kernels kept (not each
    /// group's matrices), seed 0, single pass, all cores.
    fn default() -> Self {
        DmftOptions {
            samples: Self::DEFAULT_SAMPLES,
            groups: None,
            response: Response::Auto,
            response_samples: None,
            keep_kernels: true,
            keep_groups: false,
            seed: 0,
            method: Method::SinglePass,
            threads: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = $name;
                self
            }
        )*
    };
}

impl DmftOptions {
    /// Beyond this many steps the default number of groups is 4 instead of 8.
    pub const LONG_RUN_STEPS: usize = 4000;
    /// The default number of effective samples `S`.
    pub const DEFAULT_SAMPLES: usize = 20_000;

    /// Sets the number of independent groups (error bars need `>= 2`).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = Some(groups);
        self
    }

    /// The number of groups a run of `cfg` uses: `groups`, or the default for its length.
    pub fn groups_for(&self, cfg: &Config) -> usize {
        self.groups.unwrap_or_else(|| {
            let default = if cfg.steps <= Self::LONG_RUN_STEPS {
                8
            } else {
                4
            };
            // Never more groups than pairs, nor than pairs of response samples.
            let pairs = self.response_samples.unwrap_or(self.samples) / 2;
            default.min(pairs).max(1)
        })
    }

    /// Most numbers kept by default for each group's `C` and `R`: groups x T^2 (160 MB).
    pub const KEEP_GROUPS_ENTRIES: usize = 10_000_000;

    /// Whether a solve of `cfg` keeps each group's `C` and `R` by default: with two
    /// groups or more (what error bars of functions of them need) while groups x T^2 <=
    /// [`DmftOptions::KEEP_GROUPS_ENTRIES`].
    pub fn default_keep_groups(&self, cfg: &Config) -> bool {
        let groups = self.groups_for(cfg);
        groups >= 2
            && groups.saturating_mul(cfg.steps.saturating_mul(cfg.steps))
                <= Self::KEEP_GROUPS_ENTRIES
    }

    /// These options with `groups` and `response` resolved for `cfg`.
    pub(super) fn resolved(&self, cfg: &Config) -> DmftOptions {
        DmftOptions {
            groups: Some(self.groups_for(cfg)),
            response: self
                .response
                .resolve(cfg, self.response_samples.unwrap_or(self.samples)),
            ..*self
        }
    }

    /// The number of groups of resolved options.
    pub(super) fn group_count(&self) -> usize {
        self.groups.unwrap_or(1)
    }

    setters! {
        /// Sets the number of effective samples `S` (even).
        samples: usize,
        /// Sets the estimator of `M_R`.
        response: Response,
        /// Sets how many samples carry the response process (`None`: all).
        response_samples: Option<usize>,
        /// Sets whether `M_C` and `M_R` are kept in the solution.
        keep_kernels: bool,
        /// Sets whether each group's `C` and `R` are kept in the solution.
        keep_groups: bool,
        /// Sets the seed.
        seed: u64,
        /// Sets the solution method.
        method: Method,
        /// Sets the number of worker threads (`None`: all cores).
        threads: Option<usize>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_uses_the_tangent_while_its_work_is_affordable() {
        let at = |steps: usize, batch: f64, samples: usize| {
            let cfg = Config {
                steps,
                batch,
                ..Config::default()
            };
            Response::Auto.resolve(&cfg, samples)
        };
        let probe = Response::Probe {
            band: Response::DEFAULT_BAND,
        };
        // S = 20 000: b S T^3 / 6 <= 1.5e11 up to T = 355 at b = 1 and 531 at b = 0.3.
        assert_eq!(at(355, 1.0, 20_000), Response::Tangent);
        assert_eq!(at(356, 1.0, 20_000), probe);
        assert_eq!(at(531, 0.3, 20_000), Response::Tangent);
        assert_eq!(at(532, 0.3, 20_000), probe);
        // Fewer samples carrying the response make a longer tangent affordable.
        assert_eq!(at(1100, 1.0, 600), Response::Tangent);
        assert_eq!(at(1200, 1.0, 600), probe);
        // The band is clipped to the run; explicit choices are kept.
        let short = Config {
            steps: 5,
            ..Config::default()
        };
        assert_eq!(
            Response::Probe { band: 16 }.resolve(&short, 1),
            Response::Probe { band: 5 }
        );
        assert_eq!(
            Response::Tangent.resolve(&short, 1 << 40),
            Response::Tangent
        );
        // DmftOptions resolve with the response samples when given.
        let cfg = Config {
            steps: 1100,
            ..Config::default()
        };
        let opts = DmftOptions::default().samples(20_000);
        assert_eq!(opts.resolved(&cfg).response, probe);
        let few = opts.response_samples(Some(600)).resolved(&cfg);
        assert_eq!(few.response, Response::Tangent);
    }
}
