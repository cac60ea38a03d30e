//! What a solve returns: the [`Observables`] on the time grid and the [`DmftSolution`].

use super::matrix::TimeMatrix;
use super::options::Response;
use super::profile::StageSeconds;
use super::weights::Kernels;

/// Observables on the time grid `k = 0..T-1`.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Observables {
    /// Overlap `m(k)`.
    pub m: Vec<f64>,
    /// `q(k) = C(k,k)`.
    pub q: Vec<f64>,
    /// Mean training loss `E[l(y, h(k))]`.
    pub train_loss: Vec<f64>,
    /// Expected loss on a fresh sample, from `m`, `q`.
    pub test_loss: Vec<f64>,
    /// Training error `E[1[y o(h(k)) <= 0]]`; empty unless labels are ±1
    /// ([`Config::labels_are_signs`](crate::Config::labels_are_signs)).
    pub train_error: Vec<f64>,
    /// Test classification error from `m`, `q`; empty unless labels are ±1.
    pub test_error: Vec<f64>,
}

/// The standard errors of the two-time quantities (spread over groups / `sqrt(groups)`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TwoTimeSem {
    /// Of `C(k,l)`.
    pub c: TimeMatrix,
    /// Of `R(k,l)`.
    pub r: TimeMatrix,
    /// Of `M_C`, `M_R`, `mu` (`None` unless the kernels are kept).
    pub kernels: Option<Kernels>,
}

/// One group's `C` and `R` (kept with [`DmftOptions::keep_groups`](crate::DmftOptions)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GroupMatrices {
    /// The group's `C(k,l)`.
    pub c: TimeMatrix,
    /// The group's `R(k,l)`.
    pub r: TimeMatrix,
}

/// The solution: every quantity is the mean over the groups.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DmftSolution {
    /// The physical time of each step, `t_k = k dt` ([`Config::times`](crate::Config::times)).
    pub t: Vec<f64>,
    /// The observables.
    pub observables: Observables,
    /// Their Monte Carlo standard errors (spread over groups / `sqrt(groups)`); `None`
    /// for a single group.
    pub sem: Option<Observables>,
    /// The standard errors of `C`, `R` and the kept kernels; `None` for a single group.
    pub two_time_sem: Option<TwoTimeSem>,
    /// Each group's observables: `observables` is their mean, `sem` their spread.
    pub group_observables: Vec<Observables>,
    /// Each group's `C` and `R` with [`DmftOptions::keep_groups`](crate::DmftOptions),
    /// else empty.
    pub group_matrices: Vec<GroupMatrices>,
    /// Correlation `C(k,l)` of the weights.
    pub c: TimeMatrix,
    /// Response `R(k,l)` of the weights.
    pub r: TimeMatrix,
    /// Memory kernels `M_C`, `M_R`, `mu` (`None` unless `keep_kernels`).
    pub kernels: Option<Kernels>,
    /// For `Iterate`: the largest relative kernel change over groups, per iteration.
    pub changes: Vec<f64>,
    /// For `Iterate`, per iteration: the change that Monte Carlo noise alone makes, the
    /// relative change between two independent estimates of the kernels of the same
    /// size as one round's, from the spread of the groups (empty for one group).
    pub change_noise: Vec<f64>,
    /// For `Iterate`: whether the change fell below `tol` or below its noise.
    pub converged: bool,
    /// The response estimator used (never `Auto`).
    pub response: Response,
    /// Number of groups.
    pub groups: usize,
    /// Where the time went: CPU seconds of each stage, summed over groups and threads
    /// (not part of the solution's value: equal solutions may differ in it).
    pub stage_seconds: StageSeconds,
}
