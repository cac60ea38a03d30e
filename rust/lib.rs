//! # dmft_sgd
//!
//! Stochastic gradient descent on a single-layer network trained on high-dimensional
//! data (a Gaussian mixture, or a teacher: linear regression, the noisy perceptron, phase
//! retrieval; see [`Data`]), with mini-batches, persistence and Langevin noise, two ways:
//! as an ensemble of finite-`d` simulations, and (in the DMFT solver) as its exact
//! `d -> infinity` dynamics. Notation follows the project's `docs/theory.md`.
//!
//! ```
//! use dmft_sgd::{simulate, Config, Control, EnsembleSpec, Problem};
//!
//! // Plain SGD (tau = None: a fresh batch of 30% of the samples every step), parsed and
//! // checked once into a problem that every engine takes.
//! let problem = Problem::new(Config { batch: 0.3, steps: 50, ..Config::default() }).unwrap();
//! let spec = EnsembleSpec::new(100, 4).seed(0).threads(Some(2));
//! let ens = simulate(&problem, &spec, &Control::new()).unwrap();
//! // Test error of replica 0 at the last step: training has moved it below chance.
//! assert!(ens.test_error[problem.steps() - 1] < 0.5);
//! ```
//!
//! The DMFT of the same setting, with Monte Carlo error bars, is [`solve_dmft`]; its
//! ladder of learning rates for the stochastic gradient flow's `lr -> 0` limit, solved in
//! one coupled pass, is [`solve_dmft_ladder`]; SGD on your own data is [`sgd_on_data`];
//! two-layer networks (committees, multi-index teachers) are [`simulate_network`] and
//! [`solve_network_dmft`]. Every entry point checks its input first and returns
//! an [`Error`] naming the bad parameter, runs on its own thread pool (an explicit
//! `threads` option, all cores by default) and can be cancelled or watched through a
//! [`Control`]. `cargo run --release --example quickstart` compares the two engines.
//!
//! The Python package `dmft_sgd` is built on this crate with the `python` feature.

#![warn(missing_docs)]

mod config;
mod control;
mod data;
mod divergence;
mod dmft;
mod error;
mod losses;
mod minibatch;
mod network;
mod observables;
mod optimizer;
mod problem;
mod resources;
mod rng;
mod sgd;
mod simd;
mod simulate;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
mod fuzz_tests;

pub use config::{
    Activation, Clusters, Config, Data, FieldKind, FieldSpec, FlatConfig, LearningRate, Loss,
    Teacher, DEFAULT_DELTA, DEFAULT_RHO, DEFAULT_SYMMETRIC_M0, DEFAULT_TEACHER, DEFAULT_THRESHOLD,
    MAX_PARAMETER, MAX_STEPS, MAX_UNITS,
};
pub use control::Control;
pub use dmft::{
    dmft_memory, dmft_step_costs, ladder_configs, richardson_weights, solve_dmft,
    solve_dmft_ladder, solve_dmft_ladder_with, solve_dmft_with, solve_network_dmft, DmftOptions,
    DmftSolution, GroupMatrices, Kernels, Method, NetworkDmftOptions, NetworkResponse, Observables,
    Response, StageSeconds, TimeMatrix, TwoTimeSem,
};
pub use error::{Divergence, Error, Result};
/// How far beyond its scale (the largest of 1, `|w(0)|^2/d` and `E[y^2]`) the weights'
/// squared norm may grow before a run counts as diverged (theory.md section 4.6).
pub const DIVERGENCE_GROWTH: f64 = divergence::DivergenceGuard::GROWTH;
pub use losses::{ActivationFn, LossFn, LossSum, SampleLoss};
pub use minibatch::batch_mask;
pub use network::{
    network_on_data, simulate_network, simulate_network_with, NetworkRun, NetworkRuns,
    NetworkTrajectory, TargetFn, TEST_DRAWS,
};
pub use observables::{test_error_with, test_loss_with, ObservableInfo, OBSERVABLES};
pub use optimizer::{Descent, Momentum, Optimizer, OptimizerState};
pub use problem::{BatchProcess, Problem};
pub use sgd::{sgd_on_data, sgd_on_data_with, DataSet, Trajectory, UserRun};
pub use simulate::{simulate, simulate_with, Ensemble, EnsembleSpec};
